"""Road speeds: which OSM highway classes are drivable and how fast traffic moves on them.

The default class speeds are *typical off-peak traffic speeds* in congested South-East Asian
cities (Bangkok, Ho Chi Minh City), including signal waits and mixed traffic, not legal limits.
Published travel-speed surveys of central Bangkok put daytime car speeds on arterials at roughly
20-35 km/h and on the elevated tollways at 50-80 km/h outside the peaks; side streets (soi) are
slower still. Rush hours are handled separately by :mod:`dispatch.routing.timeofday`.

Effective speed of a way = ``min(class speed, maxspeed)`` when ``maxspeed`` is tagged and
plausible: the legal limit caps traffic (a school zone at 20 km/h) but never makes a congested
arterial faster than the traffic on it.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

#: km/h; a highway class absent from the table is not drivable (footway, path, cycleway,
#: steps, pedestrian, track, busway, construction, proposed, ...).
DEFAULT_CLASS_SPEEDS_KMH: Mapping[str, float] = MappingProxyType(
    {
        "motorway": 70.0,  # elevated tollways / expressways
        "motorway_link": 40.0,
        "trunk": 40.0,
        "trunk_link": 30.0,
        "primary": 30.0,
        "primary_link": 25.0,
        "secondary": 25.0,
        "secondary_link": 20.0,
        "tertiary": 22.0,
        "tertiary_link": 18.0,
        "unclassified": 18.0,
        "road": 15.0,
        "residential": 15.0,  # soi: narrow, parked cars, motorbikes
        "service": 10.0,
        "living_street": 8.0,
    }
)

_KMH_PER_UNIT = {"": 1.0, "km/h": 1.0, "kmh": 1.0, "kph": 1.0, "mph": 1.609344, "knots": 1.852}
_MAXSPEED = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(km/h|kmh|kph|mph|knots)?\s*$")


def parse_maxspeed(value: str | None) -> float | None:
    """``maxspeed`` in km/h: "60", "60 km/h", "30 mph"; the lowest of "60;80".

    Symbolic values ("TH:urban", "none", "walk", "signals") give ``None``: the class speed
    then applies alone.
    """
    if not value:
        return None
    speeds: list[float] = []
    for part in value.lower().split(";"):
        m = _MAXSPEED.match(part)
        if m is None:
            continue
        speeds.append(float(m.group(1)) * _KMH_PER_UNIT[m.group(2) or ""])
    return min(speeds) if speeds else None


@dataclass(frozen=True)
class SpeedTable:
    """Class speeds plus the ``maxspeed`` rule; part of the graph cache key.

    ``min_plausible_maxspeed_kmh``: smaller tagged limits (real extracts contain
    ``maxspeed=1``) are treated as tagging errors and ignored.
    """

    class_kmh: Mapping[str, float] = field(default_factory=lambda: DEFAULT_CLASS_SPEEDS_KMH)
    min_plausible_maxspeed_kmh: float = 5.0

    def __post_init__(self) -> None:
        bad = {k: v for k, v in self.class_kmh.items() if not v > 0}
        if bad:
            raise ValueError(f"class speeds must be positive: {bad}")

    def speed_kmh(self, highway: str, maxspeed: str | None) -> float | None:
        """Effective speed of a way, or ``None`` when the class is not drivable."""
        base = self.class_kmh.get(highway)
        if base is None:
            return None
        limit = parse_maxspeed(maxspeed)
        if limit is not None and limit >= self.min_plausible_maxspeed_kmh:
            return min(base, limit)
        return base

    def fingerprint(self) -> str:
        """A short stable hash of everything that changes edge weights."""
        blob = json.dumps(
            {
                "class_kmh": dict(sorted(self.class_kmh.items())),
                "min": self.min_plausible_maxspeed_kmh,
            },
            sort_keys=True,
        )
        return hashlib.sha256(blob.encode()).hexdigest()[:12]
