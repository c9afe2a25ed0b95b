from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.security import OAuth2PasswordRequestForm

from dispatch.api.deps import CurrentPrincipal, Manager, PathId, State, UoW
from dispatch.api.responses import ErrorOut
from dispatch.auth import accounts, service
from dispatch.auth.schemas import MeOut, PasswordReset, TokenOut, UserCreate, UserOut
from dispatch.schemas import check_text

router = APIRouter(tags=["auth"])


@router.post(
    "/auth/token",
    response_model=TokenOut,
    responses={
        401: {"model": ErrorOut, "description": "Wrong name or password, or a deactivated account"}
    },
    summary="Log in (OAuth2 password flow); repeated failures are refused for a while (429)",
    description="The name may be given in any case. Failures are limited per (name, client "
    "address), per address, and per name from anywhere; a correct password from an address "
    "that has not been failing is never refused (README: Abuse limits and hardening).",
)
async def login(
    uow: UoW,
    state: State,
    request: Request,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
) -> TokenOut:
    # The peer, or the client a trusted proxy names (DISPATCH_FORWARDED_ALLOW_IPS).
    client = request.client.host if request.client else "unknown"
    check_text("username", form.username)  # a NUL would reach the database (422, not 500)
    async with state.logins.attempt(form.username, client):
        token, expires, user = await service.login(
            uow,
            form.username,
            form.password,
            key=state.settings.token_key,
            minutes=state.settings.access_token_minutes,
        )
    return TokenOut(access_token=token, expires_at=expires, role=user.role)


@router.get("/auth/me", response_model=MeOut)
async def me(principal: CurrentPrincipal) -> MeOut:
    return MeOut(
        kind="device" if principal.is_device else "user",
        role=principal.role,
        organisation_id=principal.organisation_id,
        user_id=principal.user_id,
        vehicle_id=principal.vehicle_id,
        station_id=principal.station_id,
        name=principal.name,
    )


@router.get("/users", response_model=list[UserOut], tags=["users"])
async def list_users(uow: UoW, _actor: Manager) -> list[UserOut]:
    return [UserOut.model_validate(u) for u in await service.list_users(uow)]


@router.post("/users", response_model=UserOut, status_code=201, tags=["users"])
async def create_user(uow: UoW, actor: Manager, data: UserCreate) -> UserOut:
    return UserOut.model_validate(await service.create_user(uow, actor, data))


@router.post(
    "/users/{user_id}/deactivate",
    response_model=UserOut,
    tags=["users"],
    summary="Deactivate a user: no more logins, every session ends (not the last admin)",
)
async def deactivate_user(uow: UoW, actor: Manager, user_id: PathId) -> UserOut:
    user = await accounts.deactivate(uow, actor, user_id)
    return UserOut.model_validate(user)


@router.post(
    "/users/{user_id}/activate",
    response_model=UserOut,
    tags=["users"],
    summary="Let a deactivated user log in again (old sessions stay ended)",
)
async def activate_user(uow: UoW, actor: Manager, user_id: PathId) -> UserOut:
    return UserOut.model_validate(await accounts.activate(uow, actor, user_id))


@router.post(
    "/users/{user_id}/reset-password",
    response_model=UserOut,
    tags=["users"],
    summary="Set a new password; every session on the old one ends",
)
async def reset_password(uow: UoW, actor: Manager, user_id: PathId, data: PasswordReset) -> UserOut:
    user = await accounts.reset_password(uow, actor, user_id, data.password)
    return UserOut.model_validate(user)


@router.post(
    "/users/{user_id}/revoke-sessions",
    response_model=UserOut,
    tags=["users"],
    summary="Log a user out everywhere: every token and open screen of theirs stops",
)
async def revoke_sessions(uow: UoW, actor: Manager, user_id: PathId) -> UserOut:
    user = await accounts.revoke_sessions(uow, actor, user_id)
    return UserOut.model_validate(user)
