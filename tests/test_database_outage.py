"""Fault injection: the app's connections to the real PostgreSQL go through a TCP relay
that the test cuts (every open connection dropped, new ones refused) and restores, as a
database restart or a network failure does. Requests meanwhile get 503 with Retry-After
(never a 500 or a hang); a phone's resend afterwards stores every fix exactly once."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from dispatch.db.session import Database
from dispatch.models import Incident, PositionFix
from tests.helpers.server import LiveServer, serve
from tests.helpers.stacks import REQUIRE_ALL, Stack
from tests.helpers.waiting import eventually
from tests.helpers.world import World, build_world
from tests.helpers.ws import SCENE

pytestmark = pytest.mark.slow


class Relay:
    """A TCP relay to PostgreSQL that can be cut and restored."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.server: asyncio.Server | None = None
        self.port = 0
        self.links: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._link, "127.0.0.1", self.port)
        self.port = self.server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()
        for writer in list(self.links):
            writer.transport.abort()
        self.links.clear()

    async def _link(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            server_r, server_w = await asyncio.open_connection(*self.target)
        except OSError:
            client_w.transport.abort()
            return
        self.links |= {client_w, server_w}

        async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.CancelledError):
                while data := await reader.read(65536):
                    writer.write(data)
                    await writer.drain()
            writer.transport.abort()

        await asyncio.gather(pipe(client_r, server_w), pipe(server_r, client_w))
        self.links -= {client_w, server_w}


@pytest.fixture
async def relayed(stack: Stack) -> AsyncIterator[tuple[LiveServer, World, Relay, Database]]:
    if stack.name != "postgresql":
        pytest.skip("the relay stands between the app and PostgreSQL")
    url = make_url(stack.database_url)
    relay = Relay(url.host or "127.0.0.1", url.port or 5432)
    await relay.start()
    direct = Database(stack.database_url)
    world = await build_world(direct)
    relayed_url = url.set(host="127.0.0.1", port=relay.port).render_as_string(hide_password=False)
    settings = stack.settings(database_url=relayed_url)
    async with serve(settings) as live:
        yield live, world, relay, direct
    await direct.dispose()
    with contextlib.suppress(Exception):
        await relay.cut()


BASE = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)


def _fixes(start: int, count: int) -> dict[str, Any]:
    base = BASE  # fixed: a resend must carry exactly the same fix times
    return {
        "fixes": [
            {"lat": 13.74, "lon": 100.53, "recorded_at": (base + timedelta(seconds=s)).isoformat()}
            for s in range(start, start + count)
        ]
    }


async def test_database_outage_is_503_and_nothing_accepted_is_lost(
    relayed: tuple[LiveServer, World, Relay, Database],
) -> None:
    live, world, relay, direct = relayed
    a1 = world.vehicle_ids["A1"]
    phone = world.headers("device:A1")
    dispatcher = world.headers("dispatcher")
    acknowledged = 0
    async with httpx.AsyncClient(base_url=live.base_url, timeout=15) as http:
        before = await http.post(f"/vehicles/{a1}/fixes", json=_fixes(0, 20), headers=phone)
        assert before.status_code == 200
        acknowledged += 20

        await relay.cut()  # ------------------------------------------------------ outage
        during = [
            await http.post("/incidents", json=SCENE, headers=dispatcher),
            await http.post(f"/vehicles/{a1}/fixes", json=_fixes(20, 20), headers=phone),
            await http.get("/incidents", headers=dispatcher),
        ]
        for response in during:
            assert response.status_code == 503, response.text
            assert int(response.headers["Retry-After"]) > 0
        ready = await http.get("/readyz")
        assert ready.status_code == 503 and ready.json()["status"] == "unready"

        await relay.start()  # ------------------------------------------------- recovery

        async def resend() -> httpx.Response | None:  # as the phone does, on Retry-After
            sent = await http.post(f"/vehicles/{a1}/fixes", json=_fixes(20, 20), headers=phone)
            assert sent.status_code in (200, 503), sent.text  # stored, or not yet: never lost
            return sent if sent.status_code == 200 else None

        resent = await eventually(resend, what="the resend stored after the recovery")
        assert resent.json() == {"accepted": 20, "duplicates": 0}
        acknowledged += 20
        again = await http.post(f"/vehicles/{a1}/fixes", json=_fixes(0, 40), headers=phone)
        assert again.json() == {"accepted": 0, "duplicates": 40}
        call = await http.post("/incidents", json=SCENE, headers=dispatcher)
        assert call.status_code == 201, call.text

    async with direct.unit_of_work(read_only=True) as uow:
        stored = await uow.session.scalar(
            select(func.count()).select_from(PositionFix).where(PositionFix.vehicle_id == a1)
        )
        incidents = await uow.session.scalar(select(func.count()).select_from(Incident))
    assert stored == acknowledged == 40
    assert incidents == 1  # the refused call was not half-stored; the retried one is there


PG_CTL = os.environ.get(
    "DISPATCH_TEST_PG_CTL"
)  # e.g. "pg_ctlcluster --skip-systemctl-redirect 15 main"


async def _pg(action: str) -> None:
    assert PG_CTL is not None
    proc = await asyncio.create_subprocess_exec(*shlex.split(PG_CTL), action)
    assert await proc.wait() == 0, f"{PG_CTL} {action} failed"


async def test_a_real_postgresql_restart_is_503_then_business_as_usual(
    stack: Stack, world: World
) -> None:
    """The server itself is stopped and started (CI sets DISPATCH_TEST_PG_CTL)."""
    if stack.name != "postgresql":
        pytest.skip("restarts PostgreSQL")
    if PG_CTL is None:
        message = "set DISPATCH_TEST_PG_CTL to a command that takes stop/start (CI does)"
        if REQUIRE_ALL:
            pytest.fail(message)
        pytest.skip(message)
    a1 = world.vehicle_ids["A1"]
    phone = world.headers("device:A1")
    async with (
        serve(stack.settings()) as live,
        httpx.AsyncClient(base_url=live.base_url, timeout=15) as http,
    ):
        assert (
            await http.post(f"/vehicles/{a1}/fixes", json=_fixes(100, 10), headers=phone)
        ).status_code == 200
        # A dispatcher's screen keeps reading through the whole restart: while the server
        # shuts down, is down, starts up and recovers, it gets answers or 503s, never a 500
        # ("the database system is starting up" is not the request's fault).
        seen: list[int] = []
        reading = asyncio.Event()
        reading.set()

        async def screen() -> None:
            while reading.is_set():
                answer = await http.get("/incidents", headers=world.headers("dispatcher"))
                seen.append(answer.status_code)

        screen_task = asyncio.create_task(screen())
        await _pg("stop")
        try:
            down = await http.post(f"/vehicles/{a1}/fixes", json=_fixes(110, 10), headers=phone)
            call = await http.post("/incidents", json=SCENE, headers=world.headers("dispatcher"))
        finally:
            await _pg("start")
        for response in (down, call):
            assert response.status_code == 503, response.text
            assert int(response.headers["Retry-After"]) > 0

        async def resend() -> httpx.Response | None:
            sent = await http.post(f"/vehicles/{a1}/fixes", json=_fixes(110, 10), headers=phone)
            assert sent.status_code in (200, 503), sent.text
            return sent if sent.status_code == 200 else None

        resent = await eventually(resend, what="the resend stored after the restart")
        reading.clear()
        await screen_task
        assert 503 in seen
        assert set(seen) <= {200, 503}, sorted(set(seen))
        assert resent.json() == {"accepted": 10, "duplicates": 0}
        again = await http.post(f"/vehicles/{a1}/fixes", json=_fixes(100, 20), headers=phone)
        assert again.json() == {"accepted": 0, "duplicates": 20}
        assert (
            await http.post("/incidents", json=SCENE, headers=world.headers("dispatcher"))
        ).status_code == 201


class _PgError(Exception):
    """What the asyncpg adapter raises: the error with its SQLSTATE."""

    def __init__(self, sqlstate: str) -> None:
        super().__init__(f"sqlstate {sqlstate}")
        self.sqlstate = sqlstate


@pytest.mark.parametrize(
    ("sqlstate", "status"),
    [
        ("57P03", 503),  # the database system is starting up / shutting down
        ("57P01", 503),  # terminating connection due to administrator command
        ("08006", 503),  # connection failure
        ("53300", 503),  # too many connections
        ("42P01", 500),  # undefined table: a defect, not an outage
    ],
)
async def test_an_outage_sqlstate_is_503_and_a_defect_stays_500(sqlstate: str, status: int) -> None:
    from sqlalchemy.exc import DBAPIError

    from dispatch.api.errors import install

    app = FastAPI()
    install(app)

    @app.get("/boom")
    async def boom() -> None:
        raise DBAPIError("SELECT 1", None, _PgError(sqlstate))

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        answer = await http.get("/boom")
    assert answer.status_code == status
    if status == 503:
        assert answer.json()["code"] == "unavailable" and int(answer.headers["Retry-After"]) > 0
