"""The wheels and the phone of a living-city unit: it drives the server's road routes in
real time and reports a fix every few seconds on the way, as a crew's phone would."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

from simulator.city.crews import road_route
from simulator.city.errors import CityError, HttpStatusError
from simulator.city.geometry import Leg
from simulator.live.world import LiveUnit, World

#: The unit's phone token no longer works: someone issued it a new one (a crew link, a
#: phone set up by hand).
PHONE_REPLACED = (401, 403)


async def send_fix(world: World, unit: LiveUnit) -> None:
    """One fix where the unit is now, as the crew's phone would send it."""
    lat, lon = unit.position()
    unit.battery = max(20.0, unit.battery - 0.05)
    fix = {
        "lat": round(lat, 6),
        "lon": round(lon, 6),
        "recorded_at": datetime.now(UTC).isoformat(),
        "accuracy_m": 8.0,
        "battery_pct": round(unit.battery, 1),
    }
    if unit.leg is not None:
        # the speed of the drive it plays (a faster pace shortens the drive, not the road)
        road_s = unit.leg.duration * world.cfg.pace
        fix["speed_mps"] = round(min(unit.leg.cum[-1] / max(road_s, 1.0), 60.0), 1)
    try:
        await world.api.send(
            "POST", f"/vehicles/{unit.vehicle_id}/fixes", token=unit.token, body={"fixes": [fix]}
        )
        world.count("fixes")
    except HttpStatusError as exc:
        if exc.status in PHONE_REPLACED:
            raise  # the crew leaves the unit to its new phone
        world.error(f"{unit.call_sign} fix: {exc}")
    except CityError as exc:
        world.error(f"{unit.call_sign} fix: {exc}")


async def drive(world: World, unit: LiveUnit, dest: tuple[float, float]) -> None:
    """Drive the server's road route to ``dest`` in real time, a fix every few seconds
    on the way and one on arrival. Cancelled, the unit stays where it got to."""
    start = unit.position()
    unit.lat, unit.lon, unit.leg = start[0], start[1], None
    seconds, points, straight = await road_route(world.api, start, dest, datetime.now(UTC))
    world.count("routes")
    world.count("straight_routes", straight)
    step = world.cfg.scenario.crew.fix_interval_s / world.cfg.pace
    began = time.monotonic()
    seconds /= world.cfg.pace
    unit.leg = Leg(points, began, seconds)
    arrival = began + seconds
    try:
        while (now := time.monotonic()) < arrival:
            await asyncio.sleep(min(step, arrival - now))
            if time.monotonic() < arrival:
                await send_fix(world, unit)
    finally:
        unit.lat, unit.lon = unit.position()
        unit.leg = None
    unit.lat, unit.lon = dest
    await send_fix(world, unit)
