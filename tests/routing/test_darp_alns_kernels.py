"""The insertion search's compiled loops: screening never prunes an insertion that has a
schedule and seats, and prices each as the route's change in cost; the least schedule keeps
every window, ride limit and span; regret choice picks as regret-k insertion should."""

from __future__ import annotations

import dataclasses
import itertools
import random

import numpy as np
import pytest

from dispatch.routing.darp import Problem
from dispatch.routing.darp.alns_kernels import choose_insertion, screen_route
from dispatch.routing.darp.alns_repair import Screened, insert_all
from dispatch.routing.darp.alns_state import AlnsState
from dispatch.routing.darp.cordeau import to_problem
from dispatch.routing.darp.engine import DarpModel
from dispatch.routing.darp.generate import generate_cordeau

NO_NOISE = np.zeros((0, 0))


def _mixed_seats(problem: Problem, seed: int) -> Problem:
    """Every third ride in a wheelchair, on vans with one wheelchair place and two seats."""
    rng = random.Random(seed)
    requests = tuple(
        dataclasses.replace(r, load={"wheelchair": 1}) if rng.random() < 1 / 3 else r
        for r in problem.requests
    )
    vehicles = tuple(
        dataclasses.replace(v, capacity={"seated": 2, "wheelchair": 1}) for v in problem.vehicles
    )
    return dataclasses.replace(problem, requests=requests, vehicles=vehicles)


def _planned(seed: int, mixed: bool) -> AlnsState:
    problem = to_problem(generate_cordeau(24, seed, vehicles=4))
    if mixed:
        problem = _mixed_seats(problem, seed)
    search = AlnsState(DarpModel(problem, list(problem.requests)), {}, seed)
    insert_all(search, list(range(len(search.requests))), 2, 0.0)
    return search


def _screen_all(search: AlnsState, ri: int, v: int) -> dict[tuple[int, int], int]:
    """Every insertion of ``ri`` into ``v`` the screening lets through, with its cost."""
    st = search.route_state(v)
    keep = len(st.nodes) ** 2
    out = np.empty((1, keep, 3), dtype=np.int64)
    counts = np.zeros(1, dtype=np.int64)
    cheapest = np.full((1, search.nv), np.inf)
    screen_route(
        np.asarray([ri], dtype=np.int64),
        np.ones(1, dtype=np.bool_),
        search.fits_t[v],
        np.zeros(1, dtype=np.int64),
        search.req_p,
        search.req_d,
        search.req_limit,
        search.req_needs,
        search.early_a,
        search.late_a,
        search.tr_a,
        search.cost_a,
        *st.packed,
        search.first_gap[v],
        search.fixed[v],
        out,
        counts,
        cheapest,
        v,
    )
    rows = out[0, : counts[0]].tolist()
    assert rows == sorted(rows), "cheapest first"
    assert cheapest[0, v] == (rows[0][0] if rows else np.inf)
    return {(i, j): cost for cost, i, j in rows}


def _seated(search: AlnsState, v: int, nodes: list[int]) -> bool:
    """Seats of every kind suffice all along ``nodes`` on vehicle ``v`` (the exact
    schedule checks times only: seats are screening's)."""
    seats = search.free_a[v].copy()
    for x in nodes:
        seats -= search.demand[x]
        if (seats < 0).any():
            return False
    return True


@pytest.mark.parametrize(("seed", "mixed"), [(1, False), (2, False), (3, True), (4, True)])
def test_screening_keeps_every_feasible_insertion_at_its_true_cost(seed: int, mixed: bool) -> None:
    search = _planned(seed, mixed)
    checked = 0
    for ri in range(len(search.requests)):
        if not search.remove(ri):
            continue
        _, p, d = search.requests[ri]
        for v in range(search.nv):
            nodes = search.routes[v]
            screened = _screen_all(search, ri, v) if search.fits[ri, v] else {}
            for i, j in itertools.combinations_with_replacement(range(len(nodes) - 1), 2):
                new = [*nodes[: i + 1], p, *nodes[i + 1 : j + 1], d, *nodes[j + 1 :]]
                if search.schedule(v, new) is None or not _seated(search, v, new):
                    continue
                checked += 1
                assert (i, j) in screened, f"feasible insertion ({i}, {j}) was screened out"
                assert screened[i, j] == search.route_cost(new) - search.route_cost(nodes)
        insert_all(search, [ri], 1, 0.0)  # back in, for the next ride's routes
    assert checked > 50  # the instances leave room: the property was exercised


@pytest.mark.parametrize("mixed", [False, True])
def test_screening_every_route_in_one_call_finds_what_screening_each_finds(mixed: bool) -> None:
    search = _planned(7, mixed)
    on_last = [ri for ri, (_, p, _) in enumerate(search.requests) if search.where.get(p) == 3]
    out = search.remove_all(list(range(0, len(search.requests), 3)))
    out += search.remove_all([ri for ri in on_last if ri not in out])  # vehicle 3 empty
    assert len(search.routes[3]) == 2
    search.frozen[1] = True  # a frozen route is screened by neither
    # the values one call reads per vehicle: a fixed cost (on the empty vehicle too) and
    # a committed next stop
    search.fixed[3] = search.fixed_a[3] = 5000
    search.fixed[0] = search.fixed_a[0] = 700
    search.first_gap[2] = search.first_gap_a[2] = 1
    again = next(ri for ri in range(len(search.requests)) if ri not in out)
    assert search.remove(again)
    pending = [*out, again]
    at_once, one_by_one = Screened(search, pending), Screened(search, pending)
    at_once.alive[2] = one_by_one.alive[2] = False
    at_once.used[:] = one_by_one.used[:] = 1
    at_once.screen_all()
    for v in range(search.nv):
        one_by_one.screen(v)
    assert np.isfinite(at_once.cheapest).sum() > len(pending)
    assert np.isfinite(at_once.cheapest[:, 3]).any()  # the empty vehicle can take rides
    assert (at_once.cheapest[:, 3][np.isfinite(at_once.cheapest[:, 3])] >= 5000).all()
    assert np.isinf(at_once.cheapest[:, 1]).all() and np.isinf(at_once.cheapest[2]).all()
    assert np.array_equal(at_once.cheapest, one_by_one.cheapest)
    assert np.array_equal(at_once.used, one_by_one.used)
    assert np.array_equal(at_once.counts, one_by_one.counts)
    for v in range(search.nv):
        for row in range(len(pending)):
            if row != 2:
                count = at_once.counts[v, row]
                assert (at_once.out[v, row, :count] == one_by_one.out[v, row, :count]).all()


@pytest.mark.parametrize("mixed", [False, True])
def test_every_least_schedule_keeps_windows_rides_and_seats(mixed: bool) -> None:
    search = _planned(5, mixed)
    for v, nodes in enumerate(search.routes):
        start = search.schedule(v, nodes)
        assert start is not None and _seated(search, v, nodes)
        for k, x in enumerate(nodes):
            assert search.early_l[x] <= start[k] <= search.late_l[x]
            if k:
                assert start[k] >= start[k - 1] + search.tr_l[nodes[k - 1]][x]
            if not search.is_pickup[x] and search.partner[x] >= 0:
                pickup = nodes.index(search.partner[x])
                assert start[k] - start[pickup] <= search.ride_gap[search.partner[x]]
        assert start[-1] - start[0] <= search.max_span[v]


def test_a_schedule_that_cannot_keep_a_window_is_refused() -> None:
    search = _planned(6, False)
    v = next(v for v, nodes in enumerate(search.routes) if len(nodes) > 6)
    nodes = search.routes[v]
    backwards = [nodes[0], *reversed(nodes[1:-1]), nodes[-1]]  # drop-offs before pickups
    assert search.schedule(v, backwards) is None


def test_cheapest_insertion_takes_the_cheapest_request_first() -> None:
    cost = np.array([[np.inf, 5.0, 3.0], [2.0, np.inf, 4.0], [np.inf] * 3])
    alive = np.ones(3, dtype=np.bool_)
    light = np.zeros(3, dtype=np.bool_)
    assert choose_insertion(cost, alive, light, 1, 0.0, NO_NOISE) == (1, 0)
    alive[1] = False
    assert choose_insertion(cost, alive, light, 1, 0.0, NO_NOISE) == (0, 2)


def test_regret_takes_the_request_that_loses_most_by_waiting() -> None:
    # row 0: 3 now or 10 later (regret 7); row 1: 1 now or 2 later (regret 1)
    cost = np.array([[3.0, 10.0, np.inf], [1.0, 2.0, 2.0]])
    alive = np.ones(2, dtype=np.bool_)
    light = np.zeros(2, dtype=np.bool_)
    assert choose_insertion(cost, alive, light, 2, 0.0, NO_NOISE) == (0, 0)
    # regret-3: row 1 has 1 + 1; row 0 has two places, one fewer than three: it goes first
    assert choose_insertion(cost, alive, light, 3, 0.0, NO_NOISE) == (0, 0)
    cost[0, 1] = np.inf  # row 0 has one place left: it goes first whatever the costs
    assert choose_insertion(cost, alive, light, 2, 0.0, NO_NOISE) == (0, 0)


def test_a_kept_ride_goes_back_before_any_newcomer_and_none_is_left_when_nothing_fits() -> None:
    cost = np.array([[1.0, 50.0], [9.0, 9.5]])
    alive = np.ones(2, dtype=np.bool_)
    kept = np.array([False, True])
    assert choose_insertion(cost, alive, kept, 2, 0.0, NO_NOISE) == (1, 0)
    assert choose_insertion(np.full((2, 2), np.inf), alive, kept, 2, 0.0, NO_NOISE) == (-1, -1)


def test_noise_can_change_which_vehicle_is_cheapest_but_never_picks_one_without_room() -> None:
    cost = np.array([[10.0, 10.5, np.inf]])
    alive = np.ones(1, dtype=np.bool_)
    light = np.zeros(1, dtype=np.bool_)
    picked = {
        choose_insertion(cost, alive, light, 1, 0.1, np.random.default_rng(s).random((1, 3)))
        for s in range(50)
    }
    assert picked == {(0, 0), (0, 1)}
