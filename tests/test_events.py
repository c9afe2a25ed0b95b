"""Events are published only after the unit of work commits, through the stack's broker
(Redis on the production stack, in-process on the embedded one)."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from dispatch.db.session import Database
from dispatch.realtime.broker import create_bus
from tests.helpers.bus import BusRecorder
from tests.helpers.events import Probe
from tests.helpers.stacks import REDIS_PREFIX, Stack
from tests.helpers.world import World

INCIDENT = {"lat": 13.74, "lon": 100.53, "chief_complaint": "stroke", "triage": "red"}


async def test_assignment_event_follows_commit(
    app: FastAPI, client: httpx.AsyncClient, world: World
) -> None:
    async with BusRecorder(app.state.dispatch.broker) as bus:
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
        received = await bus.settle()  # the refused assignment would have arrived by now
    types = [m["type"] for m in received]
    assert types == ["incident.created", "assignment.created"]
    assert received[1]["data"]["vehicle_id"] == world.vehicle_ids["A1"]
    assert received[1]["data"]["incident_id"] == incident["id"]
    assert received[1]["seq"] == received[0]["seq"] + 1


async def test_rolled_back_unit_of_work_publishes_nothing(db: Database, stack: Stack) -> None:
    broker = await create_bus(stack.redis_url, REDIS_PREFIX)
    try:
        async with BusRecorder(broker) as bus:
            with pytest.raises(RuntimeError):
                async with db.unit_of_work(publish=broker.publish) as uow:
                    uow.emit(Probe("should.not.appear"))
                    raise RuntimeError("boom")
            async with db.unit_of_work(publish=broker.publish) as uow:
                uow.emit(Probe("committed", {"n": 1}))
            last = await broker.last_seq()
            received = await bus.settle()
    finally:
        await broker.close()
    assert [(m["type"], m["data"]) for m in received] == [("committed", {"n": 1})]
    assert received[0]["seq"] == last  # the rolled-back event never took a number
