"""Callers and the simulated dispatcher of the living city.

Calls come from the scenario's seeded demand (its zones, triage mix and hourly profile),
mapped onto the wall clock from the moment the run starts; the first few come at once.
The simulated dispatcher leaves each call to the people at the screen for a while
(``--dispatch-after``) and then, if nobody has sent a unit, sends the best unit of the
server's recommendation, and the ALS backup it proposes beside a unit that is not ALS.
The day opens mid-shift: once the opening calls have their units, a few others start
on their way back from a hospital.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime
from typing import Any

from simulator.city.demand import generate_calls
from simulator.city.errors import CityError
from simulator.city.preparation import call_on_the_map, complaint_fields
from simulator.city.scenario import Call
from simulator.live.wheels import send_fix
from simulator.live.world import World

OPENING_GAP_S = 2.0  # between the opening calls
OPENING_DISPATCH_S = 2.0  # the opening calls were already being handled
RETRY_S = 30.0  # no unit free: the dispatcher looks again after this
NOTE = "demo-live call"
#: The opening calls' levels: a red one with a BLS unit first shows the ALS backup too.
OPENING_TRIAGE = ("red", "yellow", "red", "green")


def timeline(world: World, started: datetime) -> Iterator[tuple[float, Call]]:
    """(seconds after the start, call), day after day of the scenario's demand; the
    opening calls are moved to the first seconds."""
    cfg = world.cfg
    midnight = started.replace(hour=0, minute=0, second=0, microsecond=0)
    origin = (started - midnight).total_seconds()
    day = 0
    opening = cfg.opening_calls
    while True:
        lo = origin + day * 86_400.0
        calls = generate_calls(cfg.scenario, cfg.seed * 1000 + day, lo, lo + 86_400.0)
        for call in calls:
            if opening > 0:
                i = cfg.opening_calls - opening
                yield OPENING_GAP_S * (i + 1), replace(call, triage=OPENING_TRIAGE[i % 4])
                opening -= 1
            else:
                yield call.t_s - origin, call
        day += 1


def _incident_body(world: World, call: Call) -> dict[str, Any]:
    return {
        "lat": call.lat,
        "lon": call.lon,
        "notes": f"{NOTE} {call.n}",
        **complaint_fields(world.complaints, call.triage, call.n),
    }


async def take_call(world: World, call: Call, dispatch_after_s: float) -> None:
    """The call is taken now; a unit goes after ``dispatch_after_s`` unless one went."""
    api = world.api
    call, _moved = await call_on_the_map(api, world.cfg.scenario, world.cfg.seed, call)
    reply = await api.send("POST", "/incidents", body=_incident_body(world, call), ok=(201, 422))
    if reply.status_code != 201:
        world.error(f"call {call.n} refused: {reply.text[:200]}")
        return
    incident_id = int(reply.json()["id"])
    world.calls[incident_id] = call
    world.count("calls")
    await asyncio.sleep(dispatch_after_s)
    while True:
        incident = (await api.send("GET", f"/incidents/{incident_id}")).json()
        if incident["status"] in ("closed", "cancelled"):
            return
        assignments = (await api.send("GET", f"/incidents/{incident_id}/assignments")).json()
        if any(a["is_active"] for a in assignments):
            return  # someone at the screen sent a unit
        if await _send_best(world, incident_id):
            return
        await asyncio.sleep(RETRY_S)


async def _send_best(world: World, incident_id: int) -> bool:
    api = world.api
    path = f"/incidents/{incident_id}/recommendations"
    ranking = (await api.send("POST", path, params={"limit": 20})).json()
    for c in ranking["candidates"]:
        unit = world.units.get(int(c["vehicle_id"]))
        if unit is None or unit.busy or c.get("preemption") is not None:
            continue
        body = {"vehicle_id": unit.vehicle_id, "recommended_rank": int(c["rank"])}
        path = f"/incidents/{incident_id}/assignments"
        reply = await api.send("POST", path, body=body, ok=(201, 409))
        if reply.status_code != 201:
            continue
        unit.busy = True
        world.count("assigned")
        backup = ranking.get("backup")
        other = world.units.get(int(backup["vehicle_id"])) if backup else None
        if unit.kind != "als" and other is not None and not other.busy:
            body = {"vehicle_id": other.vehicle_id}
            if (await api.send("POST", path, body=body, ok=(201, 409))).status_code == 201:
                other.busy = True
                world.count("backups")
        return True
    return False


async def run_calls(world: World, started: datetime) -> None:
    """Every call of the timeline at its moment, each handled on its own."""
    t0 = time.monotonic()
    handling: set[asyncio.Task[None]] = set()
    opening: list[asyncio.Task[None]] = []
    for offset, call in timeline(world, started):
        await asyncio.sleep(max(0.0, t0 + offset / world.cfg.pace - time.monotonic()))
        first = len(opening) < world.cfg.opening_calls
        delay = OPENING_DISPATCH_S if first else world.cfg.dispatch_after_s
        task = asyncio.create_task(_guarded(world, call, delay))
        handling.add(task)
        task.add_done_callback(handling.discard)
        if first:
            opening.append(task)
            if len(opening) == world.cfg.opening_calls:
                await asyncio.gather(*opening)
                await _back_from_hospitals(world)
    if world.cfg.opening_calls == 0:
        await _back_from_hospitals(world)


async def _guarded(world: World, call: Call, delay: float) -> None:
    try:
        await take_call(world, call, delay)
    except CityError as exc:
        world.error(f"call {call.n}: {exc}")


async def _back_from_hospitals(world: World) -> None:
    """Mid-shift: free units (not vans) start at a hospital, on their way back."""
    if not world.hospitals:
        return
    rng = random.Random(world.cfg.seed)
    free = [u for u in world.units.values() if not u.busy and not u.transport_van]
    rng.shuffle(free)
    hospitals = sorted(world.hospitals.values())
    rng.shuffle(hospitals)
    for i, unit in enumerate(free[: world.cfg.returning]):
        unit.lat, unit.lon = hospitals[i % len(hospitals)]  # one each, spread over the map
        try:
            await send_fix(world, unit)
            path, body = f"/vehicles/{unit.vehicle_id}", {"state": "returning"}
            await world.api.send("PATCH", path, token=unit.token, body=body)
            world.count("opening_returning")
        except CityError as exc:
            world.error(f"{unit.call_sign} opening: {exc}")
