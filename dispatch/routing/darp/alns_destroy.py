"""Destroy operators of the ALNS: which requests to take out of their routes.

Related (Shaw), worst (most saving) and random removal, as in Ropke & Pisinger (2006); each
returns request indices, and the search loop (:mod:`.alns`) removes those it can.
"""

from __future__ import annotations

from dispatch.routing.darp.alns_state import AlnsState


def removable(search: AlnsState) -> list[int]:
    """Requests on routes this search may change."""
    return [
        i
        for i, (_, p, _) in enumerate(search.requests)
        if p in search.where and not search.frozen[search.where[p]]
    ]


def _times(search: AlnsState) -> dict[int, int]:
    out: dict[int, int] = {}
    for v in range(search.nv):
        if not search.frozen[v]:
            st = search.route_state(v)
            out.update(zip(st.nodes, st.start, strict=True))
    return out


def related(search: AlnsState, count: int) -> list[int]:
    """Shaw removal: a random request and those closest to it in place and time."""
    assigned = removable(search)
    if not assigned:
        return []
    seed = search.rng.choice(assigned)
    times = _times(search)
    _, sp, sd = search.requests[seed]
    scored = []
    for ri in assigned:
        _, p, d = search.requests[ri]
        score = (
            search.tr_l[sp][p]
            + search.tr_l[sd][d]
            + abs(times[sp] - times[p])
            + abs(times[sd] - times[d])
        )
        scored.append((score, ri))
    scored.sort()
    return _pick(search, [ri for _, ri in scored], count)


def worst(search: AlnsState, count: int) -> list[int]:
    """Requests whose removal saves the most travel cost."""
    c = search.cost_l
    scored = []
    for v, nodes in enumerate(search.routes):
        if search.frozen[v]:
            continue
        pos = {x: k for k, x in enumerate(nodes)}
        for i, x in enumerate(nodes):
            if not (search.is_pickup[x] and x in search.req_index):
                continue
            j = pos[search.partner[x]]
            a, d = nodes[i - 1], nodes[j]
            if j == i + 1:
                b = nodes[j + 1]
                saving = c[a][x] + c[x][d] + c[d][b] - c[a][b]
            else:
                nx, pd, nd = nodes[i + 1], nodes[j - 1], nodes[j + 1]
                saving = c[a][x] + c[x][nx] - c[a][nx] + c[pd][d] + c[d][nd] - c[pd][nd]
            scored.append((-saving, search.req_index[x]))
    scored.sort()
    return _pick(search, [ri for _, ri in scored], count)


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
