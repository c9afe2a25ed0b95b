from __future__ import annotations

import uuid

import httpx
import pytest
from fastapi import FastAPI

from dispatch.api import middleware
from dispatch.app import create_app
from tests.helpers.stacks import Stack


async def test_healthz_and_readyz(client: httpx.AsyncClient, stack: Stack) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    checks = {"database": "ok", "redis": "ok"} if stack.redis_url else {"database": "ok"}
    assert ready.json() == {"status": "ready", "checks": checks}


async def test_readyz_is_degraded_but_serving_when_redis_is_unreachable(stack: Stack) -> None:
    app: FastAPI = create_app(stack.settings(redis_url="redis://127.0.0.1:1/0"))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            response = await http.get("/readyz")
    assert response.status_code == 200  # calls are still taken: keep it behind the proxy
    body = response.json()
    assert body["status"] == "degraded"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["redis"].startswith("error")


async def test_request_id_is_echoed_or_made_up(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    response = await client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert response.headers["x-request-id"] == "abc-123"
    made_up = iter(uuid.UUID(int=n) for n in (1, 2, 3))
    monkeypatch.setattr(middleware.uuid, "uuid4", lambda: next(made_up))
    for n, sent in enumerate(("bad id with spaces", "x" * 65, None), start=1):
        headers = {} if sent is None else {"X-Request-ID": sent}  # unsafe, too long, none
        generated = await client.get("/healthz", headers=headers)
        assert generated.headers["x-request-id"] == f"{n:032x}"  # a fresh uuid4, as hex


async def test_readyz_is_503_when_the_database_is_unreachable() -> None:
    from dispatch.config import Settings

    app: FastAPI = create_app(
        Settings(
            database_url="postgresql+asyncpg://nobody@127.0.0.1:1/none",
            secret_key="test-secret-key-that-is-long-enough-for-hs256",
        )
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            response = await http.get("/readyz")
    assert response.status_code == 503
    assert response.json()["status"] == "unready"
