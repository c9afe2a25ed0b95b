"""Managing people's accounts: deactivate, reactivate, reset a password, end every session.

Each action is audited, and each that ends sessions does two things in its transaction:
it raises the user's ``session_version`` (every token issued before is refused on its next
request, on any worker: ``service.principal_for_token`` reads the user each time) and
emits ``UserSessionsEnded``, on which every worker closes the user's open websockets and
forgets the tokens it cached (``realtime.hub``).

``actor`` None is the command line (a trusted operator on the server).
"""

from __future__ import annotations

from sqlalchemy import select

from dispatch.audit import service as audit
from dispatch.auth import passwords
from dispatch.auth.principal import MANAGER_ROLES, Principal
from dispatch.auth.service import find_user
from dispatch.db.session import UnitOfWork
from dispatch.errors import Conflict, Forbidden, NotFound
from dispatch.events import UserSessionsEnded
from dispatch.models import User
from dispatch.models.enums import Role


def _check_may_manage(actor: Principal | None, user: User) -> None:
    if actor is None:
        return
    if actor.role not in MANAGER_ROLES:
        raise Forbidden("Only supervisors and administrators manage users.")
    if actor.role != Role.ADMIN and user.role == Role.ADMIN:
        raise Forbidden("Only administrators manage administrator accounts.")


async def _target(uow: UnitOfWork, actor: Principal | None, user_id: int) -> User:
    user = await uow.session.get(User, user_id)
    if user is None:
        raise NotFound(f"User {user_id} does not exist.")
    _check_may_manage(actor, user)
    return user


async def user_id_by_name(uow: UnitOfWork, username: str) -> int:
    """For the command line: the id of the user of that name (in any case)."""
    user = await find_user(uow, username)
    if user is None:
        raise NotFound(f"There is no user {username!r}.")
    return user.id


def _end_sessions(uow: UnitOfWork, user: User, reason: str) -> None:
    user.session_version += 1
    uow.emit(UserSessionsEnded(user.id, reason))


async def _keep_an_administrator(uow: UnitOfWork, user: User) -> None:
    """Refuse to deactivate the last active administrator: nobody could manage accounts
    any more. The active administrators' rows are locked (PostgreSQL; SQLite writes one
    at a time anyway), so two admins deactivating each other cannot both succeed."""
    stmt = select(User.id).where(User.role == Role.ADMIN, User.is_active.is_(True))
    active = set((await uow.session.scalars(uow.strategy.lock_for_update(stmt))).all())
    if active <= {user.id}:
        raise Conflict(
            f"{user.username} is the last active administrator; activate or create another "
            "administrator first."
        )


async def deactivate(uow: UnitOfWork, actor: Principal | None, user_id: int) -> User:
    """The user can no longer log in and every session ends. Repeating it changes nothing."""
    user = await _target(uow, actor, user_id)
    if not user.is_active:
        return user
    if user.role == Role.ADMIN:
        await _keep_an_administrator(uow, user)
    user.is_active = False
    _end_sessions(uow, user, "deactivated")
    await uow.session.flush()
    audit.record(
        uow, actor, "user.deactivated", user, before={"is_active": True}, after={"is_active": False}
    )
    return user


async def activate(uow: UnitOfWork, actor: Principal | None, user_id: int) -> User:
    """The user may log in again (tokens from before the deactivation stay dead)."""
    user = await _target(uow, actor, user_id)
    if user.is_active:
        return user
    user.is_active = True
    await uow.session.flush()
    audit.record(
        uow, actor, "user.activated", user, before={"is_active": False}, after={"is_active": True}
    )
    return user


async def reset_password(
    uow: UnitOfWork, actor: Principal | None, user_id: int, password: str
) -> User:
    """A new password; every session on the old one ends."""
    user = await _target(uow, actor, user_id)
    user.password_hash = await passwords.hash_password_async(password)
    _end_sessions(uow, user, "password_reset")
    await uow.session.flush()
    audit.record(
        uow, actor, "user.password_reset", user, after={"session_version": user.session_version}
    )
    return user


async def revoke_sessions(uow: UnitOfWork, actor: Principal | None, user_id: int) -> User:
    """Log the user out everywhere (a lost phone, a shared screen left logged in)."""
    user = await _target(uow, actor, user_id)
    _end_sessions(uow, user, "revoked")
    await uow.session.flush()
    audit.record(
        uow,
        actor,
        "user.sessions_revoked",
        user,
        after={"session_version": user.session_version},
    )
    return user
