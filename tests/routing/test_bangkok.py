"""The real Bangkok extracts from ../shared/data (skipped in a clone without them)."""

from __future__ import annotations

import csv
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from dispatch.routing.base import LatLon
from dispatch.routing.bench import bench_travel, random_points
from dispatch.routing.roadgraph import RoadGraphProvider

from .osmfixture import BANGKOK, brute_force_snap_m, haversine

CENTRAL = BANGKOK / "bangkok_central_major_roads.osm"
PATHUMWAN = BANGKOK / "bangkok_pathumwan.osm.pbf"
FACILITIES = BANGKOK / "bangkok_pathumwan_osm_health_facilities.csv"

pytestmark = pytest.mark.skipif(
    not CENTRAL.is_file() or not PATHUMWAN.is_file(),
    reason=f"shared Bangkok data not found at {BANGKOK} (a clone without ../shared/data)",
)

RUSH = datetime(2026, 3, 20, 8, 0, tzinfo=ZoneInfo("Asia/Bangkok"))


@pytest.fixture(scope="module")
def central(tmp_path_factory: pytest.TempPathFactory) -> RoadGraphProvider:
    return RoadGraphProvider.from_osm(CENTRAL, tmp_path_factory.mktemp("cache"))


def test_central_graph_size(central: RoadGraphProvider) -> None:
    # README: 13,359 nodes, ~570 km directed, largest SCC 11,789 nodes (before dropping the
    # access=no bus links and closed roads, which we exclude)
    g = central.graph
    assert 11_000 <= g.node_count <= 11_789
    assert 400 <= g.road_km() <= 570
    lat0, lon0, lat1, lon1 = central.bbox
    assert 13.69 <= lat0 < lat1 <= 13.81 and 100.49 <= lon0 < lon1 <= 100.59


def test_central_many_to_one_matches_matrix(central: RoadGraphProvider) -> None:
    rng = np.random.default_rng(11)
    vehicles = random_points(central, rng, 300)
    incidents = random_points(central, rng, 3)
    m = central.matrix(vehicles, incidents, RUSH)
    for j, incident in enumerate(incidents):
        assert (central.many_to_one(vehicles, incident, RUSH) == m[:, j]).all()
    crow = np.array([[haversine(v, i) for i in incidents] for v in vehicles])
    assert (m >= crow / (70 / 3.6) * 1.5 - 1e-6).all()  # fastest class 70 km/h, rush x1.5
    assert np.median(m) < 3600


def test_central_snapping_is_exact(central: RoadGraphProvider) -> None:
    pts = random_points(central, np.random.default_rng(12), 300)
    got = central.distance_to_network(pts)
    assert got == pytest.approx(brute_force_snap_m(central.graph, pts), abs=0.5)


def test_pathumwan_pbf_routes_between_hospitals(tmp_path: Path) -> None:
    p = RoadGraphProvider.from_osm(PATHUMWAN, tmp_path)
    assert p.graph.node_count > 1000
    with FACILITIES.open(encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if r["amenity"] == "hospital"]
    assert len(rows) >= 2
    a = LatLon(float(rows[0]["lat"]), float(rows[0]["lon"]))
    b = LatLon(float(rows[1]["lat"]), float(rows[1]["lon"]))
    route = p.route(a, b, RUSH)
    assert route.seconds == p.matrix([a], [b], RUSH)[0, 0]
    assert 0 < route.seconds < 3600
    assert route.meters >= haversine(a, b)
    assert len(route.polyline) > 3


def test_bench_reports_figures(tmp_path: Path) -> None:
    result = bench_travel(
        PATHUMWAN, tmp_path, vehicles=200, matrix_size=20, repeats=10, matrix_repeats=2
    )
    assert result["graph"]["nodes"] > 1000 and result["graph"]["edges"] > result["graph"]["nodes"]
    assert result["build_cold_s"] > 0 and result["load_cached_s"] > 0
    m2o, mat = result["many_to_one_ms"], result["matrix_ms"]
    assert m2o["vehicles"] == 200 and m2o["repeats"] == 10
    assert 0 < m2o["p50"] <= m2o["p99"] <= m2o["max"]
    assert mat["size"] == 20 and 0 < mat["p50"] <= mat["max"]
    # generous bound: catches a pure-Python hot path, not a slow CI machine
    assert m2o["p50"] < 100
    assert list(tmp_path.iterdir()) == []  # the cold-build cache was cleaned up
