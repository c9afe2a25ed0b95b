"""Fixtures for the whole suite. Every database test runs twice, on the embedded stack
and on the production stack (tests/helpers/stacks.py says how each is chosen).

The schema is always built by running the migrations, once per stack; each test then
gets an empty database (a copy of the migrated SQLite file, or truncated PostgreSQL
tables). Shared code that is not a fixture lives in tests/helpers/.
"""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from dispatch.app import create_app
from dispatch.db import migrate
from dispatch.db.session import Database
from tests.helpers.server import LiveServer, free_port, serve
from tests.helpers.stacks import (
    PG_URL,
    REDIS_URL,
    Stack,
    empty_stack,
    require_production_stack,
)
from tests.helpers.workers import start_worker, stop_worker
from tests.helpers.world import World, build_world


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
    require_production_stack()
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
    return await empty_stack(migrated_stack, tmp_path)


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


@pytest.fixture
async def world(db: Database) -> World:
    """Two care centres, a dispatch centre with staff and units, and tokens for each."""
    return await build_world(db)


@pytest.fixture
async def live(stack: Stack) -> AsyncIterator[LiveServer]:
    """The real app served by uvicorn on a free port in this event loop."""
    async with serve(stack.settings(positions_interval_ms=10)) as server:
        yield server


@pytest.fixture
async def workers(stack: Stack) -> AsyncIterator[list[tuple[int, subprocess.Popen[bytes]]]]:
    """Two ``dispatch serve`` processes sharing the production stack: (port, process)."""
    if stack.redis_url is None:
        pytest.skip("several workers share live state through Redis (production stack only)")
    ports = [free_port(), free_port()]
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for port in ports:
            procs.append(await start_worker(stack, port, drain_s="30"))
        yield list(zip(ports, procs, strict=True))
    finally:
        for port, proc in zip(ports, procs, strict=False):
            await stop_worker(proc, port)
