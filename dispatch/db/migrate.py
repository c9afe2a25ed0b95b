"""Run Alembic migrations programmatically on an async engine.

The same code path serves ``dispatch db upgrade``, the demo and the tests, so the schema
the tests see is exactly the one production gets.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["connection"] = connection
    return cfg


def heads() -> tuple[str, ...]:
    return tuple(ScriptDirectory.from_config(alembic_config()).get_heads())


async def _run(engine: AsyncEngine, fn: Any, *args: Any) -> None:
    async with engine.begin() as conn:
        await conn.run_sync(lambda sync_conn: fn(alembic_config(sync_conn), *args))


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    await _run(engine, command.upgrade, revision)


async def downgrade(engine: AsyncEngine, revision: str) -> None:
    await _run(engine, command.downgrade, revision)


async def current(engine: AsyncEngine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    async with engine.connect() as conn:
        return await conn.run_sync(
            lambda sync_conn: MigrationContext.configure(sync_conn).get_current_revision()
        )


async def revision(engine: AsyncEngine, message: str) -> None:
    """Autogenerate a new revision by comparing the models with the database."""
    await _run(engine, lambda cfg: command.revision(cfg, message=message, autogenerate=True))
