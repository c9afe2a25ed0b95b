"""Route minimisation: a vehicle is emptied when its rides fit elsewhere, never at the price
of a ride, and the routes are left as they were when they do not fit."""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np

from dispatch.routing.darp import Problem, Request, StopRef, TimeWindow, Vehicle
from dispatch.routing.darp.alns_fleet import minimise_vehicles
from dispatch.routing.darp.alns_state import AlnsState
from dispatch.routing.darp.engine import DarpModel, Routes
from tests.helpers.darp_fleet import RIDES, TRAVEL, H, M, vans


def _one_each() -> Routes:
    return {
        "west": ([StopRef("A", "pickup"), StopRef("A", "dropoff")], None),
        "east": ([StopRef("B", "pickup"), StopRef("B", "dropoff")], None),
    }


def _state(problem: Problem) -> AlnsState:
    return AlnsState(DarpModel(problem, list(problem.requests)), _one_each())


def test_a_vehicle_whose_rides_fit_elsewhere_is_emptied() -> None:
    search = _state(Problem(RIDES, vans(120), TRAVEL))
    before = search.total()
    left = minimise_vehicles(search, [], time.perf_counter() + 5)
    assert left == []
    used = [v for v, nodes in enumerate(search.routes) if len(nodes) > 2]
    assert len(used) == 1 and len(search.routes[used[0]]) == 6  # both rides on one van
    assert len(search.where) == 2 and search.total() < before
    assert all(search.schedule(v, nodes) is not None for v, nodes in enumerate(search.routes))


def test_routes_stay_as_they_were_when_the_rides_do_not_fit() -> None:
    same_time = (RIDES[0], replace(RIDES[1], pickup_window=RIDES[0].pickup_window))
    search = _state(Problem(same_time, vans(120), TRAVEL))
    routes = [list(r) for r in search.routes]
    assert minimise_vehicles(search, [], time.perf_counter() + 5) == []
    assert search.routes == routes and len(search.where) == 2


def test_a_van_is_kept_when_the_longer_drive_costs_more_than_it() -> None:
    """At 10 minutes a van, one van driving 25 minutes more than two is dearer."""
    search = _state(Problem(RIDES, vans(10), TRAVEL))
    routes = [list(r) for r in search.routes]
    assert minimise_vehicles(search, [], time.perf_counter() + 5) == []
    assert search.routes == routes


def _interval(name: str, place: int, start_min: int, end_min: int) -> Request:
    """A ride that holds a one-seat van from ``start_min`` to ``end_min`` (minutes)."""
    return Request(
        name,
        place,
        place + 1,
        {"seated": 1},
        pickup_window=TimeWindow(start_min * M, start_min * M + M),
        dropoff_window=TimeWindow(end_min * M - M, end_min * M),
    )


def test_a_vehicle_is_emptied_by_moving_a_ride_that_is_in_the_way() -> None:
    """T fits on neither busy van, but fits on the first once Q moves to the second (or
    the like); the spare van stays unused (moving T there would only swap one van for
    another)."""
    rides = (
        _interval("P", 1, 8 * 60, 9 * 60),
        _interval("Q", 3, 9 * 60 + 30, 10 * 60 + 30),
        _interval("R", 5, 7 * 60, 9 * 60 + 20),
        _interval("U", 7, 10 * 60 + 40, 12 * 60),
        _interval("T", 9, 9 * 60 + 10, 10 * 60),
    )
    travel = np.full((11, 11), 5 * M, dtype=np.int64)
    np.fill_diagonal(travel, 0)
    fleet = tuple(
        Vehicle(name, {"seated": 1}, 0, 0, TimeWindow(6 * H, 13 * H), fixed_cost=600 * M)
        for name in ("one", "two", "three", "spare")
    )
    problem = Problem(rides, fleet, travel)

    def both(rid: str) -> list[StopRef]:
        return [StopRef(rid, "pickup"), StopRef(rid, "dropoff")]

    routes: Routes = {
        "one": ([*both("P"), *both("Q")], None),
        "two": ([*both("R"), *both("U")], None),
        "three": (both("T"), None),
    }
    model = DarpModel(problem, list(problem.requests))
    search = AlnsState(model, routes)
    before = search.total()
    assert minimise_vehicles(search, [], time.perf_counter() + 5) == []
    on = [
        sorted(model.node_stop[x].request_id for x in nodes if search.is_pickup[x])
        for nodes in search.routes
    ]
    assert on[2:] == [[], []]  # the third van emptied, the spare still unused
    assert sorted(on[0] + on[1]) == ["P", "Q", "R", "T", "U"]
    assert search.total() < before
    assert all(search.schedule(v, nodes) is not None for v, nodes in enumerate(search.routes))
