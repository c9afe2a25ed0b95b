"""Fault injection: a worker is SIGKILLed while it is taking calls and assigning units.
Whatever phase each request was in, an assignment is either committed and announced to
the control screens, or neither; nothing is announced that is not stored."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from websockets.asyncio.client import connect

from dispatch.db.session import Database
from dispatch.events import Event
from dispatch.models import Assignment
from dispatch.realtime.broker import create_bus
from tests.helpers.bus import SENTINEL
from tests.helpers.stacks import REDIS_PREFIX, Stack
from tests.helpers.waiting import eventually
from tests.helpers.world import World
from tests.helpers.ws import SCENE, hello, recv, token

pytestmark = pytest.mark.slow

UNITS = 16


async def _fleet(http: httpx.AsyncClient, world: World) -> list[int]:
    boss = world.headers("supervisor")
    ids = []
    for n in range(UNITS):
        made = await http.post(
            "/vehicles", json={"call_sign": f"K{n:02d}", "kind": "bls"}, headers=boss
        )
        assert made.status_code == 201, made.text
        ready = await http.patch(
            f"/vehicles/{made.json()['id']}", json={"state": "available"}, headers=boss
        )
        assert ready.status_code == 200, ready.text
        ids.append(made.json()["id"])
    return ids


async def _call_and_assign(
    http: httpx.AsyncClient, world: World, vehicle_id: int
) -> dict[str, Any] | None:
    """One dispatcher's call and assignment; None when the worker died under it."""
    who = world.headers("dispatcher")
    try:
        call = await http.post("/incidents", json=SCENE, headers=who)
        sent = await http.post(
            f"/incidents/{call.json()['id']}/assignments",
            json={"vehicle_id": vehicle_id},
            headers=who,
        )
    except httpx.TransportError:
        return None
    assert sent.status_code == 201, sent.text
    reply: dict[str, Any] = sent.json()
    return reply


async def test_a_worker_killed_mid_assignment_leaves_no_half_done_assignment(
    stack: Stack,
    workers: list[tuple[int, subprocess.Popen[bytes]]],
    world: World,
) -> None:
    (port_a, proc_a), (port_b, _proc_b) = workers
    a, b = f"http://127.0.0.1:{port_a}", f"http://127.0.0.1:{port_b}"
    async with httpx.AsyncClient(base_url=b, timeout=20) as on_b:
        units = await _fleet(on_b, world)
    announced: set[int] = set()
    sentinel_seen = asyncio.Event()
    db = Database(stack.database_url)

    async def stored_ids() -> set[int]:
        async with db.unit_of_work(read_only=True) as uow:
            return set(await uow.session.scalars(select(Assignment.id)))

    async with connect(f"ws://127.0.0.1:{port_b}/ws/control") as screen:
        await hello(screen, token(world, "dispatcher"))
        await recv(screen, "snapshot")

        async def listen() -> None:  # everything announced to the screen on the survivor
            while True:
                event = (await recv(screen, "event", timeout=120))["event"]
                if event["type"] == "assignment.created":
                    announced.add(event["data"]["assignment_id"])
                elif event["type"] == SENTINEL:
                    sentinel_seen.set()

        reader = asyncio.create_task(listen())
        try:
            async with httpx.AsyncClient(base_url=a, timeout=20) as on_a:
                burst = [asyncio.create_task(_call_and_assign(on_a, world, v)) for v in units]
                pending = set(burst)
                while len(burst) - len(pending) < 3:  # some done, the rest in flight or queued
                    _done, pending = await asyncio.wait(
                        pending, return_when=asyncio.FIRST_COMPLETED
                    )
                proc_a.send_signal(signal.SIGKILL)
                replies = await asyncio.gather(*burst)
            assert await asyncio.to_thread(proc_a.wait, 10) == -signal.SIGKILL  # really died

            # The survivor's outbox relay announces what the dead worker committed but
            # never published (after a grace period): wait until it has all been announced,
            async def caught_up() -> bool:
                if reader.done():
                    reader.result()  # the screen failed: raise why
                return await stored_ids() <= announced

            await eventually(caught_up, timeout=60, what="every stored assignment announced")
            # then prove nothing else comes: a sentinel through the same ordered event log.
            bus = await create_bus(stack.redis_url, REDIS_PREFIX)
            try:
                await bus.publish([Event(SENTINEL, {})])
            finally:
                await bus.close()
            await eventually(sentinel_seen.is_set, what="the sentinel on the screen")
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
    stored = await stored_ids()
    await db.dispose()
    confirmed = {r["id"] for r in replies if r is not None}
    n_ok, n_stored, n_told = len(confirmed), len(stored), len(announced)
    print(f"killed mid-burst: {n_ok} confirmed, {n_stored} stored, {n_told} announced")
    assert confirmed <= stored  # every 201 was committed
    assert announced == stored  # committed ⇔ announced
    assert len(confirmed) >= 3 and len(stored) <= UNITS  # the 3 awaited before the kill
