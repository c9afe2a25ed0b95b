"""Provider selection from plain configuration."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pytest

from dispatch.routing.base import TravelTimeProvider
from dispatch.routing.factory import build_provider
from dispatch.routing.osrm import OsrmProvider
from dispatch.routing.roadgraph import RoadGraphProvider
from dispatch.routing.straight import StraightLineProvider
from dispatch.routing.timeofday import RushWindow

from .osmfixture import at, write_osm

SQUARE = {"a": (0.0, 0.0), "b": (500.0, 0.0), "c": (500.0, 500.0), "d": (0.0, 500.0)}


def test_osm_wins_and_is_cached(tmp_path: Path) -> None:
    osm = write_osm(
        tmp_path / "m.osm", SQUARE, [(["a", "b", "c", "d", "a"], {"highway": "primary"})]
    )
    p = build_provider(osm, "http://127.0.0.1:1", tmp_path / "cache", timezone="Asia/Ho_Chi_Minh")
    assert isinstance(p, RoadGraphProvider) and isinstance(p, TravelTimeProvider)
    assert p.time_profile.timezone == "Asia/Ho_Chi_Minh"
    assert len(list((tmp_path / "cache").glob("*.npz"))) == 1
    again = build_provider(osm, None, tmp_path / "cache")
    assert isinstance(again, RoadGraphProvider) and again.graph.from_cache


def test_class_speeds_and_rush_windows_are_passed_through(tmp_path: Path) -> None:
    osm = write_osm(
        tmp_path / "m.osm", SQUARE, [(["a", "b", "c", "d", "a"], {"highway": "primary"})]
    )
    when = datetime(2026, 3, 18, 12, 0, tzinfo=ZoneInfo("Asia/Bangkok"))
    a, b = at(0.0, 0.0), at(500.0, 0.0)
    slow = build_provider(osm, None, tmp_path / "c1", class_speeds_kmh={"primary": 15.0})
    normal = build_provider(osm, None, tmp_path / "c2")
    assert slow.many_to_one([a], b, when)[0] == pytest.approx(
        2 * normal.many_to_one([a], b, when)[0], abs=1
    )
    noon_rush = RushWindow(when.time().replace(hour=11), when.time().replace(hour=13), 2.0)
    rushed = build_provider(osm, None, tmp_path / "c2", rush_windows=[noon_rush])
    assert rushed.many_to_one([a], b, when)[0] == pytest.approx(
        2 * normal.many_to_one([a], b, when)[0], abs=1
    )


def test_osrm_then_straight_line(tmp_path: Path) -> None:
    osrm = build_provider(None, "http://127.0.0.1:5000/", tmp_path, timezone="Europe/London")
    assert isinstance(osrm, OsrmProvider) and osrm.base_url == "http://127.0.0.1:5000"
    assert osrm.time_profile.timezone == "Europe/London"
    osrm.close()
    straight = build_provider(None, None, tmp_path, straight_speed_kmh=40.0)
    assert isinstance(straight, StraightLineProvider)
    assert straight.speed_mps == pytest.approx(40 / 3.6)


def test_configuration_errors_fail_fast(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        build_provider(tmp_path / "missing.osm.pbf", None, tmp_path)
    with pytest.raises(ZoneInfoNotFoundError):
        build_provider(None, None, tmp_path, timezone="Mars/Olympus")
