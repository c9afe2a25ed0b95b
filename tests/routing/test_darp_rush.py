"""Travel by time of day in the scheduler: legs timed when they leave, hand-checked."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from dispatch.routing.darp import (
    Problem,
    Request,
    TimeWindow,
    TravelBands,
    Vehicle,
    solve,
    verify,
)
from dispatch.routing.darp.figures import plan_figures
from dispatch.routing.darp.rush import bands_from_profile
from dispatch.routing.timeofday import TimeOfDayProfile

H, M = 3600, 60
#: Rush (x1.5) from 07:00 to 09:00 on an axis of seconds since midnight.
MORNING = TravelBands((7 * H, 9 * H), (1.0, 1.5, 1.0))


def test_a_leg_is_slowed_only_for_its_part_in_the_rush() -> None:
    assert MORNING.duration(600, 6 * H) == 600
    assert MORNING.duration(600, 8 * H) == 900
    # leaves at 06:50 with 20 free-flow minutes: 10 before the rush, the other 10 take 15
    assert MORNING.duration(20 * M, 7 * H - 10 * M) == pytest.approx(25 * M)
    # leaves at 08:50: 10 minutes cover 6m40s of free flow, the rest runs at full speed
    assert MORNING.duration(20 * M, 9 * H - 10 * M) == pytest.approx(10 * M + 20 * M - 400)


def test_leaving_later_never_arrives_sooner() -> None:
    departures = np.arange(6 * H, 10 * H, 7.0)
    arrivals = [t + MORNING.duration(1500, t) for t in departures]
    assert all(b >= a for a, b in itertools.pairwise(arrivals))


def test_the_worst_factor_covers_every_departure_in_the_window() -> None:
    base = np.array([[600.0]])
    assert MORNING.worst(base, np.array([[5 * H]]), np.array([[6 * H]]))[0, 0] == 1.0
    # leaving by 06:55 with 10 minutes to drive still meets the rush
    assert MORNING.worst(base, np.array([[5 * H]]), np.array([[6 * H + 55 * M]]))[0, 0] == 1.5
    assert MORNING.slowest_between(9 * H + 1, 12 * H) == 1.0


def test_bands_follow_the_city_profile_in_its_time_zone() -> None:
    bangkok = ZoneInfo("Asia/Bangkok")
    midnight = datetime(2026, 12, 7, tzinfo=bangkok)
    bands = bands_from_profile(TimeOfDayProfile(), midnight, timedelta(days=1))
    assert bands is not None
    assert bands.edges == (7 * H, 9 * H, 16 * H, 19 * H)
    assert bands.factors == (1.0, 1.5, 1.0, 1.5, 1.0)
    assert bands_from_profile(TimeOfDayProfile(windows=()), midnight, timedelta(days=1)) is None


def _two_rides(first_drop: float) -> Problem:
    """One van at location 0. Ride A goes 1 -> 2 and must arrive by ``first_drop``; ride B
    is picked up at 3, 24 free-flow minutes from 2, within 30 minutes of A's drop-off."""
    free = np.array(
        [
            [0, 600, 600, 600, 600],
            [600, 0, 600, 1200, 1200],
            [600, 600, 0, 24 * M, 1200],
            [600, 1200, 24 * M, 0, 600],
            [600, 1200, 1200, 600, 0],
        ],
        dtype=np.int64,
    )
    rides = (
        Request(
            "A", 1, 2, {"seated": 1}, dropoff_window=TimeWindow(first_drop - 5 * M, first_drop)
        ),
        Request(
            "B",
            3,
            4,
            {"seated": 1},
            pickup_window=TimeWindow(first_drop + 25 * M, first_drop + 30 * M),
        ),
    )
    van = Vehicle("v", {"seated": 2}, 0, 0, TimeWindow(5 * H, 20 * H))
    return Problem(rides, (van,), free, bands=MORNING)


def _rush_all_day(problem: Problem) -> Problem:
    return replace(problem, travel=(problem.travel * 3 + 1) // 2, bands=None)


def test_off_peak_both_rides_fit_only_when_legs_are_timed_by_the_hour() -> None:
    """Midday: 24 free-flow minutes fit between the rides. Timed at the rush all day (36
    minutes) they do not, so the old way left ride B unserved."""
    timed = _two_rides(12 * H)
    plan = solve(timed, 2.0)
    assert sorted(plan.served) == ["A", "B"]
    assert verify(timed, plan) == []
    old = solve(_rush_all_day(timed), 2.0)
    assert old.served == ("A",)


def test_in_the_rush_the_same_rides_do_not_fit() -> None:
    timed = _two_rides(8 * H)
    plan = solve(timed, 2.0)
    assert plan.served == ("A",)
    assert verify(timed, plan) == []


def test_the_checker_times_legs_at_their_departure() -> None:
    """A plan timed with free-flow legs is fine at midday and late in the rush."""
    midday = _two_rides(12 * H)
    plan = solve(midday, 2.0)
    flat = replace(midday, bands=None)
    assert verify(flat, plan) == []
    shifted = TravelBands((11 * H, 13 * H), (1.0, 1.5, 1.0))
    problems = verify(replace(midday, bands=shifted), plan)
    assert {v.kind for v in problems} >= {"travel"}


def test_figures_read_a_rush_all_day_plan_at_real_times() -> None:
    """Planned with rush times at midday, the van reaches each door sooner than its plan
    says (and stands there); timed by the hour, it arrives when planned."""
    timed = _two_rides(12 * H)
    single = replace(timed, requests=timed.requests[:1])
    old = solve(_rush_all_day(single), 2.0)
    new = solve(single, 2.0)
    old_figures = plan_figures(single, old)
    new_figures = plan_figures(single, new)
    assert old_figures.served == new_figures.served == 1
    # the ride's leg, 10 free-flow minutes, planned at 15 (start -> pickup is not counted:
    # the van may leave later; nor the way back to the end)
    assert old_figures.early_h == pytest.approx(5 / 60)
    assert new_figures.early_h == 0
    assert new_figures.driving_h == pytest.approx(old_figures.driving_h)


def test_bands_count_elapsed_seconds_on_a_daylight_saving_day() -> None:
    """Berlin's clocks go forward at 02:00 on 29 March 2026: the morning rush at 07:00
    local time begins 6 hours after local midnight, as the plan's axis counts."""
    berlin = TimeOfDayProfile(timezone="Europe/Berlin")
    midnight = datetime(2026, 3, 29, tzinfo=ZoneInfo("Europe/Berlin"))
    bands = bands_from_profile(berlin, midnight, timedelta(days=1))
    assert bands is not None
    assert bands.edges[:2] == (6 * H, 8 * H)
