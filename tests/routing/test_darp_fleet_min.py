"""Route minimisation: a vehicle is emptied when its rides fit elsewhere, never at the price
of a ride, and the routes are left as they were when they do not fit."""

from __future__ import annotations

import time
from dataclasses import replace

from dispatch.routing.darp import Problem, StopRef
from dispatch.routing.darp.alns_fleet import minimise_vehicles
from dispatch.routing.darp.alns_state import AlnsState
from dispatch.routing.darp.engine import DarpModel, Routes
from tests.helpers.darp_fleet import RIDES, TRAVEL, vans


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
