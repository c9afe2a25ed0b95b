"""The ``offers`` policy: each call is offered to the best station's unit
(``POST /incidents/{id}/offers``) instead of assigned, and the stations answer like
their staff would: after a seeded delay they accept, decline with a reason, or let the
server's timer run out; a decline or a timeout moves the call on to the next best
station, on the server. The accepted offer's assignment is then worked by the same crews
as any other.

Why on a server of its own with the simulated clock (``--server-clock``): the server's
chain offers the best unit it knows, so another policy's fleet on the same server would
be offered too; and its timers run on its clock, which then follows the simulated day:
setting the clock past an offer's deadline moves the offer on before the request is
answered, so the call's actor reads the next offer at exactly that moment.

Why the same seed gives the same day: every answer is drawn for (seed, call, offer
number), not from a shared stream (``simulator.city.answers``); the requests that change
which units are free (offers made, declines, accepts) are sent under the policy's lock
once the free units' positions are stored, as the other policies do.

Who answers: the offered unit's crew, with its phone's device token, as the crew waiting
at the station would on the crew app. The server lets a crew answer only its own unit's
offers, so every answer that goes through shows the offer reached the unit it named.
(Station staff logins would do too, at the cost of an Argon2 login per station, about
half a second each on the server.)
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from simulator.city.answers import AnswerModel, draw
from simulator.city.clock import Clock
from simulator.city.crews import Crews
from simulator.city.errors import CityError
from simulator.city.policies import Policy, _triage_rank
from simulator.city.records import CaseRecord, OfferStep, Unit

NAME = "offers"


class OfferPolicy(Policy):
    """Calls go to stations as offers; stations answer by the scenario's answer model."""

    def __init__(
        self,
        units: list[Unit],
        crews: Crews,
        clock: Clock,
        *,
        seed: int,
        model: AnswerModel,
        run_id: str,
    ) -> None:
        super().__init__(NAME, units, crews, clock, send_backup=False)
        self.seed = seed
        self.model = model
        self.run_id = run_id
        self.offer_waiters: list[
            tuple[tuple[int, float], CaseRecord, asyncio.Future[dict[str, Any]]]
        ] = []
        self.following = 0  # chains being followed now
        self.open_deadlines: dict[int, float] = {}  # pending offer id → its deadline
        self.late_answers = 0
        self.errors: list[str] = []  # of the late answers, which no call waits for

    # --- the clock ---------------------------------------------------------------------

    async def before_clock(self, when: datetime) -> None:
        """Before the server's clock moves to ``when``: if an offer's timer runs out by
        then, the server makes the next offer at once, ranking the units by their stored
        positions; the free units' fixes in flight are stored first, as before any
        ranking."""
        v = self.clock.virtual(when)
        if any(deadline <= v for deadline in self.open_deadlines.values()):
            await self.crews.fixes_settled(u for u in self.units.values() if not u.busy)

    # --- a call's unit ---------------------------------------------------------------------

    async def obtain(self, rec: CaseRecord) -> Unit:
        """Offer the call, follow its chain to a station that accepts; when every station
        said no, offer it again after ``redial_s``; when no station has a free unit, wait
        (most urgent, then oldest, first) until one is."""
        clock = self.clock
        rec.ready_v = clock.now_v()
        while True:
            future: asyncio.Future[dict[str, Any]] | None = None
            async with self.lock:
                offer = await self._start(rec)
                if offer is None:
                    if self._stuck():
                        raise CityError(f"no {self.name} unit can take call {rec.call.n}")
                    future = asyncio.get_running_loop().create_future()
                    key = (_triage_rank(rec.call.triage), rec.call.t_s)
                    self.offer_waiters.append((key, rec, future))
                    wait_from = clock.now_v()
            if future is not None:
                offer = await clock.wait(future)
                rec.waited_s = (rec.waited_s or 0.0) + clock.now_v() - wait_from
            assert offer is not None
            unit = await self._follow(rec, offer)
            if unit is not None:
                return unit
            rec.exhausted += 1  # the server raised its alert; the dispatcher tries again
            await clock.sleep_until(clock.now_v() + self.model.redial_s)

    async def freed(self) -> None:
        """A unit came free or an offer ended: waiting calls are offered (most urgent,
        then oldest, first) until a call of each kind finds no station."""
        async with self.lock:
            failed: set[bool] = set()
            for entry in sorted(self.offer_waiters, key=lambda w: w[0]):
                _key, rec, future = entry
                red = rec.call.triage == "red"
                if red in failed:
                    continue
                try:
                    offer = await self._start(rec)
                except Exception as exc:  # the waiter must not hang on a failed attempt
                    self.offer_waiters.remove(entry)
                    self.clock.fail(future, exc)
                    continue
                if offer is None:
                    failed.add(red)
                    continue
                self.offer_waiters.remove(entry)
                self.clock.resolve(future, offer)
            if self._stuck():  # nothing will ever free a unit: fail instead of hanging
                for _key, rec, future in self.offer_waiters:
                    error = CityError(f"no {self.name} unit can take call {rec.call.n}")
                    self.clock.fail(future, error)
                self.offer_waiters.clear()

    def _stuck(self) -> bool:
        return self.following == 0 and not any(u.busy for u in self.units.values())

    async def _start(self, rec: CaseRecord) -> dict[str, Any] | None:
        """A new chain for the call (the caller holds the lock); None when the server
        says no station has a free unit now."""
        await self.crews.fixes_settled(u for u in self.units.values() if not u.busy)
        key = f"{self.run_id}:{rec.call.n}:start:{len(rec.offers)}:{rec.exhausted}"
        reply = await self.crews.api.send(
            "POST", f"/incidents/{rec.incident_id}/offers", body={}, ok=(201, 409), key=key
        )
        if reply.status_code == 409:
            return None
        out: dict[str, Any] = reply.json()
        return out

    # --- one chain ---------------------------------------------------------------------

    async def _follow(self, rec: CaseRecord, offer: dict[str, Any] | None) -> Unit | None:
        """Answer each offer of the chain as its station would; the unit of the one
        accepted, or None when the chain ran out of stations."""
        self.following += 1
        try:
            while offer is not None:
                step = self._step(rec, offer)
                self.open_deadlines[step.offer_id] = step.expires_v
                timer = step.expires_v - step.offered_v
                try:
                    if step.planned == "no_answer" or step.delay_s >= timer:
                        offer = await self._timed_out(rec, step)
                    else:
                        offer, unit = await self._answer(rec, step)
                        if unit is not None:
                            return unit
                finally:
                    self.open_deadlines.pop(step.offer_id, None)
                await self.freed()  # the declined unit may take a waiting call
            return None
        finally:
            self.following -= 1

    def _step(self, rec: CaseRecord, offer: dict[str, Any]) -> OfferStep:
        clock = self.clock
        if int(offer["vehicle_id"]) not in self.units:
            raise CityError(f"offer {offer['id']} went to unit {offer['vehicle_id']}, not ours")
        k = len(rec.offers) + 1
        answer = draw(self.model, self.seed, rec.call.n, k)
        step = OfferStep(
            k=k,
            offer_id=int(offer["id"]),
            chain_id=int(offer["chain_id"]),
            step=int(offer["step"]),
            station_id=offer.get("station_id"),
            vehicle_id=int(offer["vehicle_id"]),
            offered_v=clock.virtual(offer["offered_at"]),
            expires_v=clock.virtual(offer["expires_at"]),
            planned=answer.outcome,
            delay_s=answer.delay_s,
            reason=answer.reason,
        )
        rec.offers.append(step)
        return step

    async def _timed_out(self, rec: CaseRecord, step: OfferStep) -> dict[str, Any] | None:
        """Nobody answered in time: at the deadline the server has moved the offer on
        (setting its clock did); read the chain for the next offer. A station that
        answers after the timer is told 409, as its staff would be."""
        clock = self.clock
        if step.planned != "no_answer":
            clock.spawn(self._late(step))
        await clock.sleep_until(step.expires_v)
        chain = (await self.crews.api.send("GET", f"/incidents/{rec.incident_id}/offers")).json()
        mine = next((o for o in chain if int(o["id"]) == step.offer_id), None)
        if mine is None or mine["status"] != "timed_out":
            status = None if mine is None else mine["status"]
            raise CityError(
                f"offer {step.offer_id} is {status} after its timer ran out at "
                f"{clock.local(step.expires_v).isoformat()} (expected timed_out)"
            )
        step.status = "timed_out"
        step.answered_v = clock.virtual(mine["answered_at"])
        return next(
            (
                o
                for o in chain
                if o["chain_id"] == step.chain_id
                and int(o["step"]) == step.step + 1
                and o["status"] == "pending"
            ),
            None,
        )

    async def _late(self, step: OfferStep) -> None:
        """The station's answer after the deadline: the server must refuse it (an actor
        of its own, so the call moves on with the next offer meanwhile)."""
        await self.clock.sleep_until(step.offered_v + step.delay_s)
        try:
            reply = await self._send_answer(step)
        except CityError as exc:
            self.errors.append(f"late answer to offer {step.offer_id}: {exc}"[:300])
            return
        if reply.status_code != 409:
            self.errors.append(f"a late answer to offer {step.offer_id} was taken")
        step.late = True
        self.late_answers += 1

    async def _send_answer(self, step: OfferStep) -> Any:
        verb = "accept" if step.planned == "accept" else "decline"
        body: dict[str, Any] = {}
        if verb == "decline":
            body = {"reason": step.reason, "note": "simulated station"}
        return await self.crews.api.send(
            "POST",
            f"/offers/{step.offer_id}/{verb}",
            token=self.units[step.vehicle_id].token,
            body=body,
            ok=(200, 409),
            key=f"{self.run_id}:offer:{step.offer_id}:{verb}",
        )

    async def _answer(
        self, rec: CaseRecord, step: OfferStep
    ) -> tuple[dict[str, Any] | None, Unit | None]:
        """The station answers in time: a decline gives the next offer at once; an
        accept the unit (or, had the unit gone meanwhile, the next offer)."""
        clock = self.clock
        await clock.sleep_until(step.offered_v + step.delay_s)
        async with self.lock:
            await self.crews.fixes_settled(u for u in self.units.values() if not u.busy)
            reply = await self._send_answer(step)
        if reply.status_code == 409:
            raise CityError(f"offer {step.offer_id} refused an answer in time: {reply.text}")
        out = reply.json()
        step.status, step.answered_v = str(out["status"]), clock.now_v()
        if step.status != "accepted":
            return out.get("next_offer"), None
        unit = self.units.get(int(out["vehicle_id"]))
        if unit is None or unit.busy:
            raise CityError(f"offer {step.offer_id} sent unit {out['vehicle_id']}, not a free one")
        rec.accepted_v = rec.notified_v = clock.now_v()
        rec.assignment_id = int(out["assignment_id"])
        rec.call_sign, rec.unit_kind = unit.call_sign, unit.kind
        rec.eta_s, rec.rank = out.get("eta_s"), out.get("recommended_rank")
        unit.busy = True
        unit.halt(rec.notified_v)
        return None, unit
