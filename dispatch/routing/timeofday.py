"""Rush-hour multipliers on travel time, read in the city's LOCAL time.

Default profile (Bangkok, every day of the week): 07:00-09:00 and 16:00-19:00 take 1.5x the
off-peak time, i.e. traffic moves at two thirds of its off-peak speed; all other hours use the
off-peak class speeds unchanged. The multiplier is taken at the departure time and applied to
the whole trip: dispatch ETAs are short (minutes), so a trip rarely crosses a window edge.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, time
from zoneinfo import ZoneInfo

from dispatch.routing.base import require_aware


@dataclass(frozen=True, slots=True)
class RushWindow:
    """``[start, end)`` in local time with its multiplier; may wrap past midnight."""

    start: time
    end: time
    multiplier: float

    def __post_init__(self) -> None:
        if not self.multiplier > 0:
            raise ValueError("multiplier must be positive")
        if self.start == self.end:
            raise ValueError("empty rush window")

    def contains(self, t: time) -> bool:
        if self.start < self.end:
            return self.start <= t < self.end
        return t >= self.start or t < self.end


DEFAULT_RUSH_WINDOWS: tuple[RushWindow, ...] = (
    RushWindow(time(7, 0), time(9, 0), 1.5),
    RushWindow(time(16, 0), time(19, 0), 1.5),
)


@dataclass(frozen=True)
class TimeOfDayProfile:
    """Multiplier on travel time by local time of day; overlapping windows take the largest."""

    windows: Sequence[RushWindow] = field(default=DEFAULT_RUSH_WINDOWS)
    timezone: str = "Asia/Bangkok"

    def __post_init__(self) -> None:
        ZoneInfo(self.timezone)  # fail at start-up on a misspelt zone, not on the first call

    def multiplier(self, depart_at: datetime) -> float:
        local = require_aware(depart_at).astimezone(ZoneInfo(self.timezone)).time()
        return max((w.multiplier for w in self.windows if w.contains(local)), default=1.0)


#: A profile without rush hours, for tests and for providers that already model traffic.
FLAT_PROFILE = TimeOfDayProfile(windows=())


def parse_rush_windows(text: str) -> tuple[RushWindow, ...]:
    """Read a profile written as ``07:00-09:00*1.5,16:00-19:00*1.5`` (empty: no rush hours)."""
    windows = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        span, star, factor = part.partition("*")
        start, dash, end = span.partition("-")
        if not star or not dash:
            raise ValueError(f"expected HH:MM-HH:MM*FACTOR, got {part!r}")
        windows.append(
            RushWindow(
                time.fromisoformat(start.strip()), time.fromisoformat(end.strip()), float(factor)
            )
        )
    return tuple(windows)
