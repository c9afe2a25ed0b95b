"""Time as the server reads it, injectable: rate-limit windows, cache lifetimes, GPS
staleness and alert deadlines all ask a ``Clock`` instead of the system, so a test can
move time across a 15-minute window without sleeping, and a simulation can run the
server on its simulated clock."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """Wall-clock time, timezone-aware UTC (what is stored and shown)."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back (windows, timeouts, cache ages)."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()


class ManualClock:
    """A clock that moves only when told to; both readings move together."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 1, tzinfo=UTC)
        self._monotonic = 1_000.0

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return self._monotonic

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("a clock does not go back")
        self._now += timedelta(seconds=seconds)
        self._monotonic += seconds


SYSTEM_CLOCK: Clock = SystemClock()


class SettableClock:
    """A simulation's clock (``DISPATCH_SIMULATED_CLOCK``): it stands still until told
    the time (``PUT /simulation/clock``), so every stamp, deadline and age the server
    reads is the simulated moment, whatever the machine's speed. It may be set back (a
    new simulated day); the monotonic reading never goes back."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime.now(UTC)
        self._monotonic = 1_000.0

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return self._monotonic

    def set(self, when: datetime) -> None:
        if when.tzinfo is None:
            raise ValueError("a time zone is required")
        self._monotonic += max(0.0, (when - self._now).total_seconds())
        self._now = when.astimezone(UTC)


_installed: Clock = SYSTEM_CLOCK


def install(clock: Clock) -> Clock:
    """Make ``clock`` the process's time for what has no app at hand (column defaults,
    services' "now"); returns the previous one. Only a simulated clock is installed:
    a test's ``ManualClock`` stays with its app."""
    global _installed
    previous, _installed = _installed, clock
    return previous


def now() -> datetime:
    """The process's "now" (the system's, or a simulation's)."""
    return _installed.now()
