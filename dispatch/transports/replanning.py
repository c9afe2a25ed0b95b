"""When booked rides are (re)planned, and how a plan reaches the database without holding
it: the orchestration around ``planning``.

* A dispatcher or the day-ahead cron asks for a plan (``plan_day``).
* Committed facts trigger re-plans on their own (``subscribe``): a unit taken off its
  booked rides for a red call (its rides go to the others), a unit free again after an
  emergency (rides no one else could take come back to it), a booking created, changed or
  cancelled on a day that already has a plan (a quick warm-started insertion). Nothing
  in the API has to remember to ask.

Every plan is solved from a read-only snapshot and then re-timed on fresh data in one
short write transaction, so the database (SQLite's single write lock) is never held for
the length of a solve; one plan per day at a time in this worker.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from datetime import date
from zoneinfo import ZoneInfo

from sqlalchemy import select

from dispatch.auth.principal import Principal
from dispatch.clock import Clock
from dispatch.db.reactions import Reactions
from dispatch.db.session import Database, Publisher, UnitOfWork
from dispatch.events import (
    AssignmentCreated,
    AssignmentProgressed,
    BookingCancelled,
    BookingCreated,
    BookingUpdated,
)
from dispatch.models import TransportBooking
from dispatch.routing.base import TravelTimeProvider
from dispatch.transports import planbuild, planning
from dispatch.transports.config import TransportConfig

log = logging.getLogger(__name__)

#: Where each vehicle is now (live GPS), for plans of a day that has started.
Positions = Callable[[], Mapping[int, tuple[float, float]]]


class Replanner:
    def __init__(
        self,
        *,
        db: Database,
        publish: Publisher | None,
        travel: TravelTimeProvider,
        cfg: TransportConfig,
        tz: ZoneInfo,
        clock: Clock,
        positions: Positions = dict,
    ) -> None:
        self.db = db
        self.publish = publish
        self.travel = travel
        self.cfg = cfg
        self.tz = tz
        self.clock = clock
        self.positions = positions
        self._locks: dict[date, asyncio.Lock] = {}

    def _lock(self, day: date) -> asyncio.Lock:
        return self._locks.setdefault(day, asyncio.Lock())

    # --- asked for ------------------------------------------------------------------------

    async def plan_day(
        self,
        actor: Principal | None,
        day: date,
        *,
        started: bool = False,
        time_limit_s: float | None = None,
        within: Callable[[UnitOfWork, planning.PlanResult], Awaitable[None]] | None = None,
    ) -> planning.PlanResult:
        """Plan (or re-plan) ``day``. ``started``: keep what is done or under way, warm from
        the stored plan, vehicles leave from where they are now. ``within``: called with
        the result inside the transaction that writes the plan (the request's idempotency
        key is answered there, so it commits with the plan or not at all)."""
        async with self._lock(day):
            return await self._plan(
                actor,
                day,
                started=started,
                warm=started,
                time_limit_s=time_limit_s
                if time_limit_s is not None
                else (self.cfg.plan_time_limit_s if started else None),
                within=within,
            )

    async def _plan(
        self,
        actor: Principal | None,
        day: date,
        *,
        started: bool,
        warm: bool,
        time_limit_s: float | None = None,
        exclude_vehicle_ids: Collection[int] = (),
        within: Callable[[UnitOfWork, planning.PlanResult], Awaitable[None]] | None = None,
    ) -> planning.PlanResult:
        positions = dict(self.positions()) if started else None
        solving = time.perf_counter()  # compute spent, not a timer: real seconds
        async with self.db.unit_of_work(read_only=True) as uow:
            order = await planning.draft(
                uow,
                day,
                self.tz,
                self.travel,
                self.cfg,
                now=self.clock.now(),
                started=started,
                warm=warm,
                time_limit_s=time_limit_s,
                positions=positions,
                exclude_vehicle_ids=exclude_vehicle_ids,
            )
        async with self.db.unit_of_work(publish=self.publish) as uow:
            result = await planning.plan(
                uow,
                actor,
                day,
                self.tz,
                self.travel,
                self.cfg,
                now=self.clock.now(),
                started=started,
                warm=order,
                positions=positions,
                exclude_vehicle_ids=exclude_vehicle_ids,
                drafted_s=time.perf_counter() - solving,
            )
            if within is not None:
                await within(uow, result)
            return result

    async def _replan_running(
        self, days: Collection[date], exclude_vehicle_ids: Collection[int] = ()
    ) -> None:
        """Re-plan running days one after another, warm, from live positions."""
        for day in sorted(days):
            async with self._lock(day):
                await self._plan(
                    None, day, started=True, warm=True, exclude_vehicle_ids=exclude_vehicle_ids
                )

    # --- reactions to committed facts -----------------------------------------------------

    def subscribe(self, reactions: Reactions) -> None:
        reactions.subscribe(
            "replan-after-preemption",
            (AssignmentCreated,),
            self._after_preemption,
            when=lambda e: bool(e.preempted_booking_ids),
        )
        reactions.subscribe(
            "replan-after-return",
            (AssignmentProgressed,),
            self._after_return,
            when=lambda e: e.finished,
        )
        reactions.subscribe(
            "insert-booking-changes",
            (BookingCreated, BookingUpdated, BookingCancelled),
            self._after_booking_changes,
        )

    async def _after_preemption(self, events: Sequence[AssignmentCreated]) -> None:
        """The unit taken for an emergency leaves the plan of the days its released rides
        belong to, and those rides go to the others (or are reported unserved)."""
        for event in events:
            async with self.db.unit_of_work(read_only=True) as uow:
                found = await uow.session.scalars(
                    select(TransportBooking.service_date)
                    .where(TransportBooking.id.in_(event.preempted_booking_ids))
                    .distinct()
                )
                days = [d for d in found.all() if d is not None]
            await self._replan_running(days, exclude_vehicle_ids={event.vehicle_id})

    async def _after_return(self, events: Sequence[AssignmentProgressed]) -> None:
        """A unit's job ended: on the days it has a transport shift, rides released for an
        emergency that no other unit could take go back into the plan, this unit included."""
        for vehicle_id in sorted({e.vehicle_id for e in events}):
            async with self.db.unit_of_work(read_only=True) as uow:
                days = await planbuild.days_awaiting_unit(uow, vehicle_id)
            await self._replan_running(days)

    async def _after_booking_changes(
        self, events: Sequence[BookingCreated | BookingUpdated | BookingCancelled]
    ) -> None:
        days: set[date] = set()
        for event in events:
            if isinstance(event, BookingUpdated):
                days.update(event.service_dates)
            elif event.service_date is not None:
                days.add(event.service_date)
        await self.insert_into_plans(days)

    async def insert_into_plans(self, days: Collection[date]) -> None:
        """Every affected day that already has a plan gets a quick warm-started re-plan
        (the insertion time limit), so the care centre sees a planned pickup within
        seconds. Today's keeps stops done or under way and starts vehicles from their live
        positions; past days are left alone."""
        today = self.clock.now().astimezone(self.tz).date()
        for day in sorted(set(days)):
            if day < today:
                continue
            try:
                async with self._lock(day):
                    async with self.db.unit_of_work(read_only=True) as uow:
                        if not await planbuild.has_plan(uow, day):
                            continue
                    await self._plan(
                        None,
                        day,
                        started=day == today,
                        warm=True,
                        time_limit_s=self.cfg.insert_time_limit_s,
                    )
            except Exception:  # one day's failure must not keep the others unplanned
                log.exception("inserting booking changes into the plan of %s failed", day)
