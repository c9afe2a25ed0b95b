"""The two ways a call gets its unit, each over a fleet of its own.

*system* takes the best of its own units from ``POST /incidents/{id}/recommendations``
(the server's ranking, which may take a transport unit off its booked rides: a
preemption); *baseline* takes the closest idle unit by straight line and never preempts.
Both assign through ``POST /incidents/{id}/assignments``. A call nobody can take waits
(red first, then oldest) until a unit frees.
"""

from __future__ import annotations

import asyncio
from typing import Any

from simulator.city.clock import Clock
from simulator.city.crews import Crews
from simulator.city.errors import CityError
from simulator.city.geometry import haversine_m
from simulator.city.records import CaseRecord, Unit
from simulator.city.scenario import TRIAGE_ORDER
from simulator.city.transports import Transports

RANKING_LIMIT = 1000  # the most ``POST /incidents/{id}/recommendations`` returns


class Policy:
    """One fleet and the rule that picks its unit for a call."""

    def __init__(
        self,
        name: str,
        units: list[Unit],
        crews: Crews,
        clock: Clock,
        transports: Transports | None = None,
        send_backup: bool = True,
    ) -> None:
        self.name = name
        self.units = {u.vehicle_id: u for u in units}
        self.crews = crews
        self.clock = clock
        self.transports = transports
        #: Tiered response: also send the ALS backup the server proposes (system only).
        self.send_backup = send_backup
        self.lock = asyncio.Lock()
        self.waiters: list[tuple[tuple[int, float], CaseRecord, asyncio.Future[Unit]]] = []

    async def obtain(self, rec: CaseRecord) -> Unit:
        """A unit for the call now, or the call waits (most urgent, then oldest, first)
        until one comes free. The lock orders the calls of one moment and the queue; it
        costs no simulated time, since the clock waits for whoever holds it."""
        clock = self.clock
        async with self.lock:
            unit = await self._try(rec)
            if unit is not None:
                return unit
            if self._stuck():
                raise CityError(f"no {self.name} unit can take call {rec.call.n}")
            future: asyncio.Future[Unit] = asyncio.get_running_loop().create_future()
            key = (_triage_rank(rec.call.triage), rec.call.t_s)
            self.waiters.append((key, rec, future))
            wait_from = clock.now_v()
        unit = await clock.wait(future)
        assert rec.notified_v is not None
        rec.waited_s = rec.notified_v - wait_from
        return unit

    async def freed(self) -> None:
        """A unit became free: the most urgent waiting call that can take a unit gets it."""
        clock = self.clock
        async with self.lock:
            # One failed attempt per kind of call is enough: what one red (or one other)
            # call cannot get, the next cannot either. Trying every waiter would cost a
            # recommendation each, and a backlog would feed on itself.
            failed: set[bool] = set()
            for entry in sorted(self.waiters, key=lambda w: w[0]):
                _key, rec, future = entry
                red = rec.call.triage == "red"
                if red in failed:
                    continue
                try:
                    unit = await self._try(rec)
                except Exception as exc:  # the waiter must not hang on a failed attempt
                    self.waiters.remove(entry)
                    clock.fail(future, exc)
                    continue
                if unit is None:
                    failed.add(red)
                if unit is not None:
                    self.waiters.remove(entry)
                    clock.resolve(future, unit)
                    return
            if self._stuck():  # nothing will ever free a unit: fail instead of hanging
                for _key, rec, future in self.waiters:
                    clock.fail(future, CityError(f"no {self.name} unit can take call {rec.call.n}"))
                self.waiters.clear()

    def _stuck(self) -> bool:
        """No unit of the fleet is on a case, so none will come free."""
        return not any(u.busy for u in self.units.values())

    async def _try(self, rec: CaseRecord) -> Unit | None:
        """Choose and assign; ``None`` when no unit of this fleet can go."""
        api, clock = self.crews.api, self.clock
        assert rec.incident_id is not None
        choices: list[tuple[Unit, int | None, int | None, bool]] = []
        stale: set[int] = set()  # units whose GPS the server considered out of date
        if self.name == "system":
            await self.crews.fixes_settled(u for u in self.units.values() if not u.busy)
            # The whole ranking: the server ranks every unit it knows, the other policy's
            # fleet included, and this policy takes the best of its own.
            rec_out = await self._ranking(rec)
            for c in rec_out["candidates"]:
                unit = self.units.get(c["vehicle_id"])
                if c.get("stale"):
                    stale.add(int(c["vehicle_id"]))
                if unit is not None and not unit.busy:
                    preempts = c.get("preemption") is not None
                    choices.append((unit, int(c["rank"]), int(c["eta_s"]), preempts))
            # the place among this fleet's units (the other fleet moves on its own clock)
            own_rank = {u.vehicle_id: i for i, (u, _r, _e, _p) in enumerate(choices, start=1)}
        else:  # the closest idle unit: never one out on its booked rides
            own_rank = {}
            here = (rec.call.lat, rec.call.lon)
            now = clock.now_v()
            free = [u for u in self.units.values() if _idle(u)]
            free.sort(key=lambda u: (haversine_m(u.position(now), here), u.call_sign))
            choices = [(u, None, None, False) for u in free]
        free_etas = [eta for _u, _r, eta, preempts in choices if eta is not None and not preempts]
        for unit, rank, eta, preempts in choices:
            body: dict[str, Any] = {"vehicle_id": unit.vehicle_id}
            if rank is not None:
                body["recommended_rank"] = rank
            async with unit.lock:  # a transport crew reports its stops under this lock
                if unit.on_manifest and not preempts:
                    continue  # between two stops: taking it would strand its rides
                response = await api.send(
                    "POST", f"/incidents/{rec.incident_id}/assignments", body=body, ok=(201, 409)
                )
                if response.status_code == 409:
                    continue
                assignment = response.json()
                released = [int(b) for b in assignment.get("preempted_booking_ids") or []]
                if unit.transport and self.transports is not None:
                    self.transports.taken(unit, released)
            rec.notified_v = clock.now_v()
            rec.assignment_id = int(assignment["id"])
            rec.call_sign, rec.unit_kind, rec.eta_s = unit.call_sign, unit.kind, eta
            rec.rank = own_rank.get(unit.vehicle_id)
            rec.chosen_stale = unit.vehicle_id in stale
            unit.busy = True
            unit.halt(rec.notified_v)
            if released:
                rec.preempted_rides = released
                rec.best_free_eta_s = min(free_etas) if free_etas else None
                if self.transports is not None:
                    # The server re-plans them right after the reply, in about a second:
                    # in simulated time that is at once, so the clock waits for it.
                    await self.transports.replanned(self.name, released)
            if self.name == "system" and self.send_backup and unit.kind != "als":
                await self._send_backup(rec)
            return unit
        return None

    async def _ranking(self, rec: CaseRecord) -> Any:
        """The server's whole ranking for the call (every unit it knows)."""
        path = f"/incidents/{rec.incident_id}/recommendations"
        response = await self.crews.api.send("POST", path, params={"limit": RANKING_LIMIT})
        return response.json()

    async def _send_backup(self, rec: CaseRecord) -> None:
        """Tiered response: when the server proposes an ALS backup beside the first unit,
        the dispatcher sends it too, if it is one of this fleet's free units."""
        api = self.crews.api
        out = await self._ranking(rec)
        proposed = out.get("backup")
        unit = self.units.get(int(proposed["vehicle_id"])) if proposed else None
        if unit is None or not _idle(unit) or unit.transport:
            return
        async with unit.lock:
            response = await api.send(
                "POST",
                f"/incidents/{rec.incident_id}/assignments",
                body={"vehicle_id": unit.vehicle_id},
                ok=(201, 409),
            )
        if response.status_code == 409:
            return
        rec.backup = unit
        rec.backup_assignment_id = int(response.json()["id"])
        rec.backup_notified_v = self.clock.now_v()
        unit.busy = True
        unit.halt(rec.backup_notified_v)


def _idle(unit: Unit) -> bool:
    """Free for the baseline: not on a call, and a transport unit only on its shift with
    nothing left on its manifest."""
    if unit.busy or unit.on_manifest:
        return False
    return not unit.transport or unit.on_shift


def _triage_rank(triage: str) -> int:
    return TRIAGE_ORDER.index(triage) if triage in TRIAGE_ORDER else len(TRIAGE_ORDER)
