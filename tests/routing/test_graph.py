"""Graph build: largest strongly connected component, and the .npz cache."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest

import dispatch.routing.graph as graph_module
from dispatch.routing.base import PointOutsideNetworkError, RoutingError
from dispatch.routing.graph import load_or_build_graph
from dispatch.routing.roadgraph import RoadGraphProvider
from dispatch.routing.speeds import SpeedTable

from .osmfixture import Way, at, write_osm

NOON = datetime(2026, 3, 18, 12, 0, tzinfo=ZoneInfo("Asia/Bangkok"))

SQUARE = {"a": (0.0, 0.0), "b": (500.0, 0.0), "c": (500.0, 500.0), "d": (0.0, 500.0)}
LOOP: Way = (["a", "b", "c", "d", "a"], {"highway": "residential"})


def test_keeps_only_the_largest_strongly_connected_component(tmp_path: Path) -> None:
    nodes = {
        **SQUARE,
        "g": (800.0, 0.0),  # dead end of a one-way stub leaving b: reachable, no way back
        "h": (-300.0, 0.0),  # start of a one-way stub entering a: no way in
        "e": (5000.0, 0.0),  # a two-way island far away
        "f": (5400.0, 0.0),
    }
    ways: list[Way] = [
        LOOP,
        (["b", "g"], {"highway": "primary", "oneway": "yes"}),
        (["h", "a"], {"highway": "primary", "oneway": "yes"}),
        (["e", "f"], {"highway": "primary"}),
    ]
    p = RoadGraphProvider.from_osm(write_osm(tmp_path / "m.osm", nodes, ways), None)
    assert p.graph.node_count == 4
    assert p.graph.edge_count == 8
    kept = {(round(la, 6), round(lo, 6)) for la, lo in zip(p.graph.lat, p.graph.lon, strict=True)}
    assert kept == {(round(at(*xy).lat, 6), round(at(*xy).lon, 6)) for xy in SQUARE.values()}
    # the stub's dead end now snaps back onto the square, 300 m away
    assert p.distance_to_network([at(800.0, 0.0)])[0] == pytest.approx(300.0, abs=0.5)
    with pytest.raises(PointOutsideNetworkError):
        p.many_to_one([at(5200.0, 0.0)], at(0.0, 0.0), NOON)


def test_every_snapped_pair_has_a_finite_time(tmp_path: Path) -> None:
    nodes = {**SQUARE, "g": (800.0, 0.0)}
    ways: list[Way] = [LOOP, (["b", "g"], {"highway": "primary", "oneway": "yes"})]
    p = RoadGraphProvider.from_osm(write_osm(tmp_path / "m.osm", nodes, ways), None)
    pts = [at(800.0, 10.0), at(250.0, 250.0), at(0.0, 0.0)]
    m = p.matrix(pts, pts, NOON)
    assert (m >= 0).all() and (m < 3600).all()


def test_no_drivable_roads_is_an_error(tmp_path: Path) -> None:
    osm = write_osm(tmp_path / "m.osm", SQUARE, [(["a", "b"], {"highway": "footway"})])
    with pytest.raises(RoutingError, match="no drivable roads"):
        load_or_build_graph(osm, None)


def test_unreadable_file_is_a_routing_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.osm"
    bad.write_text("this is not xml")
    with pytest.raises(RoutingError, match="cannot read OSM file"):
        load_or_build_graph(bad, None)


def test_cache_is_reused_and_invalidated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    osm = write_osm(tmp_path / "m.osm", SQUARE, [LOOP])
    cache = tmp_path / "cache"
    first = load_or_build_graph(osm, cache)
    assert not first.from_cache
    files = sorted(cache.glob("*.npz"))
    assert len(files) == 1 and first.source_sha256[:24] in files[0].name

    def no_parsing(*args: object, **kwargs: object) -> None:
        raise AssertionError("the OSM file was parsed again")

    with monkeypatch.context() as m:
        m.setattr(graph_module, "read_osm_network", no_parsing)
        second = load_or_build_graph(osm, cache)
    assert second.from_cache
    for name in ("lat", "lon", "src", "dst", "seconds", "meters"):
        assert np.array_equal(getattr(first, name), getattr(second, name)), name

    # editing the map changes its hash: rebuilt, with a new cache file
    write_osm(osm, SQUARE, [(LOOP[0], {"highway": "residential", "maxspeed": "5"})])
    third = load_or_build_graph(osm, cache)
    assert not third.from_cache
    assert (third.seconds > first.seconds).all()
    assert len(list(cache.glob("*.npz"))) == 2

    # another speed table is another build
    fourth = load_or_build_graph(osm, cache, SpeedTable(class_kmh={"residential": 2.0}))
    assert not fourth.from_cache
    assert load_or_build_graph(osm, cache, SpeedTable(class_kmh={"residential": 2.0})).from_cache


def test_corrupt_cache_is_rebuilt(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    osm = write_osm(tmp_path / "m.osm", SQUARE, [LOOP])
    cache = tmp_path / "cache"
    load_or_build_graph(osm, cache)
    (path,) = cache.glob("*.npz")
    path.write_bytes(b"garbage")
    rebuilt = load_or_build_graph(osm, cache)
    assert not rebuilt.from_cache and rebuilt.node_count == 4
    assert "unreadable" in caplog.text
    assert load_or_build_graph(osm, cache).from_cache  # and the cache was rewritten


def test_provider_from_cache_answers_identically(tmp_path: Path) -> None:
    osm = write_osm(tmp_path / "m.osm", SQUARE, [LOOP])
    fresh = RoadGraphProvider.from_osm(osm, tmp_path / "cache")
    cached = RoadGraphProvider.from_osm(osm, tmp_path / "cache")
    assert cached.graph.from_cache and not fresh.graph.from_cache
    pts = [at(10.0, 20.0), at(480.0, 260.0), at(250.0, 510.0)]
    assert (fresh.matrix(pts, pts, NOON) == cached.matrix(pts, pts, NOON)).all()


def test_unwritable_cache_is_not_fatal(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    osm = write_osm(tmp_path / "m.osm", SQUARE, [LOOP])
    not_a_dir = tmp_path / "cache"
    not_a_dir.write_text("a file where the cache directory should be")
    graph = load_or_build_graph(osm, not_a_dir)
    assert graph.node_count == 4 and not graph.from_cache
    assert "cannot write graph cache" in caplog.text
