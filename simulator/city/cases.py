"""One call under one policy, from the phone ringing to the unit back in service: the
incident is created at the call's virtual moment, the policy finds a unit after the
dispatcher's delay, and the crew reports every milestone at the moment it happens.
"""

from __future__ import annotations

import asyncio
from typing import Any

from simulator.city.api import Api
from simulator.city.config import CityConfig
from simulator.city.crews import Crews
from simulator.city.errors import CityError
from simulator.city.policies import Policy
from simulator.city.preparation import complaint_fields
from simulator.city.records import CaseRecord, Unit
from simulator.city.scenario import Call
from simulator.city.transports import Transports

#: Virtual seconds between looks when one unit of a case waits for the other.
_POLL_S = 30.0


class City:
    """The simulated callers, dispatchers and crews of one run (:class:`Crews` drives)."""

    def __init__(self, cfg: CityConfig, api: Api, run_id: str) -> None:
        self.cfg = cfg
        self.api = api
        self.run_id = run_id
        self.crew = cfg.scenario.crew
        self.crews = Crews(cfg, api)
        self.complaints: dict[str, list[str]] = {}
        self.done = 0
        self.hospital_positions: dict[int, tuple[float, float]] = {}
        self.transports: Transports | None = None
        self.moveups_followed = 0
        self.moveup_rounds = 0

    async def moveup_round(self, policy: Policy) -> None:
        """After a unit of the fleet left or came free (``--follow-moveups``): ask the
        server for its move-ups at this moment and send the crews it accepted (its centre
        is in ``auto``) to their posts. The policy's lock orders the rounds of one moment
        with its assignments."""
        if not self.cfg.follow_moveups:
            return
        clock = policy.clock
        async with policy.lock:
            await self.crews.fixes_settled(u for u in policy.units.values() if not u.busy)
            changed = (await self.api.send("POST", "/moveups/round")).json()
            self.moveup_rounds += 1
        for move in changed:
            unit = policy.units.get(int(move["vehicle_id"]))
            if unit is None:
                continue
            if move["status"] == "accepted":
                unit.post, unit.post_move = (float(move["lat"]), float(move["lon"])), move["id"]
                self.moveups_followed += 1
                if not unit.busy:
                    unit.halt(clock.now_v())
                    unit.drive_task = clock.spawn(self.crews.to_post(unit, int(move["id"])))
            elif move["status"] in ("ended", "rejected") and unit.post_move == move["id"]:
                unit.post = unit.post_move = None

    async def status(
        self, unit: Unit, rec: CaseRecord, status: str, *, backup: bool = False, **extra: Any
    ) -> None:
        """Report a milestone at the current moment (``backup``: the ALS backup's)."""
        body = {"status": status, "at": unit.clock.stamp(), **extra}
        assignment = rec.backup_assignment_id if backup else rec.assignment_id
        await self.api.send(
            "POST", f"/assignments/{assignment}/status", token=unit.token, body=body
        )

    async def run_backup(self, policy: Policy, rec: CaseRecord, unit: Unit) -> None:
        """The ALS unit sent beside the first: it drives to the scene, treats there until
        the first unit's scene time ends (or leaves at once if it is already over), and
        goes back in service; the case closes only after it."""
        clock, crew = policy.clock, self.crew
        assert rec.backup_notified_v is not None
        try:
            await clock.sleep_until(rec.backup_notified_v + crew.ack_s)
            await self.status(unit, rec, "acknowledged", backup=True)
            await clock.sleep_until(rec.backup_notified_v + max(crew.turnout_s, crew.ack_s))
            en_route = self.status(unit, rec, "en_route", backup=True)
            scene = (rec.call.lat, rec.call.lon)
            rec.backup_on_scene_v = await self.crews.drive(unit, scene, alongside=en_route)
            await self.status(unit, rec, "on_scene", backup=True)
            while rec.on_scene_v is None and rec.error is None:
                await clock.sleep_until(clock.now_v() + _POLL_S)  # the first unit is not there yet
            if rec.on_scene_v is not None:
                await clock.sleep_until(rec.on_scene_v + rec.call.on_scene_s)
            await self.status(unit, rec, "back_in_service", backup=True)
        except CityError as exc:
            rec.error = rec.error or f"backup {type(exc).__name__}: {exc}"[:300]
        finally:
            unit.intervals.append((rec.backup_notified_v, clock.now_v()))
            unit.busy = False
            unit.drive_task = clock.spawn(self.crews.return_home(unit))
            rec.backup_done = True
            if rec.backup_finished is not None:
                clock.resolve(rec.backup_finished, None)
            await policy.freed()
            await self.moveup_round(policy)

    def _incident_body(self, rec: CaseRecord) -> dict[str, Any]:
        call = rec.call
        return {
            "lat": call.lat,
            "lon": call.lon,
            "notes": f"city-sim run={self.run_id} policy={rec.policy} call={call.n}",
            **complaint_fields(self.complaints, call.triage, call.n),
        }

    async def run_case(self, policy: Policy, call: Call) -> CaseRecord:
        rec = CaseRecord(call, policy.name)
        clock = policy.clock
        unit: Unit | None = None
        try:
            await clock.sleep_until(call.t_s)
            response = await self.api.send(
                "POST", "/incidents", body=self._incident_body(rec), ok=(201, 422)
            )
            if response.status_code == 422:
                rec.refused = response.text[:200]
                return rec
            incident = response.json()
            rec.incident_id = int(incident["id"])
            rec.created_v = clock.now_v()
            await clock.sleep_until(rec.created_v + self.crew.dispatch_delay_s.get(call.triage, 90))
            unit = await policy.obtain(rec)
            assert rec.notified_v is not None
            if rec.backup is not None:
                clock.spawn(self.run_backup(policy, rec, rec.backup))
            await self.moveup_round(policy)
            await clock.sleep_until(rec.notified_v + self.crew.ack_s)
            await self.status(unit, rec, "acknowledged")
            rec.en_route_v = rec.notified_v + max(self.crew.turnout_s, self.crew.ack_s)
            await clock.sleep_until(rec.en_route_v)
            en_route = self.status(unit, rec, "en_route")
            arrival = await self.crews.drive(unit, (call.lat, call.lon), alongside=en_route)
            rec.drive_s = arrival - rec.en_route_v
            await self.status(unit, rec, "on_scene")
            rec.on_scene_v = arrival
            await clock.sleep_until(arrival + call.on_scene_s)
            if call.transport:
                hospitals = (
                    await self.api.send("GET", f"/incidents/{rec.incident_id}/hospitals")
                ).json()
                chosen = next((h for h in hospitals if h["recommended"]), None) or (
                    hospitals[0] if hospitals else None
                )
                if chosen is not None:
                    rec.left_scene_v = clock.now_v()
                    extra = {"destination_hospital_id": chosen["hospital_id"]}
                    left = self.status(unit, rec, "left_scene", **extra)
                    dest = await self._hospital_position(int(chosen["hospital_id"]))
                    rec.at_destination_v = await self.crews.drive(unit, dest, alongside=left)
                    await self.status(unit, rec, "at_destination")
                    await clock.sleep_until(rec.at_destination_v + self.crew.handover_s)
                    await self.status(unit, rec, "handed_over")
            await self.status(unit, rec, "back_in_service")
            rec.free_v = clock.now_v()
            if rec.backup is not None and not rec.backup_done:  # the backup still works
                rec.backup_finished = asyncio.get_running_loop().create_future()
                await clock.wait(rec.backup_finished)
            await self.api.send("POST", f"/incidents/{rec.incident_id}/close")
        except CityError as exc:
            rec.error = f"{type(exc).__name__}: {exc}"[:300]
        finally:
            if unit is not None:
                assert rec.notified_v is not None
                unit.intervals.append((rec.notified_v, clock.now_v()))
                unit.busy = False
                if unit.transport and self.transports is not None:
                    await self.transports.returned(unit)
                    self.transports.resume(unit)  # back to its manifest
                else:
                    unit.drive_task = clock.spawn(self.crews.return_home(unit))
                self.done += 1
                await policy.freed()
                await self.moveup_round(policy)
            else:
                self.done += 1
        return rec

    async def _hospital_position(self, hospital_id: int) -> tuple[float, float]:
        if hospital_id not in self.hospital_positions:
            for h in (await self.api.send("GET", "/hospitals")).json():
                self.hospital_positions[int(h["id"])] = (float(h["lat"]), float(h["lon"]))
        return self.hospital_positions[hospital_id]
