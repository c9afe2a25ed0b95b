"""The loaded road network as drawable lines, for screens that cannot reach a tile server.

A control room without internet still needs a map: the road graph the app already holds
for ETAs is drawn instead of tiles. Directed edges are merged into undirected segments and
chained through nodes with exactly two neighbours, so a street is one polyline rather than
hundreds of two-point segments.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from dispatch.routing.base import TravelTimeProvider
from dispatch.routing.graph import RoadGraph
from dispatch.routing.roadgraph import RoadGraphProvider
from dispatch.routing.streets import StreetLabel, read_street_labels

#: 5 decimals ≈ 1 m: finer than any screen needs, and it keeps the payload small.
DECIMALS = 5


@dataclass(frozen=True)
class RoadLines:
    """``source`` is ``road_graph`` or ``none`` (no network loaded: straight-line or OSRM)."""

    source: str
    bbox: tuple[float, float, float, float] | None  # min_lat, min_lon, max_lat, max_lon
    lines: list[list[tuple[float, float]]]


_cache: dict[int, tuple[RoadGraph, RoadLines]] = {}
_labels: dict[tuple[Path, float], list[StreetLabel]] = {}


def road_lines(provider: TravelTimeProvider) -> RoadLines:
    """The provider's road network as polylines (computed once per graph)."""
    if not isinstance(provider, RoadGraphProvider):
        return RoadLines("none", None, [])
    graph = provider.graph
    cached = _cache.get(id(graph))
    if cached is not None and cached[0] is graph:
        return cached[1]
    result = graph_lines(graph)
    _cache.clear()  # one graph per process; do not keep old ones alive
    _cache[id(graph)] = (graph, result)
    return result


def street_labels(provider: TravelTimeProvider, osm_path: Path | None) -> list[StreetLabel]:
    """The street names to write on the drawn network (read once per file and version)."""
    if osm_path is None or not isinstance(provider, RoadGraphProvider):
        return []
    key = (osm_path, osm_path.stat().st_mtime)
    found = _labels.get(key)
    if found is None:
        found = read_street_labels(osm_path)
        _labels.clear()
        _labels[key] = found
    return found


def graph_lines(graph: RoadGraph) -> RoadLines:
    """Chain the graph's undirected segments into polylines."""
    neighbours: dict[int, set[int]] = defaultdict(set)
    for a, b in zip(graph.src.tolist(), graph.dst.tolist(), strict=True):
        if a != b:
            neighbours[a].add(b)
            neighbours[b].add(a)
    visited: set[tuple[int, int]] = set()
    chains: list[list[int]] = []

    def walk(start: int, nxt: int) -> list[int]:
        chain = [start]
        prev, cur = start, nxt
        while True:
            visited.add((min(prev, cur), max(prev, cur)))
            chain.append(cur)
            if len(neighbours[cur]) != 2 or cur == start:
                return chain
            following = next(n for n in neighbours[cur] if n != prev)
            if (min(cur, following), max(cur, following)) in visited:
                return chain
            prev, cur = cur, following

    # Chains start at junctions and dead ends; what is left afterwards are loops.
    for node in sorted(neighbours):
        if len(neighbours[node]) == 2:
            continue
        for nxt in sorted(neighbours[node]):
            if (min(node, nxt), max(node, nxt)) not in visited:
                chains.append(walk(node, nxt))
    for node in sorted(neighbours):
        for nxt in sorted(neighbours[node]):
            if (min(node, nxt), max(node, nxt)) not in visited:
                chains.append(walk(node, nxt))
    lat, lon = graph.lat, graph.lon
    lines = [
        [(round(float(lat[n]), DECIMALS), round(float(lon[n]), DECIMALS)) for n in chain]
        for chain in chains
    ]
    bbox = None
    if graph.node_count:
        bbox = (
            float(lat.min()),
            float(lon.min()),
            float(lat.max()),
            float(lon.max()),
        )
    return RoadLines("road_graph", bbox, lines)
