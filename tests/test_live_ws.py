"""The control-room feed and the crew channel over real websockets on a real server."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from dispatch.realtime.broker import Position
from dispatch.realtime.protocol import CLOSE_RESYNC, CLOSE_UNAUTHORIZED
from tests.helpers.server import LiveServer
from tests.helpers.waiting import eventually
from tests.helpers.world import World
from tests.helpers.ws import SCENE, hello, recv, token


async def test_snapshot_then_sequenced_events_and_positions(live: LiveServer, world: World) -> None:
    async with (
        connect(f"{live.ws_url}/ws/control") as ws,
        httpx.AsyncClient(base_url=live.base_url) as http,
    ):
        await hello(ws, token(world, "dispatcher"))
        snap = await recv(ws, "snapshot")
        assert {
            "vehicles",
            "incidents",
            "assignments",
            "hospitals",
            "positions",
            "epoch",
            "seq",
        } <= set(snap)
        assert {v["call_sign"] for v in snap["vehicles"]} == {"A1", "B1", "T1"}
        incident = (
            await http.post("/incidents", json=SCENE, headers=world.headers("dispatcher"))
        ).json()
        created = await recv(ws, "event")
        assert created["seq"] == snap["seq"] + 1
        assert created["event"]["type"] == "incident.created"
        assert created["event"]["data"]["incident_id"] == incident["id"]
        await http.post(
            f"/incidents/{incident['id']}/assignments",
            json={"vehicle_id": world.vehicle_ids["A1"]},
            headers=world.headers("dispatcher"),
        )
        assigned = await recv(ws, "event")
        assert assigned["seq"] == created["seq"] + 1
        assert assigned["event"]["type"] == "assignment.created"
        sent_at = datetime.now(UTC) - timedelta(seconds=1)
        posted = await http.post(
            f"/vehicles/{world.vehicle_ids['A1']}/fixes",
            json={"fixes": [{"lat": 13.7471, "lon": 100.5341, "recorded_at": sent_at.isoformat()}]},
            headers=world.headers("device:A1"),
        )
        assert posted.status_code == 200
        frame = await recv(ws, "positions")
        [position] = frame["positions"]
        assert position["vehicle_id"] == world.vehicle_ids["A1"] and position["lat"] == 13.7471
        assert position["stale"] is False and position["t"] == int(sent_at.timestamp() * 1000)


async def test_resume_replays_missed_events_or_falls_back_to_a_snapshot(
    live: LiveServer, world: World
) -> None:
    headers = world.headers("dispatcher")
    async with httpx.AsyncClient(base_url=live.base_url) as http:
        async with connect(f"{live.ws_url}/ws/control") as ws:
            await hello(ws, token(world, "dispatcher"))
            snap = await recv(ws, "snapshot")
        # While disconnected, two calls come in.
        ids = [
            (
                await http.post(
                    "/incidents", json={**SCENE, "lat": 13.70 + n / 100}, headers=headers
                )
            ).json()["id"]
            for n in range(2)
        ]
        async with connect(f"{live.ws_url}/ws/control") as ws:
            await hello(
                ws, token(world, "dispatcher"), resume={"epoch": snap["epoch"], "seq": snap["seq"]}
            )
            resumed = await recv(ws)
            assert resumed == {"type": "resumed", "epoch": snap["epoch"], "seq": snap["seq"]}
            replay = [await recv(ws, "event"), await recv(ws, "event")]
            assert [m["seq"] for m in replay] == [snap["seq"] + 1, snap["seq"] + 2]
            assert [m["event"]["data"]["incident_id"] for m in replay] == ids
        async with connect(f"{live.ws_url}/ws/control") as ws:  # another epoch: reload
            await hello(ws, token(world, "dispatcher"), resume={"epoch": "elsewhere", "seq": 3})
            fresh = await recv(ws)
            assert fresh["type"] == "snapshot"
            assert {i["id"] for i in fresh["incidents"]} == set(ids)


async def test_bad_credentials_close_the_socket(live: LiveServer, world: World) -> None:
    for who in (None, "care_a", "device:A1"):
        async with connect(f"{live.ws_url}/ws/control") as ws:
            await hello(ws, "garbage" if who is None else token(world, who))
            with pytest.raises(ConnectionClosed) as closed:
                await recv(ws)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == CLOSE_UNAUTHORIZED


async def test_a_stalled_client_is_cut_off_without_delaying_others(
    live: LiveServer, world: World
) -> None:
    hub = live.app.state.dispatch.hub
    async with (
        connect(f"{live.ws_url}/ws/control") as healthy,
        connect(f"{live.ws_url}/ws/control") as stalled,
    ):
        await hello(healthy, token(world, "dispatcher"))
        await hello(stalled, token(world, "dispatcher"))
        await recv(healthy, "snapshot")
        await recv(stalled, "snapshot")
        clients = list(hub.control)
        assert len(clients) == 2
        port = stalled.local_address[1]
        victim = next(c for c in clients if c.ws.client is not None and c.ws.client.port == port)
        # Simulate a screen that stopped reading: its writer is blocked, its queue grows.
        for c in clients:
            c.max_events = 5
        victim_writer_block = asyncio.Event()
        original_send = victim.ws.send_json

        async def blocked_send(data: Any, mode: str = "text") -> None:
            await victim_writer_block.wait()
            await original_send(data, mode)

        victim.ws.send_json = blocked_send  # type: ignore[method-assign]
        async with httpx.AsyncClient(base_url=live.base_url) as http:
            for n in range(8):
                await http.post(
                    "/incidents",
                    json={**SCENE, "lat": 13.70 + n / 100},
                    headers=world.headers("dispatcher"),
                )
        got = [await recv(healthy, "event") for _ in range(8)]
        assert [m["seq"] for m in got] == list(range(got[0]["seq"], got[0]["seq"] + 8))
        await eventually(lambda: victim not in hub.control, what="the stalled client cut off")
        assert hub.resync_disconnects == 1  # the stalled one only
        victim_writer_block.set()
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await recv(stalled, timeout=5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == CLOSE_RESYNC


async def test_units_without_fixes_are_flagged_stale_in_the_stream(
    live: LiveServer, world: World
) -> None:
    hub = live.app.state.dispatch.hub
    async with connect(f"{live.ws_url}/ws/control") as ws:
        await hello(ws, token(world, "dispatcher"))
        await recv(ws, "snapshot")
        now_ms = int(datetime.now(UTC).timestamp() * 1000)
        hub.apply_positions(
            [Position(world.vehicle_ids["B1"], 13.74, 100.53, t=now_ms - 1000, rx=now_ms)]
        )
        fresh = await recv(ws, "positions")
        assert fresh["positions"][0]["stale"] is False
        assert hub.flag_stale(now_ms + 10 * 60_000) == [world.vehicle_ids["B1"]]
        flagged = await recv(ws, "positions")
        assert flagged["positions"][0]["vehicle_id"] == world.vehicle_ids["B1"]
        assert flagged["positions"][0]["stale"] is True
        assert hub.flag_stale(now_ms + 11 * 60_000) == []  # flagged once


async def test_driver_channel_fixes_status_and_assignments(live: LiveServer, world: World) -> None:
    a1 = world.vehicle_ids["A1"]
    async with (
        connect(f"{live.ws_url}/ws/driver") as phone,
        httpx.AsyncClient(base_url=live.base_url) as http,
    ):
        await hello(phone, token(world, "device:A1"))
        assert (await recv(phone))["type"] == "welcome"
        at = (datetime.now(UTC) - timedelta(seconds=5)).isoformat()
        await phone.send(
            json.dumps(
                {
                    "type": "fixes",
                    "id": "m1",
                    "fixes": [{"lat": 13.745, "lon": 100.534, "recorded_at": at}],
                }
            )
        )
        assert await recv(phone) == {"type": "ack", "id": "m1", "accepted": 1, "duplicates": 0}
        await phone.send(
            json.dumps(
                {
                    "type": "fixes",
                    "id": "m2",
                    "fixes": [{"lat": 13.745, "lon": 100.534, "recorded_at": at}],
                }
            )
        )
        assert await recv(phone) == {"type": "ack", "id": "m2", "accepted": 0, "duplicates": 1}
        await phone.send(
            json.dumps(
                {"type": "fixes", "id": "m3", "fixes": [{"lat": 99, "lon": 1, "recorded_at": at}]}
            )
        )
        error = await recv(phone)
        assert error["type"] == "error" and error["field"] == "fixes.0.lat"
        incident = (
            await http.post("/incidents", json=SCENE, headers=world.headers("dispatcher"))
        ).json()
        await http.post(
            f"/incidents/{incident['id']}/assignments",
            json={"vehicle_id": a1},
            headers=world.headers("dispatcher"),
        )
        job = await recv(phone, "assignment")
        assert job["assignment"]["incident_id"] == incident["id"]
        assert job["assignment"]["lat"] == SCENE["lat"]
        await phone.send(
            json.dumps(
                {
                    "type": "status",
                    "id": "s1",
                    "assignment_id": job["assignment"]["assignment_id"],
                    "status": "acknowledged",
                }
            )
        )
        ack = await recv(phone, "ack")
        assert ack["status"] == "acknowledged"
        await phone.send(
            json.dumps(
                {
                    "type": "status",
                    "id": "s2",
                    "assignment_id": job["assignment"]["assignment_id"],
                    "status": "handed_over",
                }
            )
        )
        refused = await recv(phone, "error")
        assert refused["code"] == "conflict" and "Allowed next" in refused["message"]
        await http.post(
            f"/incidents/{incident['id']}/cancel",
            json={"reason": "caller hung up"},
            headers=world.headers("dispatcher"),
        )
        cancelled = await recv(phone, "cancellation")
        assert cancelled["incident_id"] == incident["id"]
    # A phone that reconnects is told its current job at once.
    incident2 = None
    async with httpx.AsyncClient(base_url=live.base_url) as http:
        incident2 = (
            await http.post("/incidents", json=SCENE, headers=world.headers("dispatcher"))
        ).json()
        await http.post(
            f"/incidents/{incident2['id']}/assignments",
            json={"vehicle_id": a1},
            headers=world.headers("dispatcher"),
        )
    async with connect(f"{live.ws_url}/ws/driver") as phone:
        await hello(phone, token(world, "device:A1"))
        current = await recv(phone, "assignment")
        assert current["incident"]["id"] == incident2["id"]


async def test_malformed_hello_is_refused_and_the_server_stays_up(
    live: LiveServer, world: World
) -> None:
    for first in ("not json", json.dumps({"type": "subscribe"}), json.dumps(["hello"])):
        async with connect(f"{live.ws_url}/ws/control") as ws:
            await ws.send(first)
            with pytest.raises(ConnectionClosed) as closed:
                await recv(ws)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4400
    async with connect(f"{live.ws_url}/ws/driver") as phone:
        await hello(phone, token(world, "device:A1"))
        assert (await recv(phone))["type"] == "welcome"
        for junk in (
            json.dumps([1, 2]),
            json.dumps({"type": "teleport", "id": 7}),
            json.dumps({"type": "fixes", "id": 8, "fixes": "many"}),
        ):
            await phone.send(junk)
            assert (await recv(phone))["type"] == "error"
        await phone.send(json.dumps({"type": "ping", "id": 9}))
        assert await recv(phone) == {"type": "pong", "id": 9}


DEEP = "[" * 100_000 + "]" * 100_000


async def test_binary_frames_and_deep_json_in_a_hello_close_cleanly(
    live: LiveServer, world: World
) -> None:
    for path in ("/ws/control", "/ws/driver"):
        for first in (b"\x00\x01binary", DEEP, '{"type": "hello", "token": ' + DEEP + "}"):
            async with connect(f"{live.ws_url}{path}", max_size=2**22) as ws:
                await ws.send(first)
                with pytest.raises(ConnectionClosed) as closed:
                    await recv(ws)
                assert closed.value.rcvd is not None and closed.value.rcvd.code == 4400, path
    async with httpx.AsyncClient(base_url=live.base_url) as http:
        assert (await http.get("/healthz")).status_code == 200


async def test_bad_later_messages_get_an_error_and_the_sockets_stay_open(
    live: LiveServer, world: World
) -> None:
    async with (
        connect(f"{live.ws_url}/ws/driver", max_size=2**22) as phone,
        connect(f"{live.ws_url}/ws/driver") as other_phone,
        connect(f"{live.ws_url}/ws/control", max_size=2**22) as screen,
        httpx.AsyncClient(base_url=live.base_url) as http,
    ):
        await hello(phone, token(world, "device:A1"))
        await hello(other_phone, token(world, "device:B1"))
        await hello(screen, token(world, "dispatcher"))
        assert (await recv(phone))["type"] == "welcome"
        assert (await recv(other_phone))["type"] == "welcome"
        await recv(screen, "snapshot")
        for junk in (b"\x89binary", DEEP, json.dumps({"type": "fixes", "id": 1}) + DEEP):
            await phone.send(junk)
            error = await recv(phone)
            assert error["type"] == "error" and error["code"] == "invalid"
            await screen.send(junk)  # a screen's messages are ignored, whatever they are
        await phone.send(json.dumps({"type": "ping", "id": 9}))
        assert await recv(phone) == {"type": "pong", "id": 9}
        await other_phone.send(json.dumps({"type": "ping", "id": 10}))
        assert await recv(other_phone) == {"type": "pong", "id": 10}
        incident = await http.post("/incidents", json=SCENE, headers=world.headers("dispatcher"))
        created = await recv(screen, "event")  # the screen is still fed
        assert created["event"]["data"]["incident_id"] == incident.json()["id"]


async def test_the_crew_socket_drops_unusable_fixes_and_stores_the_rest(
    live: LiveServer, world: World
) -> None:
    now = datetime.now(UTC)
    async with connect(f"{live.ws_url}/ws/driver") as phone:
        await hello(phone, token(world, "device:A1"))
        assert (await recv(phone))["type"] == "welcome"
        fixes = [
            {
                "lat": 13.745,
                "lon": 100.534,
                "recorded_at": (now - timedelta(seconds=9)).isoformat(),
            },
            {"lat": 0, "lon": 0, "recorded_at": (now - timedelta(seconds=8)).isoformat()},
            {"lat": 13.745, "lon": 100.534, "recorded_at": (now + timedelta(hours=1)).isoformat()},
        ]
        await phone.send(json.dumps({"type": "fixes", "id": "m1", "fixes": fixes}))
        ack = await recv(phone, "ack")
        assert (ack["accepted"], ack["duplicates"]) == (1, 0)
        assert [(d["index"], d["reason"]) for d in ack["dropped"]] == [
            (1, "zero_position"),
            (2, "future"),
        ]
