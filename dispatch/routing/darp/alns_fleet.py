"""Route minimisation for the ALNS: empty one vehicle and search until its rides fit elsewhere.

Why: with a fixed cost per vehicle the search's moves rarely save a vehicle, because all of
a route's rides must find room elsewhere in the same move. Measured on the 56 Li & Lim
instances, the project used 4 vehicles more than PyVRP (407 against 403), each on an
instance where one more route could be emptied. Here the lightest used vehicle is closed,
its rides join the pool of unplaced ones, and destroy-and-repair moves on the other routes
run until the pool is no heavier than before (success: the vehicle stays empty) or the
tries run out (the routes go back to what they were). The rides served never drop.
"""

from __future__ import annotations

import time

from dispatch.routing.darp.alns_destroy import randomly, related, worst
from dispatch.routing.darp.alns_repair import insert_all
from dispatch.routing.darp.alns_state import AlnsState

#: Destroy-and-repair moves tried to place a closed vehicle's rides before giving up.
TRIES = 300


def minimise_vehicles(search: AlnsState, unassigned: list[int], deadline: float) -> list[int]:
    """Empty used vehicles (those with a fixed cost) one at a time, lightest first, until
    one cannot be emptied or ``deadline``; returns the requests left unplaced (never
    heavier than ``unassigned``)."""
    rng = search.rng
    weight = search.weight

    def heavy(pool: list[int]) -> int:
        return sum(weight[ri] for ri in pool)

    target = heavy(unassigned)
    n_req = len(search.requests)
    while time.perf_counter() < deadline:
        used = [
            v
            for v in range(search.nv)
            if search.fixed[v]
            and not search.frozen[v]
            and len(search.routes[v]) > 2
            # only this search's requests aboard: the vehicle can end up empty
            and all(
                x in search.req_index or search.partner[x] in search.req_index
                for x in search.routes[v][1:-1]
            )
        ]
        if len(used) < 2:
            return unassigned
        v = min(used, key=lambda u: (len(search.routes[u]), rng.random()))
        before, cost_before = search.snapshot(), search.total()
        search.frozen[v] = True  # closed: no insertion goes there
        route = search.routes[v]
        taken = [search.req_index[x] for x in route if x in search.req_index]
        for x in route:
            search.where.pop(x, None)
        search.apply(v, [route[0], route[-1]])  # only its own requests were aboard
        pool = [*unassigned, *taken]
        pool = insert_all(search, pool, 2, 0.0)
        tries = 0
        while heavy(pool) > target and tries < TRIES and time.perf_counter() < deadline:
            tries += 1
            step = search.snapshot()
            remover = rng.choice((related, worst, randomly))
            count = rng.randint(2, max(2, min(n_req, 4 + n_req // 6, 20)))
            chosen = search.remove_all(remover(search, count))
            trial = insert_all(search, pool + chosen, rng.choice((1, 2, 3)), 0.1)
            if heavy(trial) <= heavy(pool):  # sideways moves keep the search moving
                pool = trial
            else:
                search.restore(step)
        search.frozen[v] = False
        # placed, but the longer drives may cost more than the vehicle saved
        if heavy(pool) > target or search.total() >= cost_before:
            search.restore(before)
            return unassigned
        unassigned = pool
    return unassigned
