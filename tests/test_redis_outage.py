"""Fault injection: a real Redis server of the test's own is killed mid-run and started
again. Calls and fixes keep being accepted and stored, this worker's screens keep moving,
/readyz says degraded, and when Redis is back every screen resyncs to a complete picture
without a server restart."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from dispatch.db.session import Database
from dispatch.realtime.protocol import CLOSE_RESYNC
from tests.helpers.server import LiveServer, free_port, serve
from tests.helpers.stacks import REQUIRE_ALL, Stack
from tests.helpers.waiting import eventually_blocking
from tests.helpers.world import World, build_world
from tests.helpers.ws import SCENE, hello, recv, token

pytestmark = pytest.mark.slow

REDIS_SERVER = shutil.which("redis-server")


class RedisProcess:
    """A throw-away redis-server on its own port, with nothing kept on disk (like ours)."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        assert REDIS_SERVER is not None
        self.process = subprocess.Popen(
            [
                REDIS_SERVER,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

        def answers() -> bool:
            probe = subprocess.run(
                ["redis-cli", "-p", str(self.port), "ping"], capture_output=True, check=False
            )
            return probe.stdout.strip() == b"PONG"

        eventually_blocking(answers, what=f"redis-server answering on port {self.port}")

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


@pytest.fixture
def redis_process(tmp_path: Path) -> Iterator[RedisProcess]:
    if REDIS_SERVER is None or shutil.which("redis-cli") is None:
        message = "redis-server is not installed"
        if REQUIRE_ALL:
            pytest.fail(message)
        pytest.skip(message)
    redis = RedisProcess(tmp_path)
    redis.start()
    try:
        yield redis
    finally:
        redis.kill()


@pytest.fixture
async def outage_world(
    stack: Stack, redis_process: RedisProcess
) -> AsyncIterator[tuple[LiveServer, World]]:
    db = Database(stack.database_url)
    world = await build_world(db)
    await db.dispose()
    async with serve(stack.settings(redis_url=redis_process.url, positions_interval_ms=10)) as live:
        yield live, world


def _fix(seconds: int, lat: float) -> dict[str, object]:
    at = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1, seconds=-seconds)
    return {"lat": lat, "lon": 100.53, "recorded_at": at.isoformat()}


async def test_redis_outage_loses_nothing_and_heals_without_a_restart(
    outage_world: tuple[LiveServer, World], redis_process: RedisProcess
) -> None:
    live, world = outage_world
    a1 = world.vehicle_ids["A1"]
    phone = world.headers("device:A1")
    dispatcher = world.headers("dispatcher")
    async with (
        httpx.AsyncClient(base_url=live.base_url, timeout=20) as http,
        connect(f"{live.ws_url}/ws/control") as screen,
    ):
        await hello(screen, token(world, "dispatcher"))
        snapshot = await recv(screen, "snapshot")

        redis_process.kill()  # ---------------------------------------------------- outage
        ready = await http.get("/readyz")
        assert ready.status_code == 200 and ready.json()["status"] == "degraded"
        call = await http.post("/incidents", json=SCENE, headers=dispatcher)
        assert call.status_code == 201, call.text  # the call is taken and stored
        fixes = await http.post(
            f"/vehicles/{a1}/fixes", json={"fixes": [_fix(1, 13.751), _fix(2, 13.752)]},
            headers=phone,
        )  # fmt: skip
        assert fixes.status_code == 200 and fixes.json()["accepted"] == 2
        moved = await recv(screen, "positions", timeout=10)  # this worker's screen still moves
        assert any(p["vehicle_id"] == a1 and p["lat"] == 13.752 for p in moved["positions"])

        redis_process.start()  # ------------------------------------------------ recovery
        with pytest.raises(ConnectionClosed) as closed:
            while True:  # the screen is told to resync once the feed is back
                await recv(screen, timeout=20)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == CLOSE_RESYNC

    async with (
        httpx.AsyncClient(base_url=live.base_url, timeout=20) as http,
        connect(f"{live.ws_url}/ws/control") as screen,
    ):
        await hello(
            screen,
            token(world, "dispatcher"),
            resume={"epoch": snapshot["epoch"], "seq": snapshot["seq"]},
        )
        fresh = await recv(screen)
        assert fresh["type"] == "snapshot"  # not a resume across the gap
        assert call.json()["id"] in {i["id"] for i in fresh["incidents"]}
        assert (await http.get("/readyz")).json()["status"] == "ready"
        second = await http.post("/incidents", json=SCENE, headers=dispatcher)
        seqs = []
        while True:  # events flow through Redis again (the outbox relay may add the one
            event = await recv(screen, "event", timeout=10)  # announced late: at least once)
            seqs.append(event["seq"])
            if event["event"]["data"].get("incident_id") == second.json()["id"]:
                break
        assert seqs == list(range(fresh["seq"] + 1, fresh["seq"] + 1 + len(seqs)))
        track = await http.get(
            f"/vehicles/{a1}/track",
            params={"since": (datetime.now(UTC) - timedelta(hours=1)).isoformat()},
            headers=dispatcher,
        )
        assert track.json()["count"] == 2  # both fixes taken during the outage are stored
