"""Request-scoped dependencies: the unit of work and the calling principal."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, Path, Request
from fastapi.security import OAuth2PasswordBearer

from dispatch.auth import service as auth_service
from dispatch.auth.principal import OPERATIONAL_ROLES, Principal
from dispatch.db.session import UnitOfWork
from dispatch.errors import Forbidden, Unauthorized
from dispatch.incidents.config import DispatchConfig
from dispatch.models.enums import Role
from dispatch.schemas import MAX_DB_INT
from dispatch.state import AppState
from dispatch.transports.config import TransportConfig


def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.dispatch
    return state


State = Annotated[AppState, Depends(get_state)]


def get_emergency(state: State) -> DispatchConfig:
    return state.emergency


Emergency = Annotated[DispatchConfig, Depends(get_emergency)]


def get_transport(state: State) -> TransportConfig:
    return state.transport


Transport = Annotated[TransportConfig, Depends(get_transport)]

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


async def _unit_of_work(request: Request, state: State) -> AsyncIterator[UnitOfWork]:
    # scope="function": the commit happens before the response is sent, so a 2xx means
    # the data is durable.
    async with state.db.unit_of_work(
        read_only=request.method in _SAFE_METHODS, publish=state.broker.publish
    ) as uow:
        yield uow


UoW = Annotated[UnitOfWork, Depends(_unit_of_work, scope="function")]

_bearer = OAuth2PasswordBearer(tokenUrl="/auth/token", auto_error=False)


async def current_principal(
    uow: UoW, state: State, token: Annotated[str | None, Depends(_bearer)]
) -> Principal:
    if not token:
        raise Unauthorized("Log in first: send 'Authorization: Bearer <token>'.")
    return await auth_service.principal_for_token(uow, token, key=state.settings.token_key)


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


async def principal_outside_request_transaction(
    state: State, token: Annotated[str | None, Depends(_bearer)]
) -> Principal:
    """For endpoints that run their own units of work (a plan solved outside any write
    transaction): the token is checked in a short read-only one, so the request holds no
    write transaction (on SQLite: the database's one write lock) while it works."""
    if not token:
        raise Unauthorized("Log in first: send 'Authorization: Bearer <token>'.")
    async with state.db.unit_of_work(read_only=True) as uow:
        return await auth_service.principal_for_token(uow, token, key=state.settings.token_key)


def _check_role(principal: Principal, allowed: frozenset[Role]) -> Principal:
    if principal.role not in allowed:
        raise Forbidden(
            f"This needs one of the roles: {', '.join(sorted(r.value for r in allowed))}."
        )
    return principal


def require_roles(*roles: Role) -> Callable[..., Coroutine[Any, Any, Principal]]:
    allowed = frozenset(roles)

    async def check(principal: CurrentPrincipal) -> Principal:
        return _check_role(principal, allowed)

    return check


async def _operational_own_transactions(
    principal: Annotated[Principal, Depends(principal_outside_request_transaction)],
) -> Principal:
    return _check_role(principal, OPERATIONAL_ROLES)


Operational = Annotated[
    Principal, Depends(require_roles(Role.DISPATCHER, Role.SUPERVISOR, Role.ADMIN))
]
#: Operational staff, for an endpoint that opens its own units of work.
OperationalOwnTransactions = Annotated[Principal, Depends(_operational_own_transactions)]
Manager = Annotated[Principal, Depends(require_roles(Role.SUPERVISOR, Role.ADMIN))]
Admin = Annotated[Principal, Depends(require_roles(Role.ADMIN))]

#: A path id that the database can hold; anything else is a 422, never a driver error.
PathId = Annotated[int, Path(ge=1, le=MAX_DB_INT)]
