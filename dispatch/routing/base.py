"""The travel-time provider interface shared by dispatch ranking and scheduling.

Providers are synchronous because they are pure computation (the road graph) or a short
blocking HTTP call with a timeout (OSRM). Async code must not call them on the event loop:
use ``await asyncio.to_thread(provider.many_to_one, ...)`` so a slow OSRM server or a large
matrix never stalls other requests.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class LatLon:
    """A WGS84 point in degrees; validated so bad GPS data fails here, not deep in numpy."""

    lat: float
    lon: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.lat) and -90.0 <= self.lat <= 90.0):
            raise ValueError(f"latitude out of range: {self.lat!r}")
        if not (math.isfinite(self.lon) and -180.0 <= self.lon <= 180.0):
            raise ValueError(f"longitude out of range: {self.lon!r}")


@dataclass(frozen=True, slots=True)
class Route:
    """One route: whole seconds (rounded up), metres, and the path as (lat, lon) pairs."""

    seconds: int
    meters: float
    polyline: list[tuple[float, float]] = field(default_factory=list)


class RoutingError(Exception):
    """Base class for routing failures that callers may want to handle as one."""


class PointOutsideNetworkError(RoutingError):
    """A point is farther from every road than the provider accepts.

    ``index`` is the position of the point in the caller's sequence (when known), so a caller
    can drop that vehicle and retry instead of failing the whole query.
    """

    def __init__(
        self, point: LatLon, distance_m: float, max_distance_m: float, index: int | None = None
    ) -> None:
        self.point = point
        self.distance_m = distance_m
        self.max_distance_m = max_distance_m
        self.index = index
        where = "" if index is None else f" (index {index})"
        super().__init__(
            f"point {point.lat:.6f},{point.lon:.6f}{where} is {distance_m:.0f} m from the "
            f"nearest road; the limit is {max_distance_m:.0f} m"
        )


@runtime_checkable
class TravelTimeProvider(Protocol):
    """Travel times in whole seconds, rounded up, for a departure at ``depart_at``.

    ``depart_at`` must be timezone-aware (providers apply time-of-day traffic in local time).
    """

    def matrix(
        self, origins: Sequence[LatLon], destinations: Sequence[LatLon], depart_at: datetime
    ) -> IntArray:
        """Seconds from each origin (rows) to each destination (columns)."""
        ...

    def one_to_many(
        self, origin: LatLon, destinations: Sequence[LatLon], depart_at: datetime
    ) -> IntArray:
        """Seconds from one origin to each destination (1-D)."""
        ...

    def many_to_one(
        self, origins: Sequence[LatLon], destination: LatLon, depart_at: datetime
    ) -> IntArray:
        """Seconds from each origin to one destination (1-D): every vehicle to an incident."""
        ...

    def route(self, a: LatLon, b: LatLon, depart_at: datetime) -> Route:
        """The fastest route from ``a`` to ``b`` with its geometry."""
        ...


class MatrixRows:
    """Mixin: the one-to-many and many-to-one queries as a row and a column of
    ``matrix``, for providers whose matrix already does the work in one pass."""

    def matrix(
        self, origins: Sequence[LatLon], destinations: Sequence[LatLon], depart_at: datetime
    ) -> IntArray:
        raise NotImplementedError

    def one_to_many(
        self, origin: LatLon, destinations: Sequence[LatLon], depart_at: datetime
    ) -> IntArray:
        row: IntArray = self.matrix([origin], destinations, depart_at)[0]
        return row

    def many_to_one(
        self, origins: Sequence[LatLon], destination: LatLon, depart_at: datetime
    ) -> IntArray:
        column: IntArray = self.matrix(origins, [destination], depart_at)[:, 0]
        return column


def require_aware(depart_at: datetime) -> datetime:
    """Reject naive datetimes: a naive time would silently be read in the server's zone."""
    if depart_at.tzinfo is None or depart_at.utcoffset() is None:
        raise ValueError("depart_at must be timezone-aware")
    return depart_at


def points_array(points: Sequence[LatLon]) -> FloatArray:
    """An (n, 2) float array of (lat, lon); the one O(n) Python step of each query."""
    if not points:
        return np.empty((0, 2), dtype=np.float64)
    flat = np.fromiter(
        (c for p in points for c in (p.lat, p.lon)), dtype=np.float64, count=2 * len(points)
    )
    return flat.reshape(-1, 2)


def ceil_seconds(seconds: FloatArray) -> IntArray:
    """Round travel times up to whole seconds.

    A tiny tolerance absorbs float noise (``10.000000001`` is 10 s, not 11) so that results
    are reproducible across summation orders.
    """
    return np.ceil(seconds - 1e-6).clip(min=0).astype(np.int64)
