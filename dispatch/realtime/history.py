"""GPS history with group commit.

Every way in hands its fixes to one writer per worker and waits until they are committed
before answering 2xx, so an acknowledged fix is durable. The writer gathers whatever
arrives within a short linger (default 100 ms) into one transaction: ``INSERT … ON
CONFLICT DO NOTHING`` into ``position_fixes`` (a resent fix is a no-op; its extra
attributes travel as one JSON text per fix) and the vehicles' last known position, only
ever moved forward in time. Thousands of one-fix OsmAnd requests per second thus cost a
handful of commits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import Table, bindparam, or_, update

from dispatch.db.session import Database
from dispatch.models import PositionFix, Vehicle
from dispatch.models.position import encode_attributes
from dispatch.observability import metrics
from dispatch.realtime.fixes import Fix

log = logging.getLogger(__name__)


class HistoryBusy(Exception):
    """The fixes could not be stored now (queue full, shutting down, database failing);
    nothing was acknowledged, so the phone retries and loses nothing."""


@dataclass
class _Item:
    fixes: Sequence[Fix]
    done: asyncio.Future[list[bool]]


@dataclass
class HistoryStats:
    batches: int = 0
    rows_submitted: int = 0
    rows_inserted: int = 0
    failures: int = 0
    last_batch_ms: float = 0.0


class HistoryWriter:
    def __init__(
        self,
        db: Database,
        *,
        linger_s: float = 0.1,
        max_batch: int = 5000,
        max_pending: int = 200_000,
    ) -> None:
        self.db = db
        self.linger_s = linger_s
        self.max_batch = max_batch
        self.max_pending = max_pending
        self.stats = HistoryStats()
        self._items: list[_Item] = []
        self._pending_rows = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="history-writer")

    async def stop(self) -> None:
        """Write what is queued, then stop (graceful shutdown loses nothing accepted)."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task

    @property
    def pending(self) -> int:
        return self._pending_rows

    async def write(self, fixes: Sequence[Fix]) -> list[bool]:
        """Store ``fixes``; returns, per fix, whether it was new (False = a duplicate).
        Returns only after the commit."""
        if not fixes:
            return []
        if self._closing or self._task is None:
            raise HistoryBusy("the server is shutting down")
        if self._pending_rows + len(fixes) > self.max_pending:
            raise HistoryBusy(f"{self._pending_rows} fixes are waiting to be stored")
        done: asyncio.Future[list[bool]] = asyncio.get_running_loop().create_future()
        self._items.append(_Item(fixes, done))
        self._pending_rows += len(fixes)
        self._wake.set()
        return await asyncio.shield(done)

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            if not self._closing and self._pending_rows < self.max_batch:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._full(), self.linger_s)
            self._wake.clear()
            while self._items:
                await self._flush(self._take())
            if self._closing:
                return

    async def _full(self) -> None:
        while self._pending_rows < self.max_batch:
            self._wake.clear()
            await self._wake.wait()

    def _take(self) -> list[_Item]:
        taken: list[_Item] = []
        rows = 0
        while self._items and (not taken or rows + len(self._items[0].fixes) <= self.max_batch):
            item = self._items.pop(0)
            taken.append(item)
            rows += len(item.fixes)
        self._pending_rows -= rows
        return taken

    async def _flush(self, items: list[_Item]) -> None:
        loop = asyncio.get_running_loop()
        started = loop.time()
        unique: dict[tuple[int, datetime], Fix] = {}
        for item in items:
            for fix in item.fixes:
                unique.setdefault(fix.key, fix)  # the same fix twice in one batch: stored once
        rows = []
        for fix in unique.values():
            rows.append(
                {
                    "vehicle_id": fix.vehicle_id,
                    "recorded_at": fix.recorded_at,
                    "received_at": fix.received_at,
                    "lat": fix.lat,
                    "lon": fix.lon,
                    "speed_mps": fix.speed_mps,
                    "heading": fix.heading,
                    "accuracy_m": fix.accuracy_m,
                    "battery_pct": fix.battery_pct,
                    # Serialised here, once: both databases take the text as it is.
                    "attributes": encode_attributes(fix.attributes),
                }
            )
        try:
            inserted = await self._store(rows, unique.values())
        except Exception as exc:
            self.stats.failures += 1
            metrics.INGEST_BATCH_FAILURES.inc()
            log.warning("storing %d fixes failed: %s", len(rows), exc)
            failure = HistoryBusy(f"storing fixes failed ({type(exc).__name__})")
            for item in items:
                if not item.done.done():
                    item.done.set_exception(failure)
            return
        new_rows = len(inserted)
        received = sum(len(item.fixes) for item in items)
        for item in items:
            if not item.done.done():
                # A key is "new" for the first request that carried it, not for a repeat.
                flags = []
                for fix in item.fixes:
                    flags.append(fix.key in inserted)
                    inserted.discard(fix.key)
                item.done.set_result(flags)
        elapsed = loop.time() - started
        self.stats.batches += 1
        self.stats.rows_submitted += len(rows)
        self.stats.rows_inserted += new_rows
        self.stats.last_batch_ms = elapsed * 1000
        # Once per batch, not per fix: this path carries thousands of fixes a second.
        metrics.FIXES_STORED.inc(new_rows)
        metrics.FIXES_DUPLICATE.inc(received - new_rows)
        metrics.INGEST_BATCH_SECONDS.observe(elapsed)
        metrics.INGEST_BATCH_FIXES.observe(received)

    async def _store(
        self, rows: list[dict[str, object]], fixes: Iterable[Fix]
    ) -> set[tuple[int, datetime]]:
        table = cast(Table, PositionFix.__table__)
        vehicles = cast(Table, Vehicle.__table__)
        newest: dict[int, Fix] = {}
        for fix in fixes:
            current = newest.get(fix.vehicle_id)
            if current is None or fix.recorded_at > current.recorded_at:
                newest[fix.vehicle_id] = fix
        async with self.db.strategy.write_gate(), self.db.engine.begin() as conn:
            keys = await self.db.strategy.insert_many_ignoring_duplicates(
                conn, table, rows, ("vehicle_id", "recorded_at")
            )
            # Aware datetimes on both dialects (UTCDateTime / timestamptz): they compare and
            # hash by instant, so they match the fixes' own keys as they are.
            inserted = {(vid, at) for vid, at in keys}
            await conn.execute(
                update(vehicles)
                .where(
                    vehicles.c.id == bindparam("vid"),
                    or_(vehicles.c.last_fix_at.is_(None), vehicles.c.last_fix_at < bindparam("t")),
                )
                .values(
                    last_lat=bindparam("la"), last_lon=bindparam("lo"), last_fix_at=bindparam("t")
                ),
                # Always the same order, so two workers' writers cannot deadlock.
                [
                    {"vid": vid, "la": fix.lat, "lo": fix.lon, "t": fix.recorded_at}
                    for vid, fix in sorted(newest.items())
                ],
            )
        return inserted
