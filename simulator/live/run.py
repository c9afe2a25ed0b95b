"""The living-city run: log in, adopt the units, then crews, callers and the day's rides
all at once, until ``--minutes`` have passed or the process is stopped."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from simulator.city.api import Api
from simulator.city.errors import CityError
from simulator.city.preparation import complaint_codes
from simulator.fleet import SetupError
from simulator.live.config import LiveConfig
from simulator.live.crew import run_crew
from simulator.live.dispatcher import run_calls
from simulator.live.rides import book_and_plan, next_morning
from simulator.live.world import World, adopt_units, close_quietly, load_hospitals

#: Logins last 12 hours by default; the run logs in again well before.
RELOGIN_S = 6 * 3600


async def run_live(
    cfg: LiveConfig, say: Callable[[str], None], stop: asyncio.Event | None = None
) -> dict[str, Any]:
    """Play the living city until ``stop`` is set or ``cfg.minutes`` have passed (else
    forever); returns its counts."""
    cfg.check()
    began = time.monotonic()
    api = Api(
        cfg.url,
        await cfg.supervisor.token(cfg.url, cfg.timeout_s),
        size=16,
        timeout_s=cfg.timeout_s,
    )
    driver_token = await cfg.driver.token(cfg.url, cfg.timeout_s) if cfg.driver else None
    world = World(cfg, api, ZoneInfo(cfg.scenario.timezone), say=say)
    started = datetime.now(world.tz)
    tasks: list[asyncio.Task[Any]] = []
    try:
        await adopt_units(world, driver_token)
        await load_hospitals(world)
        world.complaints = await complaint_codes(api)
        say(
            f"live city: {len(world.units)} units, calls from {cfg.scenario.name} "
            f"(seed {cfg.seed}), {cfg.opening_calls} at once"
        )
        tasks = [asyncio.create_task(run_crew(world, u)) for u in world.units.values()]
        tasks.append(asyncio.create_task(run_calls(world, started)))
        tasks.append(asyncio.create_task(_rides(world)))
        tasks.append(asyncio.create_task(_relogin(world, driver_token)))
        stop = stop or asyncio.Event()
        if cfg.with_parent:
            tasks.append(asyncio.create_task(_orphaned(os.getppid(), stop)))
        timeout = None if cfg.minutes is None else cfg.minutes * 60
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout)
    finally:
        for task in tasks:
            await close_quietly(task)
        for unit in world.units.values():
            unit.stop_homeward()
        api.close()
    return {
        "scenario": cfg.scenario.name,
        "seed": cfg.seed,
        "units": sorted(u.call_sign for u in world.units.values()),
        "seconds": round(time.monotonic() - began, 1),
        "counts": dict(sorted(world.counts.items())),
        "requests": api.requests,
        "request_failures": api.failures,
        "errors": world.errors[:10],
    }


async def _orphaned(parent: int, stop: asyncio.Event) -> None:
    """Set ``stop`` once this process's parent has gone (it is then adopted by another)."""
    while True:
        await asyncio.sleep(0.5)
        if os.getppid() != parent:
            stop.set()
            return


async def _rides(world: World) -> None:
    """The day's rides now, then every morning again: a demo left on a wall screen for
    days has rides every day."""
    while True:
        try:
            await book_and_plan(world)
        except (CityError, SetupError, httpx.HTTPError) as exc:
            world.error(f"booked rides: {exc}")
        now = datetime.now(world.tz)
        await asyncio.sleep((next_morning(now) - now).total_seconds() / world.cfg.pace)


async def _relogin(world: World, driver_token: str | None) -> None:
    """Fresh logins before the old ones expire (phone tokens do not expire)."""
    cfg = world.cfg
    while True:
        await asyncio.sleep(RELOGIN_S)
        try:
            world.api.token = await cfg.supervisor.token(cfg.url, cfg.timeout_s)
            if cfg.driver and driver_token:
                fresh = await cfg.driver.token(cfg.url, cfg.timeout_s)
                for unit in world.units.values():
                    if unit.token == driver_token:
                        unit.token = fresh
                driver_token = fresh
        except (CityError, SetupError, httpx.HTTPError) as exc:
            world.error(f"logging in again: {exc}")
