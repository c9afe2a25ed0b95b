"""Recombining pooled routes: the cheapest partition of the rides into routes the search has
seen replaces worse routes, a route found on one van is offered to its twin, and never to a
van that starts elsewhere."""

from __future__ import annotations

import numpy as np

from dispatch.routing.darp import Aboard, Problem, Request, StopRef, TimeWindow, Vehicle
from dispatch.routing.darp.alns_pool import RoutePool
from dispatch.routing.darp.alns_state import AlnsState
from dispatch.routing.darp.engine import DarpModel

M = 60
SHIFT = TimeWindow(7 * 3600, 16 * 3600)
# Two depots far apart; rides A and B in a cluster north of the first depot, C and D in a
# cluster south of it. Pickup and drop-off of each ride are two units apart.
PLACES = [(0, 0), (100, 0)]
RIDES: list[Request] = []
for name, (x, y) in {"A": (10, 10), "B": (10, 12), "C": (10, -10), "D": (10, -12)}.items():
    RIDES.append(Request(name, len(PLACES), len(PLACES) + 1, {"seated": 1}))
    PLACES += [(x, y), (x + 2, y)]
TRAVEL = np.array(
    [[(abs(ax - bx) + abs(ay - by)) * M for bx, by in PLACES] for ax, ay in PLACES],
    dtype=np.int64,
)


def _search(second_depot: int) -> tuple[AlnsState, DarpModel]:
    vans = (
        Vehicle("a", {"seated": 2}, 0, 0, SHIFT),
        Vehicle("b", {"seated": 2}, second_depot, second_depot, SHIFT),
    )
    problem = Problem(tuple(RIDES), vans, TRAVEL)
    model = DarpModel(problem, list(problem.requests))
    return AlnsState(model, {}), model


def _route(model: DarpModel, v: int, nv: int, *rides: str) -> list[int]:
    pickups = [model.pickup[r] for r in rides]
    return [v, *pickups, *(model.dropoff[r] for r in rides), nv + v]


def _put(search: AlnsState, v: int, nodes: list[int]) -> None:
    start = search.schedule(v, nodes)
    assert start is not None
    search.apply(v, nodes, start)


def _pooled_crossing_routes(second_depot: int) -> tuple[AlnsState, RoutePool, DarpModel]:
    """Vans a and b each serve one northern and one southern ride; the pool has also seen
    the two clusters served apart, both on van a."""
    search, model = _search(second_depot)
    pool = RoutePool()
    pool.prepare(search)
    for rides in (("A", "B"), ("C", "D")):
        _put(search, 0, _route(model, 0, 2, *rides))
        pool.add(search, 0)
    _put(search, 0, _route(model, 0, 2, "A", "C"))
    _put(search, 1, _route(model, 1, 2, "B", "D"))
    return search, pool, model


def test_the_cheapest_partition_of_pooled_routes_replaces_the_routes() -> None:
    search, pool, model = _pooled_crossing_routes(second_depot=0)
    before = search.total()
    assert pool.recombine(search, 5.0)
    served = sorted(tuple(sorted(x for x in nodes[1:-1])) for nodes in search.routes)
    ab = _route(model, 0, 2, "A", "B")[1:-1]
    cd = _route(model, 0, 2, "C", "D")[1:-1]
    assert served == sorted([tuple(sorted(ab)), tuple(sorted(cd))])
    assert search.total() < before
    for v, nodes in enumerate(search.routes):
        assert nodes[0] == v and nodes[-1] == 2 + v  # on the van's own start and end
        assert search.route_state(v).start == search.schedule(v, nodes)
    assert {search.where[model.pickup[r.id]] for r in RIDES} == {0, 1}


def test_a_route_is_not_given_to_a_van_that_starts_elsewhere() -> None:
    search, pool, _ = _pooled_crossing_routes(second_depot=1)
    routes = list(search.routes)
    assert not pool.recombine(search, 5.0)
    assert search.routes == routes


def test_no_cheaper_partition_leaves_the_routes_as_they_are() -> None:
    search, model = _search(second_depot=0)
    pool = RoutePool()
    _put(search, 0, _route(model, 0, 2, "A", "B"))
    _put(search, 1, _route(model, 1, 2, "C", "D"))
    pool.prepare(search)
    routes = list(search.routes)
    assert not pool.recombine(search, 5.0)
    assert search.routes == routes


def test_a_van_with_a_patient_aboard_keeps_the_drop_off_through_recombination() -> None:
    # E rides in van b already (picked up at 07:00) and is dropped off in the south
    aboard = Request(
        "E", 0, RIDES[2].dropoff, {"seated": 1}, aboard=Aboard("b", picked_up_at=7 * 3600)
    )
    vans = (
        Vehicle("a", {"seated": 2}, 0, 0, SHIFT),
        Vehicle("b", {"seated": 2}, 0, 0, SHIFT),
    )
    problem = Problem((*RIDES, aboard), vans, TRAVEL)
    model = DarpModel(problem, list(problem.requests))
    drop_e = model.dropoff["E"]
    search = AlnsState(model, {"b": ([StopRef("E", "dropoff")], None)})
    pool = RoutePool()
    pool.prepare(search)
    a_b, c_d = _route(model, 0, 2, "A", "B"), _route(model, 0, 2, "C", "D")
    # both clusters apart, and one after the other (the cheapest, leaving b with nothing
    # but E), seen on van a
    for nodes in (a_b, c_d, [0, *a_b[1:-1], *c_d[1:-1], 2]):
        _put(search, 0, nodes)
        pool.add(search, 0)
    _put(search, 1, [1, drop_e, *c_d[1:-1], 3])  # and the south with E's drop-off, on b
    pool.add(search, 1)
    _put(search, 0, _route(model, 0, 2, "A", "C"))
    _put(search, 1, [1, drop_e, *_route(model, 1, 2, "B", "D")[1:-1], 3])
    before = search.total()
    assert pool.recombine(search, 5.0)
    assert search.total() < before
    assert search.routes[0] == a_b
    assert search.routes[1] == [1, drop_e, *c_d[1:-1], 3]


def test_a_ride_left_out_stays_out_while_the_others_are_recombined() -> None:
    search, model = _search(second_depot=0)
    pool = RoutePool()
    pool.prepare(search)
    for rides in (("A", "B"), ("C",)):
        _put(search, 0, _route(model, 0, 2, *rides))
        pool.add(search, 0)
    _put(search, 0, _route(model, 0, 2, "A", "C"))
    _put(search, 1, _route(model, 1, 2, "B"))
    before = search.total()
    assert pool.recombine(search, 5.0)  # D is served by no route: it is not asked for
    assert search.total() < before
    served = sorted(x for nodes in search.routes for x in nodes[1:-1] if search.is_pickup[x])
    assert served == sorted(model.pickup[r] for r in "ABC")
    assert model.pickup["D"] not in search.where
