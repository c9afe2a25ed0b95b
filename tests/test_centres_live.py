"""The live control feed is scoped like the API (issue 19), on both stacks: a district's
screen gets a snapshot, events and positions of its own area only; the province's screen
gets both districts'; a call handed over to the district appears on its screen.

Each "not shown" is checked with a barrier: the other area's change is made first, then
the same change in the screen's own area, and the next message of that kind must be the
own area's (events are delivered in log order)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect

from dispatch.db.session import Database
from tests.helpers.server import LiveServer
from tests.helpers.stations import DISTRICT_PLACES, add_districts
from tests.helpers.world import World
from tests.helpers.ws import hello, recv, token

CALL = {"chief_complaint": "seizure"}


async def _event(ws: ClientConnection, kind: str) -> dict[str, Any]:
    while True:
        frame = await recv(ws, "event")
        if frame["event"]["type"] == kind:
            data: dict[str, Any] = frame["event"]["data"]
            return data


async def _call(http: httpx.AsyncClient, world: World, who: str, district: int) -> int:
    created = await http.post(
        "/incidents", json={**CALL, **DISTRICT_PLACES[district]}, headers=world.headers(who)
    )
    assert created.status_code == 201, created.text
    return int(created.json()["id"])


async def _fix(http: httpx.AsyncClient, world: World, call_sign: str, lat: float) -> None:
    fix = {"lat": lat, "lon": 100.55, "recorded_at": datetime.now(UTC).isoformat()}
    posted = await http.post(
        f"/vehicles/{world.vehicle_ids[call_sign]}/fixes",
        json={"fixes": [fix]},
        headers=world.headers(f"device:{call_sign}"),
    )
    assert posted.status_code == 200, posted.text


@pytest.fixture
async def districts(db: Database, world: World) -> dict[str, int]:
    return await add_districts(db, world)


async def test_a_district_screen_sees_only_its_area(
    live: LiveServer, world: World, districts: dict[str, int]
) -> None:
    async with httpx.AsyncClient(base_url=live.base_url) as http:
        own = await _call(http, world, "disp1", 1)
        other = await _call(http, world, "disp2", 2)
        async with (
            connect(f"{live.ws_url}/ws/control") as district,
            connect(f"{live.ws_url}/ws/control") as province,
        ):
            await hello(district, token(world, "disp1"))
            await hello(province, token(world, "dispatcher"))
            snap = await recv(district, "snapshot")
            assert [v["call_sign"] for v in snap["vehicles"]] == ["X1"]
            assert [i["id"] for i in snap["incidents"]] == [own]
            whole = await recv(province, "snapshot")
            assert {"X1", "X2", "A1"} <= {v["call_sign"] for v in whole["vehicles"]}
            assert {own, other} <= {i["id"] for i in whole["incidents"]}

            # Calls: the other district's is not shown; the province sees both.
            theirs = await _call(http, world, "disp2", 2)
            mine = await _call(http, world, "disp1", 1)
            assert (await _event(district, "incident.created"))["incident_id"] == mine
            assert (await _event(province, "incident.created"))["incident_id"] == theirs
            assert (await _event(province, "incident.created"))["incident_id"] == mine

            # Units: state changes and positions of the other district's unit are not shown.
            for call_sign in ("X2", "X1"):
                answer = await http.put(
                    f"/vehicles/{world.vehicle_ids[call_sign]}/service",
                    json={"in_service": False, "reason": "no crew"},
                    headers=world.headers("dispatcher"),
                )
                assert answer.status_code == 200, answer.text
            updated = await _event(district, "vehicle.updated")
            assert updated["vehicle_id"] == world.vehicle_ids["X1"]
            await _fix(http, world, "X2", 13.781)
            await _fix(http, world, "X1", 13.701)
            seen: set[int] = set()
            while world.vehicle_ids["X1"] not in seen:
                frame = await recv(district, "positions")
                seen |= {p["vehicle_id"] for p in frame["positions"]}
            assert world.vehicle_ids["X2"] not in seen

            # A call handed over to the district appears on its screen.
            moved = await http.post(
                f"/incidents/{theirs}/handover",
                json={"centre_id": districts["d1"], "reason": "outside_area"},
                headers=world.headers("disp2"),
            )
            assert moved.status_code == 200, moved.text
            handed = await _event(district, "incident.updated")
            assert handed["incident_id"] == theirs
            assert handed["organisation_id"] == districts["d1"]
