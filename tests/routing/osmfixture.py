"""Tiny OSM XML maps laid out in metres, for exact routing assertions."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from xml.sax.saxutils import quoteattr

import numpy as np
import numpy.typing as npt

from dispatch.routing.base import LatLon
from dispatch.routing.graph import RoadGraph

LAT0, LON0 = 13.75, 100.50
_M_PER_DEG = 6_371_008.8 * math.pi / 180.0

SHARED_DATA = Path(__file__).parents[2].parent / "shared" / "data"
BANGKOK = SHARED_DATA / "bangkok"


def at(x_m: float, y_m: float) -> LatLon:
    """The point ``x_m`` metres east and ``y_m`` metres north of the map origin."""
    return LatLon(LAT0 + y_m / _M_PER_DEG, LON0 + x_m / (_M_PER_DEG * math.cos(math.radians(LAT0))))


def haversine(a: LatLon, b: LatLon) -> float:
    """Independent great-circle distance in metres (not the library's)."""
    p1, p2 = math.radians(a.lat), math.radians(b.lat)
    dp, dl = p2 - p1, math.radians(b.lon - a.lon)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6_371_008.8 * math.asin(math.sqrt(h))


Way = tuple[Sequence[str], Mapping[str, str]]


def write_osm(path: Path, nodes: Mapping[str, tuple[float, float]], ways: Sequence[Way]) -> Path:
    """Write nodes (name -> metres east/north) and ways (node names, tags) as OSM XML."""
    ids = {name: i + 1 for i, name in enumerate(nodes)}
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<osm version="0.6" generator="test">']
    for name, (x, y) in nodes.items():
        p = at(x, y)
        lines.append(f'  <node id="{ids[name]}" version="1" lat="{p.lat:.9f}" lon="{p.lon:.9f}"/>')
    for w, (refs, tags) in enumerate(ways, start=1):
        lines.append(f'  <way id="{w}" version="1">')
        lines.extend(f'    <nd ref="{ids[r]}"/>' for r in refs)
        lines.extend(f"    <tag k={quoteattr(k)} v={quoteattr(v)}/>" for k, v in tags.items())
        lines.append("  </way>")
    lines.append("</osm>")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def brute_force_snap_m(graph: RoadGraph, points: list[LatLon]) -> npt.NDArray[np.float64]:
    """Distance to every segment, by a separate small equirectangular computation."""
    lat0 = float(graph.lat.mean())
    kx = math.radians(1) * 6_371_008.8 * math.cos(math.radians(lat0))
    ky = math.radians(1) * 6_371_008.8
    ax, ay = graph.lon[graph.src] * kx, graph.lat[graph.src] * ky
    bx, by = graph.lon[graph.dst] * kx, graph.lat[graph.dst] * ky
    px = np.array([p.lon for p in points])[:, None] * kx
    py = np.array([p.lat for p in points])[:, None] * ky
    vx, vy = bx - ax, by - ay
    t = np.clip(((px - ax) * vx + (py - ay) * vy) / np.maximum(vx * vx + vy * vy, 1e-12), 0, 1)
    out: npt.NDArray[np.float64] = np.hypot(px - ax - t * vx, py - ay - t * vy).min(axis=1)
    return out
