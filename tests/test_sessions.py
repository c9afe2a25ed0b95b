"""Sessions that end, on a real server: a revoked or replaced device token closes its
phone's open socket (4401, "log in again") before anything published after it reaches the
phone, and its next fix is refused; a deactivated user's or revoked session's open screens
and crew channel close, and their tokens are refused on the next request."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect

from dispatch.realtime.protocol import CLOSE_UNAUTHORIZED
from tests.helpers.server import LiveServer
from tests.helpers.sessions import close_code, fix_body, fixes_message
from tests.helpers.stacks import REDIS_PREFIX, TEST_SECRET, Stack
from tests.helpers.waiting import eventually
from tests.helpers.world import World
from tests.helpers.ws import SCENE, hello, recv, token


async def _assign(http: httpx.AsyncClient, world: World, call_sign: str) -> dict[str, Any]:
    incident = (
        await http.post("/incidents", json=SCENE, headers=world.headers("dispatcher"))
    ).json()
    made = await http.post(
        f"/incidents/{incident['id']}/assignments",
        json={"vehicle_id": world.vehicle_ids[call_sign]},
        headers=world.headers("dispatcher"),
    )
    assert made.status_code == 201, made.text
    return incident


async def test_revoking_a_device_token_closes_its_phone_before_the_next_job(
    live: LiveServer, world: World
) -> None:
    a1 = world.vehicle_ids["A1"]
    phone_headers = world.headers("device:A1")
    async with (
        connect(f"{live.ws_url}/ws/driver") as phone,
        connect(f"{live.ws_url}/ws/driver") as crew,  # the driver logged in on A1
        connect(f"{live.ws_url}/ws/control") as screen,
        httpx.AsyncClient(base_url=live.base_url) as http,
    ):
        await hello(phone, token(world, "device:A1"))
        await hello(crew, token(world, "driver"))
        await hello(screen, token(world, "dispatcher"))
        assert (await recv(phone))["type"] == "welcome"
        assert (await recv(crew))["type"] == "welcome"
        snap = await recv(screen, "snapshot")
        await phone.send(fixes_message("m1"))
        assert (await recv(phone))["type"] == "ack"
        cached = await http.post(f"/vehicles/{a1}/fixes", json=fix_body(4), headers=phone_headers)
        assert cached.status_code == 200  # the GPS door now holds the token in its cache

        revoked = await http.delete(
            f"/vehicles/{a1}/device-token", headers=world.headers("supervisor")
        )
        assert revoked.status_code == 204
        incident = await _assign(http, world, "A1")  # a job for A1 right after

        seen: list[dict[str, Any]] = []
        assert await close_code(phone, seen) == CLOSE_UNAUTHORIZED
        assert all(m["type"] != "assignment" for m in seen), seen  # never saw the new job
        refused = await http.post(f"/vehicles/{a1}/fixes", json=fix_body(3), headers=phone_headers)
        assert refused.status_code == 401  # the next fix, by any door
        # The driver's own login is not the phone's token: their channel stays, gets the job.
        job = await recv(crew, "assignment")
        assert job["assignment"]["incident_id"] == incident["id"]
        # Every screen is told (the users panel and audit views may refresh on it).
        event = await recv(screen, "event")
        assert event["seq"] == snap["seq"] + 1
        assert event["event"] == {
            "type": "vehicle.device_token_revoked",
            "data": {"vehicle_id": a1},
        }
    async with connect(f"{live.ws_url}/ws/driver") as again:
        await hello(again, token(world, "device:A1"))
        assert await close_code(again) == CLOSE_UNAUTHORIZED
    assert live.app.state.dispatch.hub.stats()["sessions_ended"] == 1


async def test_reissuing_a_device_token_closes_the_old_phone_and_admits_the_new_one(
    live: LiveServer, world: World
) -> None:
    a1, b1 = world.vehicle_ids["A1"], world.vehicle_ids["B1"]
    async with (
        connect(f"{live.ws_url}/ws/driver") as old_phone,
        connect(f"{live.ws_url}/ws/driver") as other_unit,
        httpx.AsyncClient(base_url=live.base_url) as http,
    ):
        await hello(old_phone, token(world, "device:A1"))
        await hello(other_unit, token(world, "device:B1"))
        assert (await recv(old_phone))["type"] == "welcome"
        assert (await recv(other_unit))["type"] == "welcome"
        issued = await http.post(
            f"/vehicles/{a1}/device-token", headers=world.headers("supervisor")
        )
        assert issued.status_code == 201
        assert await close_code(old_phone) == CLOSE_UNAUTHORIZED
        async with connect(f"{live.ws_url}/ws/driver") as new_phone:
            await hello(new_phone, issued.json()["device_token"])
            assert await recv(new_phone) == {"type": "welcome", "vehicle_id": a1}
            await new_phone.send(fixes_message("n1"))
            assert (await recv(new_phone))["type"] == "ack"
        await other_unit.send(fixes_message("b1"))  # another unit's phone is untouched
        ack = await recv(other_unit)
        assert (ack["type"], ack["id"], ack["accepted"]) == ("ack", "b1", 1)
        assert b1 in live.app.state.dispatch.hub.drivers


async def test_a_deactivated_dispatcher_screen_closes_and_their_token_is_refused(
    live: LiveServer, world: World
) -> None:
    async with (
        connect(f"{live.ws_url}/ws/control") as theirs,
        connect(f"{live.ws_url}/ws/control") as colleague,
        httpx.AsyncClient(base_url=live.base_url) as http,
    ):
        await hello(theirs, token(world, "dispatcher"))
        await hello(colleague, token(world, "dispatcher2"))
        await recv(theirs, "snapshot")
        await recv(colleague, "snapshot")
        gone = await http.post(
            f"/users/{world.user_ids['dispatcher']}/deactivate",
            headers=world.headers("supervisor"),
        )
        assert gone.status_code == 200, gone.text
        assert await close_code(theirs) == CLOSE_UNAUTHORIZED
        refused = await http.get("/incidents", headers=world.headers("dispatcher"))
        assert refused.status_code == 401
        ended = await recv(colleague, "event")  # the colleague's screen stays live
        assert ended["event"] == {
            "type": "user.sessions_ended",
            "data": {"user_id": world.user_ids["dispatcher"], "reason": "deactivated"},
        }
    async with connect(f"{live.ws_url}/ws/control") as retry:
        await hello(retry, token(world, "dispatcher"))
        assert await close_code(retry) == CLOSE_UNAUTHORIZED


async def test_revoking_a_drivers_sessions_closes_their_channel_and_gps_token(
    live: LiveServer, world: World
) -> None:
    a1 = world.vehicle_ids["A1"]
    driver = world.headers("driver")
    async with (
        connect(f"{live.ws_url}/ws/driver") as crew,
        connect(f"{live.ws_url}/ws/driver") as phone,
        httpx.AsyncClient(base_url=live.base_url) as http,
    ):
        await hello(crew, token(world, "driver"))
        await hello(phone, token(world, "device:A1"))
        assert (await recv(crew))["type"] == "welcome"
        assert (await recv(phone))["type"] == "welcome"
        cached = await http.post(f"/vehicles/{a1}/fixes", json=fix_body(6), headers=driver)
        assert cached.status_code == 200  # the driver's token is in the GPS door's cache
        revoked = await http.post(
            f"/users/{world.user_ids['driver']}/revoke-sessions", headers=world.headers("admin")
        )
        assert revoked.status_code == 200
        assert await close_code(crew) == CLOSE_UNAUTHORIZED
        after = await http.post(f"/vehicles/{a1}/fixes", json=fix_body(5), headers=driver)
        assert after.status_code == 401
        await phone.send(fixes_message("p1"))  # the vehicle's own phone carries on
        assert (await recv(phone))["type"] == "ack"

        def crew_gone() -> bool:
            sessions = live.app.state.dispatch.hub.drivers.get(a1, set())
            return [s.user_id for s in sessions] == [None]

        await eventually(crew_gone, what="only the phone's session left on A1")


@pytest.mark.slow
async def test_the_command_line_deactivates_and_the_running_server_closes_the_screen(
    live: LiveServer, world: World, stack: Stack
) -> None:
    """From the command line the news travels through Redis, or, on the embedded stack,
    through the event outbox that the running server's relay announces."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DISPATCH_")}
    env.update(
        DISPATCH_DATABASE_URL=stack.database_url,
        DISPATCH_REDIS_URL=stack.redis_url or "",
        DISPATCH_REDIS_PREFIX=REDIS_PREFIX,
        DISPATCH_SECRET_KEY=TEST_SECRET,
    )

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "dispatch.cli", "user", *args],
            env=env, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip

    async with connect(f"{live.ws_url}/ws/control") as theirs:
        await hello(theirs, token(world, "dispatcher"))
        await recv(theirs, "snapshot")
        done = await asyncio.to_thread(cli, "deactivate", "--username", "Dispatcher")
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == (
            f"user {world.user_ids['dispatcher']} (dispatcher) deactivated; their sessions ended"
        )
        async with httpx.AsyncClient(base_url=live.base_url) as http:
            refused = await http.get("/incidents", headers=world.headers("dispatcher"))
            assert refused.status_code == 401  # at once: the database says so
        assert await close_code(theirs) == CLOSE_UNAUTHORIZED  # within seconds
    nobody = await asyncio.to_thread(cli, "activate", "--username", "nobody")
    assert nobody.returncode == 2 and "There is no user 'nobody'" in nobody.stderr
    admin = await asyncio.to_thread(cli, "deactivate", "--username", "admin")
    assert admin.returncode == 2 and "last active administrator" in admin.stderr
    env["DISPATCH_NEW_USER_PASSWORD"] = "a brand new password"
    reset = await asyncio.to_thread(cli, "reset-password", "--username", "driver")
    assert reset.returncode == 0, reset.stderr
    async with httpx.AsyncClient(base_url=live.base_url) as http:
        login = await http.post(
            "/auth/token", data={"username": "driver", "password": "a brand new password"}
        )
        assert login.status_code == 200
        trail = (await http.get("/audit?limit=100", headers=world.headers("admin"))).json()
    assert [(e["actor"], e["action"]) for e in trail if e["action"].startswith("user.")][:2] == [
        ("system", "user.password_reset"),
        ("system", "user.deactivated"),
    ]
