"""The load run's timetable and its accounting, shared by every way a phone sends fixes.

Every vehicle records fixes at ``rate`` Hz and uploads every ``batch_size`` fixes, so each
vehicle has a send slot every ``batch_size / rate`` seconds; slots are staggered over the
interval so the fleet does not fire in lockstep. A sender that falls more than one slot
behind (the server or the generator is saturated) skips the missed slots and counts them,
rather than bursting to catch up: the offered load never exceeds the configured one and
the number of requests is bounded by ``vehicles × duration × rate / batch_size``. (With
retry, a phone catching up after an outage uploads its backlog with its slots, and the
flush after the sending period is bounded by its own timeout.)
"""

from __future__ import annotations

import asyncio
import heapq
import time
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from simulator.stats import Counters


class Clock:
    """The run's timetable on the monotonic clock, plus the wall-clock start of the
    measured window (fix times are wall-clock milliseconds)."""

    def __init__(self, warmup_s: float, duration_s: float) -> None:
        self.start = time.monotonic()
        self.warm_end = self.start + warmup_s
        self.end = self.start + duration_s
        now_ms = int(time.time() * 1000)
        self.start_wall_ms = now_ms
        self.warm_end_wall_ms = now_ms + round(warmup_s * 1000)
        self.end_wall_ms = now_ms + round(duration_s * 1000)

    def measuring(self, at: float) -> bool:
        return self.warm_end <= at < self.end

    @property
    def window_s(self) -> float:
        return self.end - self.warm_end


class Ledger:
    """Totals for the whole run and for the measured window, plus, per vehicle, the time of
    every fix sent and of every fix the server acknowledged: the storage check compares
    them with what the server returns, fix by fix. Times are kept in ``array('q')`` (8
    bytes a fix) so a long run of thousands of vehicles does not need gigabytes."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.total = Counters()
        self.window = Counters()
        self.last_acked_ms: dict[int, int] = {}
        self.sent_ms: dict[int, array[int]] = {}
        self.acked_ms: dict[int, array[int]] = {}
        self.failovers = 0

    def _targets(self, started: float) -> tuple[Counters, ...]:
        return (self.total, self.window) if self.clock.measuring(started) else (self.total,)

    def sent(self, started: float, vehicle_id: int, new: Sequence[int], resent: int = 0) -> None:
        """One request or message: ``new`` holds the times of fixes never sent before,
        ``resent`` counts those sent again after a failure."""
        self.sent_ms.setdefault(vehicle_id, array("q")).extend(new)
        for c in self._targets(started):
            c.requests += 1
            c.fixes_sent += len(new) + resent
            c.fixes_resent += resent

    def ok(
        self,
        started: float,
        vehicle_id: int,
        times: Sequence[int],
        accepted: int | None,
        duplicates: int | None,
    ) -> None:
        """The server acknowledged the fixes at ``times`` (so it promises they are stored)."""
        ack_ms = round((time.monotonic() - started) * 1000)
        for c in self._targets(started):
            c.requests_ok += 1
            c.fixes_ok += len(times)
            if accepted is not None and duplicates is not None:
                c.counted_replies += 1
                c.accepted += accepted
                c.duplicates += duplicates
            c.ack_ms.add(ack_ms)
        self.acked_ms.setdefault(vehicle_id, array("q")).extend(times)
        newest = max(times, default=0)
        if newest > self.last_acked_ms.get(vehicle_id, 0):
            self.last_acked_ms[vehicle_id] = newest

    def failed(self, started: float, kind: str) -> None:
        for c in self._targets(started):
            c.errors[kind] += 1

    def skipped(self, at: float, slots: int) -> None:
        for c in self._targets(at):
            c.skipped_slots += slots


@dataclass
class Plan:
    """What every sender needs to know."""

    clock: Clock
    ledger: Ledger
    rate_hz: float
    batch_size: int
    total_vehicles: int

    @property
    def interval_s(self) -> float:
        return self.batch_size / self.rate_hz

    @property
    def period_ms(self) -> float:
        return 1000.0 / self.rate_hz

    def phase(self, index: int) -> float:
        """Stagger vehicles evenly over one send interval."""
        return self.clock.start + (index % self.total_vehicles) / self.total_vehicles * (
            self.interval_s
        )


async def timetable(
    plan: Plan,
    slots: list[tuple[float, int]],
    send: Callable[[int], Any],
    may_send: Callable[[int], bool] = lambda _i: True,
) -> None:
    """Call ``await send(i)`` at each item's slots until the end of the run.
    ``slots`` holds (first slot time, item); items are served earliest slot first."""
    heap = list(slots)
    heapq.heapify(heap)
    interval = plan.interval_s
    end = plan.clock.end
    while heap:
        due, item = heapq.heappop(heap)
        if due >= end:
            continue
        now = time.monotonic()
        if due > now:
            await asyncio.sleep(due - now)
        elif now - due >= interval:  # fell behind: skip the missed slots, do not burst
            missed = int((now - due) / interval)
            plan.ledger.skipped(now, missed)
            due += missed * interval
            if due >= end:
                continue
        if may_send(item):
            await send(item)
        else:
            plan.ledger.skipped(time.monotonic(), 1)
        heapq.heappush(heap, (due + interval, item))
