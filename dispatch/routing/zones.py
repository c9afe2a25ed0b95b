"""Demand zones: the city cut into cells of about a kilometre, and the expected calls of
each cell by triage, learned from recorded calls on top of a prior.

Pure: plain numbers in, plain arrays out. Coverage (``routing.coverage``) and post
planning (``routing.postplan``) read the zones; the service layer feeds them calls.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from dispatch.routing.base import FloatArray, IntArray, LatLon

#: Metres per degree of latitude (and of longitude at the equator).
_M_PER_DEG = 111_320.0
#: The triage levels whose demand is tracked, in the order of the demand matrix rows.
LEVELS: tuple[str, ...] = ("red", "yellow", "green")


@dataclass(frozen=True)
class ZoneGrid:
    """Square cells of about ``cell_m`` over a bounding box; zone ``i`` is row ``i //
    cols``, column ``i % cols``, counted from the south-west corner."""

    min_lat: float
    min_lon: float
    max_lat: float
    max_lon: float
    cell_m: float = 1000.0
    rows: int = field(init=False)
    cols: int = field(init=False)
    dlat: float = field(init=False)
    dlon: float = field(init=False)

    def __post_init__(self) -> None:
        if not (self.min_lat < self.max_lat and self.min_lon < self.max_lon):
            raise ValueError("the area must have a positive size")
        if self.cell_m <= 0:
            raise ValueError("cell_m must be positive")
        mid = math.radians((self.min_lat + self.max_lat) / 2)
        height_m = (self.max_lat - self.min_lat) * _M_PER_DEG
        width_m = (self.max_lon - self.min_lon) * _M_PER_DEG * math.cos(mid)
        rows = max(1, round(height_m / self.cell_m))
        cols = max(1, round(width_m / self.cell_m))
        object.__setattr__(self, "rows", rows)
        object.__setattr__(self, "cols", cols)
        object.__setattr__(self, "dlat", (self.max_lat - self.min_lat) / rows)
        object.__setattr__(self, "dlon", (self.max_lon - self.min_lon) / cols)

    @property
    def size(self) -> int:
        return self.rows * self.cols

    def centroids(self) -> list[LatLon]:
        return [
            LatLon(self.min_lat + (r + 0.5) * self.dlat, self.min_lon + (c + 0.5) * self.dlon)
            for r in range(self.rows)
            for c in range(self.cols)
        ]

    def index(self, lat: FloatArray, lon: FloatArray) -> IntArray:
        """The zone of each point; points outside the area go to the nearest edge cell."""
        r = np.clip(np.floor((lat - self.min_lat) / self.dlat), 0, self.rows - 1)
        c = np.clip(np.floor((lon - self.min_lon) / self.dlon), 0, self.cols - 1)
        zones: IntArray = (r * self.cols + c).astype(np.int64)
        return zones

    def zone_of(self, point: LatLon) -> int:
        """One point's zone (plain arithmetic: called once per unit change)."""
        r = min(max(math.floor((point.lat - self.min_lat) / self.dlat), 0), self.rows - 1)
        c = min(max(math.floor((point.lon - self.min_lon) / self.dlon), 0), self.cols - 1)
        return r * self.cols + c


def nearest_labels(grid: ZoneGrid, places: Sequence[tuple[str, LatLon]]) -> list[str]:
    """A readable name per zone: the nearest named place (a district, a station)."""
    if not places:
        return [f"zone {i}" for i in range(grid.size)]
    cent = grid.centroids()
    lat = np.array([c.lat for c in cent])[:, None]
    lon = np.array([c.lon for c in cent])[:, None]
    plat = np.array([p.lat for _, p in places])[None, :]
    plon = np.array([p.lon for _, p in places])[None, :]
    scale = math.cos(math.radians((grid.min_lat + grid.max_lat) / 2))
    d2 = (lat - plat) ** 2 + ((lon - plon) * scale) ** 2
    return [places[int(j)][0] for j in np.argmin(d2, axis=1)]


class DemandModel:
    """Expected calls per zone and triage level: a prior (a scenario's demand layer, a
    population layer, or uniform) worth ``prior_calls`` calls, plus every recorded call.

    Why a prior: a new deployment, or a quiet zone, has too few calls to learn from; the
    prior fades as real calls accumulate."""

    def __init__(
        self,
        grid: ZoneGrid,
        prior: FloatArray | None = None,
        *,
        prior_calls: float = 500.0,
        level_mix: Mapping[str, float] | None = None,
    ) -> None:
        self.grid = grid
        base = np.ones(grid.size) if prior is None else np.asarray(prior, dtype=np.float64)
        if base.shape != (grid.size,) or not np.all(np.isfinite(base)) or np.any(base < 0):
            raise ValueError("the prior needs one finite, non-negative weight per zone")
        total = base.sum()
        base = base / total if total > 0 else np.full(grid.size, 1.0 / grid.size)
        mix = dict(level_mix or {"red": 0.15, "yellow": 0.35, "green": 0.5})
        share = np.array([max(mix.get(level, 0.0), 0.0) for level in LEVELS])
        share = share / share.sum() if share.sum() > 0 else np.full(len(LEVELS), 1 / len(LEVELS))
        self._prior = prior_calls * share[:, None] * base[None, :]
        self._counts = np.zeros((len(LEVELS), grid.size))

    def add_calls(self, points: Iterable[tuple[float, float, str]], weight: float = 1.0) -> int:
        """Record calls as (lat, lon, triage); triage levels not tracked are ignored."""
        added = 0
        for lat, lon, triage in points:
            if triage in LEVELS:
                zone = self.grid.zone_of(LatLon(lat, lon))
                self._counts[LEVELS.index(triage), zone] += weight
                added += 1
        return added

    @property
    def recorded(self) -> float:
        """Calls recorded so far (the prior not counted)."""
        return float(self._counts.sum())

    def expected(self) -> FloatArray:
        """Share of all calls per (level, zone): sums to 1 over the whole matrix."""
        total = self._prior + self._counts
        result: FloatArray = total / total.sum()
        return result

    def of_level(self, level: str) -> FloatArray:
        """Share of ``level``'s calls per zone: sums to 1 over the zones."""
        row = (self._prior + self._counts)[LEVELS.index(level)]
        result: FloatArray = row / row.sum()
        return result


def points_prior(grid: ZoneGrid, points: Iterable[tuple[float, float, float]]) -> FloatArray:
    """A prior from weighted points (lat, lon, weight), e.g. a population layer or a
    scenario's demand centres sampled on the grid."""
    weights = np.zeros(grid.size)
    for lat, lon, weight in points:
        if math.isfinite(weight) and weight > 0:
            weights[grid.zone_of(LatLon(lat, lon))] += weight
    return weights


def gaussian_prior(
    grid: ZoneGrid, centres: Iterable[tuple[float, float, float, float]]
) -> FloatArray:
    """A prior from demand centres (lat, lon, sigma in metres, weight): each spreads its
    weight over the zones as a 2-D Gaussian (how the city scenarios describe demand)."""
    cent = grid.centroids()
    lat = np.array([c.lat for c in cent])
    lon = np.array([c.lon for c in cent])
    scale = math.cos(math.radians((grid.min_lat + grid.max_lat) / 2))
    weights = np.zeros(grid.size)
    for clat, clon, sigma_m, weight in centres:
        dy = (lat - clat) * _M_PER_DEG
        dx = (lon - clon) * _M_PER_DEG * scale
        density = np.exp(-(dx**2 + dy**2) / (2 * max(sigma_m, 1.0) ** 2))
        if density.sum() > 0:
            weights += weight * density / density.sum()
    return weights


class DemandPoint(NamedTuple):
    """One point of a demand prior: a past call, a block's population (``weight``), or a
    demand centre spread over ``sigma_m`` metres (0: counted in its own zone only)."""

    lat: float
    lon: float
    weight: float = 1.0
    sigma_m: float = 0.0


def prior_of(grid: ZoneGrid, points: Iterable[DemandPoint]) -> FloatArray | None:
    """The prior weights per zone of ``points`` (None when no point has weight inside
    the grid, so the caller falls back to a uniform prior)."""
    pts = list(points)
    inside = [
        (p.lat, p.lon, p.weight)
        for p in pts
        if p.sigma_m <= 0
        and grid.min_lat <= p.lat <= grid.max_lat
        and grid.min_lon <= p.lon <= grid.max_lon
    ]  # a point outside is not piled onto the edge cells
    weights = points_prior(grid, inside)
    spread = [(p.lat, p.lon, p.sigma_m, p.weight) for p in pts if p.sigma_m > 0 and p.weight > 0]
    if spread:
        weights = weights + gaussian_prior(grid, spread)
    return weights if float(weights.sum()) > 0 else None
