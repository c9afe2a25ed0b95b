"""Planning booked rides: the day-ahead plan, and re-planning in the background when a
unit is taken for an emergency."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection, Coroutine
from datetime import date, datetime
from typing import Any

from fastapi import APIRouter, Query
from sqlalchemy import select

from dispatch.api.deps import AppState, OperationalOwnTransactions, State
from dispatch.auth.principal import Principal
from dispatch.models import TransportBooking
from dispatch.schemas import Output
from dispatch.transports import planning

log = logging.getLogger(__name__)
router = APIRouter(tags=["planning"])


class PlanOut(Output):
    service_date: date
    served: list[int]
    unserved: dict[int, str]
    vehicles: list[int]
    rescheduled: list[int]
    seconds: float


def _out(result: planning.PlanResult) -> PlanOut:
    return PlanOut(
        service_date=result.day,
        served=result.served,
        unserved=result.unserved,
        vehicles=result.vehicles,
        rescheduled=result.rescheduled,
        seconds=round(result.seconds, 2),
    )


def live_positions(state: AppState) -> dict[int, tuple[float, float]]:
    return {vid: (p.lat, p.lon) for vid, p in state.hub.positions.items()}


@router.post(
    "/plans/{service_date}",
    response_model=PlanOut,
    summary="Plan (or re-plan) a day's booked rides; unserved rides come with the reason",
)
async def plan_day(
    state: State,
    actor: OperationalOwnTransactions,
    service_date: date,
    started: bool = Query(
        default=False,
        description="Keep what is done or under way; vehicles leave from where they are now",
    ),
) -> PlanOut:
    async with _lock(state, service_date):
        result = await _plan(
            state,
            actor,
            service_date,
            started=started,
            warm=started,
            positions=live_positions(state) if started else None,
            time_limit_s=None if not started else state.transport.plan_time_limit_s,
        )
    return _out(result)


def _lock(state: AppState, day: date) -> asyncio.Lock:
    return state.plan_locks.setdefault(day, asyncio.Lock())


async def _plan(
    state: AppState,
    actor: Principal | None,
    day: date,
    *,
    started: bool,
    warm: bool,
    positions: dict[int, tuple[float, float]] | None,
    time_limit_s: float | None = None,
    exclude_vehicle_ids: Collection[int] = (),
) -> planning.PlanResult:
    """Solve from a read-only snapshot, then re-time that draft on fresh data in one short
    write transaction: the database is never locked for the length of a solve."""
    settings = state.settings
    async with state.db.unit_of_work(read_only=True) as uow:
        order = await planning.draft(
            uow,
            day,
            settings.tz,
            state.travel,
            state.transport,
            started=started,
            warm=warm,
            time_limit_s=time_limit_s,
            positions=positions,
            exclude_vehicle_ids=exclude_vehicle_ids,
        )
    async with state.db.unit_of_work(publish=state.broker.publish) as uow:
        return await planning.plan(
            uow,
            actor,
            day,
            settings.tz,
            state.travel,
            state.transport,
            started=started,
            warm=order,
            positions=positions,
            exclude_vehicle_ids=exclude_vehicle_ids,
        )


async def _replan_running(
    state: AppState,
    actor: Principal,
    days: Collection[date],
    exclude_vehicle_ids: Collection[int] = (),
) -> None:
    """Re-plan running days one after another, warm, from live positions."""
    for day in days:
        async with _lock(state, day):
            await _plan(
                state,
                actor,
                day,
                started=True,
                warm=True,
                positions=live_positions(state),
                exclude_vehicle_ids=exclude_vehicle_ids,
            )


async def replan_after_preemption(
    state: AppState, actor: Principal, vehicle_id: int, booking_ids: list[int]
) -> None:
    """Run after the response: the unit taken for an emergency leaves the plan of the days
    its released rides belong to, and those rides go to the others (or are reported
    unserved with the reason)."""
    try:
        async with state.db.unit_of_work(read_only=True) as uow:
            found = await uow.session.scalars(
                select(TransportBooking.service_date)
                .where(TransportBooking.id.in_(booking_ids))
                .distinct()
            )
            days = sorted(d for d in found.all() if d is not None)
        await _replan_running(state, actor, days, exclude_vehicle_ids={vehicle_id})
    except Exception:
        log.exception("re-planning after unit %s was taken failed", vehicle_id)


_background: set[asyncio.Task[None]] = set()


def in_background(job: Coroutine[Any, Any, None]) -> None:
    """Run a re-plan after the reply where no request's background tasks exist (the crew
    websocket), keeping a reference until it ends."""
    task = asyncio.create_task(job)
    _background.add(task)
    task.add_done_callback(_background.discard)


async def replan_after_return(state: AppState, actor: Principal, vehicle_id: int) -> None:
    """Run after a unit's job ends (back in service, or stood down): on the days it has a
    transport shift, rides released for an emergency that no other unit could take go
    back into the plan, this unit included, instead of staying unserved."""
    try:
        async with state.db.unit_of_work(read_only=True) as uow:
            days = await planning.days_awaiting_unit(uow, vehicle_id)
        await _replan_running(state, actor, days)
    except Exception:
        log.exception("re-planning after unit %s came back failed", vehicle_id)


async def insert_into_plans(state: AppState, days: Collection[date]) -> None:
    """Run after a booking was created, changed or cancelled: every affected day that
    already has a plan gets a quick warm-started re-plan (the insertion time limit), so the
    care centre sees a planned pickup within seconds. Today's re-plan keeps stops that are
    done or under way and starts vehicles from their live positions."""
    today = datetime.now(state.settings.tz).date()
    for day in sorted(set(days)):
        if day < today:
            continue
        try:
            async with _lock(state, day):
                async with state.db.unit_of_work(read_only=True) as uow:
                    if not await planning.has_plan(uow, day):
                        continue
                await _plan(
                    state,
                    None,
                    day,
                    started=day == today,
                    warm=True,
                    positions=live_positions(state) if day == today else None,
                    time_limit_s=state.transport.insert_time_limit_s,
                )
        except Exception:
            log.exception("inserting booking changes into the plan of %s failed", day)
