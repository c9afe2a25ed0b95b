"""Destroy operators of the ALNS: which requests to take out of their routes.

Related (Shaw), worst (most saving) and random removal, as in Ropke & Pisinger (2006); each
returns request indices, and the search loop (:mod:`.alns`) removes those it can. Requests
are ranked with numpy over the routes' cached arrays (:meth:`.AlnsState.route_state`), laid
end to end: measured on a 400-booking day, ranking them in Python took a fifth of a solve.
"""

from __future__ import annotations

import numpy as np

from dispatch.routing.darp.alns_kernels import IntArray
from dispatch.routing.darp.alns_state import AlnsState


def _layout(search: AlnsState) -> tuple[IntArray, IntArray]:
    """Every node on a route this search may change, route after route, and its least start
    time: one array of each, from the routes' cached screening arrays."""
    states = [search.route_state(v) for v in range(search.nv) if not search.frozen[v]]
    if not states:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    return (
        np.concatenate([st.packed[0] for st in states]),
        np.concatenate([st.packed[1] for st in states]),
    )


def _on_routes(search: AlnsState, nodes: IntArray) -> IntArray:
    """The requests whose pickup is among ``nodes``, in index order."""
    on = np.zeros(len(search.is_pickup), dtype=np.bool_)
    on[nodes] = True
    return np.flatnonzero(on[search.req_p])


def removable(search: AlnsState) -> list[int]:
    """Requests on routes this search may change."""
    found: list[int] = _on_routes(search, _layout(search)[0]).tolist()
    return found


def related(search: AlnsState, count: int) -> list[int]:
    """Shaw removal: a random request and those closest to it in place and time."""
    nodes, start = _layout(search)
    assigned = _on_routes(search, nodes)
    if not len(assigned):
        return []
    seed = search.rng.choice(assigned.tolist())
    times = np.zeros(len(search.is_pickup), dtype=np.int64)
    times[nodes] = start
    sp, sd = search.req_p[seed], search.req_d[seed]
    p, d = search.req_p[assigned], search.req_d[assigned]
    tr = search.tr_a
    score = tr[sp, p] + tr[sd, d] + np.abs(times[sp] - times[p]) + np.abs(times[sd] - times[d])
    # ties in request order, as they are listed
    return _pick(search, assigned[np.argsort(score, kind="stable")].tolist(), count)


def worst(search: AlnsState, count: int) -> list[int]:
    """Requests whose removal saves the most travel cost."""
    nodes, _ = _layout(search)
    assigned = _on_routes(search, nodes)
    if not len(assigned):
        return []
    where = np.zeros(len(search.is_pickup), dtype=np.int64)
    where[nodes] = np.arange(len(nodes))
    i, j = where[search.req_p[assigned]], where[search.req_d[assigned]]
    x, d = nodes[i], nodes[j]
    a, nx, pd, nd = nodes[i - 1], nodes[i + 1], nodes[j - 1], nodes[j + 1]
    c = search.cost_a
    # a pickup and drop-off in a row leave one arc; else each leaves its own
    apart = c[a, x] + c[x, nx] - c[a, nx] + c[pd, d] + c[d, nd] - c[pd, nd]
    together = c[a, x] + c[x, d] + c[d, nd] - c[a, nd]
    saving = np.where(j == i + 1, together, apart)
    return _pick(search, assigned[np.argsort(-saving, kind="stable")].tolist(), count)


def emptiest(search: AlnsState, count: int) -> list[int]:
    """Every request of one lightly used vehicle (mostly the lightest): the move that lets
    a plan do with a vehicle fewer when vehicles have a fixed cost."""
    used = [
        (sum(1 for x in nodes if x in search.req_index), v)
        for v, nodes in enumerate(search.routes)
        if not search.frozen[v] and any(x in search.req_index for x in nodes)
    ]
    if not used:
        return []
    used.sort()
    _, v = used[int(len(used) * search.rng.random() ** 3)]
    return [search.req_index[x] for x in search.routes[v] if x in search.req_index]


def randomly(search: AlnsState, count: int) -> list[int]:
    assigned = removable(search)
    return search.rng.sample(assigned, min(count, len(assigned)))


def _pick(search: AlnsState, ranked: list[int], count: int, power: float = 4.0) -> list[int]:
    """Mostly the best-ranked, with randomness (Ropke & Pisinger's y^p choice)."""
    ranked = list(ranked)
    out: list[int] = []
    while ranked and len(out) < count:
        k = int(len(ranked) * search.rng.random() ** power)
        out.append(ranked.pop(k))
    return out
