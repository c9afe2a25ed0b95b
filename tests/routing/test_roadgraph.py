"""Road-graph travel times on small hand-made maps with exactly known answers."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from itertools import pairwise
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from dispatch.routing.base import LatLon, TravelTimeProvider
from dispatch.routing.roadgraph import RoadGraphProvider
from dispatch.routing.speeds import SpeedTable

from .osmfixture import Way, at, haversine, write_osm

BKK = ZoneInfo("Asia/Bangkok")
NOON = datetime(2026, 3, 18, 12, 0, tzinfo=BKK)
RUSH = datetime(2026, 3, 18, 8, 0, tzinfo=BKK)
KMH = 1 / 3.6  # m/s per km/h
OFFROAD = 10 * KMH
PRIMARY, RESIDENTIAL, MOTORWAY = 30 * KMH, 15 * KMH, 70 * KMH


def build(
    tmp_path: Path,
    nodes: Mapping[str, tuple[float, float]],
    ways: Sequence[Way],
    **kwargs: Any,
) -> RoadGraphProvider:
    osm = write_osm(tmp_path / "map.osm", nodes, ways)
    return RoadGraphProvider.from_osm(osm, tmp_path / "cache", **kwargs)


def assert_seconds(actual: int, expected: float) -> None:
    """``actual`` is ``expected`` rounded up; fixtures avoid near-integer expectations."""
    assert abs(expected - round(expected)) > 0.01, f"fixture too close to an integer: {expected}"
    assert actual == math.ceil(expected), (actual, expected)


def eta(p: RoadGraphProvider, a: LatLon, b: LatLon, when: datetime = NOON) -> int:
    return int(p.matrix([a], [b], when)[0, 0])


def dist(*names: tuple[float, float]) -> float:
    return sum(haversine(at(*u), at(*v)) for u, v in pairwise(names))


# A 520 m primary a-b whose direction the test chooses, and a residential detour b-c-d-a.
LOOP = {"a": (0.0, 0.0), "b": (520.0, 0.0), "c": (520.0, 310.0), "d": (0.0, 310.0)}
DETOUR: Way = (["b", "c", "d", "a"], {"highway": "residential"})


def test_provider_satisfies_protocol(tmp_path: Path) -> None:
    p = build(tmp_path, LOOP, [(["a", "b"], {"highway": "primary"}), DETOUR])
    assert isinstance(p, TravelTimeProvider)


def test_oneway_yes_forces_detour_in_reverse(tmp_path: Path) -> None:
    p = build(tmp_path, LOOP, [(["a", "b"], {"highway": "primary", "oneway": "yes"}), DETOUR])
    a, b = at(*LOOP["a"]), at(*LOOP["b"])
    assert_seconds(eta(p, a, b), dist(LOOP["a"], LOOP["b"]) / PRIMARY)
    detour = dist(LOOP["b"], LOOP["c"], LOOP["d"], LOOP["a"]) / RESIDENTIAL
    assert_seconds(eta(p, b, a), detour)
    assert eta(p, b, a) > 3 * eta(p, a, b)
    route = p.route(b, a, NOON)
    assert route.seconds == eta(p, b, a)
    assert route.meters == pytest.approx(dist(LOOP["b"], LOOP["c"], LOOP["d"], LOOP["a"]), abs=0.5)
    distinct = [route.polyline[0]]
    for q in route.polyline[1:]:  # the points sit on nodes: snapped copies coincide
        if max(abs(q[0] - distinct[-1][0]), abs(q[1] - distinct[-1][1])) > 1e-7:
            distinct.append(q)
    corners = [c for k in "bcda" for c in (at(*LOOP[k]).lat, at(*LOOP[k]).lon)]
    assert [c for q in distinct for c in q] == pytest.approx(corners, abs=1e-7)


def test_oneway_minus_one_is_reversed(tmp_path: Path) -> None:
    p = build(tmp_path, LOOP, [(["a", "b"], {"highway": "primary", "oneway": "-1"}), DETOUR])
    a, b = at(*LOOP["a"]), at(*LOOP["b"])
    assert_seconds(eta(p, b, a), dist(LOOP["a"], LOOP["b"]) / PRIMARY)
    assert_seconds(eta(p, a, b), dist(LOOP["a"], LOOP["d"], LOOP["c"], LOOP["b"]) / RESIDENTIAL)


def test_motorway_implies_oneway_unless_tagged_no(tmp_path: Path) -> None:
    a, b = at(*LOOP["a"]), at(*LOOP["b"])
    implied = build(tmp_path / "m1", LOOP, [(["a", "b"], {"highway": "motorway"}), DETOUR])
    assert_seconds(eta(implied, a, b), dist(LOOP["a"], LOOP["b"]) / MOTORWAY)
    assert eta(implied, b, a) > 10 * eta(implied, a, b)
    twoway = build(
        tmp_path / "m2", LOOP, [(["a", "b"], {"highway": "motorway", "oneway": "no"}), DETOUR]
    )
    assert eta(twoway, b, a) == eta(twoway, a, b) == eta(implied, a, b)


def test_roundabout_is_one_way(tmp_path: Path) -> None:
    ring = {"s": (0.0, -130.0), "e": (130.0, 0.0), "n": (0.0, 130.0), "w": (-130.0, 0.0)}
    p = build(
        tmp_path,
        ring,
        [(["s", "e", "n", "w", "s"], {"highway": "primary", "junction": "roundabout"})],
    )
    s, e = at(*ring["s"]), at(*ring["e"])
    assert_seconds(eta(p, s, e), dist(ring["s"], ring["e"]) / PRIMARY)
    around = dist(ring["e"], ring["n"], ring["w"], ring["s"]) / PRIMARY
    assert_seconds(eta(p, e, s), around)


@pytest.mark.parametrize(
    ("tags", "table", "kmh"),
    [
        ({"maxspeed": "20"}, None, 20.0),
        ({"maxspeed": "60"}, None, 30.0),
        ({}, None, 30.0),
        ({"maxspeed": "30 mph"}, {"primary": 100.0}, 30 * 1.609344),
        ({"maxspeed": "60 km/h"}, {"primary": 100.0}, 60.0),
    ],
)
def test_maxspeed_caps_class_speed(
    tmp_path: Path, tags: dict[str, str], table: dict[str, float] | None, kmh: float
) -> None:
    nodes = {"a": (0.0, 0.0), "b": (1234.0, 0.0)}
    speeds = SpeedTable(class_kmh=table) if table else None
    p = build(tmp_path, nodes, [(["a", "b"], {"highway": "primary", **tags})], speeds=speeds)
    expected = dist(nodes["a"], nodes["b"]) / (kmh * KMH)
    assert_seconds(eta(p, at(*nodes["a"]), at(*nodes["b"])), expected)


def test_non_drivable_ways_are_ignored(tmp_path: Path) -> None:
    nodes = {**LOOP, "x": (260.0, 155.0)}
    shortcuts: list[Way] = [
        (["a", "x", "c"], {"highway": kind})
        for kind in ("footway", "path", "cycleway", "steps", "pedestrian", "construction")
    ]
    closed: Way = (["a", "c"], {"highway": "primary", "access": "no"})
    p = build(tmp_path, nodes, [(["a", "b"], {"highway": "primary"}), DETOUR, *shortcuts, closed])
    a, c = at(*LOOP["a"]), at(*LOOP["c"])
    assert p.graph.node_count == 4
    expected = dist(LOOP["a"], LOOP["b"]) / PRIMARY + dist(LOOP["b"], LOOP["c"]) / RESIDENTIAL
    assert_seconds(eta(p, a, c), expected)


def test_partial_segment_and_offroad_leg(tmp_path: Path) -> None:
    nodes = {"a": (0.0, 0.0), "b": (2000.0, 0.0)}
    p = build(tmp_path, nodes, [(["a", "b"], {"highway": "residential"})])
    beside = at(520.0, 40.0)  # 40 m north of the road, a quarter of the way along
    assert p.distance_to_network([beside])[0] == pytest.approx(40.0, abs=0.2)
    to_b = 40.0 / OFFROAD + 1480.0 / RESIDENTIAL
    to_a = 40.0 / OFFROAD + 520.0 / RESIDENTIAL
    got = p.one_to_many(beside, [at(*nodes["b"]), at(*nodes["a"])], NOON)
    assert got.tolist() == pytest.approx([to_b, to_a], abs=1.0)
    assert p.route(beside, at(*nodes["b"]), NOON).meters == pytest.approx(40 + 1480, abs=1.0)


def test_same_segment_direct_and_against_oneway(tmp_path: Path) -> None:
    nodes = {"a": (0.0, 0.0), "b": (2000.0, 0.0), "c": (2000.0, 300.0), "d": (0.0, 300.0)}
    ways: list[Way] = [
        (["a", "b"], {"highway": "primary", "oneway": "yes"}),
        (["b", "c", "d", "a"], {"highway": "residential"}),
    ]
    p = build(tmp_path, nodes, ways)
    p1, p2 = at(520.0, 0.0), at(1480.0, 0.0)
    assert eta(p, p1, p2) == pytest.approx(960.0 / PRIMARY, abs=1.0)
    around = 520.0 / PRIMARY + 2600.0 / RESIDENTIAL + 520.0 / PRIMARY
    assert eta(p, p2, p1) == pytest.approx(around, abs=1.5)
    assert p.route(p1, p2, NOON).meters == pytest.approx(960.0, abs=1.0)
    assert p.route(p2, p1, NOON).meters == pytest.approx(520 + 2600 + 520, abs=2.0)


def test_close_points_may_go_straight_off_road(tmp_path: Path) -> None:
    nodes = {"a": (0.0, 0.0), "b": (2000.0, 0.0)}
    p = build(tmp_path, nodes, [(["a", "b"], {"highway": "residential"})])
    here, next_door = at(700.0, 300.0), at(730.0, 300.0)
    assert eta(p, here, here) == 0
    assert eta(p, here, next_door) == math.ceil(haversine(here, next_door) / OFFROAD)


GRID_NODES = {f"{i}{j}": (400.0 * i + 13.0 * j, 350.0 * j) for i in range(5) for j in range(5)}


def grid_ways() -> list[Way]:
    """Alternating one-way streets plus two-way avenues: a small downtown."""
    ways: list[Way] = []
    for j in range(5):  # east-west streets, alternately eastbound / westbound
        refs = [f"{i}{j}" for i in range(5)]
        ways.append((refs if j % 2 == 0 else refs[::-1], {"highway": "secondary", "oneway": "yes"}))
    for i in range(5):  # north-south
        tags = {"highway": "primary"} if i % 2 == 0 else {"highway": "tertiary", "oneway": "-1"}
        ways.append(([f"{i}{j}" for j in range(5)], tags))
    return ways


def random_points(n: int, seed: int) -> list[LatLon]:
    rng = np.random.default_rng(seed)
    xs, ys = rng.uniform(-100, 1750, n), rng.uniform(-100, 1500, n)
    return [at(float(x), float(y)) for x, y in zip(xs, ys, strict=True)]


@pytest.fixture
def grid(tmp_path: Path) -> RoadGraphProvider:
    return build(tmp_path, GRID_NODES, grid_ways())


def test_matrix_rows_columns_and_routes_agree(grid: RoadGraphProvider) -> None:
    pts = random_points(40, seed=1)
    m = grid.matrix(pts, pts, NOON)
    assert m.shape == (40, 40) and m.dtype == np.int64
    assert (np.diag(m) == 0).all()
    assert not (m == m.T).all()  # one-way streets make it asymmetric
    for j in (0, 7, 39):
        assert (grid.many_to_one(pts, pts[j], NOON) == m[:, j]).all()
        assert (grid.one_to_many(pts[j], pts, NOON) == m[j]).all()
    # both Dijkstra directions (forward from few origins, reverse from few destinations)
    assert (grid.matrix(pts[:3], pts, NOON) == m[:3]).all()
    assert (grid.matrix(pts, pts[:3], NOON) == m[:, :3]).all()
    for i, j in ((0, 1), (5, 30), (22, 3)):
        r = grid.route(pts[i], pts[j], NOON)
        assert r.seconds == m[i, j]
        assert r.polyline[0] == (pts[i].lat, pts[i].lon)
        assert r.polyline[-1] == (pts[j].lat, pts[j].lon)
        assert r.meters >= haversine(pts[i], pts[j]) - 1e-6


def test_eta_never_beats_the_fastest_possible_speed(grid: RoadGraphProvider) -> None:
    pts = random_points(30, seed=2)
    m = grid.matrix(pts, pts, NOON)
    crow = np.array([[haversine(a, b) for b in pts] for a in pts])
    assert (m >= crow / (30 * KMH) - 1e-6).all()  # 30 km/h: the grid's fastest class


def test_rush_hour_slows_every_trip(grid: RoadGraphProvider) -> None:
    pts = random_points(20, seed=3)
    base = grid.matrix(pts, pts, NOON)
    rush = grid.matrix(pts, pts, RUSH)
    off_diag = ~np.eye(20, dtype=bool)
    assert (rush[off_diag] > base[off_diag]).all()
    assert (rush >= 1.5 * (base - 1)).all() and (rush <= 1.5 * base + 1).all()
    evening = datetime(2026, 3, 18, 22, 30, tzinfo=BKK)
    assert (grid.matrix(pts, pts, evening) == base).all()
    assert grid.route(pts[0], pts[1], RUSH).seconds == rush[0, 1]
    with pytest.raises(ValueError, match="timezone-aware"):
        grid.matrix(pts, pts, datetime(2026, 3, 18, 8, 0))


def test_empty_inputs(grid: RoadGraphProvider) -> None:
    pts = random_points(3, seed=4)
    assert grid.matrix([], pts, NOON).shape == (0, 3)
    assert grid.many_to_one([], pts[0], NOON).shape == (0,)
