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

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import cast
from zoneinfo import ZoneInfo

from sqlalchemy import delete, select

from dispatch import clock
from dispatch.audit import service as audit
from dispatch.auth.principal import Principal
from dispatch.db.session import UnitOfWork
from dispatch.events import BookingRescheduled, BookingUnserved, ManifestUpdated
from dispatch.models import PlanStop, TransportBooking
from dispatch.models.enums import BookingStatus
from dispatch.observability.metrics import SOLVER_SECONDS
from dispatch.routing.base import TravelTimeProvider
from dispatch.routing.darp import model as darp
from dispatch.routing.darp.figures import plan_figures
from dispatch.transports import planbuild, solver_pool
from dispatch.transports.config import TransportConfig


@dataclass
class PlanResult:
    day: date
    served: list[int] = field(default_factory=list)
    unserved: dict[int, str] = field(default_factory=dict)
    vehicles: list[int] = field(default_factory=list)
    seconds: float = 0.0
    rescheduled: list[int] = field(default_factory=list)
    #: Planned rides whose pickup had to move beyond the notified tolerance, and why.
    moved: dict[int, str] = field(default_factory=dict)
    #: What the plan costs: vehicles used, hours, trips per vehicle-hour (figures.py).
    figures: dict[str, float | int] = field(default_factory=dict)


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
) -> tuple[planbuild.Build, darp.Plan]:
    from dispatch.routing.darp.solver import INSERT_OPTIONS, solve  # OR-Tools loads lazily

    now = now or clock.now()
    build = await planbuild.build(
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
    else:  # a fresh plan also starts from the plan in force: its rides keep their places
        previous = await planbuild.previous_sequences(uow, day) or None
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
    drafted_s: float = 0.0,
) -> PlanResult:
    """(Re-)plan ``day`` and store the verified result. ``started``: stops done stay done,
    the stop under way stays first, patients aboard stay on their vehicle and vehicles
    leave from ``positions`` now; ``warm``: start from the stored plan (insertion), or
    from a ``draft`` made outside the transaction (then only re-timed here), which took
    ``drafted_s`` seconds: the result's ``seconds`` is the whole solve."""
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
    result_plan = replace(result_plan, seconds=result_plan.seconds + drafted_s)
    return await _store(uow, actor, day, build, result_plan, cfg, started=started)


async def _store(
    uow: UnitOfWork,
    actor: Principal | None,
    day: date,
    build: planbuild.Build,
    result_plan: darp.Plan,
    cfg: TransportConfig,
    *,
    started: bool,
) -> PlanResult:
    session = uow.session
    result = PlanResult(
        day, seconds=result_plan.seconds, figures=plan_figures(build.problem, result_plan).as_dict()
    )
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
    manifests: list[int] = []  # every vehicle of the plan: an emptied manifest changed too
    for route in result_plan.routes:
        vehicle_id = int(route.vehicle_id)
        manifests.append(vehicle_id)
        seq = next_seq.get(vehicle_id, 0)
        stops = [v for v in route.visits if v.kind in ("pickup", "dropoff")]
        if stops:
            result.vehicles.append(vehicle_id)  # the vehicles the plan uses
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
    for moved in result_plan.moved:
        result.moved[int(moved.request_id)] = moved.reason
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
        "moved": {str(k): v for k, v in result.moved.items()},
        "seconds": round(result.seconds, 2),
    }
    if build.bookings:
        audit.record(
            uow, actor, "plan.made", next(iter(build.bookings.values())), after=audit_after
        )
    for vehicle_id in manifests:
        uow.emit(ManifestUpdated(vehicle_id=vehicle_id, service_date=day))
    for booking_id in result.rescheduled:  # the care centre hears of a moved pickup
        booking = build.bookings[str(booking_id)]
        assert booking.planned_pickup_at is not None
        uow.emit(
            BookingRescheduled(
                booking_id=booking_id,
                organisation_id=booking.organisation_id,
                planned_pickup_at=booking.planned_pickup_at,
            )
        )
    for booking_id, reason in result.unserved.items():
        booking = build.bookings[str(booking_id)]
        uow.emit(
            BookingUnserved(
                booking_id=booking_id, organisation_id=booking.organisation_id, reason=reason
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
    if booking.status in planbuild.PLANNABLE:
        booking.status = BookingStatus.PLANNED
    booking.vehicle_id = vehicle_id
    booking.planned_pickup_at = pickup_at
    booking.unserved_reason = None
    booking.release_reason = None
    result.served.append(booking.id)
    if previous is not None and abs(pickup_at - previous) > cfg.notify_change:
        result.rescheduled.append(booking.id)
