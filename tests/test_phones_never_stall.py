"""Traccar Client resends its oldest buffered fix until it gets a 2xx, so the OsmAnd door
answers 2xx to every report from a paired phone, counting what it could not use
(``dispatch_fixes_dropped_total{reason}``) and storing everything else; only what cannot
be attributed is refused, and guessing device ids is rate-limited before any lookup."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from dispatch.app import create_app
from dispatch.clock import ManualClock
from dispatch.db.session import Database
from dispatch.models import PositionFix
from tests.helpers.phones import DropCount, epoch, pair
from tests.helpers.stacks import Stack
from tests.helpers.world import World

NOW = datetime.now(UTC).replace(microsecond=0)
AT = NOW - timedelta(minutes=3)


async def history(db: Database, vehicle_id: int) -> list[PositionFix]:
    async with db.unit_of_work(read_only=True) as uow:
        rows = await uow.session.scalars(
            select(PositionFix)
            .where(PositionFix.vehicle_id == vehicle_id)
            .order_by(PositionFix.recorded_at)
        )
        return list(rows)


GOOD = {"id": "traccar-a1", "lat": "13.7463", "lon": "100.5347", "timestamp": epoch(AT)}


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"id": "traccar-a1", "batt": "77"}, "no_position"),  # a heartbeat
        ({**GOOD, "timestamp": epoch(NOW - timedelta(days=8))}, "too_old"),
        ({**GOOD, "timestamp": epoch(NOW + timedelta(hours=1))}, "future"),
        ({**GOOD, "lat": "0", "lon": "0"}, "zero_position"),
        ({**GOOD, "lat": "north", "lon": "100.5"}, "bad_position"),
        ({**GOOD, "timestamp": "-1795420770"}, "bad_time"),  # a negative epoch
        ({**GOOD, "timestamp": "99999999999999999999"}, "bad_time"),  # a huge one
        ({**GOOD, "timestamp": "2026-02-30 25:61:00"}, "bad_time"),
    ],
)
@pytest.mark.parametrize("how", ["query", "form"])
async def test_an_unusable_report_is_acknowledged_counted_once_and_not_stored(
    client: httpx.AsyncClient,
    db: Database,
    world: World,
    params: dict[str, str],
    reason: str,
    how: str,
) -> None:
    a1 = await pair(client, world, "A1", "traccar-a1")
    counted = DropCount()
    if how == "query":
        response = await client.get("/osmand", params=params)
    else:
        response = await client.post("/osmand", data=params)
    assert (response.status_code, response.content) == (200, b"")
    assert counted.delta() == {reason: 1}
    assert await history(db, a1) == []


async def test_an_unreadable_optional_value_is_left_out_and_the_fix_stored(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    a1 = await pair(client, world, "A1", "traccar-a1")
    counted = DropCount()
    response = await client.get("/osmand", params={**GOOD, "speed": "fast", "batt": "abc"})
    assert response.status_code == 200
    assert counted.delta() == {"bad_value": 1}  # one report, one count
    [stored] = await history(db, a1)
    assert (stored.lat, stored.speed_mps, stored.battery_pct) == (13.7463, None, None)


async def test_unknown_extras_and_ios_unknown_battery_are_simply_stored(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    """Nothing is dropped: extras are kept with the fix (typed), -1 means "unknown"."""
    a1 = await pair(client, world, "A1", "traccar-a1")
    counted = DropCount()
    query = await client.get(
        "/osmand",
        params={**GOOD, "charge": "true", "motion": "false", "hdop": "1.5", "altitude": "12",
                "odometer": "52000", "event": "heartbeat", "wifi": "aa-bb,-70", "x-new": "1"},
    )  # fmt: skip
    body = {
        "device_id": "traccar-a1",
        "location": {
            "timestamp": (AT + timedelta(seconds=1)).isoformat(),
            "coords": {"latitude": 13.7464, "longitude": 100.5348, "speed": -1, "heading": -1,
                       "accuracy": 9, "altitude": 4.0},
            "battery": {"level": -1, "is_charging": False},
            "is_moving": True,
            "event": "motionchange",
            "future_field": {"anything": [1, 2]},
        },
    }  # fmt: skip
    as_json = await client.post("/osmand", json=body)
    assert (query.status_code, as_json.status_code) == (200, 200)
    assert counted.delta() == {}
    first, second = await history(db, a1)
    assert first.attributes == {"charge": True, "motion": False, "hdop": 1.5, "altitude": 12.0,
                                "odometer": 52000.0, "event": "heartbeat", "wifi": "aa-bb,-70",
                                "x-new": 1.0}  # fmt: skip
    assert (second.battery_pct, second.speed_mps, second.heading) == (None, None, None)
    assert second.attributes == {"altitude": 4.0, "motion": True, "charge": False,
                                 "event": "motionchange"}  # fmt: skip
    track = await client.get(
        f"/vehicles/{a1}/track",
        params={"since": (AT - timedelta(seconds=1)).isoformat()},
        headers=world.headers("dispatcher"),
    )
    assert [f["attributes"]["event"] for f in track.json()["fixes"]] == [
        "heartbeat",
        "motionchange",
    ]


async def test_a_json_batch_stores_the_good_fixes_and_drops_the_rest(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    a1 = await pair(client, world, "A1", "traccar-a1")

    def location(at: datetime, lat: float = 13.7465, lon: float = 100.5349) -> dict[str, Any]:
        return {"timestamp": at.isoformat(), "coords": {"latitude": lat, "longitude": lon}}

    body = {
        "device_id": "traccar-a1",
        "location": [
            location(AT),
            location(AT + timedelta(seconds=1), 0, 0),
            location(NOW - timedelta(days=9)),
            {"timestamp": "whenever", "coords": {"latitude": 13.7, "longitude": 100.5}},
            {"timestamp": AT.isoformat()},  # no coords
            location(AT + timedelta(seconds=2)),
        ],
    }
    counted = DropCount()
    response = await client.post("/osmand", json=body)
    assert (response.status_code, response.content) == (200, b"")
    assert counted.delta() == {"zero_position": 1, "too_old": 1, "bad_time": 1, "no_position": 1}
    assert [f.recorded_at for f in await history(db, a1)] == [AT, AT + timedelta(seconds=2)]
    heartbeat = DropCount()
    alone = await client.post("/osmand", json={"device_id": "traccar-a1"})
    assert alone.status_code == 200 and heartbeat.delta() == {"no_position": 1}


async def test_the_speed_unit_is_a_per_vehicle_setting(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    a1 = await pair(client, world, "A1", "traccar-a1")  # default: knots (Traccar Client)
    b1 = await pair(client, world, "B1", "osmand-b1", speed_unit="mps")  # OsmAnd's own app
    vehicle = await client.get(f"/vehicles/{a1}", headers=world.headers("dispatcher"))
    assert vehicle.json()["speed_unit"] == "knots"
    for device in ("traccar-a1", "osmand-b1"):
        response = await client.get("/osmand", params={**GOOD, "id": device, "speed": "10"})
        assert response.status_code == 200
    [in_knots], [in_mps] = await history(db, a1), await history(db, b1)
    assert in_knots.speed_mps == pytest.approx(5.14444) and in_mps.speed_mps == 10.0
    # Changed later: effective at once on this worker, audited, refused to dispatchers.
    changed = await client.patch(
        f"/vehicles/{a1}", json={"speed_unit": "mps"}, headers=world.headers("supervisor")
    )
    assert changed.json()["speed_unit"] == "mps"
    later = {**GOOD, "speed": "10", "timestamp": epoch(AT + timedelta(seconds=5))}
    assert (await client.get("/osmand", params=later)).status_code == 200
    assert (await history(db, a1))[-1].speed_mps == 10.0
    json_body = {"device_id": "osmand-b1", "location": {"timestamp": NOW.isoformat(),
                 "coords": {"latitude": 13.7, "longitude": 100.5, "speed": 3.5}}}  # fmt: skip
    assert (await client.post("/osmand", json=json_body)).status_code == 200
    assert (await history(db, b1))[-1].speed_mps == 3.5  # the JSON body is m/s anyway
    for body, status in (
        ({"speed_unit": "furlongs"}, 422),
        ({"speed_unit": None}, 422),
    ):
        refused = await client.patch(
            f"/vehicles/{a1}", json=body, headers=world.headers("supervisor")
        )
        assert refused.status_code == status, refused.text
    by_dispatcher = await client.patch(
        f"/vehicles/{a1}", json={"speed_unit": "knots"}, headers=world.headers("dispatcher")
    )
    assert by_dispatcher.status_code == 403


async def test_a_time_without_a_zone_is_the_organisations_local_time(
    client: httpx.AsyncClient, db: Database, world: World, app: FastAPI
) -> None:
    assert app.state.dispatch.settings.timezone == "Asia/Bangkok"  # UTC+7, no DST
    a1 = await pair(client, world, "A1", "traccar-a1")
    local = AT.astimezone(app.state.dispatch.settings.tz).strftime("%Y-%m-%d %H:%M:%S")
    response = await client.get("/osmand", params={**GOOD, "timestamp": local})
    assert response.status_code == 200
    [stored] = await history(db, a1)
    assert stored.recorded_at == AT  # not seven hours off


# --- guessing device ids ------------------------------------------------------------------


@pytest.fixture
async def clocked(stack: Stack) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient, ManualClock]]:
    clock = ManualClock(start=datetime.now(UTC))
    app = create_app(stack.settings(unknown_devices_per_minute=5), clock=clock)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 5055))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            yield app, http, clock


async def test_unknown_device_ids_are_rate_limited_per_address_before_any_lookup(
    clocked: tuple[FastAPI, httpx.AsyncClient, ManualClock], world: World
) -> None:
    app, http, clock = clocked
    await pair(http, world, "A1", "traccar-a1")
    devices = app.state.dispatch.devices
    lookups: list[str] = []
    original = devices.lookup

    async def counting(device_id: str) -> Any:
        lookups.append(device_id)
        return await original(device_id)

    devices.lookup = counting
    assert (await http.get("/osmand", params=GOOD)).status_code == 200  # cached from now on
    statuses = [
        (await http.get("/osmand", params={**GOOD, "id": f"{100000 + n}"})).status_code
        for n in range(8)
    ]
    assert statuses == [404] * 5 + [429] * 3
    assert lookups == ["traccar-a1", *(f"{100000 + n}" for n in range(5))]  # none after 5
    limited = await http.get("/osmand", params={**GOOD, "id": "100007"})
    assert int(limited.headers["Retry-After"]) >= 1
    repeat = await http.get("/osmand", params={**GOOD, "id": "100000"})
    assert repeat.status_code == 429  # the address is blocked, whatever it tries
    paired = {**GOOD, "timestamp": epoch(AT + timedelta(seconds=1))}
    assert (await http.get("/osmand", params=paired)).status_code == 200  # its phones still work
    clock.advance(61)
    assert (await http.get("/osmand", params={**GOOD, "id": "100009"})).status_code == 404


async def test_a_json_body_nested_100000_deep_is_refused_before_any_lookup(
    client: httpx.AsyncClient, app: FastAPI, world: World
) -> None:
    await pair(client, world, "A1", "traccar-a1")
    devices = app.state.dispatch.devices
    lookups: list[str] = []
    original = devices.lookup

    async def counting(device_id: str) -> Any:
        lookups.append(device_id)
        return await original(device_id)

    devices.lookup = counting
    for deep in (
        b"[" * 100_000 + b"]" * 100_000,
        b'{"device_id": "traccar-a1", "location": ' + b"{" * 50_000 + b"}" * 50_000 + b"}",
    ):
        response = await client.post(
            "/osmand", content=deep, headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 400 and response.text.startswith("body:")
    assert lookups == []
    assert (await client.get("/osmand", params=GOOD)).status_code == 200  # still serving


async def test_text_no_database_can_store_never_fails_a_commit(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    """A NUL byte or a lone surrogate in an extra would make PostgreSQL refuse the whole
    group commit (every phone's fixes in it); in a device id it would fail the lookup."""
    a1 = await pair(client, world, "A1", "traccar-a1")
    nasty = await client.get("/osmand", params={**GOOD, "note": "a\x00b", "k\x00ey": "v"})
    stamp = (AT + timedelta(seconds=1)).isoformat()
    body = (
        '{"device_id": "traccar-a1", "location": {"timestamp": "' + stamp + '", "coords": '
        '{"latitude": 13.75, "longitude": 100.53}, "extras": {"s": "x\\ud800y\\u0000"}}}'
    )
    as_json = await client.post(
        "/osmand", content=body.encode(), headers={"Content-Type": "application/json"}
    )
    assert (nasty.status_code, as_json.status_code) == (200, 200)
    first, second = await history(db, a1)
    assert first.attributes == {"note": "ab", "key": "v"}
    assert second.attributes == {"s": "x?y"}
    for device in ("phone\x00a1", "x"):
        unknown = await client.get("/osmand", params={**GOOD, "id": device})
        assert unknown.status_code == 404
    surrogate = await client.post(
        "/osmand",
        content=b'{"device_id": "ab\\udc80cd"}',
        headers={"Content-Type": "application/json"},
    )
    assert surrogate.status_code == 404
