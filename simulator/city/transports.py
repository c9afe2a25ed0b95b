"""Booked patient transports in the city day: care-centre bookings, the server's day plan,
and crews working through their manifests, all through the public API.

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
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from simulator.city.errors import CityError
from simulator.city.scenario import Ride, Scenario, relocate_ride

if TYPE_CHECKING:
    from simulator.city.engine import Api, City, Unit

IDLE_POLL_S = 600.0  # an idle crew looks at its manifest again after this (virtual s)
NO_SHOW_WAIT_S = 300.0  # how long a crew waits for a patient who does not come
REPLAN_WAIT_S = 60.0  # real seconds to wait for the re-plan after a preemption
RETURN_WAIT_S = 3.0  # and for released rides to be placed when a unit comes back
REPLAN_POLL_S = 0.05


class TransportSetupError(Exception):
    """The server cannot hold this transport day (no care centre, a refused booking)."""


@dataclass
class RideRecord:
    """One booked ride (outbound or the way home) under one policy, in virtual seconds of
    its service date."""

    ride: Ride
    policy: str
    leg: str  # "outbound" | "return"
    booking_id: int | None = None
    planned_pickup_v: float | None = None  # the day-ahead plan's pickup
    unserved_reason: str | None = None  # the day-ahead plan could not serve it
    pickup_arrival_v: float | None = None
    pickup_v: float | None = None  # patient aboard
    dropoff_v: float | None = None  # arrived at the destination
    no_show: bool = False
    completed: bool = False  # the drop-off was reported done
    released: bool = False  # taken off its unit by a preemption
    vehicle: str | None = None  # who carried the patient
    error: str | None = None

    @property
    def due_v(self) -> float:
        """Arrive by the appointment (outbound); be picked up by the window's end (home)."""
        if self.leg == "outbound":
            return self.ride.appointment_s
        assert self.ride.return_window is not None
        return self.ride.return_window[1]

    @property
    def delay_s(self) -> float | None:
        """Seconds after what was booked (negative: early); None while not done."""
        if self.leg == "outbound":
            return None if self.dropoff_v is None else self.dropoff_v - self.due_v
        return None if self.pickup_arrival_v is None else self.pickup_arrival_v - self.due_v


@dataclass
class TransportDay:
    """One policy's transport units and booked rides on its own service date."""

    policy: str
    day: date
    tz: ZoneInfo
    units: list[Unit]
    records: list[RideRecord] = field(default_factory=list)
    by_booking: dict[int, RideRecord] = field(default_factory=dict)
    plan: dict[str, Any] = field(default_factory=dict)
    replanned_into_past: int = 0
    waiting: set[int] = field(default_factory=set)  # released rides without a unit

    @property
    def start(self) -> datetime:
        return datetime(self.day.year, self.day.month, self.day.day, tzinfo=self.tz)

    def v(self, stamp: str) -> float:
        return (datetime.fromisoformat(stamp) - self.start).total_seconds()

    def iso(self, v: float) -> str:
        return (self.start + timedelta(seconds=v)).isoformat()


class Transports:
    """The crews of every policy's transport units and the bookings they serve."""

    def __init__(self, city: City, scenario: Scenario, days: list[TransportDay]) -> None:
        self.city = city
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
        self.seed = city.cfg.seed
        self.gate = asyncio.Semaphore(8)

    @property
    def units_per_policy(self) -> int:
        return max((len(d.units) for d in self.days.values()), default=0)

    # --- before the day ---------------------------------------------------------------------

    async def prepare(self, api: Api, prefix: str, rides: list[Ride]) -> None:
        """Care centre, leftovers of an earlier run cancelled, shifts, patients, bookings,
        and the day-ahead plan of every policy's date (the plans run side by side)."""
        organisation_id = await _care_centre(api, prefix)
        rides = list(await asyncio.gather(*(self._on_the_map(api, r) for r in rides)))
        hospitals = (await api.send("GET", "/hospitals")).json()
        hospital_ids = [_nearest_id(hospitals, h.lat, h.lon) for h in self.scenario.hospitals]
        for day in self.days.values():
            await self._clear(api, day)
            await self._shifts(api, day)
            await self._book(api, day, organisation_id, hospital_ids, prefix, rides)
        await asyncio.gather(*(self._plan(api, day) for day in self.days.values()))

    async def _on_the_map(self, api: Api, ride: Ride) -> Ride:
        """A home the server's map cannot reach is drawn again (as calls are), before the
        day, so both policies get the same rides; a zero-length ``GET /route`` checks."""
        for attempt in range(1, 6):
            params = {"from_lat": ride.lat, "from_lon": ride.lon, "to_lat": ride.lat}
            params["to_lon"] = ride.lon
            async with self.gate:
                reply = await api.send("GET", "/route", params=params, ok=(200, 422))
            if reply.status_code == 200:
                return ride
            ride = relocate_ride(self.scenario, self.seed, ride, attempt)
            self.rides_relocated += attempt == 1
        return ride

    async def _clear(self, api: Api, day: TransportDay) -> None:
        old = (
            await api.send("GET", "/bookings", params={"service_date": day.day.isoformat()})
        ).json()
        for b in old:
            if (
                b["status"] in ("requested", "planned", "vehicle_en_route")
                and b["series_id"] is None
            ):
                await api.send("POST", f"/bookings/{b['id']}/cancel", ok=(200, 404, 409))

    async def _shifts(self, api: Api, day: TransportDay) -> None:
        t = self.scenario.transports
        assert t is not None
        have = {
            int(s["vehicle_id"])
            for s in (
                await api.send(
                    "GET", "/transport-shifts", params={"service_date": day.day.isoformat()}
                )
            ).json()
        }
        lunch = (11.5 * 3600, 13.5 * 3600)
        for unit in day.units:
            if unit.vehicle_id in have:
                continue
            body: dict[str, Any] = {
                "vehicle_id": unit.vehicle_id,
                "starts_at": day.iso(t.shift_s[0]),
                "ends_at": day.iso(t.shift_s[1]),
            }
            if t.break_minutes and t.shift_s[0] <= lunch[0] and lunch[1] < t.shift_s[1]:
                body["breaks"] = [
                    {
                        "earliest": day.iso(lunch[0]),
                        "latest": day.iso(lunch[1]),
                        "minutes": t.break_minutes,
                    }
                ]
            await api.send("POST", "/transport-shifts", body=body)

    async def _book(
        self,
        api: Api,
        day: TransportDay,
        organisation_id: int,
        hospital_ids: list[int],
        prefix: str,
        rides: list[Ride],
    ) -> None:
        gate = asyncio.Semaphore(8)

        async def one(ride: Ride) -> None:
            out = RideRecord(ride, day.policy, "outbound")
            back = RideRecord(ride, day.policy, "return") if ride.return_window else None
            day.records.extend([out, *([back] if back else [])])
            patient_body = {
                "full_name": f"{prefix} {day.policy} patient {ride.n}",
                "mobility": ride.mobility,
                "home_lat": ride.lat,
                "home_lon": ride.lon,
                "organisation_id": organisation_id,
            }
            async with gate:
                patient = (await api.send("POST", "/patients", body=patient_body)).json()
                body: dict[str, Any] = {
                    "patient_id": patient["id"],
                    "pickup_lat": ride.lat,
                    "pickup_lon": ride.lon,
                    "destination_hospital_id": hospital_ids[ride.hospital],
                    "appointment_at": day.iso(ride.appointment_s),
                    "notes": f"city-sim policy={day.policy} ride={ride.n}",
                }
                if ride.return_window is not None:
                    body["return_pickup_window_start"] = day.iso(ride.return_window[0])
                    body["return_pickup_window_end"] = day.iso(ride.return_window[1])
                reply = await api.send("POST", "/bookings", body=body, ok=(201, 422))
            if reply.status_code == 422:  # a place the server refuses: reported, not booked
                out.error = reply.text[:200]
                self.errors.append(f"ride {ride.n} refused: {reply.text[:200]}")
                if back is not None:
                    day.records.remove(back)
                return
            created = reply.json()
            out.booking_id = int(created["id"])
            day.by_booking[out.booking_id] = out
            if back is not None:
                back.booking_id = int(created["return_booking_id"])
                day.by_booking[back.booking_id] = back

        await asyncio.gather(*(one(r) for r in rides))
        day.records.sort(key=lambda r: (r.ride.n, r.leg != "outbound"))

    async def _plan(self, api: Api, day: TransportDay) -> None:
        result = (await api.send("POST", f"/plans/{day.day.isoformat()}")).json()
        day.plan = {
            "served": len(result["served"]),
            "unserved": len(result["unserved"]),
            "solver_s": result["seconds"],
        }
        for booking_id, reason in result["unserved"].items():
            rec = day.by_booking.get(int(booking_id))
            if rec is not None:
                rec.unserved_reason = reason
        booked = (
            await api.send("GET", "/bookings", params={"service_date": day.day.isoformat()})
        ).json()
        for b in booked:
            rec = day.by_booking.get(int(b["id"]))
            if rec is not None and b["planned_pickup_at"]:
                rec.planned_pickup_v = day.v(b["planned_pickup_at"])

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
            await self.city.api.send(
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
            *(self.city.api.send("GET", f"/bookings/{b}", ok=(200, 404)) for b in booking_ids)
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
        reply = await self.city.api.send(
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
            await self.city.api.send(
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
        clock, city = unit.clock, self.city
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
                        await city.drive(unit, (unit.home.lat, unit.home.lon))
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
        arrival = await self.city.drive(unit, (float(stop["lat"]), float(stop["lon"])))
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
            await self.city.api.send(
                "PATCH", f"/vehicles/{unit.vehicle_id}", body={"state": "off_duty"}
            )
        await self.city.drive(unit, (unit.home.lat, unit.home.lon))


async def _care_centre(api: Api, prefix: str) -> int:
    """The care centre that books the rides: ``<prefix> care`` if it exists, else any care
    centre, else one is created (which needs an administrator)."""
    found = (await api.send("GET", "/organisations")).json()
    centres = [o for o in found if o["kind"] == "care_centre"]
    named = [o for o in centres if o["name"] == f"{prefix} care"]
    if named or centres:
        return int((named or centres)[0]["id"])
    try:
        body = {"name": f"{prefix} care", "kind": "care_centre"}
        return int((await api.send("POST", "/organisations", body=body)).json()["id"])
    except CityError as exc:
        raise TransportSetupError(
            "booked transports need a care-centre organisation: create one "
            "(dispatch org create --kind care_centre) or log in as an administrator"
        ) from exc


def _nearest_id(hospitals: list[dict[str, Any]], lat: float, lon: float) -> int:
    best = min(hospitals, key=lambda h: (h["lat"] - lat) ** 2 + (h["lon"] - lon) ** 2)
    return int(best["id"])


async def verify(api: Api, transports: Transports, released: dict[str, set[int]]) -> dict[str, Any]:
    """What the server stored for each policy's rides against what its crews did: every
    booking's final status, and the rides the server released for emergencies (from the
    stored assignments) against those the simulator saw released."""
    out: dict[str, Any] = {}
    for name, day in transports.days.items():
        stored = {
            int(b["id"]): b
            for b in (
                await api.send("GET", "/bookings", params={"service_date": day.day.isoformat()})
            ).json()
        }
        expected: dict[int, str] = {}
        for booking_id, rec in day.by_booking.items():
            if rec.completed:
                expected[booking_id] = "completed"
            elif rec.no_show:
                expected[booking_id] = "no_show"
        statuses: dict[str, int] = {}
        mismatched: list[int] = []
        for booking_id in day.by_booking:
            status = stored[booking_id]["status"] if booking_id in stored else "missing"
            statuses[status] = statuses.get(status, 0) + 1
            finished = status in ("completed", "no_show")
            if expected.get(booking_id) != (status if finished else None):
                mismatched.append(booking_id)
        seen = {b for b, rec in day.by_booking.items() if rec.released}
        out[name] = {
            "service_date": day.day.isoformat(),
            "bookings": len(day.by_booking),
            "stored_statuses": dict(sorted(statuses.items())),
            "status_mismatches": sorted(mismatched),
            "released_by_server": len(released.get(name, set())),
            "released_seen": len(seen),
            "released_agree": released.get(name, set()) == seen,
        }
    return out
