"""Removal operators rank requests by what the route loses without them (worst) and by
closeness in place and time to a chosen one (related), over the routes the search may
change; checked against the same measures taken route by route."""

from __future__ import annotations

import random

import pytest

from dispatch.routing.darp.alns_destroy import randomly, related, removable, worst
from dispatch.routing.darp.alns_repair import insert_all
from dispatch.routing.darp.alns_state import AlnsState
from dispatch.routing.darp.cordeau import to_problem
from dispatch.routing.darp.engine import DarpModel
from dispatch.routing.darp.generate import generate_cordeau


class _Greedy(random.Random):
    """Takes the best-ranked request every time (``_pick``'s draw is always 0)."""

    def random(self) -> float:
        return 0.0


def _planned(seed: int) -> AlnsState:
    problem = to_problem(generate_cordeau(30, seed, vehicles=4))
    search = AlnsState(DarpModel(problem, list(problem.requests)), {}, seed)
    insert_all(search, list(range(len(search.requests))), 2, 0.0)
    search.rng = _Greedy(seed)
    return search


def _on_route(search: AlnsState) -> list[int]:
    return sorted(
        ri
        for ri, (_, p, _) in enumerate(search.requests)
        if p in search.where and not search.frozen[search.where[p]]
    )


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_worst_ranks_requests_by_the_travel_their_removal_saves(seed: int) -> None:
    search = _planned(seed)
    on_route = _on_route(search)
    assert len(on_route) > 20  # most rides were placed: the ranking has something to rank
    saving = {}
    for ri in on_route:
        _, p, d = search.requests[ri]
        nodes = search.routes[search.where[p]]
        without = [x for x in nodes if x not in (p, d)]
        saving[ri] = search.route_cost(nodes) - search.route_cost(without)
    expected = sorted(on_route, key=lambda ri: (-saving[ri], ri))
    assert worst(search, len(on_route)) == expected


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_related_ranks_requests_by_distance_and_time_to_a_chosen_one(seed: int) -> None:
    search = _planned(seed)
    on_route = _on_route(search)
    times: dict[int, int] = {}
    for v in range(search.nv):
        state = search.route_state(v)
        times.update(zip(state.nodes, state.start, strict=True))
    chosen = on_route[0]  # what the greedy draw chooses
    _, sp, sd = search.requests[chosen]
    tr = search.tr_l

    def score(ri: int) -> int:
        _, p, d = search.requests[ri]
        value: int = tr[sp][p] + tr[sd][d] + abs(times[sp] - times[p]) + abs(times[sd] - times[d])
        return value

    ranked = related(search, len(on_route))
    assert ranked[0] == chosen
    assert ranked == sorted(on_route, key=lambda ri: (score(ri), ri))


def test_requests_on_frozen_routes_or_on_none_are_never_removed() -> None:
    search = _planned(4)
    everyone = _on_route(search)
    search.frozen[0] = True
    on_zero = {ri for ri in everyone if search.where[search.requests[ri][1]] == 0}
    search.remove_all([everyone[-1]])
    left = sorted(set(everyone) - on_zero - {everyone[-1]})
    assert on_zero and removable(search) == left
    assert set(worst(search, 100)) == set(left)
    assert set(related(search, 100)) == set(left)
    assert set(randomly(search, 100)) == set(left)
