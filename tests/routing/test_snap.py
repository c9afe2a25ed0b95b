"""Snapping to the nearest road segment, and points too far from any road."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from dispatch.routing.base import PointOutsideNetworkError, RoutingError
from dispatch.routing.roadgraph import RoadGraphProvider

from .osmfixture import LAT0, at, brute_force_snap_m, write_osm

NOON = datetime(2026, 3, 18, 12, 0, tzinfo=ZoneInfo("Asia/Bangkok"))
KMH = 1 / 3.6

# A 2 km avenue n1-n2 and a side road ending at n3, 70 m north of the avenue's middle.
NODES = {
    "n1": (-1000.0, 0.0),
    "n2": (1000.0, 0.0),
    "n5": (1000.0, 600.0),
    "n4": (300.0, 600.0),
    "n3": (300.0, 70.0),
}
WAYS = [
    (["n1", "n2"], {"highway": "residential"}),
    (["n2", "n5", "n4", "n3"], {"highway": "residential"}),
]


@pytest.fixture
def town(tmp_path: Path) -> RoadGraphProvider:
    return RoadGraphProvider.from_osm(write_osm(tmp_path / "t.osm", NODES, WAYS), None)


def test_snaps_to_segment_interior_not_nearest_node(town: RoadGraphProvider) -> None:
    p = at(300.0, 30.0)  # 30 m from the avenue's interior, 40 m from node n3
    assert town.distance_to_network([p])[0] == pytest.approx(30.0, abs=0.2)
    # from p: 30 m off-road, then 1300 m west along the avenue to n1
    expected = 30.0 / (10 * KMH) + 1300.0 / (15 * KMH)
    assert town.one_to_many(p, [at(-1000.0, 0.0)], NOON)[0] == pytest.approx(expected, abs=1.0)
    route = town.route(p, at(-1000.0, 0.0), NOON)
    snapped = route.polyline[1]
    assert snapped == pytest.approx((LAT0, at(300.0, 0.0).lon), abs=1e-6)


def test_snapping_matches_brute_force(town: RoadGraphProvider) -> None:
    rng = np.random.default_rng(7)
    pts = [
        at(float(x), float(y))
        for x, y in zip(rng.uniform(-1200, 1200, 400), rng.uniform(-300, 800, 400), strict=True)
    ]
    got = town.distance_to_network(pts)
    assert got == pytest.approx(brute_force_snap_m(town.graph, pts), abs=0.05)


def test_point_too_far_raises_with_details(town: RoadGraphProvider) -> None:
    far = at(0.0, -1500.0)
    near = at(0.0, -50.0)
    with pytest.raises(PointOutsideNetworkError) as caught:
        town.many_to_one([near, far], near, NOON)
    err = caught.value
    assert isinstance(err, RoutingError)
    assert err.point == far and err.index == 1
    assert err.distance_m == pytest.approx(1500.0, abs=1.0)
    assert err.max_distance_m == 1000.0
    assert "1500 m" in str(err)
    with pytest.raises(PointOutsideNetworkError):
        town.route(near, far, NOON)


def test_max_snap_distance_is_configurable(tmp_path: Path) -> None:
    osm = write_osm(tmp_path / "t.osm", NODES, WAYS)
    strict = RoadGraphProvider.from_osm(osm, None, max_snap_m=100.0)
    assert strict.many_to_one([at(0.0, -50.0)], at(0.0, 0.0), NOON).shape == (1,)
    with pytest.raises(PointOutsideNetworkError):
        strict.many_to_one([at(0.0, -150.0)], at(0.0, 0.0), NOON)
    min_lat, min_lon, max_lat, max_lon = strict.bbox
    assert (min_lat, max_lat) == pytest.approx((LAT0, at(0.0, 600.0).lat), abs=1e-7)
    assert (min_lon, max_lon) == pytest.approx((at(-1000.0, 0).lon, at(1000.0, 0).lon), abs=1e-7)


def test_dense_nodes_nearby_do_not_hide_a_nearer_long_segment(tmp_path: Path) -> None:
    # A 2 km straight avenue (few samples) and, 22 m north of it, a lane with a node every
    # metre: the k nearest samples all lie on the lane, yet the avenue is nearer.
    lane = {f"l{i}": (float(i), 22.0) for i in range(-8, 33)}
    nodes = {"w": (-1000.0, 0.0), "e": (1000.0, 0.0), **lane}
    ways = [
        (["w", "e"], {"highway": "primary"}),
        ([*lane, "w"], {"highway": "residential"}),
    ]
    p = RoadGraphProvider.from_osm(write_osm(tmp_path / "d.osm", nodes, ways), None)
    probe = at(12.0, 10.0)  # 10 m from the avenue, 12 m from the lane
    assert p.distance_to_network([probe])[0] == pytest.approx(10.0, abs=0.05)
