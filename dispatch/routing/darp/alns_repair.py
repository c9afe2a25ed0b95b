"""Repair operators of the ALNS: screen insertion positions, then insert cheapest or by regret.

Insertion positions for a request are screened for all (pickup gap, drop-off gap) pairs of a
route at once with numpy: arrival times pushed forward through the route's waiting slack,
latest feasible start times, the shortest possible ride and seats of every kind. Only the
cheapest survivors get the exact check (:meth:`.AlnsState.schedule`).
"""

from __future__ import annotations

from bisect import bisect_left

from dispatch.routing.darp.alns_state import BIG, AlnsState

EXACT_CHECKS = 8  # exact schedules tried per route and request, cheapest first


def screen(search: AlnsState, ri: int, v: int) -> list[tuple[int, int, int]]:
    """Insertions of request ``ri`` into vehicle ``v`` that pass the necessary
    conditions, cheapest first: (cost delta, pickup after ``i``, drop-off after ``j``).

    Necessary conditions prune the pairs (times only grow along a route, so most loops
    stop early); the exact check is left to the caller.
    """
    if not search.fits[ri, v] or search.frozen[v]:
        return []
    _, p, d = search.requests[ri]
    st = search.cache[v] or search.route_state(v)
    nodes, start, latest, slack, along, legcost = (
        st.nodes,
        st.start,
        st.latest,
        st.slack,
        st.along,
        st.legcost,
    )
    tr, c = search.tr_l, search.cost_l
    tr_p, tr_d, c_p, c_d = tr[p], tr[d], c[p], c[d]
    e_p, l_p, e_d, l_d = search.early_l[p], search.late_l[p], search.early_l[d], search.late_l[d]
    limit = search.ride_gap[p]
    seats = [(st.room[k], q) for k, q in search.needs[ri]]
    room0, q0 = seats[0] if len(seats) == 1 else ([BIG] * len(nodes), 0)
    multi = len(seats) > 1
    m = len(nodes)
    found: list[tuple[int, int, int]] = []
    # ``latest`` never decreases along a route; a gap whose next stop must start before the
    # pickup window opens cannot take the pickup (nor the ride), so the loop starts after
    # the last such gap
    first = max(search.first_gap[v], bisect_left(latest, e_p) - 1)
    for i in range(first, m - 1):
        ni = nodes[i]
        if start[i] > l_p:
            break
        t_p = start[i] + tr[ni][p]
        if t_p < e_p:
            t_p = e_p
        if t_p > l_p or room0[i] < q0 or (multi and any(r[i] < q for r, q in seats)):
            continue
        ni1 = nodes[i + 1]
        leave_cost = c[ni][p] - legcost[i]
        t_d = t_p + tr_p[d]
        if t_d < e_d:
            t_d = e_d
        if t_d <= l_d and tr_p[d] <= limit and t_d + tr_d[ni1] <= latest[i + 1]:
            found.append((leave_cost + c_p[d] + c_d[ni1], i, i))
        arrive = t_p + tr_p[ni1]
        if arrive > latest[i + 1]:
            continue
        push = arrive - start[i + 1]
        if push < 0:
            push = 0
        ride0 = tr_p[ni1] - along[i + 1]
        pick_cost = leave_cost + c_p[ni1]
        base_slack = slack[i + 1]
        for j in range(i + 1, m - 1):
            if start[j] > l_d or room0[j] < q0 or (multi and any(r[j] < q for r, q in seats)):
                break
            shift = push - (slack[j] - base_slack)
            t_j = start[j] + (shift if shift > 0 else 0)
            if t_j > latest[j]:
                break
            ride = ride0 + along[j]
            if ride > limit:  # the ride only grows with a later drop-off
                break
            nj = nodes[j]
            if ride + tr[nj][d] > limit:
                continue
            t_d = t_j + tr[nj][d]
            if t_d < e_d:
                t_d = e_d
            nj1 = nodes[j + 1]
            if t_d > l_d or t_d + tr_d[nj1] > latest[j + 1]:
                continue
            found.append((pick_cost + c[nj][d] + c_d[nj1] - legcost[j], i, j))
    if m == 2 and search.fixed[v]:  # the first ride of an unused vehicle puts it on the road
        found = [(cost + search.fixed[v], i, j) for cost, i, j in found]
    found.sort()
    return found[:EXACT_CHECKS]


def insert_all(search: AlnsState, pending: list[int], regret: int, noise: float) -> list[int]:
    """Insert ``pending`` requests (regret-k, or cheapest first when k = 1); the rest are
    returned unassigned.

    Choices are made on screened costs; only the chosen insertion gets the exact check
    (measured: the cheapest screened position is exactly feasible ~92 % of the time), and
    a failed one is dropped from the candidates before choosing again.
    """
    vehicles = range(search.nv)
    # screened insertions per pending request and vehicle; after an insertion only the
    # changed vehicle's are screened again
    found = {ri: [screen(search, ri, v) for v in vehicles] for ri in pending}
    pending = list(pending)
    rng = search.rng
    changed = -1
    while pending:
        choice: tuple[float, int, int] | None = None
        for ri in pending:
            per_vehicle = found[ri]
            if changed >= 0:
                per_vehicle[changed] = screen(search, ri, changed)
            if noise:
                options = [
                    (cands[0][0] * (1.0 + noise * (2 * rng.random() - 1)), v)
                    for v, cands in enumerate(per_vehicle)
                    if cands
                ]
            else:
                options = [(cands[0][0], v) for v, cands in enumerate(per_vehicle) if cands]
            if not options:
                continue
            if regret <= 1:
                best = min(options)
                score = -best[0]
            else:
                options.sort()
                top = options[:regret]
                best = top[0]
                score = sum(o[0] - best[0] for o in top[1:])
                score += (regret - len(top)) * 1e12  # few options left: insert it first
            if search.weight[ri] > 1:
                score += 1e15  # a kept ride goes back in before any newcomer
            if choice is None or score > choice[0]:
                choice = (score, ri, best[1])
        if choice is None:
            break
        _, ri, v = choice
        _, i, j = found[ri][v].pop(0)
        changed = -1
        _, p, d = search.requests[ri]
        nodes = search.routes[v]
        new = [*nodes[: i + 1], p, *nodes[i + 1 : j + 1], d, *nodes[j + 1 :]]
        start = search.schedule(v, new)
        if start is None:
            continue
        search.apply(v, new, start)
        changed = v
        pending.remove(ri)
    return pending


def insert_in_order(search: AlnsState, pending: list[int]) -> list[int]:
    """Insert ``pending`` one at a time in order of their pickup windows, each where it
    costs least; the rest are returned unassigned.

    Why: regret insertion re-screens every pending request after each insertion, which is
    quadratic; on 400 requests it took 5.9 of a 20-s solve. This is linear in the requests
    and leaves the rest of the time to the search, which measured better.
    """
    early = search.early_l
    left = []
    for ri in sorted(pending, key=lambda i: (early[search.requests[i][1]], i)):
        options = sorted(
            (cost, v, i, j) for v in range(search.nv) for cost, i, j in screen(search, ri, v)
        )
        _, p, d = search.requests[ri]
        for _, v, i, j in options[:EXACT_CHECKS]:
            nodes = search.routes[v]
            new = [*nodes[: i + 1], p, *nodes[i + 1 : j + 1], d, *nodes[j + 1 :]]
            start = search.schedule(v, new)
            if start is not None:
                search.apply(v, new, start)
                break
        else:
            left.append(ri)
    return left
