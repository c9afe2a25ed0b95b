"""Sessions end on every worker: two real ``dispatch serve`` processes sharing PostgreSQL
and Redis, and the command line beside them. A revocation or deactivation done on one
worker (or from the command line) closes the sockets held by the other, and that worker
refuses the token from then on, though it had it cached."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect

from dispatch.realtime.protocol import CLOSE_UNAUTHORIZED
from tests.helpers.sessions import close_code, fix_body, fixes_message
from tests.helpers.stacks import REDIS_PREFIX, TEST_SECRET, Stack
from tests.helpers.world import World
from tests.helpers.ws import SCENE, hello, recv, token

pytestmark = pytest.mark.slow


async def test_a_revocation_on_one_worker_closes_the_phone_on_the_other(
    workers: list[tuple[int, subprocess.Popen[bytes]]], world: World
) -> None:
    (port_a, _), (port_b, _) = workers
    a, b = f"http://127.0.0.1:{port_a}", f"http://127.0.0.1:{port_b}"
    a1 = world.vehicle_ids["A1"]
    phone_headers = world.headers("device:A1")
    async with (
        connect(f"ws://127.0.0.1:{port_b}/ws/driver") as phone,
        connect(f"ws://127.0.0.1:{port_b}/ws/control") as screen,
        httpx.AsyncClient() as http,
    ):
        await hello(phone, token(world, "device:A1"))
        await hello(screen, token(world, "dispatcher"))
        assert (await recv(phone))["type"] == "welcome"
        await recv(screen, "snapshot")
        await phone.send(fixes_message("m1"))
        assert (await recv(phone))["type"] == "ack"
        cached = await http.post(
            f"{b}/vehicles/{a1}/fixes", json=fix_body(4), headers=phone_headers
        )
        assert cached.status_code == 200  # worker B has the token in its cache now

        started = time.monotonic()
        revoked = await http.delete(
            f"{a}/vehicles/{a1}/device-token", headers=world.headers("supervisor")
        )
        assert revoked.status_code == 204
        incident = (
            await http.post(f"{a}/incidents", json=SCENE, headers=world.headers("dispatcher"))
        ).json()
        assigned = await http.post(
            f"{a}/incidents/{incident['id']}/assignments",
            json={"vehicle_id": a1},
            headers=world.headers("dispatcher"),
        )
        assert assigned.status_code == 201

        seen: list[dict[str, Any]] = []
        assert await close_code(phone, seen) == CLOSE_UNAUTHORIZED
        print(f"phone on the other worker closed {time.monotonic() - started:.3f} s after")
        assert all(m["type"] != "assignment" for m in seen), seen
        # B closed the socket after dropping the token from its cache: refused at once.
        refused = await http.post(
            f"{b}/vehicles/{a1}/fixes", json=fix_body(3), headers=phone_headers
        )
        assert refused.status_code == 401
        job = await recv(screen, "event")  # B's screens carry on
        assert job["event"]["type"] == "vehicle.device_token_revoked"


async def test_deactivation_on_one_worker_closes_the_screen_on_the_other(
    workers: list[tuple[int, subprocess.Popen[bytes]]], world: World
) -> None:
    (port_a, _), (port_b, _) = workers
    async with (
        connect(f"ws://127.0.0.1:{port_b}/ws/control") as theirs,
        connect(f"ws://127.0.0.1:{port_b}/ws/driver") as crew,
        httpx.AsyncClient() as http,
    ):
        await hello(theirs, token(world, "dispatcher"))
        await hello(crew, token(world, "driver"))
        await recv(theirs, "snapshot")
        assert (await recv(crew))["type"] == "welcome"
        for who in ("dispatcher", "driver"):
            done = await http.post(
                f"http://127.0.0.1:{port_a}/users/{world.user_ids[who]}/deactivate",
                headers=world.headers("supervisor"),
            )
            assert done.status_code == 200, done.text
        assert await close_code(theirs) == CLOSE_UNAUTHORIZED
        assert await close_code(crew) == CLOSE_UNAUTHORIZED
        refused = await http.get(
            f"http://127.0.0.1:{port_b}/incidents", headers=world.headers("dispatcher")
        )
        assert refused.status_code == 401


async def test_the_command_line_ends_a_users_sessions_on_the_running_workers(
    workers: list[tuple[int, subprocess.Popen[bytes]]], world: World, stack: Stack
) -> None:
    (_port_a, _), (port_b, _) = workers
    env = {k: v for k, v in os.environ.items() if not k.startswith("DISPATCH_")}
    env.update(
        DISPATCH_DATABASE_URL=stack.database_url,
        DISPATCH_REDIS_URL=stack.redis_url or "",
        DISPATCH_REDIS_PREFIX=REDIS_PREFIX,
        DISPATCH_SECRET_KEY=TEST_SECRET,
    )
    async with connect(f"ws://127.0.0.1:{port_b}/ws/control") as theirs:
        await hello(theirs, token(world, "dispatcher2"))
        await recv(theirs, "snapshot")
        done = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "dispatch.cli", "user", "revoke-sessions",
             "--username", "DISPATCHER2"],
            env=env, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert "logged out everywhere" in done.stdout
        assert await close_code(theirs) == CLOSE_UNAUTHORIZED
