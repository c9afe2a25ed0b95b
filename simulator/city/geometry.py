"""Distances on the earth and positions along a drive: what the crews and the baseline
policy need to know where a unit is at a virtual moment, without asking the server."""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field


def haversine_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * 6_371_008.8 * math.asin(math.sqrt(h))


@dataclass
class Leg:
    """A drive along a polyline at constant speed from ``start_v`` for ``duration`` s."""

    points: list[tuple[float, float]]
    start_v: float
    duration: float
    cum: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.cum = [0.0]
        for a, b in zip(self.points, self.points[1:], strict=False):
            self.cum.append(self.cum[-1] + haversine_m(a, b))

    def at(self, v: float) -> tuple[float, float]:
        if self.duration <= 0 or len(self.points) < 2 or self.cum[-1] <= 0:
            return self.points[-1]
        share = min(max((v - self.start_v) / self.duration, 0.0), 1.0)
        target = share * self.cum[-1]
        i = min(max(bisect.bisect_left(self.cum, target), 1), len(self.cum) - 1)
        seg = self.cum[i] - self.cum[i - 1]
        f = 0.0 if seg <= 0 else (target - self.cum[i - 1]) / seg
        (a_lat, a_lon), (b_lat, b_lon) = self.points[i - 1], self.points[i]
        return a_lat + f * (b_lat - a_lat), a_lon + f * (b_lon - a_lon)
