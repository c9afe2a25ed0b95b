"""An app with coverage-aware dispatch over the test world plus station North, its
coverage built before the test starts (shared by the coverage tests)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI

from dispatch.app import create_app
from dispatch.db.session import Database
from dispatch.state import AppState
from tests.helpers.stacks import Stack
from tests.helpers.world import World, add_north


@asynccontextmanager
async def coverage_app(
    stack: Stack, world: World, db: Database, **settings: Any
) -> AsyncIterator[FastAPI]:
    await add_north(db, world)
    application = create_app(stack.settings(coverage_dispatch=True, **settings))
    async with application.router.lifespan_context(application):
        state: AppState = application.state.dispatch
        keeper = state.emergency.coverage
        assert keeper is not None
        async with state.db.unit_of_work(read_only=True) as uow:
            assert await keeper.wait_built(uow, datetime.now(UTC)) is not None
        yield application
