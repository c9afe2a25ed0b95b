"""Travel times on a road graph built from OpenStreetMap.

A trip end is a point snapped onto a road segment. Its time is: an off-road leg at
``offroad_kmh`` (straight line from the point to the road: driveways, sois missing from the
extract), plus the partial segment from the snapped point to the segment's node in an allowed
direction, plus the graph path. Each query point becomes a *virtual node* appended to a copy of
the CSR arrays with up to two edges (one per allowed direction) weighted by its partial
segment, so one scipy Dijkstra per virtual node answers a whole row: an incident against every
vehicle is a single Dijkstra over the reversed graph. Two points on the same segment may also
travel directly along it. Two points may also be joined by one straight off-road leg when it is
no longer than their two off-road legs together (both in the same unmapped soi or compound; a
point's time to itself is zero); points on the road never cut across, so one-way streets hold.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import numpy.typing as npt
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from dispatch.routing.base import (
    FloatArray,
    IntArray,
    LatLon,
    MatrixRows,
    PointOutsideNetworkError,
    Route,
    RoutingError,
    ceil_seconds,
    points_array,
)
from dispatch.routing.geo import haversine_m
from dispatch.routing.graph import IndexArray, RoadGraph, load_or_build_graph
from dispatch.routing.snap import SegmentIndex, Snapped
from dispatch.routing.speeds import SpeedTable
from dispatch.routing.timeofday import TimeOfDayProfile

#: Snapped points remembered (a city fleet's stations and recent positions fit easily).
SNAP_CACHE_SIZE = 200_000


def _part(fraction: FloatArray, seconds: FloatArray) -> FloatArray:
    """``fraction * seconds`` where the direction exists (finite), +inf where it does not."""
    ok = np.isfinite(seconds)
    out: FloatArray = np.where(ok, fraction * np.where(ok, seconds, 0.0), np.inf)
    return out


@dataclass(frozen=True, slots=True)
class _Csr:
    """Compressed adjacency arrays, reused for every query's augmented copy."""

    indptr: npt.NDArray[np.int32]
    indices: npt.NDArray[np.int32]
    data: FloatArray
    n: int

    @classmethod
    def from_edges(cls, tail: IndexArray, head: IndexArray, weight: FloatArray, n: int) -> _Csr:
        order = np.lexsort((head, tail))
        indptr = np.concatenate(([0], np.cumsum(np.bincount(tail, minlength=n))))
        return cls(indptr.astype(np.int32), head[order].astype(np.int32), weight[order].copy(), n)

    def with_sources(self, heads: IndexArray, costs: FloatArray) -> csr_matrix:
        """The graph plus one virtual node per row of ``heads``/``costs`` (shape (k, 2))."""
        k = heads.shape[0]
        size = self.n + k
        extra = self.indptr[-1] + 2 * np.arange(1, k + 1, dtype=np.int64)
        indptr = np.concatenate((self.indptr, extra.astype(np.int32)))
        indices = np.concatenate((self.indices, heads.ravel().astype(np.int32)))
        data = np.concatenate((self.data, costs.ravel()))
        return csr_matrix((data, indices, indptr), shape=(size, size))


@dataclass(frozen=True, slots=True)
class _Ends:
    """Snapped points as trip ends: how to leave them (origin) and reach them (destination)."""

    latlon: FloatArray
    segment: IndexArray
    t: FloatArray
    fwd_s: FloatArray
    bwd_s: FloatArray
    offroad_s: FloatArray
    out_heads: IndexArray  # (m, 2): nodes reachable by driving off the segment: b, a
    out_cost: FloatArray
    in_tails: IndexArray  # (m, 2): nodes from which the segment leads to the point: a, b
    in_cost: FloatArray

    @property
    def size(self) -> int:
        return int(self.segment.shape[0])


class RoadGraphProvider(MatrixRows):
    """The :class:`~dispatch.routing.base.TravelTimeProvider` over an OSM road graph.

    ``max_snap_m``: a point farther from every road raises :class:`PointOutsideNetworkError`
    (use :meth:`distance_to_network` to filter vehicles first). ``offroad_kmh``: speed of the
    straight leg between a point and its snapped position. Immutable after construction, so
    one instance can serve concurrent ``asyncio.to_thread`` calls.
    """

    def __init__(
        self,
        graph: RoadGraph,
        time_profile: TimeOfDayProfile | None = None,
        *,
        max_snap_m: float = 1000.0,
        offroad_kmh: float = 10.0,
        snap_spacing_m: float = 25.0,
    ) -> None:
        if max_snap_m <= 0 or offroad_kmh <= 0:
            raise ValueError("max_snap_m and offroad_kmh must be positive")
        self.graph = graph
        self.time_profile = time_profile or TimeOfDayProfile()
        self.max_snap_m = max_snap_m
        self._snap_cache: dict[tuple[float, float], tuple[int, float, float]] = {}
        self.offroad_mps = offroad_kmh / 3.6
        self.index = SegmentIndex(graph, spacing_m=snap_spacing_m)
        n = graph.node_count
        self._forward = _Csr.from_edges(graph.src, graph.dst, graph.seconds, n)
        self._reverse = _Csr.from_edges(graph.dst, graph.src, graph.seconds, n)
        self._edge_keys = graph.src * n + graph.dst  # sorted: the graph is sorted by (src, dst)

    @classmethod
    def from_osm(
        cls,
        osm_path: Path,
        cache_dir: Path | None,
        *,
        speeds: SpeedTable | None = None,
        time_profile: TimeOfDayProfile | None = None,
        max_snap_m: float = 1000.0,
        offroad_kmh: float = 10.0,
    ) -> RoadGraphProvider:
        """Load the cached graph for ``osm_path`` or build (and cache) it."""
        graph = load_or_build_graph(osm_path, cache_dir, speeds)
        return cls(graph, time_profile, max_snap_m=max_snap_m, offroad_kmh=offroad_kmh)

    @property
    def bbox(self) -> tuple[float, float, float, float]:
        """(min_lat, min_lon, max_lat, max_lon) of the routable network."""
        g = self.graph
        return float(g.lat.min()), float(g.lon.min()), float(g.lat.max()), float(g.lon.max())

    def distance_to_network(self, points: Sequence[LatLon]) -> FloatArray:
        """Metres from each point to the nearest road (exact up to ``max_snap_m``)."""
        return self.index.snap(points_array(points), exact_within_m=self.max_snap_m).distance_m

    # -- TravelTimeProvider -------------------------------------------------------------

    def matrix(
        self, origins: Sequence[LatLon], destinations: Sequence[LatLon], depart_at: datetime
    ) -> IntArray:
        factor = self.time_profile.multiplier(depart_at)
        if not origins or not destinations:
            return np.zeros((len(origins), len(destinations)), dtype=np.int64)
        o, d = self._ends(origins), self._ends(destinations)
        total = np.minimum(
            self._road_seconds(o, d) + o.offroad_s[:, None] + d.offroad_s[None, :],
            self._offroad_seconds(o, d),
        )
        if not np.isfinite(total).all():  # impossible inside one SCC; guard against bad input
            raise RoutingError("no route between some snapped points")
        return ceil_seconds(total * factor)

    def route(self, a: LatLon, b: LatLon, depart_at: datetime) -> Route:
        factor = self.time_profile.multiplier(depart_at)
        o, d = self._ends([a]), self._ends([b])
        n = self.graph.node_count
        dist, pred = dijkstra(
            self._forward.with_sources(o.out_heads, o.out_cost),
            indices=n,
            return_predecessors=True,
        )
        via = dist[d.in_tails[0]] + d.in_cost[0]
        direct = float(self._same_segment(o, d)[0, 0])
        road = min(float(via.min()), direct)
        crow_s = float(self._offroad_seconds(o, d)[0, 0])
        total = min(road + o.offroad_s[0] + d.offroad_s[0], crow_s)  # as matrix() computes it
        seconds = int(ceil_seconds(np.array([total * factor]))[0])
        ends = [(a.lat, a.lon), (b.lat, b.lon)]
        if crow_s <= total:
            return Route(seconds, crow_s * self.offroad_mps, _dedupe(ends))
        off_m = float(o.offroad_s[0] + d.offroad_s[0]) * self.offroad_mps
        snap_a, snap_b = self._snapped_latlon(o), self._snapped_latlon(d)
        if direct <= via.min():
            seg_m = abs(d.t[0] - o.t[0]) * self.index.length_m[o.segment[0]]
            line = [ends[0], snap_a, snap_b, ends[1]]
            return Route(seconds, off_m + float(seg_m), _dedupe(line))
        entry = int(np.argmin(via))
        nodes = _walk_back(pred, int(d.in_tails[0, entry]), stop=n)
        meters = off_m + self._path_meters(o, d, nodes, entered_from_a=entry == 0)
        coords = zip(self.graph.lat[nodes].tolist(), self.graph.lon[nodes].tolist(), strict=True)
        line = [ends[0], snap_a, *coords, snap_b, ends[1]]
        return Route(seconds, meters, _dedupe(line))

    # -- internals ----------------------------------------------------------------------

    def forget_snaps(self) -> None:
        self._snap_cache.clear()

    def _snap(self, latlon: FloatArray) -> Snapped:
        """Snap with a cache: most units stand still between two calls (at stations, on
        scene), so re-snapping the whole fleet for every incident is wasted work."""
        keys = list(zip(latlon[:, 0].tolist(), latlon[:, 1].tolist(), strict=True))
        cache = self._snap_cache
        missing = [i for i, key in enumerate(keys) if key not in cache]
        if missing:
            fresh = self.index.snap(latlon[missing], exact_within_m=self.max_snap_m)
            if len(cache) + len(missing) > SNAP_CACHE_SIZE:
                cache.clear()
            for j, i in enumerate(missing):
                cache[keys[i]] = (
                    int(fresh.segment[j]),
                    float(fresh.t[j]),
                    float(fresh.distance_m[j]),
                )
        rows = [cache[key] for key in keys]
        return Snapped(
            segment=np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows)),
            t=np.fromiter((r[1] for r in rows), dtype=np.float64, count=len(rows)),
            distance_m=np.fromiter((r[2] for r in rows), dtype=np.float64, count=len(rows)),
        )

    def _ends(self, points: Sequence[LatLon]) -> _Ends:
        latlon = points_array(points)
        snapped = self._snap(latlon)
        too_far = snapped.distance_m > self.max_snap_m
        if too_far.any():
            i = int(np.argmax(too_far))
            raise PointOutsideNetworkError(
                points[i], float(snapped.distance_m[i]), self.max_snap_m, index=i
            )
        seg, t = snapped.segment, snapped.t
        a, b = self.index.a[seg], self.index.b[seg]
        fwd, bwd = self.index.fwd_s[seg], self.index.bwd_s[seg]
        return _Ends(
            latlon=latlon,
            segment=seg,
            t=t,
            fwd_s=fwd,
            bwd_s=bwd,
            offroad_s=snapped.distance_m / self.offroad_mps,
            out_heads=np.column_stack((b, a)),
            out_cost=np.column_stack((_part(1.0 - t, fwd), _part(t, bwd))),
            in_tails=np.column_stack((a, b)),
            in_cost=np.column_stack((_part(t, fwd), _part(1.0 - t, bwd))),
        )

    def _road_seconds(self, o: _Ends, d: _Ends) -> FloatArray:
        """Seconds on roads between every origin and destination, shape (len(o), len(d)).

        Dijkstra runs from whichever side has fewer points: forward from the origins or over
        the reversed graph from the destinations.
        """
        n = self.graph.node_count
        if o.size <= d.size:
            graph = self._forward.with_sources(o.out_heads, o.out_cost)
            dist = dijkstra(graph, indices=n + np.arange(o.size))
            road = (dist[:, d.in_tails] + d.in_cost[None, :, :]).min(axis=2)
        else:
            graph = self._reverse.with_sources(d.in_tails, d.in_cost)
            dist = dijkstra(graph, indices=n + np.arange(d.size))
            road = (dist[:, o.out_heads] + o.out_cost[None, :, :]).min(axis=2).T
        out: FloatArray = np.minimum(road, self._same_segment(o, d))
        return out

    @staticmethod
    def _same_segment(o: _Ends, d: _Ends) -> FloatArray:
        """Seconds driving straight along a shared segment; +inf where not possible."""
        same = o.segment[:, None] == d.segment[None, :]
        out: FloatArray = np.full(same.shape, np.inf)
        if not same.any():
            return out
        dt = d.t[None, :] - o.t[:, None]
        ahead = np.where(same & (dt >= 0), _part(np.abs(dt), o.fwd_s[:, None]), np.inf)
        behind = np.where(same & (dt <= 0), _part(np.abs(dt), o.bwd_s[:, None]), np.inf)
        out = np.minimum(ahead, behind)
        return out

    def _offroad_seconds(self, o: _Ends, d: _Ends) -> FloatArray:
        """Seconds for one straight off-road leg from each origin to each destination.

        +inf where that leg is longer than the two legs to the road together.
        """
        meters = haversine_m(
            o.latlon[:, None, 0], o.latlon[:, None, 1], d.latlon[None, :, 0], d.latlon[None, :, 1]
        )
        seconds = meters / self.offroad_mps
        allowed = seconds <= o.offroad_s[:, None] + d.offroad_s[None, :] + 1e-9
        out: FloatArray = np.where(allowed, seconds, np.inf)
        return out

    def _path_meters(self, o: _Ends, d: _Ends, nodes: IndexArray, *, entered_from_a: bool) -> float:
        """Road metres: partial origin segment, whole edges along ``nodes``, partial last one."""
        n = self.graph.node_count
        len_o = self.index.length_m[o.segment[0]]
        len_d = self.index.length_m[d.segment[0]]
        left_via_b = nodes[0] == o.out_heads[0, 0]
        out_m = (1.0 - o.t[0]) * len_o if left_via_b else o.t[0] * len_o
        in_m = d.t[0] * len_d if entered_from_a else (1.0 - d.t[0]) * len_d
        edges = np.searchsorted(self._edge_keys, nodes[:-1] * n + nodes[1:])
        return float(out_m + in_m + self.graph.meters[edges].sum())

    def _snapped_latlon(self, ends: _Ends) -> tuple[float, float]:
        seg, t = int(ends.segment[0]), float(ends.t[0])
        a, b = int(self.index.a[seg]), int(self.index.b[seg])
        lat, lon = self.graph.lat, self.graph.lon
        return (
            float(lat[a] + t * (lat[b] - lat[a])),
            float(lon[a] + t * (lon[b] - lon[a])),
        )


def _walk_back(pred: npt.NDArray[np.int32], last: int, stop: int) -> IndexArray:
    """Node path ending at ``last`` from Dijkstra predecessors, up to the virtual ``stop``."""
    path = [last]
    while pred[path[-1]] != stop:  # one step per road node: route() only, not a hot path
        path.append(int(pred[path[-1]]))
    return np.array(path[::-1], dtype=np.int64)


def _dedupe(line: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Drop consecutive repeated vertices (a point already on the road snaps onto itself)."""
    out = [line[0]]
    for p in line[1:]:
        if p != out[-1]:
            out.append(p)
    return out
