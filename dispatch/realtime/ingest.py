"""One path for every fix, whichever way it came in: the live position is offered to all
workers at once (best effort, newest wins), and history is stored durably before the
caller may answer 2xx."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from dispatch.realtime.broker import Bus, Position
from dispatch.realtime.fixes import Fix
from dispatch.realtime.history import HistoryWriter

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DroppedFix:
    """A fix acknowledged but not stored: which one of the request, and why."""

    index: int
    reason: str
    field: str
    message: str


@dataclass(frozen=True, slots=True)
class IngestResult:
    accepted: int
    duplicates: int
    dropped: tuple[DroppedFix, ...] = ()


def position_of(fix: Fix) -> Position:
    return Position(
        vehicle_id=fix.vehicle_id,
        lat=fix.lat,
        lon=fix.lon,
        t=int(fix.recorded_at.timestamp() * 1000),
        rx=int(fix.received_at.timestamp() * 1000),
        speed=fix.speed_mps,
        heading=fix.heading,
        accuracy=fix.accuracy_m,
        battery=fix.battery_pct,
    )


class LivePublisher:
    """Gathers positions from concurrent requests and hands them to the bus in one call
    whenever the previous call is done (natural batching: no added wait when idle)."""

    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        #: Where positions go when the bus fails (this worker's hub): its own screens keep
        #: moving during a Redis outage.
        self.fallback: Callable[[list[Position]], None] | None = None
        self._pending: dict[int, Position] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.published = 0
        self.failures = 0

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="live-positions")

    async def stop(self) -> None:
        """Stop, handing the last gathered positions to the bus (best effort)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        batch, self._pending = list(self._pending.values()), {}
        if batch:
            try:
                self.published += await asyncio.wait_for(self.bus.apply_positions(batch), 2.0)
            except Exception as exc:
                self.failures += 1
                log.warning("publishing %d live positions at shutdown failed: %s", len(batch), exc)

    def offer(self, positions: Sequence[Position]) -> None:
        for p in positions:
            current = self._pending.get(p.vehicle_id)
            if current is None or current.t < p.t:
                self._pending[p.vehicle_id] = p
        self._wake.set()

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            batch, self._pending = list(self._pending.values()), {}
            try:
                self.published += await self.bus.apply_positions(batch)
            except Exception as exc:  # live view is best effort; history is the record
                self.failures += 1
                log.warning("publishing %d live positions failed: %s", len(batch), exc)
                if self.fallback is not None:
                    self.fallback(batch)


class Ingestor:
    def __init__(self, history: HistoryWriter, live: LivePublisher) -> None:
        self.history = history
        self.live = live

    async def ingest(self, fixes: Sequence[Fix]) -> IngestResult:
        """Store ``fixes`` (waits for the commit) and show the newest on the live map."""
        if not fixes:
            return IngestResult(0, 0)
        self.live.offer([position_of(f) for f in fixes])
        flags = await self.history.write(fixes)
        accepted = sum(flags)
        return IngestResult(accepted=accepted, duplicates=len(flags) - accepted)
