"""The coverage model on cases small enough to check by hand (MEXCLP: a zone covered by
k free units is reached in time with probability 1 - q^k)."""

from __future__ import annotations

import time

import numpy as np
import pytest

from dispatch.routing.base import LatLon
from dispatch.routing.coverage import RED_ALS, CoverageModel, CoverageRules, busy_fraction
from dispatch.routing.postplan import plan_posts
from dispatch.routing.zones import DemandModel, ZoneGrid, gaussian_prior, nearest_labels

#: Only red counts, so every figure below is one line of arithmetic.
RED_ONLY = CoverageRules(
    target_s={"red": 600, "yellow": 900, "green": 1800},
    delay_s={"red": 120, "yellow": 180, "green": 240},
    weight={"red": 1.0, "yellow": 0.0, "green": 0.0, RED_ALS: 0.0},
)
#: Two zones 700 s apart: with 480 s of driving a unit covers only its own zone.
TWO_ZONES = np.array([[0, 700], [700, 0]])
DEMAND = np.array([[0.75, 0.25], [0.5, 0.5], [0.5, 0.5]])  # red, yellow, green


def test_a_zone_covered_by_k_units_counts_one_minus_q_to_the_k() -> None:
    model = CoverageModel(TWO_ZONES, DEMAND, RED_ONLY, busy_fraction=0.5)
    model.place(1, 0, als=True, available=True)
    assert model.row_values()["red"] == pytest.approx(0.75 * 0.5)
    model.place(2, 0, als=False, available=True)
    assert model.row_values()["red"] == pytest.approx(0.75 * (1 - 0.25))
    assert model.row_values()[RED_ALS] == pytest.approx(0.75 * 0.5)  # only unit 1 is ALS
    model.place(2, 1, als=False, available=True)
    assert model.row_values()["red"] == pytest.approx(0.75 * 0.5 + 0.25 * 0.5)
    model.place(1, 0, als=True, available=False)  # unit 1 goes on a call
    assert model.row_values()["red"] == pytest.approx(0.25 * 0.5)
    assert list(model.covering("red")) == [0, 1]
    model.remove(2)
    assert model.value() == 0.0


def test_the_loss_of_sending_a_unit_is_what_it_alone_adds() -> None:
    model = CoverageModel(TWO_ZONES, DEMAND, RED_ONLY, busy_fraction=0.5)
    model.place(1, 0, als=True, available=True)
    model.place(2, 0, als=False, available=True)
    model.place(3, 1, als=False, available=True)
    losses = {v: model.explained(v, loss) for v, loss in model.losses([1, 2, 3, 99]).items()}
    # Two units cover zone 0: losing one of them costs 0.75 * q^1 * (1 - q) = 0.1875.
    assert losses[1].rows["red"] == pytest.approx(0.1875)
    assert losses[2].value == pytest.approx(0.1875)
    # Unit 3 alone covers zone 1: 0.25 * (1 - q) = 0.125, and it is the sole cover there.
    assert losses[3].value == pytest.approx(0.125)
    assert (losses[3].sole_zone, losses[3].sole_row) == (1, "red")
    assert losses[3].sole_share == pytest.approx(0.25)
    assert losses[1].sole_zone is None  # zone 0 keeps unit 2
    assert losses[99].value == 0.0  # unknown units cost nothing
    # The loss equals the value before minus the value after, computed the long way.
    before = model.value()
    model.place(3, 1, als=False, available=False)
    assert before - model.value() == pytest.approx(0.125)


def test_an_als_unit_costs_more_where_it_is_the_only_advanced_cover() -> None:
    rules = CoverageRules(weight={"red": 1.0, "yellow": 0.0, "green": 0.0, RED_ALS: 0.5})
    model = CoverageModel(TWO_ZONES, DEMAND, rules, busy_fraction=0.5)
    model.place(1, 0, als=True, available=True)
    model.place(2, 0, als=False, available=True)
    losses = {v: model.explained(v, loss) for v, loss in model.losses([1, 2]).items()}
    assert losses[2].value == pytest.approx(0.1875)
    assert losses[1].value == pytest.approx(0.1875 + 0.5 * 0.75 * 0.5)
    assert losses[1].sole_row == RED_ALS


def test_moving_a_unit_gains_only_when_units_are_busy_often_enough() -> None:
    # Two units at zone 0. Moving one to zone 1 trades a second cover of 75 % of the
    # demand for a first cover of 25 %: worth it only if units are often busy.
    for q, expected in ((0.5, 0.5 - 0.5625), (0.2, 0.8 - 0.72)):
        model = CoverageModel(TWO_ZONES, DEMAND, RED_ONLY, busy_fraction=q)
        model.place(1, 0, als=False, available=True)
        model.place(2, 0, als=False, available=True)
        gains = model.move_gains(2, [0, 1])
        assert gains[0] == pytest.approx(0.0)
        assert gains[1] == pytest.approx(expected)


def test_best_moves_are_greedy_capped_and_leave_the_model_unchanged() -> None:
    three = np.array([[0, 700, 700], [700, 0, 700], [700, 700, 0]])
    demand = np.array([[0.5, 0.3, 0.2], [1, 1, 1], [1, 1, 1]])
    model = CoverageModel(three, demand, RED_ONLY, busy_fraction=0.2)
    for vehicle in (1, 2, 3):
        model.place(vehicle, 0, als=False, available=True)
    before = model.units()
    moves = model.best_moves({1: [1, 2], 2: [1, 2], 3: [1, 2]}, max_moves=2, min_gain=0.01)
    assert [(m.vehicle_id, m.source) for m in moves] == [(1, 1), (2, 2)]
    assert moves[0].gain == pytest.approx(0.3 * 0.8 - 0.5 * (0.2**2 - 0.2**3))
    assert moves[0].rows["red"] == pytest.approx(moves[0].gain)
    assert model.units() == before
    assert model.best_moves({1: [1]}, max_moves=1, min_gain=1.0) == []


def test_rush_hour_shrinks_what_a_unit_covers() -> None:
    times = np.array([[0, 400], [400, 0]])
    model = CoverageModel(times, DEMAND, RED_ONLY, busy_fraction=0.5)
    model.place(1, 0, als=False, available=True)
    assert list(model.covering("red")) == [1, 1]  # 400 s of 480 s
    model.set_multiplier(1.5)  # 600 s: too far now
    assert list(model.covering("red")) == [1, 0]
    assert list(model.expected_response_s()) == [120.0, 720.0]


def test_ranking_and_moves_for_300_units_take_milliseconds() -> None:
    rng = np.random.default_rng(7)
    zones, posts = 120, 60
    times = rng.integers(30, 1500, size=(zones + posts, zones))
    demand = rng.random((3, zones))
    model = CoverageModel(times, demand, busy_fraction=0.35)
    for vehicle in range(300):
        model.place(vehicle, int(rng.integers(0, zones)), als=vehicle % 3 == 0, available=True)
    started = time.perf_counter()
    model.losses(list(range(300)))
    model.best_moves(
        {v: np.arange(zones, zones + posts) for v in range(0, 300, 10)}, max_moves=3, min_gain=0
    )
    # A guard against an accidental O(n^3), not a benchmark: `dispatch bench coverage` is.
    assert time.perf_counter() - started < 5.0


def test_grid_zones_demand_and_labels() -> None:
    grid = ZoneGrid(13.70, 100.50, 13.72, 100.52, cell_m=1000)
    assert (grid.rows, grid.cols) == (2, 2)
    assert grid.zone_of(LatLon(13.701, 100.501)) == 0
    assert grid.zone_of(LatLon(13.719, 100.519)) == 3
    assert grid.zone_of(LatLon(14.5, 99.0)) == 2  # outside: the nearest edge cell
    prior = gaussian_prior(grid, [(13.715, 100.515, 300, 1.0)])
    assert int(np.argmax(prior)) == 3
    demand = DemandModel(grid, prior, prior_calls=10, level_mix={"red": 1, "yellow": 0, "green": 0})
    assert demand.of_level("red")[3] == pytest.approx(prior[3] / prior.sum())
    demand.add_calls([(13.701, 100.501, "red")] * 10)
    assert demand.of_level("red")[0] == pytest.approx((10 * prior[0] / prior.sum() + 10) / 20)
    assert demand.add_calls([(13.701, 100.501, "black")]) == 0
    places = [("South-west", LatLon(13.70, 100.50)), ("North-east", LatLon(13.72, 100.52))]
    # A degree of longitude is shorter than one of latitude here: zone 2 (north-west)
    # lies nearer the north-east place.
    assert nearest_labels(grid, places) == ["South-west", "South-west", "North-east", "North-east"]


def test_busy_fraction_shrinks_towards_the_prior() -> None:
    assert busy_fraction([True] * 10 + [False] * 10, prior=0.3, prior_weight=10) == pytest.approx(
        (10 + 3) / 30
    )
    assert busy_fraction([], prior=0.3) == pytest.approx(0.3)


def test_post_planner_covers_the_most_demand_first() -> None:
    # Sites 0..3, zones 0..3; site i covers zone i within the budget; site 3 also zone 2.
    times = np.array(
        [[100, 900, 900, 900], [900, 100, 900, 900], [900, 900, 100, 900], [900, 900, 200, 100]]
    )
    demand = np.array([0.1, 0.2, 0.3, 0.4])
    plan = plan_posts(times, demand, count=2, budget_s=300, existing=[0])
    assert plan.covered_before == pytest.approx(0.1)
    assert plan.sites == [3, 1]  # site 3 covers 0.7, then site 1 adds 0.2
    assert [s.gain for s in plan.steps] == pytest.approx([0.7, 0.2])
    assert plan.steps[-1].covered == pytest.approx(1.0)
    median = plan_posts(times, demand, count=1, budget_s=300, objective="pmedian")
    assert median.sites == [3]


@pytest.mark.parametrize("seed", range(5))
def test_the_weighed_at_once_move_is_the_best_single_move_unit_by_unit(seed: int) -> None:
    """``best_moves`` weighs every unit and source in one matrix product; on random cities
    its first move must be what trying each unit's sources one by one finds."""
    rng = np.random.default_rng(seed)
    sources, zones = 30, 24
    times = rng.integers(60, 1500, size=(sources, zones))
    demand = rng.random((3, zones))
    model = CoverageModel(times, demand, busy_fraction=0.4)
    for v in range(40):
        model.place(v, int(rng.integers(sources)), als=bool(v % 3 == 0), available=v % 5 != 0)
    eligible = {
        v: np.sort(rng.choice(sources, size=6, replace=False)) for v in range(40) if v % 5 != 0
    }
    [move] = model.best_moves(eligible, max_moves=1, min_gain=-1.0)
    brute = max(
        (float(g), -v, -int(s))
        for v, sites in eligible.items()
        for g, s in zip(model.move_gains(v, sites), sites, strict=True)
    )
    assert move.gain == pytest.approx(brute[0], abs=1e-9)
    # The move chosen is worth that gain, unit by unit (ties may pick another equal move).
    alone = float(model.move_gains(move.vehicle_id, [move.source])[0])
    assert alone == pytest.approx(brute[0], abs=1e-9)
