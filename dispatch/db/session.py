"""The database handle and the unit of work.

One request is one unit of work: services ``flush()`` and record events; the unit of
work commits once at the end and only then publishes the events, so a rolled-back
transaction announces nothing and a crew is never told about an assignment that does
not exist.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager

from sqlalchemy import delete, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from dispatch.db.strategy import READ_ONLY, DialectStrategy, strategy_for
from dispatch.events import Event
from dispatch.models.outbox import OutboxEvent

log = logging.getLogger(__name__)

Publisher = Callable[[Sequence[Event]], Awaitable[object]]


class UnitOfWork:
    def __init__(self, session: AsyncSession, strategy: DialectStrategy) -> None:
        self.session = session
        self.strategy = strategy
        self.events: list[Event] = []

    def emit(self, event: Event) -> None:
        """Queue an event; it is published only if the transaction commits."""
        self.events.append(event)


class Database:
    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 10,
        max_overflow: int = 10,
        busy_timeout_ms: int = 10_000,
    ) -> None:
        self.strategy = strategy_for(url)
        self.engine: AsyncEngine = self.strategy.create_engine(
            pool_size=pool_size, max_overflow=max_overflow, busy_timeout_ms=busy_timeout_ms
        )
        self._sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self._read_sessions = async_sessionmaker(
            self.engine.execution_options(**{READ_ONLY: True}), expire_on_commit=False
        )

    @asynccontextmanager
    async def unit_of_work(
        self, *, read_only: bool = False, publish: Publisher | None = None
    ) -> AsyncIterator[UnitOfWork]:
        """Commit on success, roll back on error, then publish the collected events."""
        factory = self._read_sessions if read_only else self._sessions
        outbox: list[OutboxEvent] = []
        async with factory() as session:
            uow = UnitOfWork(session, self.strategy)
            try:
                yield uow
                if uow.events and publish is not None:
                    # Written with the change itself: if this process dies after the commit
                    # and before publishing, the relay still announces it.
                    outbox = [OutboxEvent(event_type=e.type, data=e.data) for e in uow.events]
                    session.add_all(outbox)
                await session.commit()
            except BaseException:
                await session.rollback()
                raise
        if uow.events and publish is not None:
            try:
                await publish(uow.events)
            except Exception:  # the data is committed; a bus outage must not fail the request
                log.warning(
                    "publishing %d events failed after commit; the outbox relay retries",
                    len(uow.events),
                    exc_info=True,
                )
                return
            await self._published([row.id for row in outbox])

    async def _published(self, ids: list[int]) -> None:
        """Forget outbox rows once published (best effort: a leftover is published again
        by the relay, i.e. at least once)."""
        try:
            async with self._sessions() as session:
                await session.execute(delete(OutboxEvent).where(OutboxEvent.id.in_(ids)))
                await session.commit()
        except Exception:
            log.warning("clearing %d published outbox events failed", len(ids), exc_info=True)

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()
