"""Events are published only after the unit of work commits, through the stack's broker
(Redis on the production stack, in-process on the embedded one)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from dispatch.db.session import Database
from dispatch.events import Event
from dispatch.realtime.broker import create_bus
from tests.conftest import REDIS_PREFIX, Stack
from tests.fixtures import World

INCIDENT = {"lat": 13.74, "lon": 100.53, "chief_complaint": "stroke", "triage": "red"}


async def _collect(app: FastAPI, ready: asyncio.Event, out: list[dict[str, Any]]) -> None:
    async with app.state.dispatch.broker.subscribe() as messages:
        ready.set()
        async for message in messages:
            out.append(message)


async def _drain() -> None:
    """Give the broker time to deliver anything (wrongly) still in flight."""
    await asyncio.sleep(0.5)


async def test_assignment_event_follows_commit(
    app: FastAPI, client: httpx.AsyncClient, world: World
) -> None:
    received: list[dict[str, Any]] = []
    ready = asyncio.Event()
    listener = asyncio.create_task(_collect(app, ready, received))
    await ready.wait()
    try:
        headers = world.headers("dispatcher")
        incident = (await client.post("/incidents", json=INCIDENT, headers=headers)).json()
        ok = await client.post(
            f"/incidents/{incident['id']}/assignments",
            json={"vehicle_id": world.vehicle_ids["A1"]},
            headers=headers,
        )
        assert ok.status_code == 201
        refused = await client.post(
            f"/incidents/{incident['id']}/assignments",
            json={"vehicle_id": world.vehicle_ids["T1"]},
            headers=headers,
        )
        assert refused.status_code == 409
        await _drain()
    finally:
        listener.cancel()
    types = [m["type"] for m in received]
    assert types == ["incident.created", "assignment.created"]
    assert received[1]["data"]["vehicle_id"] == world.vehicle_ids["A1"]
    assert received[1]["data"]["incident_id"] == incident["id"]


async def test_rolled_back_unit_of_work_publishes_nothing(db: Database, stack: Stack) -> None:
    broker = await create_bus(stack.redis_url, REDIS_PREFIX)
    received: list[dict[str, Any]] = []
    ready = asyncio.Event()

    async def collect() -> None:
        async with broker.subscribe() as messages:
            ready.set()
            async for message in messages:
                received.append(message)

    listener = asyncio.create_task(collect())
    await ready.wait()
    try:
        with pytest.raises(RuntimeError):
            async with db.unit_of_work(publish=broker.publish) as uow:
                uow.emit(Event("should.not.appear"))
                raise RuntimeError("boom")
        async with db.unit_of_work(publish=broker.publish) as uow:
            uow.emit(Event("committed", {"n": 1}))
        last = await broker.last_seq()
        await _drain()
    finally:
        listener.cancel()
        await broker.close()
    assert [(m["type"], m["data"]) for m in received] == [("committed", {"n": 1})]
    assert received[0]["seq"] == last  # the rolled-back event never took a number
