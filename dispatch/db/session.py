"""The database handle and the unit of work.

One request is one unit of work: services ``flush()`` and record events; the unit of
work commits once at the end and only then publishes the events, so a rolled-back
transaction announces nothing and a crew is never told about an assignment that does
not exist.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager, nullcontext

from sqlalchemy import delete, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from dispatch.db.reactions import Reactions
from dispatch.db.strategy import READ_ONLY, DialectStrategy, strategy_for
from dispatch.events import DomainEvent, Event
from dispatch.models.outbox import OutboxEvent

log = logging.getLogger(__name__)

Publisher = Callable[[Sequence[Event]], Awaitable[object]]

#: How long published outbox rows gather before one DELETE removes them.
FORGET_LINGER_S = 0.05


class UnitOfWork:
    def __init__(self, session: AsyncSession, strategy: DialectStrategy) -> None:
        self.session = session
        self.strategy = strategy
        self.events: list[DomainEvent] = []

    def emit(self, event: DomainEvent) -> None:
        """Record a fact; it is published (and reacted to) only if the transaction commits."""
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
        #: Handlers of committed events in this process (``dispatch.db.reactions``).
        self.reactions = Reactions()
        self._forget: list[int] = []  # published outbox rows not yet deleted
        self._forgetting: asyncio.Task[None] | None = None

    @asynccontextmanager
    async def unit_of_work(
        self, *, read_only: bool = False, publish: Publisher | None = None
    ) -> AsyncIterator[UnitOfWork]:
        """Commit on success, roll back on error, then publish the collected events and hand
        them to the reactions."""
        factory = self._read_sessions if read_only else self._sessions
        outbox: list[OutboxEvent] = []
        envelopes: list[Event] = []
        gate = nullcontext() if read_only else self.strategy.write_gate()
        async with gate, factory() as session:
            uow = UnitOfWork(session, self.strategy)
            try:
                yield uow
                if uow.events and publish is not None:
                    # Written with the change itself: if this process dies after the commit
                    # and before publishing, the relay still announces it.
                    envelopes = [e.envelope() for e in uow.events]
                    outbox = [OutboxEvent(event_type=e.type, data=e.data) for e in envelopes]
                    session.add_all(outbox)
                await session.commit()
            except BaseException:
                await session.rollback()
                raise
        if uow.events:
            self.reactions.after_commit(uow.events)
        if envelopes and publish is not None:
            try:
                await publish(envelopes)
            except Exception:  # the data is committed; a bus outage must not fail the request
                log.warning(
                    "publishing %d events failed after commit; the outbox relay retries",
                    len(uow.events),
                    exc_info=True,
                )
                return
            self._published([row.id for row in outbox])

    def _published(self, ids: list[int]) -> None:
        """Forget outbox rows once published, in the background and in batches.

        Why not in the request: it was a second write transaction after every change,
        which the reply waited for and which, on SQLite, queued for the one write lock
        again. Rows still there after the relay's grace period (this process died, the
        delete failed) are published again: delivery stays at least once."""
        self._forget.extend(ids)
        if self._forgetting is None or self._forgetting.done():
            self._forgetting = asyncio.create_task(self._forget_published())

    async def _forget_published(self) -> None:
        await asyncio.sleep(FORGET_LINGER_S)  # let the changes of the moment gather
        while self._forget:
            ids, self._forget = self._forget, []
            try:
                async with self.strategy.write_gate(), self._sessions() as session:
                    await session.execute(delete(OutboxEvent).where(OutboxEvent.id.in_(ids)))
                    await session.commit()
            except Exception:
                log.warning("clearing %d published outbox events failed", len(ids), exc_info=True)

    async def settle(self) -> None:
        """Wait for the published outbox rows of this event loop to be forgotten."""
        task = self._forgetting
        if task is not None and not task.done() and task.get_loop() is asyncio.get_running_loop():
            await task

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.reactions.close()
        await self.settle()
        await self.engine.dispose()
