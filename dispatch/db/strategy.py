"""Everything that differs between SQLite and PostgreSQL lives here, in one object per
dialect, so services never branch on the database."""

from __future__ import annotations

import asyncio
import weakref
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from typing import Any, TypeVarTuple

from sqlalchemy import Insert, Select, Table, event, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool

from dispatch.models.base import Base

Ts = TypeVarTuple("Ts")

#: Execution option that marks a transaction as read-only (GET requests).
READ_ONLY = "dispatch_read_only"


class DialectStrategy(ABC):
    """How to open, configure, lock and reset one kind of database."""

    name: str

    def __init__(self, url: URL) -> None:
        self.url = url

    @abstractmethod
    def create_engine(
        self, *, pool_size: int, max_overflow: int, busy_timeout_ms: int
    ) -> AsyncEngine:
        """An engine configured for this dialect's concurrency model."""

    def write_gate(self) -> AbstractAsyncContextManager[None]:
        """Held around every write transaction this process opens (nothing to do where
        the database itself queues writers fairly)."""
        return nullcontext()

    @abstractmethod
    def lock_for_update(self, stmt: Select[*Ts]) -> Select[*Ts]:
        """Make ``stmt`` lock the rows it reads until the transaction ends."""

    @abstractmethod
    def claim(self, stmt: Select[*Ts]) -> Select[*Ts]:
        """Lock the rows ``stmt`` reads, skipping rows another transaction holds (work
        queues: two workers never take the same row, and neither waits for the other)."""

    @abstractmethod
    async def truncate_all(self, conn: AsyncConnection) -> None:
        """Empty every application table (tests and demo resets)."""

    @abstractmethod
    def insert_ignoring_duplicates(self, table: Table) -> Insert:
        """``INSERT … ON CONFLICT DO NOTHING``: a resent row is silently skipped."""

    async def insert_many_ignoring_duplicates(
        self,
        conn: AsyncConnection,
        table: Table,
        rows: Sequence[Mapping[str, Any]],
        returning: Sequence[str],
    ) -> list[tuple[Any, ...]]:
        """Insert ``rows`` (all with the same keys), skipping those whose key exists, and
        return ``returning`` of the rows actually inserted. The hot path of GPS history."""
        if not rows:
            return []
        stmt = self.insert_ignoring_duplicates(table).returning(*(table.c[c] for c in returning))
        result = await conn.execute(stmt, list(rows))
        return [tuple(row) for row in result.all()]


class SQLiteStrategy(DialectStrategy):
    """WAL for concurrent readers, a busy timeout instead of instant "database is locked",
    foreign keys on, and ``BEGIN IMMEDIATE`` for write transactions so two writers are
    serialised at BEGIN rather than failing at COMMIT after both read stale state."""

    name = "sqlite"

    def __init__(self, url: URL) -> None:
        super().__init__(url)
        self._gate_timeout_s = 10.0
        # one queue of writers per event loop (tests and the CLI may run several loops)
        self._gates: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )

    @asynccontextmanager
    async def write_gate(self) -> AsyncIterator[None]:
        """Writers of this process queue here, in order, for SQLite's one write lock.

        Why: a writer that finds the lock taken is left to SQLite's busy handler, which
        sleeps and polls in growing steps (up to 100 ms), so under a steady stream of
        writes (status reports, fixes, the outbox) a request waited several of those
        steps: the city simulation measured status reports at 31 ms median and 134 ms
        p95 with the server half idle. Queued here, a writer starts the moment the
        previous one commits. Other processes on the same file still meet the busy
        handler. Waiting longer than the busy timeout is a ``TimeoutError`` (a 503)."""
        loop = asyncio.get_running_loop()
        gate = self._gates.get(loop)
        if gate is None:
            gate = self._gates[loop] = asyncio.Lock()
        async with asyncio.timeout(self._gate_timeout_s):
            await gate.acquire()
        try:
            yield
        finally:
            gate.release()

    def create_engine(
        self, *, pool_size: int, max_overflow: int, busy_timeout_ms: int
    ) -> AsyncEngine:
        self._gate_timeout_s = busy_timeout_ms / 1000
        database = self.url.database or ""
        in_memory = database in ("", ":memory:") or "mode=memory" in database
        kwargs: dict[str, Any] = {"connect_args": {"timeout": busy_timeout_ms / 1000}}
        if in_memory:
            kwargs["poolclass"] = StaticPool
        else:
            kwargs.update(pool_size=pool_size, max_overflow=max_overflow)
        engine = create_async_engine(self.url, **kwargs)

        @event.listens_for(engine.sync_engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            # Let us issue BEGIN ourselves (the driver's implicit BEGIN is DEFERRED).
            dbapi_conn.isolation_level = None
            cursor = dbapi_conn.cursor()
            if not in_memory:
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
            cursor.close()

        @event.listens_for(engine.sync_engine, "begin")
        def _on_begin(conn: Any) -> None:
            if conn.get_execution_options().get(READ_ONLY):
                conn.exec_driver_sql("BEGIN")
            else:
                conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine

    def lock_for_update(self, stmt: Select[*Ts]) -> Select[*Ts]:
        # The write transaction already holds SQLite's single write lock since BEGIN.
        return stmt

    def claim(self, stmt: Select[*Ts]) -> Select[*Ts]:
        return stmt  # one writer at a time already

    def insert_ignoring_duplicates(self, table: Table) -> Insert:
        return sqlite_insert(table).on_conflict_do_nothing()

    async def truncate_all(self, conn: AsyncConnection) -> None:
        await conn.execute(text("PRAGMA foreign_keys=OFF"))
        for table in reversed(Base.metadata.sorted_tables):
            await conn.execute(table.delete())
        await conn.execute(text("PRAGMA foreign_keys=ON"))


class PostgresStrategy(DialectStrategy):
    """A pooled asyncpg engine; ``SELECT … FOR UPDATE`` serialises claims on one row while
    leaving every other row free."""

    name = "postgresql"

    def create_engine(
        self, *, pool_size: int, max_overflow: int, busy_timeout_ms: int
    ) -> AsyncEngine:
        return create_async_engine(
            self.url, pool_size=pool_size, max_overflow=max_overflow, pool_pre_ping=True
        )

    def lock_for_update(self, stmt: Select[*Ts]) -> Select[*Ts]:
        return stmt.with_for_update()

    def claim(self, stmt: Select[*Ts]) -> Select[*Ts]:
        return stmt.with_for_update(skip_locked=True)

    def insert_ignoring_duplicates(self, table: Table) -> Insert:
        return pg_insert(table).on_conflict_do_nothing()

    async def insert_many_ignoring_duplicates(
        self,
        conn: AsyncConnection,
        table: Table,
        rows: Sequence[Mapping[str, Any]],
        returning: Sequence[str],
    ) -> list[tuple[Any, ...]]:
        """One statement with one array per column (``INSERT … SELECT FROM unnest(…)``):
        the rows travel as a handful of binary arrays instead of thousands of bound
        parameters that SQLAlchemy would process one by one. Values must already be what
        the driver takes (aware datetimes for timestamptz)."""
        if not rows:
            return []
        columns = list(rows[0])
        quote = conn.dialect.identifier_preparer.quote
        casts = ", ".join(
            f"${i}::{table.c[c].type.compile(dialect=conn.dialect)}[]"
            for i, c in enumerate(columns, start=1)
        )
        sql = (
            f"INSERT INTO {quote(table.name)} ({', '.join(quote(c) for c in columns)}) "
            f"SELECT * FROM unnest({casts}) ON CONFLICT DO NOTHING "
            f"RETURNING {', '.join(quote(c) for c in returning)}"
        )
        raw = await conn.get_raw_connection()
        driver: Any = raw.driver_connection  # asyncpg, inside this same transaction
        records = await driver.fetch(sql, *([row[c] for row in rows] for c in columns))
        return [tuple(record) for record in records]

    async def truncate_all(self, conn: AsyncConnection) -> None:
        names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
        await conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


def strategy_for(url: str | URL) -> DialectStrategy:
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if parsed.get_driver_name() != "aiosqlite":
            parsed = parsed.set(drivername="sqlite+aiosqlite")
        return SQLiteStrategy(parsed)
    if backend == "postgresql":
        if parsed.get_driver_name() != "asyncpg":
            parsed = parsed.set(drivername="postgresql+asyncpg")
        return PostgresStrategy(parsed)
    raise ValueError(f"unsupported database {backend!r}: use sqlite or postgresql")
