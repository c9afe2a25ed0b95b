"""The two stacks every database test runs on: the embedded one (SQLite file +
in-process bus) and the production one (PostgreSQL + Redis) when
``DISPATCH_TEST_DATABASE_URL`` / ``DISPATCH_TEST_REDIS_URL`` are set. With
``DISPATCH_TEST_REQUIRE_ALL=1`` (CI) a missing production stack is an error, not a skip.

The fixtures that build them live in tests/conftest.py; this is what they (and tests
that start servers of their own) share."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import pytest

from dispatch.config import Settings
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
            "offer_check_interval_s": 3600,  # and offer timers (offers.expire_due)
            # No rush hours unless a test asks: what a test sees must not depend on the hour
            # it runs at (the move-up browser test found no move in the evening rush).
            "rush_hours": "",
            "redis_prefix": REDIS_PREFIX,
        }
        values.update(overrides)
        return Settings(**values)


def unavailable(message: str) -> NoReturn:
    """Skip for want of something the machine lacks; in CI (REQUIRE_ALL) fail instead."""
    if REQUIRE_ALL:
        pytest.fail(message + " (DISPATCH_TEST_REQUIRE_ALL=1 forbids skipping)")
    pytest.skip(message)


def require_production_stack() -> None:
    missing = [
        name
        for name, value in (
            ("DISPATCH_TEST_DATABASE_URL", PG_URL),
            ("DISPATCH_TEST_REDIS_URL", REDIS_URL),
        )
        if not value
    ]
    if missing:
        unavailable(f"production stack not configured: set {' and '.join(missing)}")


async def empty_stack(migrated: Stack, directory: Path) -> Stack:
    """The migrated stack with an empty database: a copy of the migrated SQLite file in
    ``directory``, or truncated PostgreSQL tables and none of this run's Redis keys (the
    previous test's live state and events)."""
    if migrated.name == "sqlite":
        template = Path(migrated.database_url.removeprefix("sqlite+aiosqlite:///"))
        copy = directory / "test.sqlite3"
        shutil.copyfile(template, copy)
        return Stack("sqlite", f"sqlite+aiosqlite:///{copy}", None)
    db = Database(migrated.database_url)
    async with db.engine.begin() as conn:
        await db.strategy.truncate_all(conn)
    await db.dispose()
    if migrated.redis_url:
        import redis.asyncio as aioredis

        r = aioredis.from_url(migrated.redis_url)
        keys = [k async for k in r.scan_iter(match=REDIS_PREFIX + "*")]
        if keys:
            await r.delete(*keys)
        await r.aclose()
    return migrated
