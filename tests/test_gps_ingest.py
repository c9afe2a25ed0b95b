"""GPS in over HTTP: durable before the reply, idempotent, newest-wins live position."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from dispatch.db.session import Database
from dispatch.models import PositionFix, Vehicle
from dispatch.realtime.broker import Position
from tests.helpers.phones import DropCount, pair
from tests.helpers.waiting import eventually
from tests.helpers.world import World

BASE = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)


def fix(seconds: int, lat: float = 13.74, **extra: Any) -> dict[str, Any]:
    return {
        "lat": lat,
        "lon": 100.53,
        "recorded_at": (BASE + timedelta(seconds=seconds)).isoformat(),
        **extra,
    }


async def stored(db: Database, vehicle_id: int) -> list[datetime]:
    async with db.unit_of_work(read_only=True) as uow:
        rows = await uow.session.scalars(
            select(PositionFix.recorded_at)
            .where(PositionFix.vehicle_id == vehicle_id)
            .order_by(PositionFix.recorded_at)
        )
        return list(rows)


async def test_batch_is_stored_before_the_reply_and_resending_is_harmless(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    a1 = world.vehicle_ids["A1"]
    url, headers = f"/vehicles/{a1}/fixes", world.headers("device:A1")
    batch = {
        "fixes": [
            fix(i, speed_mps=8.0, heading=90, accuracy_m=5, battery_pct=77) for i in range(0, 50, 5)
        ]
    }
    first = await client.post(url, json=batch, headers=headers)
    assert first.status_code == 200, first.text
    assert first.json() == {"accepted": 10, "duplicates": 0}
    assert len(await stored(db, a1)) == 10  # already committed when the reply came
    again = await client.post(url, json=batch, headers=headers)
    assert again.json() == {"accepted": 0, "duplicates": 10}
    mixed = await client.post(url, json={"fixes": [fix(45), fix(50), fix(50)]}, headers=headers)
    assert mixed.json() == {"accepted": 1, "duplicates": 2}
    assert len(await stored(db, a1)) == 11


async def test_out_of_order_fixes_go_to_history_but_never_move_the_live_position_back(
    app: FastAPI, client: httpx.AsyncClient, db: Database, world: World
) -> None:
    a1 = world.vehicle_ids["A1"]
    url, headers = f"/vehicles/{a1}/fixes", world.headers("device:A1")
    await client.post(url, json={"fixes": [fix(100, lat=13.75)]}, headers=headers)
    late = await client.post(url, json={"fixes": [fix(40, lat=13.70)]}, headers=headers)
    assert late.json() == {"accepted": 1, "duplicates": 0}
    assert len(await stored(db, a1)) == 2
    async with db.unit_of_work(read_only=True) as uow:
        vehicle = await uow.session.get(Vehicle, a1)
    assert vehicle is not None and vehicle.last_lat == 13.75
    assert vehicle.last_fix_at == BASE + timedelta(seconds=100)

    async def live_position() -> dict[int, Position]:  # updated asynchronously (best effort)
        positions: dict[int, Position] = await app.state.dispatch.broker.positions()
        return positions if a1 in positions else {}

    live = await eventually(live_position, what="A1 in the live table")
    assert live[a1].lat == 13.75 and live[a1].t == int(
        (BASE + timedelta(seconds=100)).timestamp() * 1000
    )


FUTURE = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
ANCIENT = (datetime.now(UTC) - timedelta(days=8)).isoformat()


@pytest.mark.parametrize(
    ("fixes", "loc"),
    [
        ([fix(1), fix(2, lat=91)], ["body", "fixes", 1, "lat"]),
        (
            [fix(1), {**fix(2), "recorded_at": "2026-11-23T08:00:00"}],
            ["body", "fixes", 1, "recorded_at"],
        ),
        ([], ["body", "fixes"]),
        ([fix(i) for i in range(501)], ["body", "fixes"]),
        ([fix(1), fix(2, speed_mps=-4)], ["body", "fixes", 1, "speed_mps"]),
    ],
)
async def test_malformed_fixes_are_refused_and_nothing_is_stored(
    client: httpx.AsyncClient, db: Database, world: World, fixes: list[Any], loc: list[Any]
) -> None:
    a1 = world.vehicle_ids["A1"]
    response = await client.post(
        f"/vehicles/{a1}/fixes", json={"fixes": fixes}, headers=world.headers("device:A1")
    )
    assert response.status_code == 422, response.text
    assert [e["loc"] for e in response.json()["detail"]] == [loc]
    assert await stored(db, a1) == []  # not even the good fix before the bad one


async def test_unusable_fixes_are_acknowledged_and_dropped_and_the_rest_stored(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    """Well-formed fixes that no resend can make usable (0,0, older than the history
    window, from the future) must not block the batch: 200, listed, counted, not stored."""
    a1 = world.vehicle_ids["A1"]
    batch = [
        fix(1),
        {**fix(2), "recorded_at": FUTURE},
        fix(3, lat=0.0, lon=0.0),
        {**fix(4), "recorded_at": ANCIENT},
        fix(5),
    ]
    counted = DropCount()
    response = await client.post(
        f"/vehicles/{a1}/fixes", json={"fixes": batch}, headers=world.headers("device:A1")
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["accepted"], body["duplicates"]) == (2, 0)
    assert [(d["index"], d["reason"], d["field"]) for d in body["dropped"]] == [
        (1, "future", "fixes.1.recorded_at"),
        (2, "zero_position", "fixes.2.lat"),
        (3, "too_old", "fixes.3.recorded_at"),
    ]
    assert counted.delta() == {"future": 1, "zero_position": 1, "too_old": 1}
    assert await stored(db, a1) == [BASE + timedelta(seconds=1), BASE + timedelta(seconds=5)]
    again = DropCount()  # the phone resends the same batch: nothing new, never stuck
    resent = await client.post(
        f"/vehicles/{a1}/fixes", json={"fixes": batch}, headers=world.headers("device:A1")
    )
    assert (resent.status_code, resent.json()["duplicates"]) == (200, 2)
    assert again.delta() == {"future": 1, "zero_position": 1, "too_old": 1}


async def test_a_json_body_nested_100000_deep_is_refused_cleanly(
    client: httpx.AsyncClient, world: World
) -> None:
    a1 = world.vehicle_ids["A1"]
    deep = b'{"fixes": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    for headers in ({}, world.headers("device:A1")):
        response = await client.post(
            f"/vehicles/{a1}/fixes",
            content=deep,
            headers={**headers, "Content-Type": "application/json"},
        )
        assert 400 <= response.status_code < 500, response.text
    ok = await client.post(
        f"/vehicles/{a1}/fixes", json={"fixes": [fix(1)]}, headers=world.headers("device:A1")
    )
    assert ok.status_code == 200


async def test_only_the_vehicles_own_phone_may_send(
    client: httpx.AsyncClient, world: World
) -> None:
    a1 = world.vehicle_ids["A1"]
    body = {"fixes": [fix(0)]}
    assert (await client.post(f"/vehicles/{a1}/fixes", json=body)).status_code == 401
    other = await client.post(
        f"/vehicles/{a1}/fixes", json=body, headers=world.headers("device:B1")
    )
    assert other.status_code == 403
    driver = await client.post(f"/vehicles/{a1}/fixes", json=body, headers=world.headers("driver"))
    assert driver.status_code == 200


async def test_track_returns_stored_history_in_fix_time_order(
    client: httpx.AsyncClient, world: World
) -> None:
    a1 = world.vehicle_ids["A1"]
    url, headers = f"/vehicles/{a1}/fixes", world.headers("device:A1")
    await client.post(
        url, json={"fixes": [fix(30), fix(10), fix(20, speed_mps=4.5)]}, headers=headers
    )
    await client.post(
        url, json={"fixes": [fix(20), fix(5)]}, headers=headers
    )  # a resend + a late one
    track_url = f"/vehicles/{a1}/track"
    params = {"since": BASE.isoformat()}
    body = (await client.get(track_url, params=params, headers=world.headers("dispatcher"))).json()
    assert body["count"] == 4 and body["truncated"] is False
    times = [datetime.fromisoformat(f["recorded_at"]) for f in body["fixes"]]
    assert times == [BASE + timedelta(seconds=s) for s in (5, 10, 20, 30)]
    assert body["fixes"][2]["speed_mps"] == 4.5
    page = await client.get(
        track_url,
        params={**params, "until": (BASE + timedelta(seconds=30)).isoformat(), "limit": 2},
        headers=world.headers("supervisor"),
    )
    assert page.json()["count"] == 2 and page.json()["truncated"] is True


async def test_track_refuses_bad_windows_and_outsiders(
    client: httpx.AsyncClient, world: World
) -> None:
    a1 = world.vehicle_ids["A1"]
    who = world.headers("dispatcher")
    url = f"/vehicles/{a1}/track"
    backwards = await client.get(
        url,
        params={"since": BASE.isoformat(), "until": (BASE - timedelta(seconds=1)).isoformat()},
        headers=who,
    )
    assert backwards.status_code == 422 and "until" in backwards.text
    naive = await client.get(url, params={"since": "2026-11-23T08:00:00"}, headers=who)
    assert naive.status_code == 422 and "since" in naive.text
    too_long = await client.get(
        url, params={"since": (BASE - timedelta(days=8)).isoformat()}, headers=who
    )
    assert too_long.status_code == 422 and "until" in too_long.text
    missing = await client.get(
        "/vehicles/999999/track", params={"since": BASE.isoformat()}, headers=who
    )
    assert missing.status_code == 404
    for outsider in ("care_a", "driver", "device:A1"):
        response = await client.get(
            url, params={"since": BASE.isoformat()}, headers=world.headers(outsider)
        )
        assert response.status_code == 403, outsider


async def test_osmand_query_form_and_json(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    a1 = await pair(client, world, "A1", "traccar-a1")
    t = int((BASE + timedelta(seconds=1)).timestamp())
    query = await client.get(
        "/osmand",
        params={
            "id": "traccar-a1",
            "lat": "13.7463",
            "lon": "100.5347",
            "timestamp": str(t),
            "speed": "10",
        },
    )
    assert (query.status_code, query.content) == (200, b"")
    form = await client.post(
        "/osmand",
        data={
            "id": "traccar-a1",
            "lat": "13.7464",
            "lon": "100.5348",
            "timestamp": str((t + 1) * 1000),
        },
    )
    assert (form.status_code, form.content) == (200, b"")
    body = {
        "device_id": "traccar-a1",
        "location": {
            "timestamp": (BASE + timedelta(seconds=3)).isoformat(),
            "coords": {"latitude": 13.7465, "longitude": 100.5349, "speed": 5.0},
        },
    }
    as_json = await client.post("/osmand", json=body)
    assert (as_json.status_code, as_json.content) == (200, b"")
    resent = await client.get(
        "/osmand",
        params={"id": "traccar-a1", "lat": "13.7463", "lon": "100.5347", "timestamp": str(t)},
    )
    assert resent.status_code == 200  # a resend is accepted and ignored
    times = await stored(db, a1)
    assert times == [BASE + timedelta(seconds=s) for s in (1, 2, 3)]
    async with db.unit_of_work(read_only=True) as uow:
        speed = await uow.session.scalar(
            select(PositionFix.speed_mps).where(
                PositionFix.vehicle_id == a1, PositionFix.recorded_at == times[0]
            )
        )
    assert speed == pytest.approx(5.14444)


async def test_osmand_refuses_only_what_cannot_be_attributed(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    await pair(client, world, "A1", "traccar-a1")
    unknown = await client.get("/osmand", params={"id": "stranger", "lat": "13.7", "lon": "100.5"})
    assert unknown.status_code == 404 and "unknown device" in unknown.text
    counted = DropCount()
    bad = await client.get("/osmand", params={"id": "traccar-a1", "lat": "913.7", "lon": "100.5"})
    assert (bad.status_code, bad.content) == (200, b"")  # acknowledged, never resent forever
    assert counted.delta() == {"bad_position": 1}
    missing = await client.get("/osmand", params={"lat": "13.7", "lon": "100.5"})
    assert missing.status_code == 400 and missing.text.startswith("id:")
    junk = await client.post(
        "/osmand", content=b"{oops", headers={"Content-Type": "application/json"}
    )
    assert junk.status_code == 400
    async with db.unit_of_work(read_only=True) as uow:
        assert await uow.session.scalar(select(func.count()).select_from(PositionFix)) == 0


async def test_device_ids_are_unique(client: httpx.AsyncClient, world: World) -> None:
    await pair(client, world, "A1", "traccar-a1")
    clash = await client.patch(
        f"/vehicles/{world.vehicle_ids['B1']}",
        json={"device_id": "traccar-a1"},
        headers=world.headers("supervisor"),
    )
    assert clash.status_code == 409
    by_dispatcher = await client.patch(
        f"/vehicles/{world.vehicle_ids['B1']}",
        json={"device_id": "x-b1"},
        headers=world.headers("dispatcher"),
    )
    assert by_dispatcher.status_code == 403


async def test_a_fix_beyond_the_geo_band_is_live_but_not_searchable(
    app: FastAPI, client: httpx.AsyncClient, world: World
) -> None:
    """Redis GEO refuses |lat| > 85.05: such a fix must not abort the live update of the
    batch it is in, and a "nearest" search there is a 422 naming lat, not a 500."""
    a1 = world.vehicle_ids["A1"]
    await app.state.dispatch.broker.set_available([a1])  # so the script tries to GEOADD it
    polar = await client.post(
        f"/vehicles/{a1}/fixes",
        json={"fixes": [fix(1, lat=89.5)]},
        headers=world.headers("device:A1"),
    )
    assert polar.status_code == 200, polar.text
    hub = app.state.dispatch.hub  # fed by the bus's publication, which must not be lost
    await eventually(lambda: a1 in hub.positions, what="A1's polar fix on the hub")
    assert hub.positions[a1].lat == 89.5
    near = await client.get(
        "/vehicles/nearest", params={"lat": -89, "lon": 0}, headers=world.headers("dispatcher")
    )
    assert near.status_code == 422 and "lat" in near.text


async def test_a_phone_resending_1000_fixes_three_times_out_of_order_stores_each_once(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    import random

    a1 = world.vehicle_ids["A1"]
    headers = world.headers("device:A1")
    start = BASE - timedelta(minutes=20)  # 1,000 s of fixes, all in the past
    every = [
        {**fix(0), "recorded_at": (start + timedelta(seconds=i)).isoformat()} for i in range(1000)
    ]
    accepted = duplicates = 0
    rng = random.Random(1669)
    for _ in range(3):
        shuffled = every[:]
        rng.shuffle(shuffled)
        for part in (shuffled[:500], shuffled[500:]):
            reply = await client.post(
                f"/vehicles/{a1}/fixes", json={"fixes": part}, headers=headers
            )
            assert reply.status_code == 200, reply.text
            accepted += reply.json()["accepted"]
            duplicates += reply.json()["duplicates"]
    assert (accepted, duplicates) == (1000, 2000)
    times = await stored(db, a1)
    assert len(times) == len(set(times)) == 1000
    assert times == [start + timedelta(seconds=i) for i in range(1000)]
