"""The fleet as coverage sees it: where each unit on duty counts and whether it is free.

Shared by the ranking (which reads the fleet in its own query, for every call) and the
move-up advisor (which reads it here), so both count a unit at the same place: its
accepted standby post while free, else its station, else where its GPS puts it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, and_, select
from sqlalchemy.orm import aliased

from dispatch.coverage.model import UnitState
from dispatch.db.session import UnitOfWork
from dispatch.models import Assignment, Station, Vehicle
from dispatch.models.coverage import MoveUp, MoveUpStatus
from dispatch.models.enums import CLAIMABLE_STATES, VehicleState
from dispatch.routing.base import LatLon
from dispatch.routing.kinds import traits
from dispatch.transports import service as transports

#: Moves that put a unit at their site while it is free.
_HOLDING = (MoveUpStatus.ACCEPTED, MoveUpStatus.ARRIVED)


@dataclass(frozen=True, slots=True)
class FleetUnit:
    vehicle_id: int
    organisation_id: int
    call_sign: str
    state: UnitState
    #: Idle at or near a site, free to be sent elsewhere to wait.
    movable: bool


def unit_state(
    vehicle_id: int, kind: str, here: LatLon, *, free: bool, site_key: str | None
) -> UnitState:
    kind_traits = traits(kind)
    return UnitState(
        vehicle_id=vehicle_id,
        lat=here.lat,
        lon=here.lon,
        als=kind_traits.care_level == "als",
        available=free,
        site_key=site_key,
        carries_patients=not kind_traits.first_responder,
    )


async def holding_sites(uow: UnitOfWork) -> dict[int, str]:
    """Each unit's standby site from its accepted (or reached) move, if it has one."""
    stmt = select(MoveUp.vehicle_id, MoveUp.site_key).where(MoveUp.status.in_(_HOLDING))
    return {row[0]: row[1] for row in await uow.session.execute(stmt.order_by(MoveUp.id))}


def on_duty(*columns: Any) -> Select[Any]:
    """The units on duty, in id order: ``columns`` of each, then its station's latitude
    and longitude and the incident it is busy with (or None). One query for the whole
    fleet, shared by the ranking and the move-up advisor."""
    active = aliased(Assignment)
    return (
        select(*columns, Station.lat, Station.lon, active.incident_id)
        .outerjoin(Station, Station.id == Vehicle.station_id)
        .outerjoin(active, and_(active.vehicle_id == Vehicle.id, active.is_active.is_(True)))
        .where(Vehicle.state != VehicleState.OFF_DUTY)
        .order_by(Vehicle.id)
    )


async def read_fleet(uow: UnitOfWork) -> list[FleetUnit]:
    """Every unit on duty with a known place (its GPS, else its station)."""
    rows = (
        await uow.session.execute(
            on_duty(
                Vehicle.id,
                Vehicle.organisation_id,
                Vehicle.call_sign,
                Vehicle.kind,
                Vehicle.state,
                Vehicle.last_lat,
                Vehicle.last_lon,
                Vehicle.station_id,
            )
        )
    ).all()
    loads = await transports.transport_loads(uow)
    holding = await holding_sites(uow)
    out: list[FleetUnit] = []
    for vid, org, call_sign, kind, state, lat, lon, station_id, st_lat, st_lon, job in rows:
        if lat is not None and lon is not None:
            here = LatLon(lat, lon)
        elif st_lat is not None and st_lon is not None:
            here = LatLon(st_lat, st_lon)
        else:
            continue
        load = loads.get(vid)
        free = (
            job is None
            and state in CLAIMABLE_STATES
            and (load is None or not (load.busy or load.on_board))
        )
        home = f"station:{station_id}" if station_id is not None else None
        site = holding.get(vid, home) if free else home
        kind_value = str(getattr(kind, "value", kind))
        unit = unit_state(vid, kind_value, here, free=free, site_key=site)
        out.append(FleetUnit(vid, org, call_sign, unit, free and unit.carries_patients))
    return out
