"""Turning a service day's bookings and shifts into the scheduler's plain problem
(``routing.darp``): requests with their time windows and loads, vehicles from their
shifts (or from where they are now, on a running day), and the stored plan to warm-start
from. Reads only; ``planning`` solves and stores.

Times on the scheduler's axis are seconds since local midnight of the service day.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any, Literal, cast
from zoneinfo import ZoneInfo

from sqlalchemy import select

from dispatch.db.session import UnitOfWork
from dispatch.models import Assignment, Patient, PlanStop, TransportBooking, TransportShift, Vehicle
from dispatch.models.enums import BookingStatus, Mobility
from dispatch.routing.base import LatLon, TravelTimeProvider
from dispatch.routing.darp import model as darp
from dispatch.routing.darp.matrices import timed_matrix
from dispatch.routing.darp.rush import TravelBands
from dispatch.transports.config import TransportConfig

#: Rides the planner places; the others are finished, cancelled or in progress.
PLANNABLE = (BookingStatus.REQUESTED, BookingStatus.PLANNED)
StopKind = Literal["pickup", "dropoff"]
_SEAT = {
    Mobility.AMBULATORY: "seated",
    Mobility.WHEELCHAIR: "wheelchair",
    Mobility.STRETCHER: "stretcher",
}


@dataclass
class _Points:
    """Locations of the problem, deduplicated, with their index in the matrix."""

    coords: list[LatLon] = field(default_factory=list)
    index: dict[tuple[float, float], int] = field(default_factory=dict)

    def add(self, lat: float, lon: float) -> int:
        key = (round(lat, 6), round(lon, 6))
        if key not in self.index:
            self.index[key] = len(self.coords)
            self.coords.append(LatLon(lat, lon))
        return self.index[key]


@dataclass
class Build:
    problem: darp.Problem
    bookings: dict[str, TransportBooking]
    points: _Points
    t0: datetime


def _axis(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tz)


def _seconds(at: datetime, t0: datetime) -> float:
    return (at - t0).total_seconds()


def _load(patient: Patient, booking: TransportBooking) -> dict[str, int]:
    load = {"seated": 0, "wheelchair": 0, "stretcher": 0}
    load[_SEAT[patient.mobility]] += 1
    load["seated"] += booking.companions + (1 if patient.needs_escort else 0)
    return {k: v for k, v in load.items() if v}


def _direct_s(
    free_s: float,
    booking: TransportBooking,
    t0: datetime,
    cfg: TransportConfig,
    bands: TravelBands | None,
) -> float:
    """The direct trip the ride limit is measured from, at its slowest around the ride's
    time (a ride in the rush may take the rush's longer trip and its detour)."""
    if bands is None:
        return free_s
    span = free_s * bands.slowest
    if booking.appointment_at is not None:
        arrive = _seconds(booking.appointment_at - cfg.arrive_margin, t0)
        first, last = arrive - cfg.arrive_early.total_seconds() - span, arrive
    elif booking.pickup_window_start is not None and booking.pickup_window_end is not None:
        first = _seconds(booking.pickup_window_start, t0)
        last = _seconds(booking.pickup_window_end, t0) + span
    else:
        return free_s * bands.slowest
    return free_s * bands.slowest_between(first, last)


def _promise(
    booking: TransportBooking, window: darp.TimeWindow, t0: datetime, cfg: TransportConfig
) -> tuple[darp.TimeWindow, darp.TimeWindow | None]:
    """A planned ride's pickup stays within the notified tolerance of the pickup the care
    centre was told: its window narrowed around it, and the whole window to fall back to."""
    if booking.status != BookingStatus.PLANNED or booking.planned_pickup_at is None:
        return window, None
    told = _seconds(booking.planned_pickup_at, t0)
    slack = cfg.notify_change.total_seconds()
    low, high = max(window.earliest, told - slack), min(window.latest, told + slack)
    if low > high:
        return window, None
    return darp.TimeWindow(low, high), window


def _request(
    booking: TransportBooking,
    patient: Patient,
    pickup: int,
    dropoff: int,
    direct_s: float,
    t0: datetime,
    cfg: TransportConfig,
    aboard: darp.Aboard | None,
) -> darp.Request:
    service = cfg.service[patient.mobility].total_seconds()
    max_ride = max(
        direct_s + cfg.min_detour.total_seconds(),
        min(cfg.max_ride.total_seconds(), cfg.max_ride_factor * direct_s),
    )
    pickup_window = darp.OPEN
    dropoff_window = darp.OPEN
    if booking.appointment_at is not None:
        latest = _seconds(booking.appointment_at - cfg.arrive_margin, t0)
        earliest = _seconds(booking.appointment_at - cfg.arrive_early, t0)
        dropoff_window = darp.TimeWindow(earliest, latest)
        pickup_window = darp.TimeWindow(max(0.0, earliest - max_ride - service), latest)
    if booking.pickup_window_start is not None and booking.pickup_window_end is not None:
        pickup_window = darp.TimeWindow(
            _seconds(booking.pickup_window_start, t0), _seconds(booking.pickup_window_end, t0)
        )
    pickup_window, wide = _promise(booking, pickup_window, t0, cfg)
    return darp.Request(
        id=str(booking.id),
        pickup=pickup,
        dropoff=dropoff,
        load=_load(patient, booking),
        pickup_window=pickup_window,
        dropoff_window=dropoff_window,
        max_ride=math.floor(max_ride),
        pickup_service=service,
        dropoff_service=service,
        aboard=aboard,
        # a ride planned before, or released from a unit taken for an emergency, holds a
        # promise: a re-plan does not give its place to a newcomer
        kept=wide is not None
        or booking.release_reason is not None
        or booking.planned_pickup_at is not None,
        wide_pickup=wide,
    )


async def build(
    uow: UnitOfWork,
    day: date,
    tz: ZoneInfo,
    travel: TravelTimeProvider,
    cfg: TransportConfig,
    *,
    now: datetime,
    started: bool,
    positions: Mapping[int, tuple[float, float]],
    exclude_vehicle_ids: Collection[int],
) -> Build:
    t0 = _axis(day, tz)
    session = uow.session
    shifts = (
        await session.scalars(
            select(TransportShift)
            .where(TransportShift.service_date == day)
            .order_by(TransportShift.vehicle_id)
        )
    ).all()
    vehicles = {
        v.id: v
        for v in (
            await session.scalars(
                select(Vehicle).where(Vehicle.id.in_([s.vehicle_id for s in shifts]))
            )
        ).all()
    }
    statuses = (
        (*PLANNABLE, BookingStatus.VEHICLE_EN_ROUTE, BookingStatus.ON_BOARD)
        if started
        else PLANNABLE
    )
    rows = (
        await session.execute(
            select(TransportBooking, Patient)
            .join(Patient, Patient.id == TransportBooking.patient_id)
            .where(
                TransportBooking.service_date == day,
                TransportBooking.is_series.is_(False),
                TransportBooking.status.in_(statuses),
            )
            .order_by(TransportBooking.id)
        )
    ).all()
    points = _Points()
    fleet: list[tuple[TransportShift, Vehicle, int]] = []
    on_emergency = await _on_emergency(uow, list(vehicles)) if started else set()
    for shift in shifts:
        vehicle = vehicles[shift.vehicle_id]
        if vehicle.id in exclude_vehicle_ids or vehicle.id in on_emergency:
            continue
        depot = points.add(shift.depot_lat, shift.depot_lon)
        fleet.append((shift, vehicle, depot))
    legs = [
        (
            b,
            p,
            points.add(b.pickup_lat, b.pickup_lon),
            points.add(b.destination_lat, b.destination_lon),
        )
        for b, p in rows
    ]
    live_index = {vid: points.add(lat, lon) for vid, (lat, lon) in positions.items()}
    depart = max(now, t0 + timedelta(hours=8))
    matrix, bands = await asyncio.to_thread(timed_matrix, travel, points.coords, t0, depart)
    requests = []
    bookings: dict[str, TransportBooking] = {}
    for booking, patient, pickup, dropoff in legs:
        aboard = None
        if booking.status == BookingStatus.ON_BOARD:
            if booking.vehicle_id is None or booking.vehicle_id in exclude_vehicle_ids:
                continue  # cannot happen by the claim rule; never move a patient aboard
            aboard = darp.Aboard(str(booking.vehicle_id), _seconds(now, t0))
        direct = _direct_s(float(matrix[pickup, dropoff]), booking, t0, cfg, bands)
        requests.append(_request(booking, patient, pickup, dropoff, direct, t0, cfg, aboard))
        bookings[str(booking.id)] = booking
    under_way = await _under_way(uow, day) if started else {}
    on_the_road = await _on_the_road(uow, day) if started else set()
    fleet_specs = []
    for shift, vehicle, depot in fleet:
        start = live_index.get(vehicle.id, depot) if started else depot
        ready = _seconds(now, t0) if started else None
        breaks = tuple(
            darp.Break(
                darp.TimeWindow(_seconds(_dt(b["earliest"]), t0), _seconds(_dt(b["latest"]), t0)),
                float(b["minutes"]) * 60,
            )
            for b in shift.breaks
            if not started or _dt(b["latest"]) > now
        )
        next_stop = under_way.get(vehicle.id)
        fleet_specs.append(
            darp.Vehicle(
                id=str(vehicle.id),
                capacity={
                    "seated": vehicle.seats_seated,
                    "wheelchair": vehicle.seats_wheelchair,
                    "stretcher": vehicle.seats_stretcher,
                },
                start=start,
                end=depot,
                shift=darp.TimeWindow(_seconds(shift.starts_at, t0), _seconds(shift.ends_at, t0)),
                breaks=breaks,
                ready_at=ready,
                next_stop=next_stop if next_stop and next_stop.request_id in bookings else None,
                # a vehicle already out today costs nothing more to keep using
                fixed_cost=0.0 if vehicle.id in on_the_road else cfg.vehicle_cost.total_seconds(),
                # driving seconds per second out
                time_cost=cfg.hour_cost.total_seconds() / 3600.0,
            )
        )
    problem = darp.Problem(
        requests=tuple(requests),
        vehicles=tuple(fleet_specs),
        travel=matrix.astype("int64"),
        bands=bands,
    )
    return Build(problem, bookings, points, t0)


def _dt(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


async def _on_emergency(uow: UnitOfWork, vehicle_ids: list[int]) -> set[int]:
    """Vehicles out on an emergency job: a same-day re-plan must not hand them rides (a
    unit taken earlier for a red call is still on that call when another one re-plans)."""
    if not vehicle_ids:
        return set()
    found = await uow.session.scalars(
        select(Assignment.vehicle_id).where(
            Assignment.vehicle_id.in_(vehicle_ids), Assignment.is_active.is_(True)
        )
    )
    return set(found.all())


async def days_awaiting_unit(uow: UnitOfWork, vehicle_id: int) -> list[date]:
    """Days on which ``vehicle_id`` has a transport shift and rides released for an
    emergency are still waiting for a unit (no other unit had room when they were
    re-planned): the days to re-plan when this unit is free again."""
    shifts = select(TransportShift.service_date).where(TransportShift.vehicle_id == vehicle_id)
    found = await uow.session.scalars(
        select(TransportBooking.service_date)
        .where(
            TransportBooking.status == BookingStatus.REQUESTED,
            TransportBooking.release_reason.is_not(None),
            TransportBooking.service_date.in_(shifts),
        )
        .distinct()
    )
    return sorted(d for d in found.all() if d is not None)


async def has_plan(uow: UnitOfWork, day: date) -> bool:
    """Whether ``day`` already has a published plan (changes to it are then inserted)."""
    found = await uow.session.scalar(
        select(PlanStop.vehicle_id).where(PlanStop.service_date == day).limit(1)
    )
    return found is not None


async def _on_the_road(uow: UnitOfWork, day: date) -> set[int]:
    """Vehicles that have served a stop of ``day`` or are serving one."""
    rows = await uow.session.scalars(
        select(PlanStop.vehicle_id).where(
            PlanStop.service_date == day, PlanStop.status.in_(("done", "under_way"))
        )
    )
    return set(rows)


async def _under_way(uow: UnitOfWork, day: date) -> dict[int, darp.StopRef]:
    rows = (
        await uow.session.execute(
            select(PlanStop.vehicle_id, PlanStop.booking_id, PlanStop.kind).where(
                PlanStop.service_date == day,
                PlanStop.status == "under_way",
                PlanStop.booking_id.is_not(None),
            )
        )
    ).all()
    return {
        vid: darp.StopRef(str(bid), cast(StopKind, kind))
        for vid, bid, kind in rows
        if kind in ("pickup", "dropoff")
    }


async def previous_sequences(uow: UnitOfWork, day: date) -> dict[str, list[darp.StopRef]]:
    rows = (
        await uow.session.execute(
            select(PlanStop.vehicle_id, PlanStop.booking_id, PlanStop.kind)
            .where(
                PlanStop.service_date == day,
                PlanStop.status.in_(("planned", "under_way")),
                PlanStop.booking_id.is_not(None),
            )
            .order_by(PlanStop.vehicle_id, PlanStop.seq)
        )
    ).all()
    out: dict[str, list[darp.StopRef]] = {}
    for vid, bid, kind in rows:
        if kind in ("pickup", "dropoff"):
            out.setdefault(str(vid), []).append(darp.StopRef(str(bid), cast(StopKind, kind)))
    return out
