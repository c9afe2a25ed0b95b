"""Station staff and a second station for the offer tests (issue 19), built through the
models like ``tests/helpers/world.py``; tokens as the world's users get them."""

from __future__ import annotations

from dispatch.auth import tokens
from dispatch.auth.passwords import hash_password
from dispatch.auth.principal import Principal
from dispatch.db.session import Database
from dispatch.fleet import service as fleet
from dispatch.models import Organisation, Station, User, Vehicle
from dispatch.models.enums import OrganisationKind, Role, VehicleKind, VehicleState
from tests.helpers.stacks import TEST_SECRET
from tests.helpers.world import TEST_PASSWORD, World


async def add_station_staff(db: Database, world: World, username: str, station_id: int) -> str:
    """A login for one station's staff; returns its bearer token (also in ``world``)."""
    async with db.unit_of_work() as uow:
        user = User(
            organisation_id=world.centre_id,
            username=username,
            full_name=username.title(),
            role=Role.STATION,
            password_hash=hash_password(TEST_PASSWORD),
            station_id=station_id,
        )
        uow.session.add(user)
        await uow.session.flush()
        user_id = user.id
    token, _ = tokens.create_access_token(
        user_id=user_id, role=Role.STATION.value, organisation_id=0, key=TEST_SECRET, minutes=60
    )
    world.tokens[username] = token
    world.user_ids[username] = user_id
    return token


async def add_centre(
    db: Database, world: World, name: str, parent_id: int | None, dispatcher: str
) -> int:
    """A dispatch centre (under ``parent_id``) with one dispatcher login named
    ``dispatcher``; returns the centre's id."""
    async with db.unit_of_work() as uow:
        centre = Organisation(name=name, kind=OrganisationKind.DISPATCH_CENTRE, parent_id=parent_id)
        uow.session.add(centre)
        await uow.session.flush()
        user = User(
            organisation_id=centre.id,
            username=dispatcher,
            full_name=dispatcher.title(),
            role=Role.DISPATCHER,
            password_hash=hash_password(TEST_PASSWORD),
        )
        uow.session.add(user)
        await uow.session.flush()
        centre_id, user_id = centre.id, user.id
    token, _ = tokens.create_access_token(
        user_id=user_id, role=Role.DISPATCHER.value, organisation_id=0, key=TEST_SECRET, minutes=60
    )
    world.tokens[dispatcher] = token
    world.user_ids[dispatcher] = user_id
    return centre_id


#: Where the districts of ``add_districts`` have their station (and their calls).
DISTRICT_PLACES = {1: {"lat": 13.70, "lon": 100.50}, 2: {"lat": 13.78, "lon": 100.60}}


async def add_districts(db: Database, world: World) -> dict[str, int]:
    """District 1 and District 2 under the world's centre (the province), each with a
    dispatcher (``disp1``, ``disp2``), one station and one BLS unit (``X1``, ``X2``, with
    phone tokens in ``world.device_tokens``). Returns the centres' and units' ids."""
    ids: dict[str, int] = {}
    for n, place in DISTRICT_PLACES.items():
        centre = await add_centre(db, world, f"District {n}", world.centre_id, f"disp{n}")
        async with db.unit_of_work() as uow:
            station = Station(organisation_id=centre, name=f"Station {n}", **place)
            uow.session.add(station)
            await uow.session.flush()
            unit = Vehicle(
                organisation_id=centre,
                call_sign=f"X{n}",
                kind=VehicleKind.BLS,
                seats_stretcher=1,
                station_id=station.id,
                state=VehicleState.AVAILABLE,
            )
            uow.session.add(unit)
            await uow.session.flush()
            seeder = Principal(role=Role.ADMIN, organisation_id=world.centre_id, name="test")
            _, token = await fleet.issue_device_token(uow, seeder, unit.id)
            ids[f"d{n}"], ids[f"X{n}"] = centre, unit.id
        world.device_tokens[f"X{n}"] = token
        world.vehicle_ids[f"X{n}"] = ids[f"X{n}"]
    return ids
