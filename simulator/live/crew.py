"""A crew of the living city: its phone reports where the unit is, and the crew works
whatever its unit has to do, in this order: the active assignment (whoever made it),
else the next stop of its van's manifest, else the drive back to its station.

A job is followed from the status the server holds, so a crew picks up where a human on
the crew page (or an earlier run) left it; a report the server refuses (the job was
cancelled, or someone else moved it on) makes the crew read its job again.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from simulator.city.errors import CityError, HttpStatusError
from simulator.live.rides import next_stop, serve_stop
from simulator.live.wheels import PHONE_REPLACED, drive, send_fix
from simulator.live.world import LiveUnit, World

#: The milestones a crew reports, in order (the server's assignment statuses).
MILESTONES = (
    "notified",
    "acknowledged",
    "en_route",
    "on_scene",
    "at_patient",
    "left_scene",
    "at_destination",
    "handed_over",
    "back_in_service",
)


class JobChanged(Exception):
    """The server refused a milestone: the job is gone or moved on; read it again."""


async def _report(
    world: World, unit: LiveUnit, assignment_id: int, status: str, **extra: Any
) -> None:
    reply = await world.api.send(
        "POST",
        f"/assignments/{assignment_id}/status",
        token=unit.token,
        body={"status": status, **extra},
        ok=(200, 404, 409),
    )
    if reply.status_code != 200:
        raise JobChanged(status)
    world.count(f"status_{status}")


async def _destination(world: World, incident_id: int) -> int | None:
    """The hospital the server recommends for the patient (else its first)."""
    hospitals = (await world.api.send("GET", f"/incidents/{incident_id}/hospitals")).json()
    chosen = next((h for h in hospitals if h.get("recommended")), None) or (
        hospitals[0] if hospitals else None
    )
    return int(chosen["hospital_id"]) if chosen else None


async def follow_job(
    world: World, unit: LiveUnit, assignment: dict[str, Any], incident: dict[str, Any]
) -> None:
    """Work the job from the milestone the server holds to back in service."""
    crew = world.cfg.scenario.crew
    aid = int(assignment["id"])
    step = MILESTONES.index(assignment["status"]) if assignment["status"] in MILESTONES else 0
    call = world.calls.get(int(incident["id"]))
    triage = str(incident.get("triage") or "yellow")
    on_scene_s = call.on_scene_s if call else crew.on_scene_s.get(triage, 420.0)
    carried = call.transport if call else triage in ("red", "yellow")
    scene = (float(incident["lat"]), float(incident["lon"]))
    hospital = assignment.get("destination_hospital_id")
    if step < 1:
        await world.sleep(crew.ack_s)
        await _report(world, unit, aid, "acknowledged")
    if step < 2:
        await world.sleep(crew.turnout_s)
        await _report(world, unit, aid, "en_route")
    if step < 3:
        await drive(world, unit, scene)
        await _report(world, unit, aid, "on_scene")
    if step < 5:
        await world.sleep(on_scene_s)
        hospital = await _destination(world, int(incident["id"])) if carried else None
        if hospital is not None:
            await _report(world, unit, aid, "left_scene", destination_hospital_id=hospital)
    if hospital is not None and step < 6:
        await drive(world, unit, world.hospitals.get(int(hospital), scene))
        await _report(world, unit, aid, "at_destination")
    if hospital is not None and step < 7:
        await world.sleep(crew.handover_s)
        await _report(world, unit, aid, "handed_over")
    await _report(world, unit, aid, "back_in_service")
    # The incident closes when its last unit is back (another may still be working).
    await world.api.send("POST", f"/incidents/{incident['id']}/close", ok=(200, 409))
    world.count("jobs_done")


async def _homeward(world: World, unit: LiveUnit) -> None:
    """Back to the station; there the crew says it is available again (unless a job
    came meanwhile: the version check makes that report lose)."""
    with contextlib.suppress(asyncio.CancelledError):
        try:
            await drive(world, unit, unit.home)
            vehicle = (await world.api.send("GET", f"/vehicles/{unit.vehicle_id}")).json()
            if vehicle["state"] == "returning":
                body = {"state": "available", "version": vehicle["version"]}
                path = f"/vehicles/{unit.vehicle_id}"
                await world.api.send("PATCH", path, token=unit.token, body=body, ok=(200, 409))
        except HttpStatusError as exc:
            if exc.status not in PHONE_REPLACED:  # else the crew's next look finds it out
                world.error(f"{unit.call_sign} on the way home: {exc}")
        except CityError as exc:
            world.error(f"{unit.call_sign} on the way home: {exc}")


async def run_crew(world: World, unit: LiveUnit) -> None:
    """The crew's whole day: a job, a stop, or the way home; between them its phone
    reports now and then, as a phone at rest does."""
    api, cfg = world.api, world.cfg
    last_fix = 0.0
    while True:
        try:
            current = (await api.send("GET", "/assignments/current", token=unit.token)).json()
            if current.get("assignment"):
                unit.busy = True
                unit.stop_homeward()
                await follow_job(world, unit, current["assignment"], current["incident"])
                unit.busy = False
                continue
            stop = await next_stop(world, unit) if unit.transport_van else None
            if stop is not None:
                unit.stop_homeward()
                await serve_stop(world, unit, stop)
                continue
            unit.busy = False
            if unit.homeward is None and not unit.at_home():
                unit.homeward = asyncio.create_task(_homeward(world, unit))
            moving = unit.homeward is not None and not unit.homeward.done()
            if not moving and time.monotonic() - last_fix >= cfg.idle_fix_s:
                if await _paired(world, unit):
                    _leave(world, unit, "has a phone paired")
                    return
                await send_fix(world, unit)
                last_fix = time.monotonic()
            if unit.homeward is not None and unit.homeward.done():
                unit.homeward = None
        except JobChanged:
            world.count("jobs_changed")
        except HttpStatusError as exc:
            if exc.status in PHONE_REPLACED:
                _leave(world, unit, "has a new phone token")
                return
            world.error(f"{unit.call_sign}: {exc}")
        except CityError as exc:
            world.error(f"{unit.call_sign}: {exc}")
        await asyncio.sleep(cfg.poll_s)


async def _paired(world: World, unit: LiveUnit) -> bool:
    """A phone was paired with the unit by QR code since the city adopted it."""
    if unit.own_login:
        return False
    vehicle = (await world.api.send("GET", f"/vehicles/{unit.vehicle_id}")).json()
    return bool(vehicle.get("device_id"))


def _leave(world: World, unit: LiveUnit, why: str) -> None:
    """The unit is a real phone's from now on: the city neither drives nor sends it."""
    unit.stop_homeward()
    world.units.pop(unit.vehicle_id, None)
    world.count("units_left")
    world.say(f"living city: {unit.call_sign} {why}; left to it")
