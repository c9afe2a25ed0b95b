"""Fleet cost: a plan uses fewer vehicles when they suffice, never at the price of a ride,
and reports what the operator pays for (vehicles, hours, trips per vehicle-hour)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from dispatch.routing.darp import Problem, Request, TimeWindow, Vehicle, solve, verify
from dispatch.routing.darp.figures import plan_figures
from tests.helpers.darp_fleet import RIDES, SHIFT, TRAVEL, H, M, vans


def test_one_van_does_both_rides_when_a_van_costs_more_than_the_drive() -> None:
    free = Problem(RIDES, vans(0), TRAVEL)
    both = solve(free, 2.0)
    assert sorted(both.served) == ["A", "B"]
    assert plan_figures(free, both).vehicles_used == 2  # each van serves its side
    costly = Problem(RIDES, vans(120), TRAVEL)
    one = solve(costly, 2.0)
    assert sorted(one.served) == ["A", "B"] and verify(costly, one) == []
    figures = plan_figures(costly, one)
    assert figures.vehicles_used == 1
    # one van: 5 to A, 5 aboard, 20 across, 5 aboard B, 20 home (or the mirror)
    assert figures.driving_h == pytest.approx(55 / 60)
    assert figures.deadhead_h == pytest.approx(45 / 60)


def test_a_van_is_never_saved_at_the_price_of_a_ride() -> None:
    """Rides at the same moment on both sides: both vans go, whatever a van costs."""
    same_time = (RIDES[0], replace(RIDES[1], pickup_window=RIDES[0].pickup_window))
    problem = Problem(same_time, vans(10_000), TRAVEL)
    plan = solve(problem, 2.0)
    assert sorted(plan.served) == ["A", "B"]
    assert plan_figures(problem, plan).vehicles_used == 2


def _west_vans(cost_min: float, hour_cost_min: float) -> tuple[Vehicle, ...]:
    rate = hour_cost_min * M / H  # driving seconds per second out
    return tuple(
        Vehicle(name, {"seated": 2}, 0, 0, SHIFT, fixed_cost=cost_min * M, time_cost=rate)
        for name in ("first", "second")
    )


# Two rides seven hours apart on the same side: one van can do both if it waits all day.
MORNING_AND_AFTERNOON = (
    RIDES[0],
    Request(
        "C", 3, 2, {"seated": 1}, pickup_window=TimeWindow(15 * H, 15 * H + 15 * M), max_ride=15 * M
    ),
)


def test_hours_out_are_weighed_against_another_van() -> None:
    """Without an hour cost one van waits from morning to afternoon (fewer vehicles first);
    with drivers paid 30 minutes of driving an hour, two short days cost less than a long
    one (60 + 60 + 2 x 15 min x 30/60 < 60 + 7.25 h x 30), so both vans go out, each
    leaving just in time. 30 an hour is half a second per second: the model scales it."""
    waits = Problem(MORNING_AND_AFTERNOON, _west_vans(60, 0), TRAVEL)
    one = solve(waits, 2.0)
    assert sorted(one.served) == ["A", "C"] and verify(waits, one) == []
    figures = plan_figures(waits, one)
    assert figures.vehicles_used == 1
    assert figures.revenue_h == pytest.approx(7.25)

    paid = Problem(MORNING_AND_AFTERNOON, _west_vans(60, 30), TRAVEL)
    two = solve(paid, 2.0)
    assert sorted(two.served) == ["A", "C"] and verify(paid, two) == []
    figures = plan_figures(paid, two)
    assert figures.vehicles_used == 2
    assert figures.revenue_h == pytest.approx(0.5)  # 07:55-08:10 and 14:55-15:10


def test_an_hour_cost_never_drops_a_ride() -> None:
    """However dear an hour is, serving a ride comes first."""
    problem = Problem(MORNING_AND_AFTERNOON, _west_vans(0, 600)[:1], TRAVEL)
    plan = solve(problem, 2.0)
    assert sorted(plan.served) == ["A", "C"] and verify(problem, plan) == []
