"""Logging in, resolving a bearer token to a principal, and managing users."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select

from dispatch.audit import service as audit
from dispatch.auth import passwords, tokens
from dispatch.auth.principal import Principal
from dispatch.auth.schemas import UserCreate
from dispatch.db.session import UnitOfWork
from dispatch.errors import Conflict, Forbidden, InvalidInput, Unauthorized
from dispatch.models import Organisation, Station, User, Vehicle
from dispatch.models.enums import OrganisationKind, Role
from dispatch.schemas import MAX_DB_INT

#: Which kind of organisation each role belongs to.
_ROLE_ORGANISATION = {
    Role.DISPATCHER: OrganisationKind.DISPATCH_CENTRE,
    Role.SUPERVISOR: OrganisationKind.DISPATCH_CENTRE,
    Role.DRIVER: OrganisationKind.DISPATCH_CENTRE,
    Role.ADMIN: OrganisationKind.DISPATCH_CENTRE,
    Role.CARE_CENTRE: OrganisationKind.CARE_CENTRE,
    # Station staff belong to the station's centre or to the hospital that runs it.
    Role.STATION: OrganisationKind.DISPATCH_CENTRE,
}


async def login(
    uow: UnitOfWork, username: str, password: str, *, key: str, minutes: int
) -> tuple[str, datetime, User]:
    user = await find_user(uow, username)
    known_hash = user.password_hash if user is not None else None
    if not await passwords.verify_password_async(password, known_hash):
        raise Unauthorized("Wrong username or password.")
    assert user is not None
    if not user.is_active:
        raise Unauthorized("Wrong username or password.")
    token, expires = tokens.create_access_token(
        user_id=user.id,
        role=user.role.value,
        organisation_id=user.organisation_id,
        key=key,
        minutes=minutes,
        session_version=user.session_version,
    )
    return token, expires, user


async def find_user(uow: UnitOfWork, username: str) -> User | None:
    """The user of that name in any case ("Somchai" logs in as "somchai"), through the
    database's own ``lower()``: the one its unique index is built on."""
    return await uow.session.scalar(
        select(User).where(func.lower(User.username) == func.lower(username))
    )


async def principal_for_token(uow: UnitOfWork, token: str, *, key: str) -> Principal:
    """Resolve a bearer token. The role comes from the database, not the token, so a
    demoted or deactivated user loses access at once, and so does every token issued
    before the user's sessions were ended (the token's ``sv`` is behind the user's)."""
    if token.startswith(tokens.DEVICE_TOKEN_PREFIX):
        vehicle = await uow.session.scalar(
            select(Vehicle).where(Vehicle.device_token_hash == tokens.hash_device_token(token))
        )
        if vehicle is None:
            raise Unauthorized("Unknown or revoked device token.")
        return Principal(
            role=Role.DRIVER,
            organisation_id=vehicle.organisation_id,
            vehicle_id=vehicle.id,
            name=vehicle.call_sign,
        )
    try:
        claims = tokens.decode_access_token(token, key)
        user_id = int(claims["sub"])
        version = int(claims.get("sv", 0))
    except (tokens.InvalidToken, ValueError, TypeError) as exc:
        raise Unauthorized("Invalid or expired token; log in again.") from exc
    if not 1 <= user_id <= MAX_DB_INT:
        raise Unauthorized("Invalid or expired token; log in again.")
    user = await uow.session.get(User, user_id)
    if user is None or not user.is_active or version != user.session_version:
        raise Unauthorized("Invalid or expired token; log in again.")
    return Principal(
        role=user.role,
        organisation_id=user.organisation_id,
        user_id=user.id,
        vehicle_id=user.vehicle_id,
        station_id=user.station_id,
        name=user.username,
    )


async def create_user(uow: UnitOfWork, actor: Principal | None, data: UserCreate) -> User:
    """Create a login. ``actor`` None means the command line (trusted operator)."""
    if actor is not None:
        if actor.role not in (Role.ADMIN, Role.SUPERVISOR):
            raise Forbidden("Only supervisors and administrators create users.")
        if actor.role == Role.SUPERVISOR and data.role == Role.ADMIN:
            raise Forbidden("Only administrators create administrator accounts.")
    organisation = await uow.session.get(Organisation, data.organisation_id)
    if organisation is None:
        raise InvalidInput(
            "organisation_id", f"Organisation {data.organisation_id} does not exist."
        )
    expected_kind = _ROLE_ORGANISATION[data.role]
    if data.role == Role.STATION or data.station_id is not None:
        await _check_station(uow, data, organisation)
    elif organisation.kind != expected_kind:
        raise InvalidInput(
            "role",
            f"A {data.role.value} belongs to a {expected_kind.value}, "
            f"not a {organisation.kind.value}.",
        )
    if data.vehicle_id is not None:
        if data.role != Role.DRIVER:
            raise InvalidInput("vehicle_id", "Only drivers are tied to a vehicle.")
        vehicle = await uow.session.get(Vehicle, data.vehicle_id)
        if vehicle is None or vehicle.organisation_id != organisation.id:
            raise InvalidInput("vehicle_id", f"Vehicle {data.vehicle_id} does not exist here.")
    if await find_user(uow, data.username) is not None:
        raise Conflict(f"The username {data.username!r} is already taken.")
    user = User(
        username=data.username,
        full_name=data.full_name,
        role=data.role,
        organisation_id=organisation.id,
        vehicle_id=data.vehicle_id,
        station_id=data.station_id,
        password_hash=await passwords.hash_password_async(data.password),
    )
    uow.session.add(user)
    await uow.session.flush()
    audit.record(uow, actor, "user.created", user)
    return user


async def _check_station(uow: UnitOfWork, data: UserCreate, organisation: Organisation) -> None:
    """Station staff name their station, and belong to its centre or its operator."""
    if data.role != Role.STATION:
        raise InvalidInput("station_id", "Only station staff are tied to a station.")
    if data.station_id is None:
        raise InvalidInput("station_id", "Station staff need their station.")
    station = await uow.session.get(Station, data.station_id)
    if station is None or organisation.id not in (station.organisation_id, station.operator_id):
        raise InvalidInput("station_id", f"Station {data.station_id} does not exist here.")


async def list_users(uow: UnitOfWork) -> list[User]:
    return list((await uow.session.scalars(select(User).order_by(User.id))).all())
