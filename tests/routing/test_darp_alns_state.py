"""The insertion search's state: removals re-time each route once, and what screening reads
of a route (seats free per kind, the least schedule) matches the route."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from dispatch.routing.darp import Break, Problem, StopRef, TimeWindow, Vehicle
from dispatch.routing.darp.alns_state import AlnsState
from dispatch.routing.darp.alns_timing import least_schedule, place_breaks
from dispatch.routing.darp.engine import DarpModel, Routes
from tests.helpers.darp_fleet import RIDES, SHIFT, TRAVEL, H, M


def _both_on_west(problem: Problem) -> AlnsState:
    routes: Routes = {
        "west": (
            [
                StopRef("A", "pickup"),
                StopRef("A", "dropoff"),
                StopRef("B", "pickup"),
                StopRef("B", "dropoff"),
            ],
            None,
        )
    }
    return AlnsState(DarpModel(problem, list(problem.requests)), routes)


def _vans(capacity: dict[str, int]) -> tuple[Vehicle, ...]:
    return (
        Vehicle("west", capacity, 0, 0, SHIFT),
        Vehicle("east", capacity, 1, 1, SHIFT),
    )


def test_removing_several_rides_of_a_route_takes_them_all_out_in_the_order_given() -> None:
    search = _both_on_west(Problem(RIDES, _vans({"seated": 2}), TRAVEL))
    assert len(search.routes[0]) == 6
    assert search.remove_all([1, 0]) == [1, 0]
    assert search.routes[0] == [0, 2] and search.where == {}  # start and end of "west"
    assert search.route_state(0).start == search.schedule(0, search.routes[0])


def test_a_ride_on_no_route_is_not_reported_removed() -> None:
    search = _both_on_west(Problem(RIDES, _vans({"seated": 2}), TRAVEL))
    assert search.remove_all([0]) == [0]
    assert search.remove_all([0, 1]) == [1]
    assert search.where == {}


def test_a_kept_change_leaves_the_route_with_its_own_least_schedule() -> None:
    search = _both_on_west(Problem(RIDES, _vans({"seated": 2}), TRAVEL))
    search.remove_all([0])
    kept = search.route_state(0)
    assert kept.start == search.schedule(0, kept.nodes)
    saved = search.snapshot()
    search.remove_all([1])
    search.restore(saved)
    assert search.route_state(0) is kept and len(search.routes[0]) == 4


def test_seats_free_are_counted_per_kind_along_the_route() -> None:
    wheelchair = replace(RIDES[1], load={"wheelchair": 1})
    search = _both_on_west(
        Problem((RIDES[0], wheelchair), _vans({"seated": 2, "wheelchair": 1}), TRAVEL)
    )
    room = search.route_state(0).room
    seated, chair, stretcher = room  # in the order of the problem's seat kinds
    assert seated == [2, 1, 2, 2, 2, 2]
    assert chair == [1, 1, 1, 0, 1, 1]
    assert stretcher == []  # no ride needs one: not counted
    assert stretcher == []  # no ride needs one: not counted


def _west_with_breaks(*breaks: Break) -> AlnsState:
    west = replace(_vans({"seated": 2})[0], breaks=breaks)
    return _both_on_west(Problem(RIDES, (west,), TRAVEL))


def test_a_break_goes_in_the_gap_its_window_opens_in_and_moves_no_stop() -> None:
    # west: A picked up at 08:00, dropped at 08:05, B picked up at 10:00, dropped at 10:05
    search = _west_with_breaks(
        Break(TimeWindow(9 * H, 9 * H + 30 * M), 30 * M),
        Break(TimeWindow(10 * H + 10 * M, 11 * H), 20 * M),
    )
    nodes = search.routes[0]
    plain = search._least(0, nodes, ())
    found = search.place_breaks(0, nodes)
    assert plain is not None and found is not None
    times, gaps = found
    assert gaps == [2, 4]  # after A's drop-off; after B's drop-off
    assert times[1:5] == plain[1:5]
    assert times[5] == 10 * H + 45 * M  # a 20-minute break, then 20 minutes home
    assert search.schedule(0, nodes) == times


def test_a_break_no_gap_can_hold_leaves_the_route_without_a_schedule() -> None:
    # 30 minutes from before 08:02: A could not be picked up in its window, or would ride
    # 35 minutes, and A's drop-off is after 08:02
    search = _west_with_breaks(Break(TimeWindow(8 * H, 8 * H + 2 * M), 30 * M))
    assert search.place_breaks(0, search.routes[0]) is None
    assert search.schedule(0, search.routes[0]) is None


def test_the_cost_kept_with_each_route_is_its_travel_cost_after_every_change() -> None:
    search = _both_on_west(Problem(RIDES, _vans({"seated": 2}), TRAVEL))
    full = search.total()
    assert full == search.route_cost(search.routes[0]) + search.route_cost(search.routes[1])
    saved = search.snapshot()
    search.remove_all([1])
    search.route_state(0)  # the cost now comes from the cached screening arrays
    assert search.total() == search.route_cost(search.routes[0]) + search.route_cost([1, 3])
    assert search.total() < full
    search.restore(saved)
    assert search.total() == full


def test_a_break_is_tried_in_at_most_two_gaps_before_where_its_window_opens() -> None:
    # start, three pickups, their three drop-offs, end; 10 s apart; every ride at most 30 s,
    # so only the gap before the first pickup can hold a pause
    nodes = np.arange(8, dtype=np.int64)
    tr = np.abs(nodes[:, None] - nodes[None, :]) * 10
    partner = np.asarray([-1, 4, 5, 6, 1, 2, 3, -1], dtype=np.int64)
    is_pickup = np.asarray([False, True, True, True, False, False, False, False])
    ride_gap = np.where(is_pickup, 30, 10**9).astype(np.int64)
    zeros, late = np.zeros(8, dtype=np.int64), np.full(8, 10_000, dtype=np.int64)

    def place(opens: int) -> tuple[list[int], int]:
        gaps = np.zeros(1, dtype=np.int64)
        times = place_breaks(
            nodes, tr, zeros, late, zeros, is_pickup, partner, ride_gap, 10**9,
            np.asarray([[5, opens, opens + 1]], dtype=np.int64), np.zeros(1, dtype=np.int64),
            10**9, gaps,
        )  # fmt: skip
        return times.tolist(), int(gaps[0])

    assert place(5) == ([0, 15, 25, 35, 45, 55, 65, 75], 0)  # opens in the first gap
    in_first_gap = np.asarray([[0, 5, 35, 36]], dtype=np.int64)
    fits = least_schedule(
        nodes, tr, zeros, late, zeros, is_pickup, partner, ride_gap, 10**9, in_first_gap, 10**9
    )
    assert fits.tolist() == [0, 40, 50, 60, 70, 80, 90, 100]
    # opening at 35 (between the third pickup and the first drop-off), the break is tried
    # there and in the two gaps before, all inside rides; the first gap, three before, is
    # not tried: placement is sound, not exhaustive
    assert place(35) == ([], 0)
