"""Straight-line travel times: the fallback when no map and no OSRM server are configured.

Great-circle distance times a detour factor (roads are not straight: 1.3-1.4 is the usual
network-to-crow-flies ratio in grid-less Asian cities) at one average speed, slowed by the same
rush-hour profile as the road graph. Default 25 km/h sits between the road graph's arterial
(30 km/h) and side-street (15 km/h) class speeds, so fallback ETAs are comparable.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from dispatch.routing.base import (
    FloatArray,
    IntArray,
    LatLon,
    MatrixRows,
    Route,
    ceil_seconds,
    points_array,
)
from dispatch.routing.geo import haversine_m
from dispatch.routing.timeofday import TimeOfDayProfile


class StraightLineProvider(MatrixRows):
    """Haversine x ``detour_factor`` at ``speed_kmh`` x time-of-day multiplier."""

    def __init__(
        self,
        time_profile: TimeOfDayProfile | None = None,
        *,
        speed_kmh: float = 25.0,
        detour_factor: float = 1.4,
    ) -> None:
        if speed_kmh <= 0 or detour_factor < 1.0:
            raise ValueError("speed_kmh must be positive and detour_factor at least 1")
        self.time_profile = time_profile or TimeOfDayProfile()
        self.speed_mps = speed_kmh / 3.6
        self.detour_factor = detour_factor

    def matrix(
        self, origins: Sequence[LatLon], destinations: Sequence[LatLon], depart_at: datetime
    ) -> IntArray:
        factor = self.time_profile.multiplier(depart_at)
        meters = self._road_meters(points_array(origins), points_array(destinations))
        return ceil_seconds(meters / self.speed_mps * factor)

    def route(self, a: LatLon, b: LatLon, depart_at: datetime) -> Route:
        seconds = int(self.matrix([a], [b], depart_at)[0, 0])
        meters = float(self._road_meters(points_array([a]), points_array([b]))[0, 0])
        return Route(seconds, meters, [(a.lat, a.lon), (b.lat, b.lon)])

    def _road_meters(self, o: FloatArray, d: FloatArray) -> FloatArray:
        crow = haversine_m(o[:, None, 0], o[:, None, 1], d[None, :, 0], d[None, :, 1])
        return crow * self.detour_factor
