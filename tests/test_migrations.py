"""The migration tree: one head, upgrades an empty database on both dialects, matches the
models exactly, downgrades cleanly, and makes the audit log append-only."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.exc import DBAPIError

import dispatch.models  # noqa: F401
from dispatch.db import migrate
from dispatch.db.session import Database
from dispatch.models.base import Base
from tests.helpers.stacks import PG_URL, Stack, require_production_stack


def test_single_head() -> None:
    assert len(migrate.heads()) == 1


@pytest.fixture(params=["sqlite", "postgresql"])
async def empty_db(request: pytest.FixtureRequest, tmp_path: Path) -> Database:
    if request.param == "sqlite":
        return Database(f"sqlite+aiosqlite:///{tmp_path / 'empty.sqlite3'}")
    require_production_stack()
    assert PG_URL is not None
    base, name = PG_URL.rsplit("/", 1)
    scratch = f"{name}_migrations"  # beside the test database, so parallel runs do not clash
    admin = Database(PG_URL)
    async with admin.engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{scratch}"'))
        await conn.execute(text(f'CREATE DATABASE "{scratch}"'))
    await admin.dispose()
    return Database(f"{base}/{scratch}")


# SQLite cannot reflect the expression index on lower(username); PostgreSQL compares it.
@pytest.mark.filterwarnings("ignore:.*uq_users_username_lower")
async def test_upgrade_from_empty_matches_models_and_downgrades(empty_db: Database) -> None:
    db = empty_db
    try:
        assert await migrate.current(db.engine) is None
        await migrate.upgrade(db.engine)
        assert await migrate.current(db.engine) == migrate.heads()[0]
        async with db.engine.connect() as conn:
            diff = await conn.run_sync(
                lambda sync: compare_metadata(
                    MigrationContext.configure(sync, opts={"compare_type": True}), Base.metadata
                )
            )
            tables = await conn.run_sync(lambda sync: set(inspect(sync).get_table_names()))
        assert diff == []
        assert set(Base.metadata.tables) <= tables
        await migrate.downgrade(db.engine, "base")
        async with db.engine.connect() as conn:
            left = await conn.run_sync(lambda sync: set(inspect(sync).get_table_names()))
        assert left <= {"alembic_version"}
        await migrate.upgrade(db.engine)
        assert await migrate.current(db.engine) == migrate.heads()[0]
    finally:
        await db.dispose()


async def test_audit_log_is_append_only_in_the_database(db: Database, stack: Stack) -> None:
    async with db.unit_of_work() as uow:
        await uow.session.execute(
            text(
                "INSERT INTO audit_log (at, actor, action, entity_type) "
                "VALUES (CURRENT_TIMESTAMP, 'test', 'x.created', 'x')"
            )
        )
    for statement in ("UPDATE audit_log SET actor = 'mallory'", "DELETE FROM audit_log"):
        with pytest.raises(DBAPIError, match="append-only"):
            async with db.unit_of_work() as uow:
                await uow.session.execute(text(statement))
    async with db.unit_of_work(read_only=True) as uow:
        actors = (await uow.session.execute(text("SELECT actor FROM audit_log"))).scalars().all()
    assert actors == ["test"]
