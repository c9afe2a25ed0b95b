from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.security import OAuth2PasswordRequestForm

from dispatch.api.deps import CurrentPrincipal, Manager, State, UoW
from dispatch.auth import service
from dispatch.auth.schemas import MeOut, TokenOut, UserCreate, UserOut
from dispatch.errors import TooManyRequests, Unauthorized

router = APIRouter(tags=["auth"])


@router.post(
    "/auth/token",
    response_model=TokenOut,
    summary="Log in (OAuth2 password flow); repeated failures are refused for a while (429)",
)
async def login(
    uow: UoW,
    state: State,
    request: Request,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
) -> TokenOut:
    client = request.client.host if request.client else "unknown"
    wait = state.limits.login_wait(form.username, client)
    if wait is not None:
        raise TooManyRequests(
            "Too many failed logins for this name or from this address; try again later.",
            retry_after_s=wait,
        )
    try:
        token, expires, user = await service.login(
            uow,
            form.username,
            form.password,
            key=state.settings.token_key,
            minutes=state.settings.access_token_minutes,
        )
    except Unauthorized:
        state.limits.login_failed(form.username, client)
        raise
    return TokenOut(access_token=token, expires_at=expires, role=user.role)


@router.get("/auth/me", response_model=MeOut)
async def me(principal: CurrentPrincipal) -> MeOut:
    return MeOut(
        kind="device" if principal.is_device else "user",
        role=principal.role,
        organisation_id=principal.organisation_id,
        user_id=principal.user_id,
        vehicle_id=principal.vehicle_id,
        name=principal.name,
    )


@router.get("/users", response_model=list[UserOut], tags=["users"])
async def list_users(uow: UoW, _actor: Manager) -> list[UserOut]:
    return [UserOut.model_validate(u) for u in await service.list_users(uow)]


@router.post("/users", response_model=UserOut, status_code=201, tags=["users"])
async def create_user(uow: UoW, actor: Manager, data: UserCreate) -> UserOut:
    return UserOut.model_validate(await service.create_user(uow, actor, data))
