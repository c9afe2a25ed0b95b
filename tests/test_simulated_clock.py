"""A simulation's clock (``DISPATCH_SIMULATED_CLOCK``), on both stacks: the server's time
stands still until set, and what it stamps and decides follows it; without the setting
there is no such endpoint."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI

from dispatch.app import create_app
from dispatch.clock import now as process_now
from tests.helpers.stacks import Stack
from tests.helpers.world import World

DAY = datetime(2027, 3, 1, 8, 0, tzinfo=UTC)


@pytest.fixture
async def simulated(stack: Stack, world: World) -> AsyncIterator[httpx.AsyncClient]:
    app: FastAPI = create_app(stack.settings(simulated_clock=True))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            yield http


async def test_stamps_follow_the_simulated_time(simulated: httpx.AsyncClient, world: World) -> None:
    sup = world.headers("supervisor")
    refused = await simulated.put(
        "/simulation/clock", json={"now": DAY.isoformat()}, headers=world.headers("dispatcher")
    )
    assert refused.status_code == 403
    naive = await simulated.put(
        "/simulation/clock", json={"now": "2027-03-01T08:00:00"}, headers=sup
    )
    assert naive.status_code == 422 and "now" in naive.text
    set_to = await simulated.put("/simulation/clock", json={"now": DAY.isoformat()}, headers=sup)
    assert set_to.status_code == 200, set_to.text
    assert process_now() == DAY
    body = {"lat": 13.746, "lon": 100.534, "chief_complaint": "fever", "triage": "green"}
    made = await simulated.post("/incidents", json=body, headers=world.headers("dispatcher"))
    assert datetime.fromisoformat(made.json()["created_at"]) == DAY
    later = DAY + timedelta(minutes=7)
    await simulated.put("/simulation/clock", json={"now": later.isoformat()}, headers=sup)
    incident_id = made.json()["id"]
    sent = await simulated.post(
        f"/incidents/{incident_id}/assignments",
        json={"vehicle_id": world.vehicle_ids["B1"]},
        headers=world.headers("dispatcher"),
    )
    assert datetime.fromisoformat(sent.json()["notified_at"]) == later
    read = await simulated.get("/simulation/clock", headers=sup)
    assert datetime.fromisoformat(read.json()["now"]) == later


async def test_the_process_clock_is_the_system_s_again_afterwards(
    simulated: httpx.AsyncClient, world: World
) -> None:
    sup = world.headers("supervisor")
    await simulated.put("/simulation/clock", json={"now": DAY.isoformat()}, headers=sup)
    assert process_now() == DAY


async def test_without_the_setting_there_is_no_simulated_clock(
    client: httpx.AsyncClient, world: World
) -> None:
    answer = await client.put(
        "/simulation/clock", json={"now": DAY.isoformat()}, headers=world.headers("supervisor")
    )
    assert answer.status_code in (404, 405)
    assert abs((process_now() - datetime.now(UTC)).total_seconds()) < 60
