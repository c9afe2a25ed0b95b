"""Two real `dispatch serve` processes sharing PostgreSQL and Redis: what one worker
receives, a control screen connected to the other sees; when a worker dies, its screens
resume on the other without missing an event."""

from __future__ import annotations

import json
import signal
import subprocess
from datetime import UTC, datetime

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from dispatch.realtime.protocol import CLOSE_SERVICE_RESTART
from tests.helpers.world import World
from tests.helpers.ws import SCENE, hello, recv, token

pytestmark = pytest.mark.slow


async def test_cross_worker_delivery_and_resume_after_a_worker_dies(
    workers: list[tuple[int, subprocess.Popen[bytes]]], world: World
) -> None:
    (port_a, proc_a), (port_b, _proc_b) = workers
    a, b = f"http://127.0.0.1:{port_a}", f"http://127.0.0.1:{port_b}"
    async with (
        connect(f"ws://127.0.0.1:{port_b}/ws/control") as on_b,
        connect(f"ws://127.0.0.1:{port_a}/ws/control") as on_a,
        httpx.AsyncClient() as http,
    ):
        await hello(on_b, token(world, "dispatcher"))
        await hello(on_a, token(world, "dispatcher"))
        snap_b = await recv(on_b, "snapshot")
        snap_a = await recv(on_a, "snapshot")
        assert snap_a["epoch"] == snap_b["epoch"]  # one shared event log
        # A fix sent to worker A reaches the screen on worker B.
        now = datetime.now(UTC)
        sent = await http.post(
            f"{a}/vehicles/{world.vehicle_ids['A1']}/fixes",
            json={"fixes": [{"lat": 13.7472, "lon": 100.5343, "recorded_at": now.isoformat()}]},
            headers=world.headers("device:A1"),
        )
        assert sent.status_code == 200
        frame = await recv(on_b, "positions", timeout=10)
        assert frame["positions"][0]["vehicle_id"] == world.vehicle_ids["A1"]
        assert frame["positions"][0]["lat"] == 13.7472
        # A call taken on worker A appears on worker B with the next sequence number.
        incident = (
            await http.post(f"{a}/incidents", json=SCENE, headers=world.headers("dispatcher"))
        ).json()
        event = await recv(on_b, "event", timeout=10)
        assert event["event"]["data"]["incident_id"] == incident["id"]
        assert event["seq"] == snap_b["seq"] + 1
        seen_on_a = (await recv(on_a, "event", timeout=10))["seq"]
        # Worker A dies. Meanwhile worker B takes another call.
        proc_a.kill()
        proc_a.wait(timeout=10)
        second = (
            await http.post(
                f"{b}/incidents", json={**SCENE, "lat": 13.75}, headers=world.headers("dispatcher")
            )
        ).json()
    # The screen that was on A reconnects to B and resumes from its last sequence number.
    async with connect(f"ws://127.0.0.1:{port_b}/ws/control") as moved:
        await hello(
            moved, token(world, "dispatcher"), resume={"epoch": snap_a["epoch"], "seq": seen_on_a}
        )
        assert (await recv(moved))["type"] == "resumed"
        missed = await recv(moved, "event")
        assert missed["seq"] == seen_on_a + 1
        assert missed["event"]["data"]["incident_id"] == second["id"]
        assert json.dumps(missed)  # plain JSON all the way


async def test_a_draining_worker_sends_its_screens_to_the_other_without_losing_events(
    workers: list[tuple[int, subprocess.Popen[bytes]]], world: World
) -> None:
    (port_a, proc_a), (port_b, _proc_b) = workers
    a, b = f"http://127.0.0.1:{port_a}", f"http://127.0.0.1:{port_b}"
    dispatcher = world.headers("dispatcher")
    async with httpx.AsyncClient() as http:
        async with connect(f"ws://127.0.0.1:{port_a}/ws/control") as on_a:
            await hello(on_a, token(world, "dispatcher"))
            snap = await recv(on_a, "snapshot")
            proc_a.send_signal(signal.SIGTERM)  # a rolling restart reaches worker A
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    await recv(on_a, timeout=10)
            assert closed.value.rcvd is not None
            assert closed.value.rcvd.code == CLOSE_SERVICE_RESTART
        # A drains: unready for the proxy, no new websockets, but requests still served.
        assert (await http.get(f"{a}/readyz")).status_code == 503
        with pytest.raises(InvalidStatus) as refused:
            async with connect(f"ws://127.0.0.1:{port_a}/ws/control"):
                pass
        assert refused.value.response.status_code == 503
        on_draining = (await http.post(f"{a}/incidents", json=SCENE, headers=dispatcher)).json()
        on_other = (
            await http.post(f"{b}/incidents", json={**SCENE, "lat": 13.75}, headers=dispatcher)
        ).json()
        # The screen reconnects to B and resumes: both calls, in order, nothing twice.
        async with connect(f"ws://127.0.0.1:{port_b}/ws/control") as moved:
            await hello(
                moved,
                token(world, "dispatcher"),
                resume={"epoch": snap["epoch"], "seq": snap["seq"]},
            )
            assert (await recv(moved))["type"] == "resumed"
            replay = [await recv(moved, "event"), await recv(moved, "event")]
        assert [m["seq"] for m in replay] == [snap["seq"] + 1, snap["seq"] + 2]
        assert [m["event"]["data"]["incident_id"] for m in replay] == [
            on_draining["id"],
            on_other["id"],
        ]
