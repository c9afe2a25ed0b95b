"""The insertion search's state: removals re-time each route once, and what screening reads
of a route (seats free per kind, the least schedule) matches the route."""

from __future__ import annotations

from dataclasses import replace

from dispatch.routing.darp import Problem, StopRef, Vehicle
from dispatch.routing.darp.alns_state import AlnsState
from dispatch.routing.darp.engine import DarpModel, Routes
from tests.helpers.darp_fleet import RIDES, SHIFT, TRAVEL


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
