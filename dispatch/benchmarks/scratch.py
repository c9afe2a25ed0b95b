"""A scratch database for one benchmark run, so a run never touches real data.

Without a URL: a temporary SQLite file. With a PostgreSQL URL: the database
``<name>_bench`` beside it, dropped before and after. With a SQLite URL: the file
``<stem>_bench.sqlite3`` beside that file, removed before and after.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine


@contextlib.asynccontextmanager
async def scratch_database(database_url: str | None) -> AsyncIterator[tuple[str, str]]:
    """Yield ``(url, dialect)`` of an empty database used by this run only, removed after."""
    url = None if database_url is None else make_url(database_url)
    if url is None or (url.get_backend_name() == "sqlite" and url.database in (None, "")):
        folder = Path(tempfile.mkdtemp(prefix="dispatch-bench-"))
        try:
            yield f"sqlite+aiosqlite:///{folder / 'bench.sqlite3'}", "sqlite"
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return
    backend = url.get_backend_name()
    if backend == "sqlite":
        assert url.database is not None
        given = Path(url.database)
        scratch = given.with_name(f"{given.stem}_bench.sqlite3")
        _remove_sqlite(scratch)
        try:
            yield f"sqlite+aiosqlite:///{scratch}", "sqlite"
        finally:
            _remove_sqlite(scratch)
        return
    if backend != "postgresql":
        raise ValueError(f"unsupported database {backend!r}: use sqlite or postgresql")
    url = url.set(drivername="postgresql+asyncpg")
    name = f"{url.database or 'dispatch'}_bench"
    # CREATE/DROP DATABASE cannot run in a transaction; connect to the given database.
    admin = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            quoted = conn.dialect.identifier_preparer.quote(name)
            await conn.execute(text(f"DROP DATABASE IF EXISTS {quoted} WITH (FORCE)"))
            await conn.execute(text(f"CREATE DATABASE {quoted}"))
        try:
            yield url.set(database=name).render_as_string(hide_password=False), "postgresql"
        finally:
            async with admin.connect() as conn:
                await conn.execute(text(f"DROP DATABASE IF EXISTS {quoted} WITH (FORCE)"))
    finally:
        await admin.dispose()


def _remove_sqlite(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)
