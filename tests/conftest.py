"""Test stacks: every database test runs twice, on the embedded stack (SQLite file +
in-process bus) and on the production stack (PostgreSQL + Redis) when
``DISPATCH_TEST_DATABASE_URL`` / ``DISPATCH_TEST_REDIS_URL`` are set. With
``DISPATCH_TEST_REQUIRE_ALL=1`` (CI) a missing production stack is an error, not a skip.

The schema is always built by running the migrations, once per stack; each test then
gets an empty database (a copy of the migrated SQLite file, or truncated PostgreSQL
tables).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from dispatch.app import create_app
from dispatch.config import Settings
from dispatch.db import migrate
from dispatch.db.session import Database

TEST_SECRET = "test-secret-key-that-is-long-enough-for-hs256"
PG_URL = os.environ.get("DISPATCH_TEST_DATABASE_URL") or None
REDIS_URL = os.environ.get("DISPATCH_TEST_REDIS_URL") or None
REQUIRE_ALL = os.environ.get("DISPATCH_TEST_REQUIRE_ALL") == "1"
#: This run's own Redis keys, so parallel runs sharing one Redis cannot disturb each other.
REDIS_PREFIX = f"dispatch-test-{os.getpid()}:"


@dataclass(frozen=True)
class Stack:
    name: str
    database_url: str
    redis_url: str | None

    def settings(self, **overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "database_url": self.database_url,
            "redis_url": self.redis_url,
            "secret_key": TEST_SECRET,
            "alert_interval_s": 3600,  # tests drive alert checks themselves
            "redis_prefix": REDIS_PREFIX,
        }
        values.update(overrides)
        return Settings(**values)


def _require_production_stack() -> None:
    missing = [
        name
        for name, value in (
            ("DISPATCH_TEST_DATABASE_URL", PG_URL),
            ("DISPATCH_TEST_REDIS_URL", REDIS_URL),
        )
        if not value
    ]
    if missing:
        message = f"production stack not configured: set {' and '.join(missing)}"
        if REQUIRE_ALL:
            pytest.fail(message + " (DISPATCH_TEST_REQUIRE_ALL=1 forbids skipping)")
        pytest.skip(message)


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
async def migrated_stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    """A stack whose database has been migrated to head once for the session."""
    if request.param == "sqlite":
        template = tmp_path_factory.mktemp("sqlite") / "template.sqlite3"
        url = f"sqlite+aiosqlite:///{template}"
        db = Database(url)
        await migrate.upgrade(db.engine)
        await db.dispose()  # closing the last connection folds the WAL into the file
        assert not template.with_name(template.name + "-wal").exists()
        yield Stack("sqlite", url, None)
        return
    _require_production_stack()
    assert PG_URL is not None
    db = Database(PG_URL)
    async with db.engine.begin() as conn:
        await conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        await conn.execute(text("CREATE SCHEMA public"))
    await migrate.upgrade(db.engine)
    await db.dispose()
    yield Stack("postgresql", PG_URL, REDIS_URL)


@pytest.fixture
async def stack(migrated_stack: Stack, tmp_path: Path) -> Stack:
    """The session's stack with an empty database for this test."""
    if migrated_stack.name == "sqlite":
        template = Path(migrated_stack.database_url.removeprefix("sqlite+aiosqlite:///"))
        copy = tmp_path / "test.sqlite3"
        shutil.copyfile(template, copy)
        return Stack("sqlite", f"sqlite+aiosqlite:///{copy}", None)
    db = Database(migrated_stack.database_url)
    async with db.engine.begin() as conn:
        await db.strategy.truncate_all(conn)
    await db.dispose()
    if migrated_stack.redis_url:  # and forget the previous test's live state and events
        import redis.asyncio as aioredis

        r = aioredis.from_url(migrated_stack.redis_url)
        keys = [k async for k in r.scan_iter(match=REDIS_PREFIX + "*")]
        if keys:
            await r.delete(*keys)
        await r.aclose()
    return migrated_stack


@pytest.fixture
async def db(stack: Stack) -> AsyncIterator[Database]:
    database = Database(stack.database_url)
    yield database
    await database.dispose()


@pytest.fixture
async def app(stack: Stack) -> AsyncIterator[FastAPI]:
    application = create_app(stack.settings())
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


from tests.fixtures import World, build_world  # noqa: E402


@pytest.fixture
async def world(db: Database) -> World:
    """Two care centres, a dispatch centre with staff and units, and tokens for each."""
    return await build_world(db)


@dataclass
class LiveServer:
    """The real app served by uvicorn on a free port in this event loop."""

    app: FastAPI
    base_url: str
    ws_url: str


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@asynccontextmanager
async def serve(settings: Settings) -> AsyncIterator[LiveServer]:
    import asyncio

    import uvicorn

    app = create_app(settings)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    try:
        yield LiveServer(app, f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}")
    finally:
        server.should_exit = True
        await task


@pytest.fixture
async def live(stack: Stack) -> AsyncIterator[LiveServer]:
    async with serve(stack.settings(positions_interval_ms=10)) as server:
        yield server
