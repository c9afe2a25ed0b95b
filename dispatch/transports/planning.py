"""Planning booked rides with the dial-a-ride scheduler (``routing.darp``).

This module turns the day's bookings and shifts into the scheduler's plain problem,
solves it in a worker thread, and writes the verified result back: each ride's vehicle and
planned pickup time (what the care centre sees), each vehicle's ordered stops (the
manifest), and every ride it could not serve with the reason.

The same entry point serves three situations:

* the day-ahead plan (nothing has started);
* same-day insertion of a new booking, warm-started from the running plan with a short
  time limit, stops already done or under way left in place;
* re-planning after a unit is taken for an emergency (its rides go to the others) or runs
  late (vehicles start from their live position; patients aboard stay on their vehicle).

Times on the scheduler's axis are seconds since local midnight of the service day.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal, cast
from zoneinfo import ZoneInfo

from sqlalchemy import delete, select

from dispatch.audit import service as audit
from dispatch.auth.principal import Principal
from dispatch.db.session import UnitOfWork
from dispatch.events import Event
from dispatch.models import Assignment, Patient, PlanStop, TransportBooking, TransportShift, Vehicle
from dispatch.models.enums import BookingStatus, Mobility
from dispatch.observability.metrics import SOLVER_SECONDS
from dispatch.routing.base import LatLon, TravelTimeProvider
from dispatch.routing.darp import model as darp
from dispatch.transports import solver_pool
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
class PlanResult:
    day: date
    served: list[int] = field(default_factory=list)
    unserved: dict[int, str] = field(default_factory=dict)
    vehicles: list[int] = field(default_factory=list)
    seconds: float = 0.0
    rescheduled: list[int] = field(default_factory=list)


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
class _Build:
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
    )


async def _build(
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
) -> _Build:
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
    matrix = await asyncio.to_thread(travel.matrix, points.coords, points.coords, depart)
    requests = []
    bookings: dict[str, TransportBooking] = {}
    for booking, patient, pickup, dropoff in legs:
        aboard = None
        if booking.status == BookingStatus.ON_BOARD:
            if booking.vehicle_id is None or booking.vehicle_id in exclude_vehicle_ids:
                continue  # cannot happen by the claim rule; never move a patient aboard
            aboard = darp.Aboard(str(booking.vehicle_id), _seconds(now, t0))
        requests.append(
            _request(
                booking, patient, pickup, dropoff, float(matrix[pickup, dropoff]), t0, cfg, aboard
            )
        )
        bookings[str(booking.id)] = booking
    under_way = await _under_way(uow, day) if started else {}
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
            )
        )
    problem = darp.Problem(
        requests=tuple(requests), vehicles=tuple(fleet_specs), travel=matrix.astype("int64")
    )
    return _Build(problem, bookings, points, t0)


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


async def _previous_sequences(uow: UnitOfWork, day: date) -> dict[str, list[darp.StopRef]]:
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


#: Solver time to check and re-time a draft under the write transaction.
COMMIT_TIME_LIMIT_S = 0.3

StopOrder = Mapping[str, Sequence[darp.StopRef]]


async def _solve(
    uow: UnitOfWork,
    day: date,
    tz: ZoneInfo,
    travel: TravelTimeProvider,
    cfg: TransportConfig,
    *,
    now: datetime | None,
    started: bool,
    warm: bool | StopOrder,
    time_limit_s: float | None,
    positions: Mapping[int, tuple[float, float]] | None,
    exclude_vehicle_ids: Collection[int],
) -> tuple[_Build, darp.Plan]:
    from dispatch.routing.darp.solver import INSERT_OPTIONS, solve  # OR-Tools loads lazily

    now = now or datetime.now(UTC)
    build = await _build(
        uow,
        day,
        tz,
        travel,
        cfg,
        now=now,
        started=started,
        positions=positions or {},
        exclude_vehicle_ids=exclude_vehicle_ids,
    )
    drafted = not isinstance(warm, bool)
    previous: StopOrder | None = None
    if drafted:
        previous = cast(StopOrder, warm)
    elif warm:
        previous = await _previous_sequences(uow, day)
    warm_start: dict[str, list[darp.StopRef]] | None = None
    if previous is not None:
        keep = {str(v.id) for v in build.problem.vehicles}
        known = set(build.bookings)
        warm_start = {
            vid: [s for s in stops if s.request_id in known]
            for vid, stops in previous.items()
            if vid in keep
        }
    if drafted:  # re-time the draft on what the day is now, inserting what changed
        result_plan = await solver_pool.run(
            solve, build.problem, COMMIT_TIME_LIMIT_S, warm_start, INSERT_OPTIONS
        )
    else:
        limit = time_limit_s or (cfg.insert_time_limit_s if warm else cfg.plan_time_limit_s)
        result_plan = await solver_pool.run(solve, build.problem, limit, warm_start)
        SOLVER_SECONDS.labels("insert" if warm else "plan").observe(result_plan.seconds)
    return build, result_plan


async def draft(
    uow: UnitOfWork,
    day: date,
    tz: ZoneInfo,
    travel: TravelTimeProvider,
    cfg: TransportConfig,
    *,
    now: datetime | None = None,
    started: bool = False,
    warm: bool = False,
    time_limit_s: float | None = None,
    positions: Mapping[int, tuple[float, float]] | None = None,
    exclude_vehicle_ids: Collection[int] = (),
) -> dict[str, list[darp.StopRef]]:
    """Solve ``day`` from a read-only unit of work and return each vehicle's stop order.

    Why: the solve takes seconds (a day plan, tens of them); inside a write transaction
    it would hold SQLite's one write lock all that time and stop calls and GPS fixes
    from being stored. ``plan(..., warm=<this order>)`` then re-reads the day inside the
    write transaction and only re-times the order, inserting whatever changed meanwhile.
    """
    _, result_plan = await _solve(
        uow,
        day,
        tz,
        travel,
        cfg,
        now=now,
        started=started,
        warm=warm,
        time_limit_s=time_limit_s,
        positions=positions,
        exclude_vehicle_ids=exclude_vehicle_ids,
    )
    return darp.stop_sequences(result_plan)


async def plan(
    uow: UnitOfWork,
    actor: Principal | None,
    day: date,
    tz: ZoneInfo,
    travel: TravelTimeProvider,
    cfg: TransportConfig,
    *,
    now: datetime | None = None,
    started: bool = False,
    warm: bool | StopOrder = False,
    time_limit_s: float | None = None,
    positions: Mapping[int, tuple[float, float]] | None = None,
    exclude_vehicle_ids: Collection[int] = (),
) -> PlanResult:
    """(Re-)plan ``day`` and store the verified result. ``started``: stops done stay done,
    the stop under way stays first, patients aboard stay on their vehicle and vehicles
    leave from ``positions`` now; ``warm``: start from the stored plan (insertion), or
    from a ``draft`` made outside the transaction (then only re-timed here)."""
    build, result_plan = await _solve(
        uow,
        day,
        tz,
        travel,
        cfg,
        now=now,
        started=started,
        warm=warm,
        time_limit_s=time_limit_s,
        positions=positions,
        exclude_vehicle_ids=exclude_vehicle_ids,
    )
    return await _store(uow, actor, day, build, result_plan, cfg, started=started)


async def _store(
    uow: UnitOfWork,
    actor: Principal | None,
    day: date,
    build: _Build,
    result_plan: darp.Plan,
    cfg: TransportConfig,
    *,
    started: bool,
) -> PlanResult:
    session = uow.session
    result = PlanResult(day, seconds=result_plan.seconds)
    stmt = delete(PlanStop).where(PlanStop.service_date == day)
    if started:
        stmt = stmt.where(PlanStop.status == "planned")
    await session.execute(stmt)
    coords = build.points.coords
    t0 = build.t0
    next_seq: dict[int, int] = {}
    if started:
        for vid, seq in (
            await session.execute(
                select(PlanStop.vehicle_id, PlanStop.seq).where(PlanStop.service_date == day)
            )
        ).all():
            next_seq[vid] = max(next_seq.get(vid, 0), seq)
    for route in result_plan.routes:
        vehicle_id = int(route.vehicle_id)
        result.vehicles.append(vehicle_id)
        seq = next_seq.get(vehicle_id, 0)
        stops = [v for v in route.visits if v.kind in ("pickup", "dropoff")]
        for visit in stops:
            assert visit.request_id is not None
            booking = build.bookings[visit.request_id]
            if started and await _already_listed(uow, day, booking.id, visit.kind):
                continue
            seq += 1
            point = coords[visit.location]
            session.add(
                PlanStop(
                    service_date=day,
                    vehicle_id=vehicle_id,
                    seq=seq,
                    kind=visit.kind,
                    booking_id=booking.id,
                    lat=point.lat,
                    lon=point.lon,
                    planned_arrival=t0 + timedelta(seconds=visit.arrival),
                    planned_start=t0 + timedelta(seconds=visit.start),
                    planned_departure=t0 + timedelta(seconds=visit.departure),
                )
            )
            if visit.kind == "pickup":
                _planned(booking, vehicle_id, t0 + timedelta(seconds=visit.start), cfg, result)
        for brk in route.breaks:
            seq += 1
            start = t0 + timedelta(seconds=brk.start)
            session.add(
                PlanStop(
                    service_date=day,
                    vehicle_id=vehicle_id,
                    seq=seq,
                    kind="break",
                    planned_arrival=start,
                    planned_start=start,
                    planned_departure=start + timedelta(seconds=brk.duration),
                )
            )
    for unserved in result_plan.unserved:
        booking = build.bookings[unserved.request_id]
        if booking.status == BookingStatus.ON_BOARD:
            continue  # stays with its vehicle; reported as a warning by the scheduler
        booking.vehicle_id = None
        booking.planned_pickup_at = None
        booking.status = BookingStatus.REQUESTED
        booking.unserved_reason = unserved.reason
        result.unserved[booking.id] = unserved.reason
    await session.flush()
    audit_after = {
        "day": day.isoformat(),
        "served": len(result.served),
        "unserved": {str(k): v for k, v in result.unserved.items()},
        "seconds": round(result.seconds, 2),
    }
    if build.bookings:
        audit.record(
            uow, actor, "plan.made", next(iter(build.bookings.values())), after=audit_after
        )
    for vehicle_id in result.vehicles:
        uow.emit(
            Event("manifest.updated", {"vehicle_id": vehicle_id, "service_date": day.isoformat()})
        )
    for booking_id in result.rescheduled:  # the care centre hears of a moved pickup
        booking = build.bookings[str(booking_id)]
        assert booking.planned_pickup_at is not None
        uow.emit(
            Event(
                "booking.rescheduled",
                {
                    "booking_id": booking_id,
                    "organisation_id": booking.organisation_id,
                    "planned_pickup_at": booking.planned_pickup_at.isoformat(),
                },
            )
        )
    for booking_id, reason in result.unserved.items():
        booking = build.bookings[str(booking_id)]
        uow.emit(
            Event(
                "booking.unserved",
                {
                    "booking_id": booking_id,
                    "reason": reason,
                    "organisation_id": booking.organisation_id,
                },
            )
        )
    return result


async def _already_listed(uow: UnitOfWork, day: date, booking_id: int, kind: str) -> bool:
    found = await uow.session.scalar(
        select(PlanStop.id).where(
            PlanStop.service_date == day, PlanStop.booking_id == booking_id, PlanStop.kind == kind
        )
    )
    return found is not None


def _planned(
    booking: TransportBooking,
    vehicle_id: int,
    pickup_at: datetime,
    cfg: TransportConfig,
    result: PlanResult,
) -> None:
    previous = booking.planned_pickup_at
    if booking.status in PLANNABLE:
        booking.status = BookingStatus.PLANNED
    booking.vehicle_id = vehicle_id
    booking.planned_pickup_at = pickup_at
    booking.unserved_reason = None
    booking.release_reason = None
    result.served.append(booking.id)
    if previous is not None and abs(pickup_at - previous) > cfg.notify_change:
        result.rescheduled.append(booking.id)
