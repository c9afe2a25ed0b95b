"""The demand prior a new centre starts from (``DISPATCH_COVERAGE_DEMAND_CSV``): a file of
past calls, a population layer or demand centres shapes where coverage guards before the
centre's own calls do; a bad file stops the start naming its line and field.

The city is ``tests.helpers.world`` with ``add_north``: stations Central (13.74, 100.53)
and North (13.80, 100.53).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import httpx
import pytest

from dispatch.coverage.demandfile import load_demand_prior
from dispatch.db.session import Database
from dispatch.incidents.config import DispatchConfig
from dispatch.routing.base import LatLon
from dispatch.routing.straight import StraightLineProvider
from dispatch.routing.zones import DemandPoint, ZoneGrid, prior_of
from simulator.city.demand import write_history
from simulator.city.scenario import load_scenario
from tests.helpers.coverage import coverage_app
from tests.helpers.stacks import Stack
from tests.helpers.world import World

NORTH = (13.80, 100.53)


def _calls_file(tmp_path: Path, rows: list[str]) -> Path:
    path = tmp_path / "calls.csv"
    path.write_text("day,time,lat,lon,triage\n" + "".join(f"{r}\n" for r in rows), "utf-8")
    return path


async def _layer(stack: Stack, world: World, db: Database, **settings: Any) -> list[dict[str, Any]]:
    async with coverage_app(stack, world, db, **settings) as application:
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            answer = await http.get(
                "/coverage", params={"level": "red"}, headers=world.headers("dispatcher")
            )
    assert answer.status_code == 200, answer.text
    zones: list[dict[str, Any]] = answer.json()["zones"]
    return zones


def _share_at(zones: list[dict[str, Any]], lat: float, lon: float) -> float:
    for zone in zones:
        if zone["south"] <= lat < zone["north"] and zone["west"] <= lon < zone["east"]:
            return float(zone["demand_share"])
    raise AssertionError(f"no zone holds {lat}, {lon}")


@pytest.fixture
def north_calls(tmp_path: Path) -> Path:
    return _calls_file(tmp_path, [f"1,08:{i:02d}:00,{NORTH[0]},{NORTH[1]},red" for i in range(40)])


async def test_past_calls_make_their_zone_the_one_coverage_guards(
    stack: Stack, world: World, db: Database, north_calls: Path
) -> None:
    zones = await _layer(stack, world, db, coverage_demand_csv=north_calls)
    share = _share_at(zones, *NORTH)
    others = [z["demand_share"] for z in zones if z["demand_share"] != share]
    # Every past call was at North: before any call of its own, the centre expects (almost)
    # all its red calls there.
    assert share > 0.95
    assert max(others, default=0.0) < 0.01


async def test_without_a_prior_every_zone_weighs_alike(
    stack: Stack, world: World, db: Database
) -> None:
    zones = await _layer(stack, world, db)
    shares = {z["demand_share"] for z in zones}
    assert len(zones) > 10
    assert max(shares) - min(shares) < 0.002
    assert _share_at(zones, *NORTH) < 0.1


def test_a_population_layer_and_demand_centres_are_read_as_weights(tmp_path: Path) -> None:
    path = tmp_path / "population.csv"
    path.write_text("lat,lon,weight,sigma_m\n13.74,100.53,3000,\n13.80,100.53,1000,500\n", "utf-8")
    points = load_demand_prior(path)
    assert points == (
        DemandPoint(13.74, 100.53, 3000.0, 0.0),
        DemandPoint(13.80, 100.53, 1000.0, 500.0),
    )
    grid = ZoneGrid(13.70, 100.49, 13.84, 100.57)
    weights = prior_of(grid, points)
    assert weights is not None
    # The point's weight stays in its own zone; the centre's spreads around North.
    assert weights[grid.zone_of(grid.centroids()[0])] < 1e-6
    central = int(weights.argmax())
    assert weights[central] == pytest.approx(3000.0, rel=1e-6)
    assert weights.sum() == pytest.approx(4000.0, rel=1e-6)
    north_zone = grid.zone_of(LatLon(*NORTH))
    assert 0 < weights[north_zone] < 1000.0


def test_points_outside_the_area_are_left_out_not_piled_on_the_edge() -> None:
    grid = ZoneGrid(13.70, 100.49, 13.84, 100.57)
    far = [DemandPoint(14.50, 100.53), DemandPoint(13.75, 99.0)]
    assert prior_of(grid, far) is None
    weights = prior_of(grid, [*far, DemandPoint(13.75, 100.52, 2.0)])
    assert weights is not None and weights.sum() == pytest.approx(2.0)


@pytest.mark.parametrize(
    ("content", "named"),
    [
        ("lat,lon\n13.7,100.5\n13.7,abc\n", ":3: lon is not a number"),
        ("lat,lon\n13.7,100.5\n,100.5\n", ":3: lat is missing"),
        ("lat,lon,weight\n13.7,100.5,-1\n", ":2: weight and sigma_m must not be negative"),
        ("lat,lon\n95,100.5\n", ":2: lat/lon out of range"),
        ("lat,lon\n13.7,nan\n", ":2: lon must be a finite number"),
        ("time,triage\n08:00,red\n", "the header needs lat and lon"),
        ("lat,lon\n", "no rows"),
    ],
)
def test_a_bad_file_stops_the_start_naming_line_and_field(
    tmp_path: Path, stack: Stack, content: str, named: str
) -> None:
    path = tmp_path / "prior.csv"
    path.write_text(content, "utf-8")
    settings = stack.settings(coverage_dispatch=True, coverage_demand_csv=path)
    with pytest.raises(ValueError, match=named):
        DispatchConfig.from_settings(settings, StraightLineProvider())


def test_the_simulators_history_is_repeatable_and_reads_as_a_prior(tmp_path: Path) -> None:
    scenario = load_scenario()
    first, again = io.StringIO(), io.StringIO()
    rows = write_history(scenario, 1000, 2, first)
    write_history(scenario, 1000, 2, again)
    assert first.getvalue() == again.getvalue()
    other = io.StringIO()
    write_history(scenario, 1001, 1, other)
    # Day 2 of seed 1000 is day 1 of seed 1001: each day has a seed of its own.
    day2 = [line.split(",", 1)[1] for line in first.getvalue().splitlines() if line[:2] == "2,"]
    assert day2 == [line.split(",", 1)[1] for line in other.getvalue().splitlines()[1:]]
    path = tmp_path / "history.csv"
    path.write_text(first.getvalue(), "utf-8")
    points = load_demand_prior(path)
    assert len(points) == rows > 2 * 0.5 * scenario.calls_per_day
    assert {p.weight for p in points} == {1.0}
