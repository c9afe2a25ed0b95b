"""Counting attempts per key in fixed time windows: GPS uploads per device (against a
phone or script flooding ingest). Failed logins are counted by ``auth.loginlimit``.

Counts live in this process, so N workers allow N times the limit; keeping it in-process
means the GPS hot path never waits for Redis to decide whether to accept a fix.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from dispatch.clock import SYSTEM_CLOCK, Clock


@dataclass(frozen=True, slots=True)
class Limit:
    count: int
    window_s: float


class WindowCounter:
    """At most ``limit.count`` hits per key in each window of ``limit.window_s``."""

    def __init__(self, limit: Limit, max_keys: int = 100_000, clock: Clock = SYSTEM_CLOCK) -> None:
        self.limit = limit
        self.max_keys = max_keys
        self.clock = clock
        self._windows: dict[str, tuple[int, int]] = {}  # key -> (window number, hits)

    def _window(self, now: float) -> int:
        return int(now // self.limit.window_s)

    def retry_after(self, key: str, now: float | None = None) -> int | None:
        """Seconds until ``key`` may try again, or None when it is under the limit."""
        now = self.clock.monotonic() if now is None else now
        window = self._window(now)
        current, hits = self._windows.get(key, (window, 0))
        if current != window or hits < self.limit.count:
            return None
        return max(1, math.ceil((window + 1) * self.limit.window_s - now))

    def hit(self, key: str, now: float | None = None) -> int | None:
        """Count one hit; like :meth:`retry_after` but counting this one first."""
        now = self.clock.monotonic() if now is None else now
        window = self._window(now)
        current, hits = self._windows.get(key, (window, 0))
        if current != window:
            hits = 0
        if len(self._windows) >= self.max_keys and key not in self._windows:
            self._windows.clear()  # bounded memory under a flood of made-up keys
        self._windows[key] = (window, hits + 1)
        if hits + 1 > self.limit.count:
            return max(1, math.ceil((window + 1) * self.limit.window_s - now))
        return None

    def forget(self, key: str) -> None:
        self._windows.pop(key, None)


@dataclass
class Limits:
    """The limits one worker enforces (see the module docstring for why in-process)."""

    device: WindowCounter

    @classmethod
    def build(cls, device_per_minute: int = 600, clock: Clock = SYSTEM_CLOCK) -> Limits:
        return cls(device=WindowCounter(Limit(device_per_minute, 60.0), clock=clock))

    def device_request(self, vehicle_id: int) -> int | None:
        """Count one upload from a vehicle's phone; seconds to wait when over the limit."""
        return self.device.hit(str(vehicle_id))
