"""Adapter for an OSRM server's ``table`` and ``route`` HTTP services.

Dispatch must always get an answer, so any failure (connection refused, timeout, HTTP error,
a ``code`` other than ``"Ok"``, a malformed body) logs a warning and answers from the fallback
provider (straight line by default) instead of raising. Cells OSRM marks unreachable (``null``)
are filled from the fallback too.

Large matrices are split into blocks of at most ``max_table_size`` sources x destinations,
matching osrm-routed's default ``--max-table-size 100``. OSRM's car profile assumes free-flow
speeds; pass a ``time_profile`` to scale its durations by the rush-hour multiplier.

This class does blocking I/O: from async code call it through ``asyncio.to_thread``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from types import TracebackType
from typing import Any

import httpx
import numpy as np

from dispatch.routing.base import (
    FloatArray,
    IntArray,
    LatLon,
    MatrixRows,
    Route,
    TravelTimeProvider,
    ceil_seconds,
    require_aware,
)
from dispatch.routing.straight import StraightLineProvider
from dispatch.routing.timeofday import FLAT_PROFILE, TimeOfDayProfile

log = logging.getLogger(__name__)


class OsrmError(Exception):
    """Internal: the server did not give a usable answer."""


class OsrmProvider(MatrixRows):
    """:class:`~dispatch.routing.base.TravelTimeProvider` backed by ``osrm-routed``."""

    def __init__(
        self,
        base_url: str,
        fallback: TravelTimeProvider | None = None,
        *,
        profile: str = "driving",
        timeout_s: float = 2.0,
        max_table_size: int = 100,
        time_profile: TimeOfDayProfile | None = None,
        client: httpx.Client | None = None,
    ) -> None:
        if max_table_size < 1:
            raise ValueError("max_table_size must be at least 1")
        self.base_url = base_url.rstrip("/")
        self.profile = profile
        self.fallback: TravelTimeProvider = fallback or StraightLineProvider(time_profile)
        self.max_table_size = max_table_size
        self.time_profile = time_profile or FLAT_PROFILE
        self._client = client or httpx.Client(timeout=httpx.Timeout(timeout_s))

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> OsrmProvider:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- TravelTimeProvider -------------------------------------------------------------

    def matrix(
        self, origins: Sequence[LatLon], destinations: Sequence[LatLon], depart_at: datetime
    ) -> IntArray:
        factor = self.time_profile.multiplier(require_aware(depart_at))
        out = np.zeros((len(origins), len(destinations)), dtype=np.int64)
        step = self.max_table_size
        for i in range(0, len(origins), step):  # a handful of HTTP requests, not a hot loop
            for j in range(0, len(destinations), step):
                src, dst = origins[i : i + step], destinations[j : j + step]
                out[i : i + step, j : j + step] = self._block(src, dst, depart_at, factor)
        return out

    def route(self, a: LatLon, b: LatLon, depart_at: datetime) -> Route:
        factor = self.time_profile.multiplier(require_aware(depart_at))
        url = f"{self.base_url}/route/v1/{self.profile}/{_coords([a, b])}"
        try:
            body = self._get(url, {"overview": "full", "geometries": "geojson", "steps": "false"})
            best = body["routes"][0]
            duration, distance = float(best["duration"]), float(best["distance"])
            line = _geometry(best["geometry"])
        except (OsrmError, KeyError, IndexError, TypeError, ValueError) as exc:
            log.warning("OSRM route failed (%s); using the fallback provider", exc)
            return self.fallback.route(a, b, depart_at)
        seconds = int(ceil_seconds(np.array([duration * factor]))[0])
        return Route(seconds, distance, line or [(a.lat, a.lon), (b.lat, b.lon)])

    # -- internals ----------------------------------------------------------------------

    def _block(
        self,
        origins: Sequence[LatLon],
        destinations: Sequence[LatLon],
        depart_at: datetime,
        factor: float,
    ) -> IntArray:
        ns, nd = len(origins), len(destinations)
        url = f"{self.base_url}/table/v1/{self.profile}/{_coords([*origins, *destinations])}"
        params = {
            "sources": ";".join(map(str, range(ns))),
            "destinations": ";".join(map(str, range(ns, ns + nd))),
            "annotations": "duration,distance",
        }
        try:
            body = self._get(url, params)
            durations: FloatArray = np.array(body["durations"], dtype=np.float64)
            if durations.shape != (ns, nd):
                raise OsrmError(f"durations have shape {durations.shape}, expected {(ns, nd)}")
        except (OsrmError, KeyError, TypeError, ValueError) as exc:
            log.warning("OSRM table failed (%s); using the fallback provider", exc)
            return self.fallback.matrix(origins, destinations, depart_at)
        seconds = ceil_seconds(np.nan_to_num(durations, nan=0.0) * factor)
        missing = np.isnan(durations)  # null: OSRM found no route between that pair
        if missing.any():
            log.warning("OSRM table has %d unreachable pairs; using the fallback", missing.sum())
            seconds[missing] = self.fallback.matrix(origins, destinations, depart_at)[missing]
        return seconds

    def _get(self, url: str, params: dict[str, str]) -> dict[str, Any]:
        # Build the query by hand: OSRM expects literal ';' and ',' separators.
        query = "&".join(f"{k}={v}" for k, v in params.items())
        try:
            response = self._client.get(f"{url}?{query}")
        except httpx.HTTPError as exc:
            raise OsrmError(f"{type(exc).__name__}: {exc}") from exc
        try:
            body = response.json()
        except ValueError as exc:
            raise OsrmError(f"HTTP {response.status_code}, body is not JSON") from exc
        code = body.get("code") if isinstance(body, dict) else None
        if response.status_code != 200 or code != "Ok":
            message = body.get("message", "") if isinstance(body, dict) else ""
            raise OsrmError(f"HTTP {response.status_code}, code={code!r} {message}".strip())
        result: dict[str, Any] = body
        return result


def _coords(points: Sequence[LatLon]) -> str:
    return ";".join(f"{p.lon:.6f},{p.lat:.6f}" for p in points)


def _geometry(geometry: Any) -> list[tuple[float, float]]:
    """(lat, lon) pairs from GeoJSON (requested) or an encoded polyline (OSRM's default)."""
    if isinstance(geometry, str):
        return decode_polyline(geometry)
    return [(float(lat), float(lon)) for lon, lat in geometry["coordinates"]]


def decode_polyline(encoded: str, precision: int = 5) -> list[tuple[float, float]]:
    """Decode Google's encoded polyline format into (lat, lon) pairs."""
    scale = 10.0**precision
    values: list[int] = []
    shift = result = 0
    for char in encoded:
        byte = ord(char) - 63
        result |= (byte & 0x1F) << shift
        shift += 5
        if byte < 0x20:
            values.append(~(result >> 1) if result & 1 else result >> 1)
            shift = result = 0
    lats = np.cumsum(values[0::2]) / scale
    lons = np.cumsum(values[1::2]) / scale
    return list(zip(lats.tolist(), lons.tolist(), strict=False))
