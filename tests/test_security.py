"""Abuse cases: password guessing, a phone flooding ingest, a stolen phone, browser
hardening, and an audit log that no API can rewrite."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from dispatch.app import create_app
from dispatch.auth.ratelimit import Limit, WindowCounter
from tests.conftest import Stack
from tests.fixtures import TEST_PASSWORD, World


@pytest.fixture
async def strict(stack: Stack, world: World) -> AsyncIterator[httpx.AsyncClient]:
    """The app with tight limits (3 failed logins, 4 uploads a minute) and one CORS origin."""
    app: FastAPI = create_app(
        stack.settings(
            login_failures_per_15_minutes=3,
            device_requests_per_minute=4,
            cors_origins="https://dispatch.example.org",
        )
    )
    # The limits count in fixed windows (multiples of 60 s and 900 s of the monotonic
    # clock): start a test's burst with at least 15 s of the current window left, or a
    # window ending mid-burst would reset the count (a flaky 200 instead of 429).
    left = 60 - time.monotonic() % 60
    if left < 15:
        await asyncio.sleep(left + 0.1)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


def _fix(seconds: int) -> dict[str, Any]:
    at = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5, seconds=-seconds)
    return {"lat": 13.74, "lon": 100.53, "recorded_at": at.isoformat()}


async def _login(client: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    return await client.post("/auth/token", data={"username": username, "password": password})


async def test_password_guessing_is_cut_off_per_name(strict: httpx.AsyncClient) -> None:
    for _ in range(3):
        assert (await _login(strict, "dispatcher", "guess")).status_code == 401
    refused = await _login(strict, "dispatcher", TEST_PASSWORD)  # even the right one, for now
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) > 0
    assert refused.json()["code"] == "rate_limited"
    assert (await _login(strict, "DISPATCHER", "guess")).status_code == 429  # same name
    other = await _login(strict, "supervisor", TEST_PASSWORD)  # other names still work
    assert other.status_code == 200, other.text


async def test_one_address_guessing_many_names_is_cut_off(strict: httpx.AsyncClient) -> None:
    names = [f"user{i}" for i in range(15)]  # 5 × the per-name limit from one address
    for name in names:
        assert (await _login(strict, name, "guess")).status_code == 401
    assert (await _login(strict, "supervisor", TEST_PASSWORD)).status_code == 429


async def test_a_phone_flooding_ingest_is_slowed_not_others(
    strict: httpx.AsyncClient, world: World
) -> None:
    a1, b1 = world.vehicle_ids["A1"], world.vehicle_ids["B1"]
    for i in range(4):
        ok = await strict.post(
            f"/vehicles/{a1}/fixes", json={"fixes": [_fix(i)]}, headers=world.headers("device:A1")
        )
        assert ok.status_code == 200, ok.text
    flood = await strict.post(
        f"/vehicles/{a1}/fixes", json={"fixes": [_fix(9)]}, headers=world.headers("device:A1")
    )
    assert flood.status_code == 429 and int(flood.headers["Retry-After"]) >= 1
    other = await strict.post(
        f"/vehicles/{b1}/fixes", json={"fixes": [_fix(9)]}, headers=world.headers("device:B1")
    )
    assert other.status_code == 200


async def test_the_osmand_door_is_limited_per_device_too(
    strict: httpx.AsyncClient, world: World
) -> None:
    a1 = world.vehicle_ids["A1"]
    paired = await strict.patch(
        f"/vehicles/{a1}",
        json={"device_id": "phone-a1-7f3c9e"},
        headers=world.headers("supervisor"),
    )
    assert paired.status_code == 200, paired.text
    now = int(datetime.now(UTC).timestamp())
    codes = [
        (
            await strict.get(
                "/osmand",
                params={
                    "id": "phone-a1-7f3c9e",
                    "lat": 13.74,
                    "lon": 100.53,
                    "timestamp": now - 60 + i,
                },
            )
        ).status_code
        for i in range(6)
    ]
    assert codes == [200, 200, 200, 200, 429, 429]


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
    assert any(entry["action"] == "vehicle.device_token_revoked" for entry in trail)


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
