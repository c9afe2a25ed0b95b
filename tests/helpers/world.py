"""A small world of tenants, staff, units and patients, built through the services (the
``world`` fixture in tests/conftest.py builds one for each test)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dispatch.auth import tokens
from dispatch.auth.principal import Principal
from dispatch.db.session import Database
from dispatch.fleet import service as fleet
from dispatch.incidents.config import DispatchConfig
from dispatch.incidents.triage import TriageTable
from dispatch.models import Organisation, Patient, Station, User, Vehicle
from dispatch.models.enums import Mobility, OrganisationKind, Role, VehicleKind, VehicleState
from dispatch.routing.straight import StraightLineProvider
from dispatch.routing.timeofday import FLAT_PROFILE
from tests.helpers.stacks import TEST_SECRET

TEST_PASSWORD = "correct horse battery"


def dispatch_config(**overrides: Any) -> DispatchConfig:
    """Emergency settings for service-level tests: straight-line ETAs, no rush hours."""
    return DispatchConfig(
        triage=TriageTable.load(), travel=StraightLineProvider(FLAT_PROFILE), **overrides
    )


@dataclass
class World:
    centre_id: int
    care_a_id: int
    care_b_id: int
    station_id: int
    vehicle_ids: dict[str, int]
    patient_a_id: int
    patient_b_id: int
    user_ids: dict[str, int]
    tokens: dict[str, str] = field(default_factory=dict)
    device_tokens: dict[str, str] = field(default_factory=dict)

    def headers(self, who: str) -> dict[str, str]:
        """Authorization for a user ("dispatcher", "care_a", …) or a device ("device:A1")."""
        if who.startswith("device:"):
            return {"Authorization": f"Bearer {self.device_tokens[who.removeprefix('device:')]}"}
        return {"Authorization": f"Bearer {self.tokens[who]}"}


USERS = {
    "admin": Role.ADMIN,
    "supervisor": Role.SUPERVISOR,
    "dispatcher": Role.DISPATCHER,
    "dispatcher2": Role.DISPATCHER,
    "driver": Role.DRIVER,
    "care_a": Role.CARE_CENTRE,
    "care_b": Role.CARE_CENTRE,
}


async def place(
    db: Database,
    vehicle_id: int,
    lat: float,
    lon: float,
    *,
    age_s: float = 5.0,
    state: VehicleState | None = None,
) -> None:
    """Put a unit somewhere, as if its phone had just reported (``age_s`` ago)."""
    from datetime import UTC, datetime, timedelta

    async with db.unit_of_work() as uow:
        vehicle = await uow.session.get(Vehicle, vehicle_id)
        assert vehicle is not None
        vehicle.last_lat, vehicle.last_lon = lat, lon
        vehicle.last_fix_at = datetime.now(UTC) - timedelta(seconds=age_s)
        if state is not None:
            vehicle.state = state


async def build_world(db: Database, secret: str | None = None) -> World:
    secret = secret or TEST_SECRET
    async with db.unit_of_work() as uow:
        s = uow.session
        centre = Organisation(name="Test EMS", kind=OrganisationKind.DISPATCH_CENTRE)
        care_a = Organisation(name="Care A", kind=OrganisationKind.CARE_CENTRE)
        care_b = Organisation(name="Care B", kind=OrganisationKind.CARE_CENTRE)
        s.add_all([centre, care_a, care_b])
        await s.flush()
        station = Station(organisation_id=centre.id, name="Central", lat=13.74, lon=100.53)
        s.add(station)
        await s.flush()
        vehicles = {
            "A1": Vehicle(
                organisation_id=centre.id,
                call_sign="A1",
                kind=VehicleKind.ALS,
                seats_stretcher=1,
                station_id=station.id,
                state=VehicleState.AVAILABLE,
            ),
            "B1": Vehicle(
                organisation_id=centre.id,
                call_sign="B1",
                kind=VehicleKind.BLS,
                seats_stretcher=1,
                station_id=station.id,
                state=VehicleState.AVAILABLE,
            ),
            "T1": Vehicle(
                organisation_id=centre.id,
                call_sign="T1",
                kind=VehicleKind.TRANSPORT_VAN,
                seats_seated=6,
                seats_wheelchair=2,
                station_id=station.id,
                state=VehicleState.OFF_DUTY,
            ),
        }
        s.add_all(vehicles.values())
        await s.flush()
        pa = Patient(organisation_id=care_a.id, full_name="Patient A", mobility=Mobility.WHEELCHAIR)
        pb = Patient(organisation_id=care_b.id, full_name="Patient B", mobility=Mobility.AMBULATORY)
        s.add_all([pa, pb])
        users: dict[str, User] = {}
        from dispatch.auth.passwords import hash_password

        password_hash = hash_password(TEST_PASSWORD)
        for username, role in USERS.items():
            org = {"care_a": care_a, "care_b": care_b}.get(username, centre)
            users[username] = User(
                organisation_id=org.id,
                username=username,
                full_name=username.title(),
                role=role,
                password_hash=password_hash,
                vehicle_id=vehicles["A1"].id if role == Role.DRIVER else None,
            )
        s.add_all(users.values())
        await s.flush()
        seeder = Principal(role=Role.ADMIN, organisation_id=centre.id, name="test")
        device_tokens = {}
        for call_sign in ("A1", "B1"):
            _, token = await fleet.issue_device_token(uow, seeder, vehicles[call_sign].id)
            device_tokens[call_sign] = token
        world = World(
            centre_id=centre.id,
            care_a_id=care_a.id,
            care_b_id=care_b.id,
            station_id=station.id,
            vehicle_ids={k: v.id for k, v in vehicles.items()},
            patient_a_id=pa.id,
            patient_b_id=pb.id,
            user_ids={k: u.id for k, u in users.items()},
            device_tokens=device_tokens,
        )
    for username, user_id in world.user_ids.items():
        token, _ = tokens.create_access_token(
            user_id=user_id,
            role=USERS[username].value,
            organisation_id=0,
            key=secret,
            minutes=60,
        )
        world.tokens[username] = token
    return world


async def add_north(db: Database, world: World) -> dict[str, int]:
    """A second station, North (13.80, 100.53: 6.7 km north of Central), with one BLS unit
    N1, its only cover; and a second BLS unit B2 at Central. Returns their ids."""
    async with db.unit_of_work() as uow:
        north = Station(organisation_id=world.centre_id, name="North", lat=13.80, lon=100.53)
        uow.session.add(north)
        await uow.session.flush()
        added = {}
        for call_sign, station_id in (("N1", north.id), ("B2", world.station_id)):
            vehicle = Vehicle(
                organisation_id=world.centre_id,
                call_sign=call_sign,
                kind=VehicleKind.BLS,
                seats_stretcher=1,
                station_id=station_id,
                state=VehicleState.AVAILABLE,
            )
            uow.session.add(vehicle)
            await uow.session.flush()
            added[call_sign] = vehicle.id
        added["north_station"] = north.id
    world.vehicle_ids.update({k: v for k, v in added.items() if k != "north_station"})
    return added
