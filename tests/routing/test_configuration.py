"""Routing as a deployment configures it: settings pick and tune the provider, and the
benchmark command prints JSON figures."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from dispatch.config import Settings
from dispatch.routing.roadgraph import RoadGraphProvider
from dispatch.routing.straight import StraightLineProvider
from dispatch.routing.timeofday import parse_rush_windows
from dispatch.travel import provider_from_settings
from tests.routing.osmfixture import at, write_osm


def _grid(tmp_path: Path) -> Path:
    nodes = {"a": (0.0, 0.0), "b": (1000.0, 0.0), "c": (1000.0, 1000.0), "d": (0.0, 1000.0)}
    ways = [(["a", "b", "c", "d", "a"], {"highway": "primary"})]
    return write_osm(tmp_path / "grid.osm", nodes, ways)


def test_rush_hours_are_parsed_and_bad_ones_refused() -> None:
    windows = parse_rush_windows("06:30-09:00*1.8, 17:00-20:00*1.4")
    assert [(str(w.start), str(w.end), w.multiplier) for w in windows] == [
        ("06:30:00", "09:00:00", 1.8),
        ("17:00:00", "20:00:00", 1.4),
    ]
    assert parse_rush_windows("") == ()
    with pytest.raises(ValidationError, match="rush_hours"):
        Settings(rush_hours="7-9")


def test_settings_choose_and_tune_the_provider(tmp_path: Path) -> None:
    plain = provider_from_settings(Settings(cache_dir=tmp_path))
    assert isinstance(plain, StraightLineProvider)
    osm = _grid(tmp_path)
    base = {"osm_path": osm, "cache_dir": tmp_path / "cache", "rush_hours": ""}
    normal = provider_from_settings(Settings(**base))
    slow = provider_from_settings(Settings(**base, road_speeds_kmh={"primary": 15.0}))
    assert isinstance(normal, RoadGraphProvider)
    noon = datetime(2026, 11, 23, 5, 0, tzinfo=UTC)  # 12:00 in Bangkok
    a, b = at(0, 0), at(1000, 0)
    fast_s = normal.route(a, b, noon).seconds
    slow_s = slow.route(a, b, noon).seconds
    assert fast_s == pytest.approx(1000 / (30 / 3.6), abs=2)
    assert slow_s == pytest.approx(2 * fast_s, abs=2)
    rush = provider_from_settings(Settings(**{**base, "rush_hours": "11:00-13:00*2"}))
    assert rush.route(a, b, noon).seconds == pytest.approx(2 * fast_s, abs=2)


def test_bench_travel_command_prints_json(tmp_path: Path) -> None:
    osm = _grid(tmp_path)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "dispatch.cli",
            "bench",
            "travel",
            "--osm",
            str(osm),
            "--vehicles",
            "50",
            "--matrix",
            "10",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"DISPATCH_CACHE_DIR": str(tmp_path / "cache"), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    assert figures["graph"]["nodes"] == 4
    assert figures["many_to_one_ms"]["vehicles"] == 50
    assert figures["many_to_one_ms"]["p99"] >= figures["many_to_one_ms"]["p50"] > 0
