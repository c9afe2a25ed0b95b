"""The world a benchmark runs in: where things are, and the centre, fleet and hospitals.

Seeding goes through the ORM, not the API: it is setup, not what is measured. Positions
come from the same travel-time provider the app will load, so no seeded unit or call is
refused as off the map.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

from dispatch.auth.passwords import hash_password_async
from dispatch.db.session import Database
from dispatch.models import Hospital, Organisation, Station, User, Vehicle
from dispatch.models.enums import OrganisationKind, Role, VehicleKind, VehicleState
from dispatch.routing.base import LatLon, TravelTimeProvider
from dispatch.routing.bench import random_points
from dispatch.routing.roadgraph import RoadGraphProvider

#: Where positions are drawn when there is no road graph (central Bangkok).
FALLBACK_BBOX = (13.70, 100.48, 13.79, 100.60)

#: Fleet mix: kind, call-sign prefix, share, seats (seated, wheelchair, stretcher).
FLEET_MIX = (
    (VehicleKind.ALS, "A", 0.45, (2, 0, 1)),
    (VehicleKind.BLS, "B", 0.43, (2, 1, 1)),
    (VehicleKind.MOTORBIKE, "M", 0.06, (0, 0, 0)),
    (VehicleKind.TRANSPORT_VAN, "T", 0.06, (6, 2, 0)),
)
OFF_DUTY_SHARE = 0.1
STATIONS = 5
HOSPITALS = 6
HOSPITAL_CAPABILITIES = ("trauma", "stroke", "cardiac", "burns", "paediatric")

Sampler = Callable[[np.random.Generator, int], list[LatLon]]


def position_sampler(travel: TravelTimeProvider) -> Sampler:
    """Points a provider accepts: within the snap limit of the road graph, else in a box."""
    if isinstance(travel, RoadGraphProvider):
        return lambda rng, count: random_points(travel, rng, count)
    lat0, lon0, lat1, lon1 = FALLBACK_BBOX

    def in_box(rng: np.random.Generator, count: int) -> list[LatLon]:
        lats, lons = rng.uniform(lat0, lat1, count), rng.uniform(lon0, lon1, count)
        return [LatLon(float(a), float(b)) for a, b in zip(lats, lons, strict=True)]

    return in_box


@dataclass(frozen=True)
class Login:
    username: str
    password: str


async def seed_world(db: Database, draw: Sampler, rng: np.random.Generator, units: int) -> Login:
    """One dispatch centre, a dispatcher, stations, ``units`` vehicles with recent GPS fixes
    on the network, and hospitals, in one unit of work (the ORM, not the API: seeding is
    not what is measured)."""
    password = secrets.token_urlsafe(18)
    password_hash = await hash_password_async(password)
    now = datetime.now(UTC)
    async with db.unit_of_work() as uow:
        s = uow.session
        centre = Organisation(name="Benchmark EMS", kind=OrganisationKind.DISPATCH_CENTRE)
        s.add(centre)
        await s.flush()
        user = User(
            organisation_id=centre.id,
            username="bench-dispatcher",
            full_name="Benchmark dispatcher",
            role=Role.DISPATCHER,
            password_hash=password_hash,
        )
        stations = [
            Station(organisation_id=centre.id, name=f"Station {i + 1}", lat=p.lat, lon=p.lon)
            for i, p in enumerate(draw(rng, STATIONS))
        ]
        hospitals = [
            Hospital(
                name=f"Hospital {i + 1}",
                lat=p.lat,
                lon=p.lon,
                capabilities=sorted(
                    rng.choice(HOSPITAL_CAPABILITIES, size=2, replace=False).tolist()
                ),
                available_er_beds=int(rng.integers(0, 20)),
            )
            for i, p in enumerate(draw(rng, HOSPITALS))
        ]
        s.add_all([user, *stations, *hospitals])
        await s.flush()
        kinds = rng.choice(len(FLEET_MIX), size=units, p=[share for _, _, share, _ in FLEET_MIX])
        off_duty = rng.random(units) < OFF_DUTY_SHARE
        fix_age_s = rng.uniform(0.0, 60.0, units)
        home = rng.integers(0, len(stations), units)
        vehicles = []
        for i, position in enumerate(draw(rng, units)):
            kind, prefix, _, (seated, wheelchair, stretcher) = FLEET_MIX[int(kinds[i])]
            vehicles.append(
                Vehicle(
                    organisation_id=centre.id,
                    call_sign=f"{prefix}{i + 1:04d}",
                    kind=kind,
                    seats_seated=seated,
                    seats_wheelchair=wheelchair,
                    seats_stretcher=stretcher,
                    station_id=stations[int(home[i])].id,
                    state=VehicleState.OFF_DUTY if off_duty[i] else VehicleState.AVAILABLE,
                    serves_transports=kind == VehicleKind.TRANSPORT_VAN,
                    last_lat=position.lat,
                    last_lon=position.lon,
                    last_fix_at=now - timedelta(seconds=float(fix_age_s[i])),
                )
            )
        s.add_all(vehicles)
    return Login(user.username, password)
