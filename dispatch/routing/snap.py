"""Snap points to the nearest road SEGMENT, vectorised over many points.

Each undirected segment (a pair of consecutive way nodes) is sampled every ``spacing_m`` metres
along its length, samples go into a cKDTree, and the ``k`` nearest samples give candidate
segments for an exact point-to-segment projection. Sampling the interior matters: a vehicle
beside the middle of a 400 m block is near the road, not 200 m away at a node.

Exactness: a segment's endpoints are samples and its interior samples are at most ``spacing``
apart (``h = spacing/2``). Let p be the point of segment S nearest to the query q, at distance
``D_S``. If p is interior, q-p is perpendicular to S, so S has a sample within
``sqrt(D_S^2 + h^2)`` of q; if p is an endpoint, it is itself a sample at exactly ``D_S``.
A segment with no sample among the k nearest therefore satisfies ``D_S >= sqrt(d_k^2 - h^2)``.
A point is settled when its best candidate beats that bound; the few that do not are
re-queried with a larger ``k``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from dispatch.routing.base import FloatArray
from dispatch.routing.geo import LocalProjection
from dispatch.routing.graph import IndexArray, RoadGraph


@dataclass(frozen=True, slots=True)
class Snapped:
    """Per point: segment index, fraction ``t`` from the segment's node a to b, and metres."""

    segment: IndexArray
    t: FloatArray
    distance_m: FloatArray


class SegmentIndex:
    """Undirected segments of a :class:`RoadGraph` with per-direction travel seconds."""

    def __init__(self, graph: RoadGraph, spacing_m: float = 25.0, k: int = 6) -> None:
        if spacing_m <= 0:
            raise ValueError("spacing_m must be positive")
        n = graph.node_count
        lo = np.minimum(graph.src, graph.dst)
        hi = np.maximum(graph.src, graph.dst)
        _, first, seg_of_edge = np.unique(lo * n + hi, return_index=True, return_inverse=True)
        self.a: IndexArray = lo[first]
        self.b: IndexArray = hi[first]
        forward = graph.src < graph.dst
        #: seconds a->b and b->a; +inf where that direction is not allowed
        self.fwd_s: FloatArray = np.full(first.shape, np.inf)
        self.bwd_s: FloatArray = np.full(first.shape, np.inf)
        self.fwd_s[seg_of_edge[forward]] = graph.seconds[forward]
        self.bwd_s[seg_of_edge[~forward]] = graph.seconds[~forward]
        self.length_m: FloatArray = graph.meters[first]

        self.projection = LocalProjection(
            lat0=float((graph.lat.min() + graph.lat.max()) / 2),
            lon0=float((graph.lon.min() + graph.lon.max()) / 2),
        )
        node_xy = self.projection.to_xy(graph.lat, graph.lon)
        self._pa: FloatArray = node_xy[self.a]
        self._vec: FloatArray = node_xy[self.b] - self._pa
        self._len2: FloatArray = np.einsum("ij,ij->i", self._vec, self._vec)

        counts = np.ceil(np.sqrt(self._len2) / spacing_m).astype(np.int64) + 1
        self._sample_seg: IndexArray = np.repeat(np.arange(counts.size), counts)
        starts = np.cumsum(counts) - counts
        step = np.arange(self._sample_seg.size) - starts[self._sample_seg]
        frac = step / np.maximum(counts[self._sample_seg] - 1, 1)
        samples = self._pa[self._sample_seg] + frac[:, None] * self._vec[self._sample_seg]
        self._tree = cKDTree(samples)
        self._half_gap = spacing_m / 2.0
        self._k = k

    @property
    def segment_count(self) -> int:
        return int(self.a.shape[0])

    def snap(self, latlon: FloatArray, exact_within_m: float = np.inf) -> Snapped:
        """Snap an (n, 2) array of (lat, lon).

        Distances beyond ``exact_within_m`` may be overestimated (such points are rejected by
        the caller anyway), which bounds the work spent on points far off the map.
        """
        xy = self.projection.to_xy(latlon[:, 0], latlon[:, 1])
        m = xy.shape[0]
        segment = np.zeros(m, dtype=np.int64)
        t = np.zeros(m)
        dist = np.zeros(m)
        todo = np.arange(m)
        total = self._sample_seg.size
        k = min(self._k, total)
        while todo.size:
            q = xy[todo]
            dk, ik = self._tree.query(q, k=k)
            dk = dk.reshape(todo.size, k)
            cand = self._sample_seg[ik.reshape(todo.size, k)]
            ct, cd = self._project(q, cand)
            pick = np.argmin(cd, axis=1)
            rows = np.arange(todo.size)
            segment[todo] = cand[rows, pick]
            t[todo] = ct[rows, pick]
            dist[todo] = cd[rows, pick]
            best = dist[todo]
            settled = (
                (best * best + self._half_gap**2 <= dk[:, -1] ** 2)
                | (best > exact_within_m)
                | (k >= total)
            )
            todo = todo[~settled]
            k = min(k * 4, total)
        return Snapped(segment=segment, t=t, distance_m=dist)

    def _project(self, q: FloatArray, cand: IndexArray) -> tuple[FloatArray, FloatArray]:
        """Fraction along and distance to each candidate segment, shape (m, k)."""
        pa = self._pa[cand]
        vec = self._vec[cand]
        len2 = self._len2[cand]
        rel = q[:, None, :] - pa
        dot = np.einsum("mkj,mkj->mk", rel, vec)
        t = np.clip(np.divide(dot, len2, out=np.zeros_like(dot), where=len2 > 0), 0.0, 1.0)
        off = rel - t[..., None] * vec
        return t, np.sqrt(np.einsum("mkj,mkj->mk", off, off))
