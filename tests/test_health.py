from __future__ import annotations

import httpx
from fastapi import FastAPI

from dispatch.app import create_app
from tests.conftest import Stack


async def test_healthz_and_readyz(client: httpx.AsyncClient, stack: Stack) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    checks = ready.json()["checks"]
    assert checks["database"] == "ok"
    if stack.redis_url:
        assert checks["redis"] == "ok"


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


async def test_request_id_is_echoed(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert response.headers["x-request-id"] == "abc-123"
    generated = await client.get("/healthz", headers={"X-Request-ID": "bad id with spaces"})
    assert generated.headers["x-request-id"] != "bad id with spaces"


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
