"""Travel times that depend on when the vehicle leaves: rush-hour bands on the plan's axis.

A day of booked rides spans the morning rush, the quiet middle of the day and the evening
rush; timing every leg at one departure puts vans at doors half an hour early off-peak.
:class:`TravelBands` holds a piecewise-constant slow-down factor on the scheduler's time
axis. A trip of ``base`` free-flow seconds advances at ``1 / factor`` base seconds per
second while it is on the road, so a vehicle that leaves later never arrives sooner (the
FIFO property the timetable and the checker rely on), and a trip that crosses the start of
the rush slows down only for its part in it.

The OR-Tools model needs one transit per arc, so it takes the *worst* factor the arc can
meet given the windows of its ends (:meth:`TravelBands.worst`): every plan it finds stays
feasible when timed exactly, and the timetable then times each leg at its real departure.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from dispatch.routing.timeofday import TimeOfDayProfile

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class TravelBands:
    """``factors[k]`` applies from ``edges[k - 1]`` to ``edges[k]`` (open at both ends)."""

    edges: tuple[float, ...]
    factors: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.factors) != len(self.edges) + 1:
            raise ValueError("need one factor more than edges")
        if any(b <= a for a, b in zip(self.edges, self.edges[1:], strict=False)):
            raise ValueError("edges must increase")
        if any(not (f > 0 and math.isfinite(f)) for f in self.factors):
            raise ValueError("factors must be positive")

    @property
    def slowest(self) -> float:
        return max(self.factors)

    def factor_at(self, t: float) -> float:
        return self.factors[bisect.bisect_right(self.edges, t)]

    def slowest_between(self, start: float, end: float) -> float:
        """The largest factor in force at any moment of ``[start, end]``."""
        first = bisect.bisect_right(self.edges, start)
        last = bisect.bisect_right(self.edges, end)
        return max(self.factors[first : max(last, first) + 1])

    def duration(self, base: float, depart: float) -> float:
        """Seconds to cover ``base`` free-flow seconds leaving at ``depart``."""
        if base <= 0:
            return 0.0
        t, left = float(depart), float(base)
        k = bisect.bisect_right(self.edges, t)
        while k < len(self.edges):
            factor = self.factors[k]
            room = (self.edges[k] - t) / factor  # base seconds covered before the edge
            if left <= room:
                return t + left * factor - depart
            left -= room
            t = self.edges[k]
            k += 1
        return t + left * self.factors[-1] - depart

    def worst(self, base: FloatArray, start: FloatArray, end: FloatArray) -> FloatArray:
        """The largest factor a trip of ``base`` can meet when it leaves within
        ``[start, end]`` (arrays broadcast together): on the road until at most
        ``end + base * slowest``."""
        until = end + base * self.slowest
        out = np.full(np.broadcast(base, start, end).shape, self.factors[0], dtype=np.float64)
        lows = (-math.inf, *self.edges)
        highs = (*self.edges, math.inf)
        for low, high, factor in zip(lows, highs, self.factors, strict=True):
            meets = (start < high) & (until > low)
            np.maximum(out, np.where(meets, factor, 0.0), out=out)
        return out


def bands_from_profile(
    profile: TimeOfDayProfile, origin: datetime, span: timedelta
) -> TravelBands | None:
    """The profile's windows over ``[origin, origin + span]`` as seconds since ``origin``;
    None when the profile never slows traffic there (one matrix is then exact)."""
    tz = ZoneInfo(profile.timezone)
    origin = origin.astimezone(UTC)  # elapsed seconds, as the plan's axis (DST days differ)
    local = origin.astimezone(tz)
    day = local.date() - timedelta(days=1)
    moments: set[datetime] = set()
    while True:
        midnight = datetime.combine(day, datetime.min.time(), tz)
        if midnight > origin + span:
            break
        for window in profile.windows:
            for at in (window.start, window.end):
                moments.add(datetime.combine(day, at, tz).astimezone(UTC))
        day += timedelta(days=1)
    points = sorted((m - origin).total_seconds() for m in moments if origin <= m <= origin + span)
    if not points:
        factor = profile.multiplier(origin)
        return None if factor == 1.0 else TravelBands((), (factor,))
    edges: list[float] = []
    factors = [profile.multiplier(origin + timedelta(seconds=points[0] - 1))]
    for i, edge in enumerate(points):
        after = points[i + 1] if i + 1 < len(points) else edge + 2
        factor = profile.multiplier(origin + timedelta(seconds=(edge + after) / 2))
        if factor != factors[-1]:
            edges.append(edge)
            factors.append(factor)
    if all(f == 1.0 for f in factors):
        return None
    return TravelBands(tuple(edges), tuple(factors))


def leg_durations(
    bands: TravelBands | None, base: Sequence[float], depart: Sequence[float]
) -> list[float]:
    """Each leg's duration at its departure (the base itself without bands)."""
    if bands is None:
        return [float(b) for b in base]
    return [bands.duration(b, d) for b, d in zip(base, depart, strict=True)]
