"""Abuse cases: a phone flooding ingest, a stolen phone, browser hardening, and an audit
log that no API can rewrite (password guessing: tests/test_login_limits.py; sessions that
end on every worker: tests/test_sessions.py, tests/test_multiworker_sessions.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from dispatch.app import create_app
from dispatch.auth.principal import Principal
from dispatch.auth.ratelimit import Limit, WindowCounter
from dispatch.clock import ManualClock
from dispatch.db.session import Database
from dispatch.fleet import service as fleet
from dispatch.models import Vehicle
from dispatch.models.enums import Role
from tests.helpers.stacks import Stack
from tests.helpers.world import World

#: Uploads a phone may send per minute.
UPLOADS = 4
#: How long this worker trusts what it looked up (dispatch.auth.cache, realtime.devices).
TOKEN_CACHE_TTL_S = DEVICE_CACHE_TTL_S = 30


@pytest.fixture
def clock() -> ManualClock:
    """The server's clock, moved only by the test. It starts at the real time (fixes are
    stamped with it) and at the first moment of a 1-minute upload window."""
    clock = ManualClock(start=datetime.now(UTC))
    clock.advance(-clock.monotonic() % 60)
    return clock


@pytest.fixture
async def strict(
    stack: Stack, world: World, clock: ManualClock
) -> AsyncIterator[httpx.AsyncClient]:
    """The app with a tight limit (4 uploads a minute) and one CORS origin, on the test's
    clock."""
    app: FastAPI = create_app(
        stack.settings(
            device_requests_per_minute=UPLOADS,
            cors_origins="https://dispatch.example.org",
        ),
        clock=clock,
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


def _fix(seconds: int) -> dict[str, Any]:
    at = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5, seconds=-seconds)
    return {"lat": 13.74, "lon": 100.53, "recorded_at": at.isoformat()}


async def _login(client: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    return await client.post("/auth/token", data={"username": username, "password": password})


async def test_a_phone_flooding_ingest_is_slowed_not_others_until_the_minute_ends(
    strict: httpx.AsyncClient, world: World, clock: ManualClock
) -> None:
    a1, b1 = world.vehicle_ids["A1"], world.vehicle_ids["B1"]
    phone = world.headers("device:A1")
    for i in range(UPLOADS):
        ok = await strict.post(f"/vehicles/{a1}/fixes", json={"fixes": [_fix(i)]}, headers=phone)
        assert ok.status_code == 200, ok.text
    flood = await strict.post(f"/vehicles/{a1}/fixes", json={"fixes": [_fix(9)]}, headers=phone)
    assert flood.status_code == 429 and flood.headers["Retry-After"] == "60"
    other = await strict.post(
        f"/vehicles/{b1}/fixes", json={"fixes": [_fix(9)]}, headers=world.headers("device:B1")
    )
    assert other.status_code == 200, other.text
    clock.advance(59)
    late = await strict.post(f"/vehicles/{a1}/fixes", json={"fixes": [_fix(10)]}, headers=phone)
    assert late.status_code == 429 and late.headers["Retry-After"] == "1"
    clock.advance(1)  # a new minute: the phone may send again, up to the limit
    for i in range(UPLOADS):
        ok = await strict.post(
            f"/vehicles/{a1}/fixes", json={"fixes": [_fix(20 + i)]}, headers=phone
        )
        assert ok.status_code == 200, ok.text
    assert (ok.json()["accepted"], ok.json()["duplicates"]) == (1, 0)
    flood = await strict.post(f"/vehicles/{a1}/fixes", json={"fixes": [_fix(30)]}, headers=phone)
    assert flood.status_code == 429


def _osmand(device_id: str, at: datetime) -> dict[str, Any]:
    return {"id": device_id, "lat": 13.74, "lon": 100.53, "timestamp": int(at.timestamp())}


async def test_the_osmand_door_is_limited_per_device_too(
    strict: httpx.AsyncClient, world: World, clock: ManualClock
) -> None:
    a1 = world.vehicle_ids["A1"]
    paired = await strict.patch(
        f"/vehicles/{a1}",
        json={"device_id": "phone-a1-7f3c9e"},
        headers=world.headers("supervisor"),
    )
    assert paired.status_code == 200, paired.text
    start = clock.now() - timedelta(minutes=1)
    replies = [
        await strict.get("/osmand", params=_osmand("phone-a1-7f3c9e", start + timedelta(seconds=i)))
        for i in range(UPLOADS + 2)
    ]
    assert [r.status_code for r in replies] == [200] * UPLOADS + [429, 429]
    assert replies[-1].headers["Retry-After"] == "60"
    clock.advance(60)  # the next minute
    again = await strict.get("/osmand", params=_osmand("phone-a1-7f3c9e", clock.now()))
    assert again.status_code == 200, again.text


async def test_a_device_unpaired_on_another_worker_stops_when_the_cache_expires(
    strict: httpx.AsyncClient, world: World, db: Database, clock: ManualClock
) -> None:
    """The OsmAnd door caches which vehicle a device id belongs to (30 s). Re-pairing on
    this worker forgets it at once; on another worker, this one's cache runs out."""
    a1 = world.vehicle_ids["A1"]
    paired = await strict.patch(
        f"/vehicles/{a1}", json={"device_id": "phone-a1-old"}, headers=world.headers("supervisor")
    )
    assert paired.status_code == 200, paired.text
    start = clock.now() - timedelta(minutes=1)
    first = await strict.get("/osmand", params=_osmand("phone-a1-old", start))
    assert first.status_code == 200, first.text  # now cached
    async with db.unit_of_work() as uow:  # what another worker's re-pairing commits
        vehicle = await uow.session.get(Vehicle, a1)
        assert vehicle is not None
        vehicle.device_id = "phone-a1-new"
    clock.advance(DEVICE_CACHE_TTL_S - 1)
    cached = await strict.get("/osmand", params=_osmand("phone-a1-old", start))
    assert cached.status_code == 200, cached.text  # this worker has not heard yet
    clock.advance(2)
    expired = await strict.get("/osmand", params=_osmand("phone-a1-old", start))
    assert expired.status_code == 404 and "unknown device" in expired.text
    renamed = await strict.get("/osmand", params=_osmand("phone-a1-new", start))
    assert renamed.status_code == 200, renamed.text


async def test_a_token_revoked_on_another_worker_stops_when_the_cache_expires(
    strict: httpx.AsyncClient, world: World, db: Database, clock: ManualClock
) -> None:
    """The GPS path caches resolved device tokens. A revocation is announced to every
    worker, which drops the token at once (tests/test_sessions.py); when the announcement
    cannot arrive (committed without reaching the bus, as here), the cache's 30 s lifetime
    is the fallback."""
    a1 = world.vehicle_ids["A1"]
    phone = world.headers("device:A1")
    url = f"/vehicles/{a1}/fixes"
    before = await strict.post(url, json={"fixes": [_fix(1)]}, headers=phone)
    assert before.status_code == 200, before.text  # its token is now in the cache
    async with db.unit_of_work() as uow:  # what another worker's revocation commits
        supervisor = Principal(role=Role.SUPERVISOR, organisation_id=world.centre_id, name="w2")
        await fleet.revoke_device_token(uow, supervisor, a1)
    clock.advance(TOKEN_CACHE_TTL_S - 1)
    cached = await strict.post(url, json={"fixes": [_fix(2)]}, headers=phone)
    assert cached.status_code == 200, cached.text  # this worker has not heard yet
    clock.advance(2)
    expired = await strict.post(url, json={"fixes": [_fix(3)]}, headers=phone)
    assert expired.status_code == 401, expired.text
    assert (await strict.get("/auth/me", headers=phone)).status_code == 401


async def test_a_stolen_phone_is_revoked_by_a_supervisor(
    client: httpx.AsyncClient, world: World
) -> None:
    a1 = world.vehicle_ids["A1"]
    phone = world.headers("device:A1")
    before = await client.post(f"/vehicles/{a1}/fixes", json={"fixes": [_fix(1)]}, headers=phone)
    assert before.status_code == 200  # its token is now in the GPS path's cache
    denied = await client.delete(f"/vehicles/{a1}/device-token", headers=world.headers("driver"))
    assert denied.status_code == 403
    revoked = await client.delete(
        f"/vehicles/{a1}/device-token", headers=world.headers("supervisor")
    )
    assert revoked.status_code == 204
    after = await client.post(f"/vehicles/{a1}/fixes", json={"fixes": [_fix(2)]}, headers=phone)
    assert after.status_code == 401
    assert (await client.get("/auth/me", headers=phone)).status_code == 401
    trail = (await client.get("/audit?limit=1000", headers=world.headers("admin"))).json()
    revocations = [e for e in trail if e["action"] == "vehicle.device_token_revoked"]
    assert [(e["actor"], e["entity_type"], e["entity_id"]) for e in revocations] == [
        ("user:supervisor", "vehicles", a1)
    ]


async def test_hardening_headers_and_cors(strict: httpx.AsyncClient, world: World) -> None:
    response = await strict.get("/auth/me", headers=world.headers("dispatcher"))
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"
    allowed = await strict.options(
        "/incidents",
        headers={
            "Origin": "https://dispatch.example.org",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "Authorization",
        },
    )
    assert allowed.headers["access-control-allow-origin"] == "https://dispatch.example.org"
    stranger = await strict.get("/healthz", headers={"Origin": "https://evil.example.com"})
    assert "access-control-allow-origin" not in stranger.headers


async def test_without_configured_origins_no_cross_site_access(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz", headers={"Origin": "https://evil.example.com"})
    assert "access-control-allow-origin" not in response.headers
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_no_api_rewrites_the_audit_log(app: FastAPI) -> None:
    methods = {
        method.upper()
        for path, operations in app.openapi()["paths"].items()
        if path.startswith("/audit")
        for method in operations
    }
    assert methods == {"GET"}


def test_window_counter_resets_each_window() -> None:
    counter = WindowCounter(Limit(2, 10.0))
    assert counter.hit("k", now=100.0) is None
    assert counter.hit("k", now=101.0) is None
    assert counter.hit("k", now=102.0) == 8  # until the window ends at 110
    assert counter.retry_after("k", now=109.5) == 1
    assert counter.hit("k", now=110.0) is None  # a new window
    assert counter.retry_after("other", now=110.0) is None
