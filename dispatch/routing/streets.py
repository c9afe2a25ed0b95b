"""Street names for the offline map: where to write each named road's name, and at what angle.

A control room without tiles still has to tell a caller's "Rama IV, near the hospital" from
"Rama I": the offline map draws the routed road network and writes the street names on it.
A name goes every ``spacing_m`` along a long way (once, at its middle, on a short one), and
a label closer than ``spacing_m / 2`` to one of the same name already placed is dropped, so a
street cut into many small OSM ways is still named a few times, not on every block. Longer
ways are placed first, so the labels a screen keeps are on the main stretches.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

from dispatch.routing.base import RoutingError
from dispatch.routing.geo import EARTH_RADIUS_M
from dispatch.routing.osm import highway_ways

#: OSM name tags read, and the key each is given in ``StreetLabel.names``.
NAME_TAGS = {"name": "local", "name:en": "en", "name:th": "th", "name:vi": "vi"}
#: Ways shorter than this are not named: the label would be longer than the road.
MIN_WAY_M = 80.0


@dataclass(frozen=True)
class StreetLabel:
    lat: float
    lon: float
    #: Degrees clockwise from the screen's x axis, within [-90, 90] (text never upside down).
    angle: float
    #: "local" → the local name, plus one entry per language the map has (``en``, ``th``, ``vi``).
    names: dict[str, str]


@dataclass(frozen=True)
class _Way:
    names: dict[str, str]
    points: list[tuple[float, float]]
    length_m: float


def read_street_labels(path: Path, spacing_m: float = 900.0) -> list[StreetLabel]:
    """The labels for every named road in the OSM file ``path`` (pbf or xml)."""
    return place_labels(_named_ways(path), spacing_m)


def _named_ways(path: Path) -> list[_Way]:
    ways: list[_Way] = []
    try:
        for way in highway_ways(path):
            names = {key: way.tags[tag] for tag, key in NAME_TAGS.items() if tag in way.tags}
            if not names:
                continue
            names.setdefault("local", next(iter(names.values())))
            points = [(n.location.lat, n.location.lon) for n in way.nodes if n.location.valid()]
            if len(points) >= 2:
                ways.append(_Way(names, points, _length_m(points)))
    except (RuntimeError, OSError) as exc:  # osmium reports format errors as RuntimeError
        raise RoutingError(f"cannot read OSM file {path}: {exc}") from exc
    return ways


def _length_m(points: list[tuple[float, float]]) -> float:
    return sum(_segment_m(a, b) for a, b in pairwise(points))


def _segment_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Metres from a to b (an equirectangular step: exact enough within a city block)."""
    east = math.radians(b[1] - a[1]) * math.cos(math.radians((a[0] + b[0]) / 2))
    north = math.radians(b[0] - a[0])
    return EARTH_RADIUS_M * math.hypot(east, north)


def place_labels(ways: list[_Way], spacing_m: float) -> list[StreetLabel]:
    """Labels along ``ways``, longest first, thinned per name (see the module's docstring)."""
    placed: dict[str, list[tuple[float, float]]] = {}
    labels: list[StreetLabel] = []
    order = sorted(ways, key=lambda w: (-w.length_m, w.names["local"], w.points[0]))
    for way in order:
        if way.length_m < MIN_WAY_M:
            continue
        count = max(1, int(way.length_m // spacing_m))
        step = way.length_m / count
        same = placed.setdefault(way.names["local"], [])
        for i in range(count):
            lat, lon, angle = _point_at(way.points, step * (i + 0.5))
            if any(_segment_m((lat, lon), p) < spacing_m / 2 for p in same):
                continue
            same.append((lat, lon))
            labels.append(StreetLabel(round(lat, 5), round(lon, 5), angle, dict(way.names)))
    return labels


def _point_at(points: list[tuple[float, float]], at_m: float) -> tuple[float, float, float]:
    """The point ``at_m`` metres along the polyline, and the road's screen angle there."""
    walked = 0.0
    for a, b in pairwise(points):
        length = _segment_m(a, b)
        if length > 0 and walked + length >= at_m:
            share = (at_m - walked) / length
            lat = a[0] + (b[0] - a[0]) * share
            lon = a[1] + (b[1] - a[1]) * share
            return lat, lon, screen_angle(a, b)
        walked += length
    a, b = points[-2], points[-1]
    return b[0], b[1], screen_angle(a, b)


def screen_angle(a: tuple[float, float], b: tuple[float, float]) -> float:
    """The angle of a→b on a north-up map, clockwise from east, folded into [-90, 90]."""
    east = (b[1] - a[1]) * math.cos(math.radians((a[0] + b[0]) / 2))
    north = b[0] - a[0]
    angle = -math.degrees(math.atan2(north, east))  # screen y grows downwards
    if angle > 90:
        angle -= 180
    elif angle < -90:
        angle += 180
    return round(angle, 1)
