"""Graceful shutdown: a draining worker turns unready, moves its websocket clients away
with 1012 and keeps serving HTTP; on SIGTERM a real ``dispatch serve`` finishes the
request in flight, stores its buffered fixes and exits."""

from __future__ import annotations

import asyncio
import json
import re
import signal
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from dispatch.db.session import Database
from dispatch.models import PositionFix
from dispatch.realtime.protocol import CLOSE_SERVICE_RESTART
from tests.helpers.server import LiveServer, free_port
from tests.helpers.stacks import Stack
from tests.helpers.waiting import eventually
from tests.helpers.workers import start_worker
from tests.helpers.world import World
from tests.helpers.ws import hello, recv, token


async def closed_with(ws: ClientConnection) -> int:
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            await recv(ws, timeout=10)
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code


def fix(lat: float) -> dict[str, object]:
    return {"lat": lat, "lon": 100.534, "recorded_at": datetime.now(UTC).isoformat()}


async def test_draining_turns_unready_moves_websockets_and_keeps_serving_http(
    live: LiveServer, world: World
) -> None:
    async with (
        httpx.AsyncClient(base_url=live.base_url) as http,
        connect(f"{live.ws_url}/ws/control") as screen,
        connect(f"{live.ws_url}/ws/driver") as phone,
    ):
        await hello(screen, token(world, "dispatcher"))
        await recv(screen, "snapshot")
        await hello(phone, token(world, "device:A1"))
        await recv(phone, "welcome")
        assert (await http.get("/readyz")).status_code == 200

        await live.app.state.dispatch.lifecycle.drain()

        ready = await http.get("/readyz")
        assert ready.status_code == 503 and ready.json()["status"] == "draining"
        assert await closed_with(screen) == CLOSE_SERVICE_RESTART
        assert await closed_with(phone) == CLOSE_SERVICE_RESTART
        with pytest.raises(InvalidStatus) as refused:  # the proxy tries another worker
            async with connect(f"{live.ws_url}/ws/control"):
                pass
        assert refused.value.response.status_code == 503
        # Requests still in the pipe are served (and a phone's fixes still stored).
        sent = await http.post(
            f"/vehicles/{world.vehicle_ids['A1']}/fixes",
            json={"fixes": [fix(13.7472)]},
            headers=world.headers("device:A1"),
        )
        assert sent.json() == {"accepted": 1, "duplicates": 0}
        metrics = (await http.get("/metrics")).text
        assert "dispatch_draining 1.0" in metrics
        assert 'dispatch_websocket_clients{channel="control"} 0.0' in metrics


async def _in_flight(http: httpx.AsyncClient) -> int:
    """HTTP requests the worker is handling, not counting this one asking."""
    scraped = (await http.get("/metrics")).text
    [count] = re.findall(r"^dispatch_http_requests_in_flight ([0-9.]+)$", scraped, re.MULTILINE)
    return int(float(count)) - 1


async def test_sigterm_finishes_the_request_in_flight_and_stores_its_fixes(
    stack: Stack, world: World, db: Database, tmp_path: Path
) -> None:
    port = free_port()
    log = tmp_path / "worker.log"
    # A linger keeps the fixes buffered in the history writer while the worker shuts down.
    proc = await start_worker(
        stack, port, log, drain_s="1", history_linger_ms="1000", log_format="json"
    )
    base = f"http://127.0.0.1:{port}"
    vehicle = world.vehicle_ids["A1"]
    body = json.dumps({"fixes": [fix(13.7472)]}).encode()
    rest_of_body = asyncio.Event()

    async def slow_body() -> AsyncIterator[bytes]:
        """Half the body now, the rest once the worker is shutting down: the request is
        in flight at SIGTERM by construction, not by luck."""
        yield body[: len(body) // 2]
        await rest_of_body.wait()
        yield body[len(body) // 2 :]

    try:
        async with (
            httpx.AsyncClient(base_url=base, timeout=30) as http,
            connect(f"ws://127.0.0.1:{port}/ws/control") as screen,
        ):
            await hello(screen, token(world, "dispatcher"))
            await recv(screen, "snapshot")
            in_flight = asyncio.create_task(
                http.post(
                    f"/vehicles/{vehicle}/fixes",
                    content=slow_body(),
                    headers={
                        **world.headers("device:A1"),
                        "Content-Type": "application/json",
                        "X-Request-ID": "fixes-at-shutdown",
                    },
                )
            )
            await eventually(
                lambda: _in_flight(http), what="the worker handling the half-sent request"
            )
            proc.send_signal(signal.SIGTERM)
            assert await closed_with(screen) == CLOSE_SERVICE_RESTART  # the drain began
            # After the drain uvicorn stops, and waits for the request still in flight.
            await eventually(
                lambda: "Waiting for connections to close" in log.read_text(),
                what="the worker shutting down, waiting for the request",
            )
            assert not in_flight.done()
            rest_of_body.set()
            response = await in_flight
        assert response.status_code == 200
        assert response.json() == {"accepted": 1, "duplicates": 0}
        returncode = await asyncio.to_thread(proc.wait, 30)
        assert returncode == -signal.SIGTERM  # a clean stop: uvicorn re-raises the signal
    finally:
        if proc.poll() is None:
            proc.kill()
    async with db.unit_of_work(read_only=True) as uow:
        stored = await uow.session.scalar(
            select(func.count()).where(PositionFix.vehicle_id == vehicle)
        )
    assert stored == 1
    # Structured logs: every line is a JSON object; request lines carry their request id.
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    assert any(line["msg"].startswith("draining") for line in lines)
    access = [line for line in lines if line.get("request_id") == "fixes-at-shutdown"]
    assert access and access[0]["status"] == 200 and access[0]["path"].endswith("/fixes")
