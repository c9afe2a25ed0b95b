"""Booked patient transports in the city day: each policy's transport crews working
through the server's day plan (their manifests), all through the public API. The
bookings and the plan before the day are ``simulator.city.bookings``.

Why the rides live on a day of their own, after today: the server refuses bookings in
the past and plans a day's bookings with every shift of that day together. So each
policy's rides are booked on its own future date (the system's on the simulated date,
the baseline's on the day after; travel times do not depend on the weekday), the server
plans each day ahead as it would overnight, and a crew follows its manifest in the
*virtual* time of that date: a stop planned for 09:40 is driven at virtual 09:40.
Booking times, planned times and the delays the report shows are therefore on the day's
own clock, exact to the second.

The crew's rules: it leaves for its next stop as soon as the previous one is done (the
stop is reported *under way* at once, so the unit counts as out on a run and only a red
call may take it), waits at a pickup until the planned time, spends the planned
boarding time, and reports each stop done. A patient marked as a no-show does not come
(nor for the way home). A red call may take the unit while nobody is aboard: the server
releases its rides and re-plans them onto the others; the crew drops its manifest, does
the emergency and then comes back to whatever its manifest holds.

One distortion is inherent and counted: a re-plan after a preemption runs on the server's
clock, which is before the simulated date, so the server cannot know the simulated time
of day; it may plan a released ride at a moment the simulated day has already passed.
The crew then goes at once, and the report measures the ride against the booking itself
(arrive by the appointment; pick up by the end of the window), not against the plan.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from simulator.city.api import Api
from simulator.city.bookings import (
    add_shifts,
    book_rides,
    care_centre,
    clear_leftovers,
    nearest_id,
    plan_day,
    rides_on_the_map,
)
from simulator.city.crews import Crews
from simulator.city.errors import CityError
from simulator.city.records import TransportDay, Unit
from simulator.city.scenario import Ride, Scenario

IDLE_POLL_S = 600.0  # an idle crew looks at its manifest again after this (virtual s)
NO_SHOW_WAIT_S = 300.0  # how long a crew waits for a patient who does not come
REPLAN_WAIT_S = 60.0  # real seconds to wait for the re-plan after a preemption
RETURN_WAIT_S = 3.0  # and for released rides to be placed when a unit comes back
REPLAN_POLL_S = 0.05


class Transports:
    """The crews of every policy's transport units and the bookings they serve."""

    def __init__(self, crews: Crews, scenario: Scenario, days: list[TransportDay]) -> None:
        self.crews = crews
        self.scenario = scenario
        self.days = {d.policy: d for d in days}
        self.day_of: dict[int, TransportDay] = {u.vehicle_id: d for d in days for u in d.units}
        self.shifts: dict[str, list[asyncio.Task[None]]] = {d.policy: [] for d in days}
        self.end_v = float("inf")
        self.stop_updates = 0
        self.errors: list[str] = []
        self.stops_gone = 0
        self.replans_timed_out = 0
        self.return_waits_timed_out = 0
        self.rides_relocated = 0
        self.seed = crews.cfg.seed

    @property
    def units_per_policy(self) -> int:
        return max((len(d.units) for d in self.days.values()), default=0)

    # --- before the day ---------------------------------------------------------------------

    async def prepare(self, api: Api, prefix: str, rides: list[Ride]) -> None:
        """Care centre, leftovers of an earlier run cancelled, shifts, patients, bookings,
        and the day-ahead plan of every policy's date (the plans run side by side)."""
        organisation_id = await care_centre(api, prefix)
        rides, self.rides_relocated = await rides_on_the_map(api, self.scenario, self.seed, rides)
        hospitals = (await api.send("GET", "/hospitals")).json()
        hospital_ids = [nearest_id(hospitals, h.lat, h.lon) for h in self.scenario.hospitals]
        for day in self.days.values():
            await clear_leftovers(api, day)
            await add_shifts(api, self.scenario, day)
            await book_rides(api, day, organisation_id, hospital_ids, prefix, rides, self.errors)
        await asyncio.gather(*(plan_day(api, day) for day in self.days.values()))

    # --- the day ------------------------------------------------------------------------

    def start(self, end_v: float) -> None:
        self.end_v = end_v
        for day in self.days.values():
            for unit in day.units:
                self.shifts[day.policy].append(unit.clock.spawn(self._shift(unit)))

    async def finish(self, policy: str) -> None:
        """Stop the policy's crews (at the end of the span)."""
        units = self.days[policy].units
        for unit in units:
            async with unit.lock:  # never between a report and its record
                if unit.manifest_task is not None:
                    unit.manifest_task.cancel()
        shifts = self.shifts[policy]
        for task in shifts:  # shifts that had not started by the end of the span
            task.cancel()
        await asyncio.gather(*shifts, return_exceptions=True)
        tasks = [u.manifest_task for u in units if u.manifest_task]
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _shift(self, unit: Unit) -> None:
        t = self.scenario.transports
        assert t is not None
        clock = unit.clock
        await clock.sleep_until(t.shift_s[0])
        if clock.now_v() >= self.end_v:
            return
        with contextlib.suppress(Exception):
            await self.crews.api.send(
                "PATCH", f"/vehicles/{unit.vehicle_id}", body={"state": "available"}
            )
        unit.on_shift = True
        self.resume(unit)

    def resume(self, unit: Unit) -> None:
        """Back to the manifest (at shift start, or after an emergency)."""
        unit.manifest_task = unit.clock.spawn(self._follow(unit))

    async def replanned(self, policy: str, booking_ids: list[int]) -> None:
        """After a preemption: wait (in real time, the clock standing still) until the
        server's background re-plan has placed every released ride on a unit or said why
        it cannot; give up after ``REPLAN_WAIT_S`` and count it. Rides left without a unit
        wait for one to come back (:meth:`returned`)."""
        day = self.days[policy]
        deadline = time.monotonic() + REPLAN_WAIT_S
        while True:
            found = await self._bookings(booking_ids)
            pending = [
                b
                for b, x in found.items()
                if x["status"] == "requested"
                and x["planned_pickup_at"] is None
                and x["unserved_reason"] is None
            ]
            if not pending:
                break
            if time.monotonic() > deadline:
                self.replans_timed_out += 1
                break
            await asyncio.sleep(REPLAN_POLL_S)
        day.waiting.update(b for b, x in found.items() if x["status"] == "requested")

    async def returned(self, unit: Unit) -> None:
        """A transport unit is free again and the server re-plans the released rides no
        unit could take: wait (the clock standing still) until that re-plan shows, at most
        ``RETURN_WAIT_S``. A re-plan is one transaction, so any ride placed means it ran;
        when none could be placed nothing shows and the wait runs out (counted)."""
        day = self.day_of[unit.vehicle_id]
        before = len(day.waiting)
        deadline = time.monotonic() + RETURN_WAIT_S
        while day.waiting:
            try:
                found = await self._bookings(sorted(day.waiting))
            except CityError as exc:  # recorded; the crew goes back to its manifest
                self.errors.append(f"{unit.call_sign}: {exc}"[:300])
                return
            day.waiting = {b for b, x in found.items() if x["status"] == "requested"}
            if len(day.waiting) < before:
                return
            if time.monotonic() > deadline:
                self.return_waits_timed_out += 1
                return
            await asyncio.sleep(REPLAN_POLL_S)

    async def _bookings(self, booking_ids: list[int]) -> dict[int, dict[str, Any]]:
        replies = await asyncio.gather(
            *(self.crews.api.send("GET", f"/bookings/{b}", ok=(200, 404)) for b in booking_ids)
        )
        return {
            b: reply.json()
            for b, reply in zip(booking_ids, replies, strict=True)
            if reply.status_code == 200
        }

    def taken(self, unit: Unit, released: list[int]) -> None:
        """A call took the unit (under its lock): drop the manifest, mark released rides."""
        if unit.manifest_task is not None:
            unit.manifest_task.cancel()
            unit.manifest_task = None
        unit.on_manifest = False
        day = self.day_of[unit.vehicle_id]
        for booking_id in released:
            rec = day.by_booking.get(booking_id)
            if rec is not None:
                rec.released = True

    async def _stop(self, unit: Unit, stop: dict[str, Any], status: str) -> bool:
        """Report progress; False when a re-plan took the stop off this manifest (the crew
        then looks at its manifest again, as the crew app would)."""
        reply = await self.crews.api.send(
            "POST",
            f"/plan-stops/{stop['id']}/status",
            token=unit.token,
            body={"status": status},
            ok=(200, 404),
        )
        self.stop_updates += 1
        self.stops_gone += reply.status_code == 404
        return reply.status_code == 200

    async def _next_stop(self, unit: Unit, day: TransportDay) -> dict[str, Any] | None:
        manifest = (
            await self.crews.api.send(
                "GET",
                f"/vehicles/{unit.vehicle_id}/manifest",
                token=unit.token,
                params={"service_date": day.day.isoformat()},
            )
        ).json()
        for stop in manifest["stops"]:
            if stop["status"] in ("planned", "under_way"):
                return dict(stop)
        return None

    async def _follow(self, unit: Unit) -> None:
        """Work through the manifest until the shift is over and nothing is left."""
        t = self.scenario.transports
        assert t is not None
        day = self.day_of[unit.vehicle_id]
        clock = unit.clock
        at_depot = False
        while clock.now_v() < self.end_v:
            try:
                async with unit.lock:
                    stop = await self._next_stop(unit, day)
                    unit.on_manifest = stop is not None
                    if (
                        stop is not None
                        and stop["kind"] != "break"
                        and stop["status"] == "planned"
                        and not await self._stop(unit, stop, "under_way")
                    ):
                        continue  # a re-plan took it away meanwhile
                if stop is None:
                    v = clock.now_v()
                    if v >= t.shift_s[1]:
                        await self._off_duty(unit)
                        return
                    if not at_depot:
                        await self.crews.drive(unit, (unit.home.lat, unit.home.lon))
                        at_depot = True
                    else:
                        await clock.sleep_until(min(v + IDLE_POLL_S, t.shift_s[1]))
                    continue
                at_depot = False
                await self._serve(unit, day, stop)
            except CityError as exc:  # recorded; the crew tries again a little later
                self.errors.append(f"{unit.call_sign}: {exc}"[:300])
                await clock.sleep_until(clock.now_v() + 60)

    async def _serve(self, unit: Unit, day: TransportDay, stop: dict[str, Any]) -> None:
        clock = unit.clock
        planned_start = day.v(stop["planned_start"])
        service = day.v(stop["planned_departure"]) - planned_start
        if stop["kind"] == "break":
            await clock.sleep_until(max(clock.now_v(), planned_start) + service)
            async with unit.lock:
                await self._stop(unit, stop, "done")  # a re-plan may have moved the break
            return
        rec = day.by_booking.get(int(stop["booking_id"]))
        start_v = clock.now_v()
        if planned_start < start_v - 60 and stop["kind"] == "pickup":
            day.replanned_into_past += rec is not None and rec.released
        arrival = await self.crews.drive(unit, (float(stop["lat"]), float(stop["lon"])))
        if stop["kind"] == "pickup":
            if rec is not None and rec.pickup_arrival_v is None:
                rec.pickup_arrival_v = arrival
            ready = max(arrival, planned_start)
            # Reports and records change together under the lock, which is also where the
            # crew can be stopped (a call taking the unit, the end of the run).
            if rec is not None and rec.ride.no_show:
                await clock.sleep_until(ready + NO_SHOW_WAIT_S)
                async with unit.lock:
                    rec.no_show = await self._stop(unit, stop, "no_show")
                return
            await clock.sleep_until(ready + service)
            async with unit.lock:
                if await self._stop(unit, stop, "done") and rec is not None:
                    rec.pickup_v, rec.vehicle = ready + service, unit.call_sign
        else:
            if rec is not None and rec.dropoff_v is None:
                rec.dropoff_v = arrival
            await clock.sleep_until(arrival + service)
            async with unit.lock:
                if await self._stop(unit, stop, "done") and rec is not None:
                    rec.completed = True

    async def _off_duty(self, unit: Unit) -> None:
        async with unit.lock:  # not while a call is taking the unit
            if unit.busy:
                return
            unit.on_shift = False
            await self.crews.api.send(
                "PATCH", f"/vehicles/{unit.vehicle_id}", body={"state": "off_duty"}
            )
        await self.crews.drive(unit, (unit.home.lat, unit.home.lon))
