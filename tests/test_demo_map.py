"""The demo's own road map (shipped inside the package, derived from OpenStreetMap): road
ETAs and a drawn map out of the box, with no ../shared beside the clone."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from dispatch.config import Settings
from dispatch.demo import DEMO_MAP, HOSPITALS, STATIONS, demo_settings
from dispatch.routing.base import LatLon
from dispatch.travel import provider_from_settings
from tests.helpers.cli import cli_env, dispatch_cli
from tests.routing.osmfixture import BANGKOK

NOON = datetime(2026, 12, 7, 5, 0, tzinfo=UTC)
PLACES = [LatLon(lat, lon) for _n, lat, lon, _a in STATIONS] + [
    LatLon(lat, lon) for _n, _l, lat, lon, _c in HOSPITALS
]


def _matrix(osm: Path, cache: Path) -> np.ndarray:
    travel = provider_from_settings(Settings(osm_path=osm, cache_dir=cache))
    return travel.matrix(PLACES, PLACES, NOON)


def test_the_demo_uses_its_own_map_unless_one_is_configured(tmp_path: Path) -> None:
    assert demo_settings(Settings()).osm_path == DEMO_MAP
    other = tmp_path / "city.osm.pbf"
    assert demo_settings(Settings(osm_path=other)).osm_path == other
    osrm = demo_settings(Settings(osrm_url="http://osrm.local:5000"))
    assert osrm.osm_path is None and osrm.osrm_url == "http://osrm.local:5000"


def test_the_shipped_map_is_compact_and_carries_its_licence() -> None:
    assert DEMO_MAP.stat().st_size < 400 * 1024
    notice = (DEMO_MAP.parent / "NOTICE").read_text()
    assert "Open Database License" in notice and "© OpenStreetMap contributors" in notice


def test_the_shipped_map_gives_road_etas_between_the_demo_places(tmp_path: Path) -> None:
    etas = _matrix(DEMO_MAP, tmp_path)
    n = len(PLACES)
    assert etas.shape == (n, n) and np.all(np.diag(etas) == 0)
    off = etas[~np.eye(n, dtype=bool)]
    assert np.all((off > 0) & (off < 3600))  # every place reaches every other by road
    assert not np.array_equal(etas, etas.T)  # one-way streets: a road graph, not a line


@pytest.mark.skipif(
    not (BANGKOK / "bangkok_central_major_roads.osm").is_file(),
    reason="needs ../shared/data, the extract the demo map is derived from",
)
def test_the_shipped_map_routes_exactly_like_its_source(tmp_path: Path) -> None:
    source = BANGKOK / "bangkok_central_major_roads.osm"
    assert np.array_equal(_matrix(DEMO_MAP, tmp_path / "a"), _matrix(source, tmp_path / "b"))


async def test_the_demo_command_says_it_uses_road_etas(tmp_path: Path) -> None:
    env = cli_env(DISPATCH_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'demo.sqlite3'}")
    done = await dispatch_cli(["demo", "--no-serve"], env)
    assert done.returncode == 0, done.stderr
    assert f"road ETAs from {DEMO_MAP}" in done.stdout
    assert "© OpenStreetMap contributors" in done.stdout
