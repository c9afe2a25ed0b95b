"""Adaptive large neighbourhood search (Ropke & Pisinger 2006) on the routes OR-Tools found.

Why: OR-Tools' local search never leaves the space of feasible solutions, and on a day of
narrow windows and ride limits almost every neighbour is infeasible. Measured on the Cordeau
instances it stalls ~7 % above the best known cost on 8 vehicles and 96 requests, and neither
its metaheuristics nor re-solving pairs of routes moved it. Removing a handful of related
requests and re-inserting them (cheapest or regret insertion) makes large, feasible jumps.

This module is the search loop: operator choice by adaptive weights and simulated-annealing
acceptance. The routes and their exact schedules are :mod:`.alns_state`, the removal
operators :mod:`.alns_destroy`, the insertion operators :mod:`.alns_repair`, the
recombination of the routes seen :mod:`.alns_pool`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from dispatch.routing.darp.alns_destroy import emptiest, randomly, related, worst
from dispatch.routing.darp.alns_fleet import minimise_vehicles
from dispatch.routing.darp.alns_pool import RoutePool
from dispatch.routing.darp.alns_repair import insert_all, insert_in_order
from dispatch.routing.darp.alns_state import AlnsState
from dispatch.routing.darp.engine import DarpModel, Routes
from dispatch.routing.darp.model import StopRef

#: Removal operators, each choosing up to ``count`` requests to take out.
Remover = Callable[[AlnsState, int], list[int]]

MAX_REMOVED = 30
#: A move takes out up to 4 + a sixth of the requests, or this share of them when more, but
#: no more than ``REMOVE_SHARE_UP_TO`` by the share. Measured 2026-12-07 on a4-40 (four
#: vehicles, 40 requests), 30 s, seeds 0 and 2-6: with at most 10 out, three of six runs
#: stayed 1.2-1.5 % above the best known, in plans that differ from it in 25 rides over
#: three routes; with 16, all six came within 0.04 %. On a8-96, up to 30 out did worse in
#: two of three runs (2.14 and 3.11 %, against 1.43-1.60 % with 20).
REMOVE_SHARE = 0.4
REMOVE_SHARE_UP_TO = 20
#: More requests than this to place at the start: place them in time order first.
ORDERED_FIRST = 60
#: How much worse (a share of the routes' cost) a move may be and still be accepted half
#: the time at the start of a round; the temperature falls to a hundredth of it by the end.
WORSE_ACCEPTED = 0.005
#: When vehicles have a fixed cost, the last share of a round starts with emptying
#: vehicles (:mod:`.alns_fleet`) from the round's best routes if every ride is placed; the
#: search goes on from what that leaves.
FLEET_SHARE = 0.3
#: Every this share of a round, the round's best routes are recombined with the pooled
#: routes (:mod:`.alns_pool`), and the search goes on from the result if it is better.
RECOMBINE_EVERY = 0.25
#: The longest a recombination may take, as a share of the round and in seconds.
RECOMBINE_SHARE = 0.2
RECOMBINE_SECONDS = 0.6
#: Shorter than this, a recombination is not tried (a short insertion run has no time).
RECOMBINE_AT_LEAST = 0.3


def improve_alns(
    model: DarpModel,
    routes: Routes,
    deadline: float,
    seed: int = 0,
    pool: RoutePool | None = None,
) -> Routes:
    """Improve ``routes`` until ``deadline`` (``time.perf_counter()``); never serves fewer.

    ``pool`` keeps the routes seen from one round to the next (a new one when not given).
    """
    problem = model.problem
    search = AlnsState(model, routes, seed)
    if not search.requests:
        return routes
    for v in range(search.nv):
        # A route this search cannot re-time (a break placement it does not try) is kept
        # as it is; the others are searched.
        search.frozen[v] = search.schedule(v, search.routes[v]) is None
    rng = search.rng
    penalty = model.penalty
    unassigned = [i for i, (_, p, _) in enumerate(search.requests) if p not in search.where]
    if len(unassigned) > ORDERED_FIRST:
        unassigned = insert_in_order(search, unassigned)
    unassigned = insert_all(search, unassigned, 2, 0.0)
    started = time.perf_counter()
    span = max(deadline - started, 1e-3)
    pool = pool if pool is not None else RoutePool()
    pool.prepare(search)
    recombine_for = min(RECOMBINE_SECONDS, RECOMBINE_SHARE * span)
    recombine_at = started + RECOMBINE_EVERY * span
    if recombine_for < RECOMBINE_AT_LEAST:
        recombine_for, recombine_at = 0.0, deadline
    # the vehicles are emptied from the round's best routes, late in the round: measured on
    # Li & Lim, emptying one first left routes the search could not repair (lr210: 22-31 %
    # longer at the same fleet), while a search with the spare vehicle found a good plan
    # without it
    fleet_at = started + (1.0 - FLEET_SHARE) * span if any(search.fixed) else deadline

    weight = search.weight

    def value(cost: int, missing: list[int]) -> int:
        return cost + penalty * sum(weight[ri] for ri in missing)

    current = value(search.total(), unassigned)
    best = current
    best_unassigned = list(unassigned)
    best_state = search.snapshot()  # routes are replaced, never changed in place
    removers: list[Remover] = [related, worst, randomly]
    if any(search.fixed):
        removers.append(emptiest)
    inserters = [(1, 0.0), (2, 0.0), (3, 0.0), (1, 0.1), (2, 0.1)]
    w_rem = [1.0] * len(removers)
    w_ins = [1.0] * len(inserters)
    n_req = len(search.requests)
    removable_share = min(int(REMOVE_SHARE * n_req), REMOVE_SHARE_UP_TO)
    # a share of what the routes cost, not of the penalty for the rides left out: that
    # would make a day with a few unserved rides a random walk on its cost
    t0 = WORSE_ACCEPTED * max(search.total(), 1) / math.log(2)
    while True:
        now = time.perf_counter()
        # the last recombination needs its time only when it can run (every ride placed)
        search_until = deadline - (0.0 if best_unassigned else recombine_for)
        if now >= search_until or now >= recombine_at:
            recombine_at += RECOMBINE_EVERY * span
            if not best_unassigned and recombine_for:
                here, here_unassigned = search.snapshot(), unassigned
                search.restore(best_state)
                best_state = search.snapshot()
                if pool.recombine(search, min(recombine_for, deadline - now)):
                    best = current = value(search.total(), [])
                    unassigned, best_unassigned = [], []
                    best_state = search.snapshot()
                else:
                    search.restore(here)
                    unassigned = here_unassigned
            if now >= search_until:
                break
            continue
        if now >= fleet_at:
            fleet_at = deadline
            if not best_unassigned:  # every ride placed: try a vehicle fewer
                search.restore(best_state)
                unassigned = minimise_vehicles(search, [], deadline)
                current = value(search.total(), unassigned)
                if current < best:  # else the routes are the best ones again
                    best, best_unassigned = current, []
                best_state = search.snapshot()  # a restored snapshot is used up
                continue
        frac = (time.perf_counter() - started) / span
        temperature = t0 * (0.01**frac)
        saved = search.snapshot()
        saved_unassigned = list(unassigned)
        k_rem = rng.choices(range(len(removers)), weights=w_rem)[0]
        k_ins = rng.choices(range(len(inserters)), weights=w_ins)[0]
        count = rng.randint(
            min(2, n_req),
            max(2, min(n_req, max(4 + n_req // 6, removable_share), MAX_REMOVED)),
        )
        chosen = search.remove_all(removers[k_rem](search, count))
        regret, noise = inserters[k_ins]
        unassigned = insert_all(search, unassigned + chosen, regret, noise)
        candidate = value(search.total(), unassigned)
        if recombine_for:  # else the pool is never read in this round
            for v, nodes in enumerate(saved[0]):
                if search.routes[v] is not nodes:
                    pool.add(search, v)
        score = 0.0
        if candidate < best:
            best = candidate
            best_unassigned = list(unassigned)
            best_state = search.snapshot()
            score = 3.0
        if candidate < current:
            current = candidate
            score = max(score, 1.0)
        elif candidate < current + (temperature * -math.log(max(rng.random(), 1e-12))):
            current = candidate
            score = max(score, 0.5)
        else:
            search.restore(saved)
            unassigned = saved_unassigned
        w_rem[k_rem] = 0.9 * w_rem[k_rem] + 0.1 * (0.2 + score)
        w_ins[k_ins] = 0.9 * w_ins[k_ins] + 0.1 * (0.2 + score)
    del best_unassigned
    best_routes = best_state[0]
    out: Routes = {}
    for v, vehicle in enumerate(problem.vehicles):
        stops = [model.node_stop[x] for x in best_routes[v][1:-1]]
        placement = None
        if search.breaks[v]:
            found = search.place_breaks(v, best_routes[v])
            placement = None if found is None else found[1]
        out[vehicle.id] = (stops, placement)
    return out


def stops_of(routes: Routes) -> dict[str, list[StopRef]]:
    return {vid: stops for vid, (stops, _) in routes.items()}
