"""Counting attempts per key in fixed time windows: failed logins (against password
guessing) and GPS uploads per device (against a phone or script flooding ingest).

Counts live in this process. For logins that is per worker, so N workers allow N times
the limit: still a few dozen guesses an hour instead of thousands a second. Keeping it
in-process means the GPS hot path never waits for Redis to decide whether to accept a fix.
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


LOGIN_WINDOW_S = 15 * 60


@dataclass
class Limits:
    """The limits one worker enforces (see the module docstring for why in-process)."""

    login_user: WindowCounter
    login_client: WindowCounter
    device: WindowCounter

    @classmethod
    def build(
        cls, login_failures: int = 10, device_per_minute: int = 600, clock: Clock = SYSTEM_CLOCK
    ) -> Limits:
        return cls(
            login_user=WindowCounter(Limit(login_failures, LOGIN_WINDOW_S), clock=clock),
            # One address may be a whole control room behind NAT: more room, still bounded.
            login_client=WindowCounter(Limit(login_failures * 5, LOGIN_WINDOW_S), clock=clock),
            device=WindowCounter(Limit(device_per_minute, 60.0), clock=clock),
        )

    def login_wait(self, username: str, client: str) -> int | None:
        """Seconds before another login attempt for this name or from this address."""
        waits = [
            self.login_user.retry_after(username.casefold()),
            self.login_client.retry_after(client),
        ]
        return max((w for w in waits if w is not None), default=None)

    def login_failed(self, username: str, client: str) -> None:
        self.login_user.hit(username.casefold())
        self.login_client.hit(client)

    def device_request(self, vehicle_id: int) -> int | None:
        """Count one upload from a vehicle's phone; seconds to wait when over the limit."""
        return self.device.hit(str(vehicle_id))
