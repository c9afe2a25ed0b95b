"""The crews' wheels and phones: every unit drives the server's roads in virtual time and
reports its position on the way, as a crew's phone would.

Why crews ask ``GET /route``: the simulator imports nothing from ``dispatch``, yet the
crews must drive the roads, at the speeds and rush hours (of the *virtual* time of day,
passed as ``depart_at``) the recommendation ranks by. A point off the network falls back
to a straight line at 25 km/h × 1.4 (counted in the report). The server itself ranks at
*its* time of day, so during simulated rush hours the ranking's ETAs are shorter than
the drives; every unit's by the same factor, so the order changes only where a fixed
penalty (BLS on an ALS call, a preemption) weighs against it.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Awaitable, Iterable
from datetime import datetime
from typing import Any

from simulator.city.api import Api
from simulator.city.config import CityConfig
from simulator.city.errors import CityError
from simulator.city.geometry import Leg, haversine_m
from simulator.city.records import Unit

STRAIGHT_SPEED_MPS = 25 / 3.6
STRAIGHT_DETOUR = 1.4


async def road_route(
    api: Api, a: tuple[float, float], b: tuple[float, float], at: datetime
) -> tuple[float, list[tuple[float, float]], bool]:
    """The server's road route from ``a`` to ``b`` leaving at ``at``: seconds, the points
    to drive through, and whether it fell back to a straight line (a point off the map)."""
    params = {
        "from_lat": a[0],
        "from_lon": a[1],
        "to_lat": b[0],
        "to_lon": b[1],
        "depart_at": at.isoformat(),
    }
    response = await api.send("GET", "/route", params=params, ok=(200, 422))
    if response.status_code == 422:
        seconds = math.ceil(haversine_m(a, b) * STRAIGHT_DETOUR / STRAIGHT_SPEED_MPS)
        return float(seconds), [a, b], True
    out = response.json()
    points = [(float(p[0]), float(p[1])) for p in out["polyline"]] or [a, b]
    return float(out["seconds"]), [a, *points, b], False


async def on_the_map(api: Api, lat: float, lon: float) -> bool:
    """The server's map reaches this point (not farther from a road than it accepts): a
    zero-length ``GET /route`` answers 200."""
    params = {"from_lat": lat, "from_lon": lon, "to_lat": lat, "to_lon": lon}
    reply = await api.send("GET", "/route", params=params, ok=(200, 422))
    return reply.status_code == 200


class Crews:
    """Drives and position fixes of every unit of a run, with their counts."""

    def __init__(self, cfg: CityConfig, api: Api) -> None:
        self.cfg = cfg
        self.api = api
        self.fix_tasks: set[asyncio.Task[None]] = set()
        self.fixes_sent = 0
        self.fix_failures = 0
        self.routes = 0
        self.route_fallbacks = 0
        self.posts_reached = 0

    def _fix(self, unit: Unit) -> None:
        """Send the unit's position now without waiting for the reply: the server's group
        commit takes ~100 ms, and a crew never waits for its phone. Recommendations wait
        for the fixes in flight (:meth:`fixes_settled`)."""
        lat, lon = unit.position(unit.clock.now_v())
        body = {"fixes": [{"lat": lat, "lon": lon, "recorded_at": unit.clock.stamp()}]}

        async def send() -> None:
            try:
                await self.api.send(
                    "POST", f"/vehicles/{unit.vehicle_id}/fixes", token=unit.token, body=body
                )
                self.fixes_sent += 1
            except CityError:
                self.fix_failures += 1

        task = asyncio.create_task(send())
        for tasks in (self.fix_tasks, unit.fixes_in_flight):
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    async def fixes_settled(self, units: Iterable[Unit] | None = None) -> None:
        """Every fix these units (default: all) have sent is stored, so the server ranks
        them by where they are. Units on a case are not ranked, so a recommendation waits
        only for the free ones."""
        tasks = (
            list(self.fix_tasks) if units is None else [t for u in units for t in u.fixes_in_flight]
        )
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _route(
        self, a: tuple[float, float], b: tuple[float, float], at: datetime
    ) -> tuple[float, list[tuple[float, float]]]:
        self.routes += 1
        seconds, points, straight = await road_route(self.api, a, b, at)
        self.route_fallbacks += straight
        return seconds, points

    async def drive(
        self,
        unit: Unit,
        dest: tuple[float, float],
        *,
        alongside: Awaitable[Any] | None = None,
    ) -> float:
        """Drive from where the unit is now to ``dest``; returns the arrival. One fix per
        ``fix_interval_s`` on the way and one on arrival. ``alongside`` (the status report
        of the same moment) is sent together with the route request."""
        clock = unit.clock
        v0 = clock.now_v()
        start = unit.position(v0)
        unit.lat, unit.lon, unit.leg = start[0], start[1], None
        route = self._route(start, dest, clock.local(v0))
        if alongside is not None:
            (seconds, points), _ = await asyncio.gather(route, alongside)
        else:
            seconds, points = await route
        unit.leg = Leg(points, v0, seconds)
        arrival = v0 + seconds
        step = self.cfg.scenario.crew.fix_interval_s
        if unit.transport and self.cfg.scenario.transports is not None:
            step = self.cfg.scenario.transports.fix_interval_s
        t = v0 + step
        while t < arrival:
            await clock.sleep_until(t)
            self._fix(unit)
            t += step
        await clock.sleep_until(arrival)
        unit.lat, unit.lon, unit.leg = dest[0], dest[1], None
        self._fix(unit)
        return arrival

    async def return_home(self, unit: Unit) -> None:
        """Back to its standby post if a move-up sent it to one, else to its station."""
        dest = unit.post or (unit.home.lat, unit.home.lon)
        with contextlib.suppress(asyncio.CancelledError):
            await self.drive(unit, dest)

    async def to_post(self, unit: Unit, moveup_id: int) -> None:
        """Drive to the post of an accepted move-up and tell the server on arrival (it may
        have ended meanwhile: then the server says so, and that is fine)."""
        assert unit.post is not None
        with contextlib.suppress(asyncio.CancelledError):
            await self.drive(unit, unit.post)
            await self.api.send(
                "POST", f"/moveups/{moveup_id}/arrived", token=unit.token, ok=(200, 409)
            )
            self.posts_reached += 1
