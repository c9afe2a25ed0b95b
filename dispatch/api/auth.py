from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.security import OAuth2PasswordRequestForm

from dispatch.api.deps import CurrentPrincipal, Manager, State, UoW
from dispatch.auth import service
from dispatch.auth.schemas import MeOut, TokenOut, UserCreate, UserOut

router = APIRouter(tags=["auth"])


@router.post("/auth/token", response_model=TokenOut, summary="Log in (OAuth2 password flow)")
async def login(
    uow: UoW, state: State, form: Annotated[OAuth2PasswordRequestForm, Depends()]
) -> TokenOut:
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
        name=principal.name,
    )


@router.get("/users", response_model=list[UserOut], tags=["users"])
async def list_users(uow: UoW, _actor: Manager) -> list[UserOut]:
    return [UserOut.model_validate(u) for u in await service.list_users(uow)]


@router.post("/users", response_model=UserOut, status_code=201, tags=["users"])
async def create_user(uow: UoW, actor: Manager, data: UserCreate) -> UserOut:
    return UserOut.model_validate(await service.create_user(uow, actor, data))
