"""Route minimisation for the ALNS: close one vehicle and push its rides into the others.

Why: with a fixed cost per vehicle the search's moves rarely save a vehicle, because all of
a route's rides must find room elsewhere in the same move. Measured on the 56 Li & Lim
instances, destroy-and-repair moves alone left 4 vehicles more than PyVRP (407 against
403), each on an instance where one more route could be emptied.

The lightest used vehicle is closed, and so is every unused one (a ride moved there would
swap one vehicle for another: before this, that is where a closed vehicle's rides went,
and the attempt was undone as saving nothing). The closed vehicle's rides go into a pool.
A ride taken from the pool goes in where it fits; where it fits nowhere, it goes in by
taking out the rides that were hardest to place before (a count per ride of how often it
failed), and those join the pool: the guided ejection search of Nagata & Bräysy (2009).
Between steps, small destroy-and-repair moves that leave the pool no heavier shake the
routes. The vehicle stays closed when the pool empties; otherwise everything goes back as
it was. The rides served never drop.
"""

from __future__ import annotations

import itertools
import time

from dispatch.routing.darp.alns_destroy import randomly, related
from dispatch.routing.darp.alns_repair import insert_all, screen
from dispatch.routing.darp.alns_state import AlnsState

#: Steps (a ride from the pool placed, directly or by ejection) tried per closed vehicle.
STEPS = 3000
#: Steps without the pool getting lighter than ever before: the vehicle stays. (Measured on
#: Li & Lim lc109, 30 s: at 150 steps the tenth vehicle stayed in 2 of 3 runs, at 400 in
#: none of 6; the attempt ends at the round's end anyway.)
STALL = 400
#: Ejections of one or two rides looked at per step, least failure count first.
EJECTIONS_LOOKED_AT = 200
#: Destroy-and-repair moves shaking the routes after each ejection.
SHAKES = 2


def minimise_vehicles(search: AlnsState, unassigned: list[int], deadline: float) -> list[int]:
    """Empty used vehicles (those with a fixed cost) one at a time, lightest first, until
    one cannot be emptied or ``deadline``; returns the requests left unplaced (never
    heavier than ``unassigned``)."""
    rng = search.rng
    target = _heavy(search, unassigned)
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
        # closed, and so is every unused vehicle: a ride moved there would only swap
        # one vehicle for another
        closed = [
            u
            for u in range(search.nv)
            if not search.frozen[u] and (u == v or (search.fixed[u] and len(search.routes[u]) <= 2))
        ]
        for u in closed:
            search.frozen[u] = True
        route = search.routes[v]
        taken = [search.req_index[x] for x in route if x in search.req_index]
        for x in route:
            search.where.pop(x, None)
        search.apply(v, [route[0], route[-1]])  # only its own requests were aboard
        pool = insert_all(search, [*unassigned, *taken], 2, 0.0)
        pool = _eject_until_placed(search, pool, target, deadline)
        for u in closed:
            search.frozen[u] = False
        # placed, but the longer drives may cost more than the vehicle saved
        if _heavy(search, pool) > target or search.total() >= cost_before:
            search.restore(before)
            return unassigned
        unassigned = pool
    return unassigned


def _eject_until_placed(
    search: AlnsState, pool: list[int], target: int, deadline: float
) -> list[int]:
    """Guided ejection search: place the pool's rides (last in, first out) until it weighs
    no more than ``target``, the steps run out or ``deadline``; returns the pool."""
    rng = search.rng
    failed = [1] * len(search.requests)  # how often each ride found no room (Nagata's p)
    n_req = len(search.requests)
    pool = list(pool)
    steps = lightest_at = 0
    lightest = _heavy(search, pool)
    while steps < STEPS and steps - lightest_at < STALL and time.perf_counter() < deadline:
        heavy = _heavy(search, pool)  # once per step: the pool changes only below
        if heavy <= target:
            break
        steps += 1
        if heavy < lightest:
            lightest, lightest_at = heavy, steps
        ri = pool.pop()
        if not insert_all(search, [ri], 1, 0.0):
            continue
        failed[ri] += 1
        ejected = _insert_ejecting(search, ri, failed)
        if ejected is None:  # no room even by ejecting: try it again later
            pool.insert(0, ri)
        else:
            pool.extend(ejected)
        for _ in range(SHAKES):
            step = search.snapshot()
            remover = rng.choice((related, randomly))
            count = rng.randint(2, max(2, min(n_req, 4 + n_req // 10, 10)))
            chosen = search.remove_all(remover(search, count))
            trial = insert_all(search, pool + chosen, rng.choice((1, 2)), 0.1)
            if _heavy(search, trial) <= _heavy(search, pool):
                pool = trial
            else:
                search.restore(step)
    return pool


def _heavy(search: AlnsState, rides: list[int]) -> int:
    """What leaving ``rides`` unplaced weighs (a kept ride outweighs the others)."""
    return sum(search.weight[ri] for ri in rides)


def _insert_ejecting(search: AlnsState, ri: int, failed: list[int]) -> list[int] | None:
    """Insert ride ``ri`` into some route by taking one or two of its rides out, those
    with the least summed failure count (then the cheapest insertion); returns the rides
    taken out, or None (nothing changed) when no such ejection makes room."""
    _, p, d = search.requests[ri]
    rng = search.rng
    options: list[tuple[int, float, int, tuple[int, ...]]] = []
    for v in range(search.nv):
        if search.frozen[v] or not search.fits[ri, v]:
            continue
        aboard = [search.req_index[x] for x in search.routes[v] if x in search.req_index]
        options.extend((failed[e], rng.random(), v, (e,)) for e in aboard)
        options.extend(
            (failed[a] + failed[b], rng.random(), v, (a, b))
            for a, b in itertools.combinations(aboard, 2)
        )
    options.sort()
    best: tuple[int, int, int, tuple[int, ...], list[int], list[int]] | None = None
    for total, _, v, out in options[:EJECTIONS_LOOKED_AT]:
        if best is not None and total > best[0]:
            break
        gone = {x for e in out for x in search.requests[e][1:]}
        kept = search.routes[v], search.cache[v], search.known[v]
        nodes = [x for x in kept[0] if x not in gone]
        start = search.schedule(v, nodes)
        if start is None:
            continue
        # screen against the shorter route, then put the route back
        search.routes[v], search.cache[v], search.known[v] = nodes, None, start
        found = None
        for cost, i, j in screen(search, ri, v):
            new = [*nodes[: i + 1], p, *nodes[i + 1 : j + 1], d, *nodes[j + 1 :]]
            timed = search.schedule(v, new)
            if timed is not None:
                found = (cost, new, timed)
                break
        search.routes[v], search.cache[v], search.known[v] = kept
        if found is not None and (best is None or (total, found[0]) < best[:2]):
            best = (total, found[0], v, out, found[1], found[2])
    if best is None:
        return None
    _, _, v, out, new, timed = best
    for e in out:
        del search.where[search.requests[e][1]]
    search.apply(v, new, timed)
    return list(out)
