"""The demand prior a deployment starts from (``DISPATCH_COVERAGE_DEMAND_CSV``).

A new centre has no recorded calls, and a uniform prior makes coverage guard empty
rice fields as carefully as the old town. The file says where calls come from before
the centre's own calls do: last year's calls exported from the old system (the
simulator's ``time,lat,lon,triage`` files work as they are), a population layer
(``lat,lon,weight``), or demand centres (``lat,lon,weight,sigma_m``). Every row adds to
one shape for all triage levels; the recorded calls then teach each level its own.

Read once at start-up; a bad row stops the start with its line and field named.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

from dispatch.routing.zones import DemandPoint

#: The most rows read (a city's year of calls fits; a mistake does not fill memory).
MAX_ROWS = 2_000_000


def _number(row: dict[str, str | None], name: str, where: str, default: float | None) -> float:
    raw = (row.get(name) or "").strip()
    if not raw:
        if default is None:
            raise ValueError(f"{where}: {name} is missing")
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{where}: {name} is not a number: {raw[:40]!r}") from None
    if not math.isfinite(value):
        raise ValueError(f"{where}: {name} must be a finite number")
    return value


def load_demand_prior(path: Path) -> tuple[DemandPoint, ...]:
    """The prior's points; ``ValueError`` naming the line and field of the first bad row."""
    points: list[DemandPoint] = []
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        header = {name.strip().lower() for name in reader.fieldnames or ()}
        if not {"lat", "lon"} <= header:
            raise ValueError(f"{path}: the header needs lat and lon columns")
        for line, raw in enumerate(reader, start=2):
            if len(points) >= MAX_ROWS:
                raise ValueError(f"{path}: more than {MAX_ROWS} rows")
            row = {(k or "").strip().lower(): v for k, v in raw.items()}
            where = f"{path}:{line}"
            lat = _number(row, "lat", where, None)
            lon = _number(row, "lon", where, None)
            if not (-90 <= lat <= 90 and -180 <= lon <= 180):
                raise ValueError(f"{where}: lat/lon out of range")
            weight = _number(row, "weight", where, 1.0)
            sigma = _number(row, "sigma_m", where, 0.0)
            if weight < 0 or sigma < 0:
                raise ValueError(f"{where}: weight and sigma_m must not be negative")
            points.append(DemandPoint(lat, lon, weight, sigma))
    if not points:
        raise ValueError(f"{path}: no rows")
    return tuple(points)
