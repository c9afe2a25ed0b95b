"""The insertion search's inner loops, compiled (numba): screening insertion positions.

Why: the search's worth is in how many moves it tries in its time. Measured on the
generated 150-request instance, screening insertions took 7.3 of the 16 s the search had
(391,295 calls, one per request and route), mostly in the interpreter's per-call work.
Compiled, one call screens every pending request against one route.

Each function here is the plain, typed Python it runs as; :func:`compiled` compiles it
once per machine (numba caches the machine code beside the module).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

import numpy as np
import numpy.typing as npt
from numba import njit

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
#: What screening reads of a route: nodes, least start times, latest starts, cumulative
#: waiting, cumulative transit, seats free [kind][position], cost of the arc leaving each.
Packed = tuple[IntArray, IntArray, IntArray, IntArray, IntArray, IntArray, IntArray]

F = TypeVar("F", bound=Callable[..., Any])


def compiled(function: F) -> F:
    """``function`` compiled to machine code, cached on disk, with its Python signature."""
    return cast(F, njit(cache=True, nogil=True)(function))


def _better(out: IntArray, k: int, cost: int, i: int, j: int) -> bool:
    """(cost, i, j) sorts before row ``k`` of ``out`` (as Python sorts tuples)."""
    if cost != out[k, 0]:
        return bool(cost < out[k, 0])
    if i != out[k, 1]:
        return bool(i < out[k, 1])
    return bool(j < out[k, 2])


_better_c = compiled(_better)


def _keep(out: IntArray, count: int, cost: int, i: int, j: int) -> int:
    """Add (cost, i, j) to the sorted ``out[:count]`` holding at most ``len(out)`` rows;
    returns the new count."""
    keep = out.shape[0]
    if count == keep and not _better_c(out, keep - 1, cost, i, j):
        return count
    k = count if count < keep else keep - 1
    while k > 0 and _better_c(out, k - 1, cost, i, j):
        out[k, 0], out[k, 1], out[k, 2] = out[k - 1, 0], out[k - 1, 1], out[k - 1, 2]
        k -= 1
    out[k, 0], out[k, 1], out[k, 2] = cost, i, j
    return count + 1 if count < keep else count


_keep_c = compiled(_keep)


def _seated(needs: IntArray, room: IntArray, position: int) -> bool:
    """Seats of every kind ``needs`` asks for are free after ``position``."""
    for k in range(needs.shape[0]):  # noqa: SIM110 (numba compiles loops, not generators)
        if needs[k] > 0 and needs[k] > room[k, position]:
            return False
    return True


_seated_c = compiled(_seated)


def _screen(
    ris: IntArray,
    alive: npt.NDArray[np.bool_],
    fits: npt.NDArray[np.bool_],
    used: IntArray,
    req_p: IntArray,
    req_d: IntArray,
    req_limit: IntArray,
    req_needs: IntArray,
    early: IntArray,
    late: IntArray,
    tr: IntArray,
    c: IntArray,
    nodes: IntArray,
    start: IntArray,
    latest: IntArray,
    slack: IntArray,
    along: IntArray,
    room: IntArray,
    legcost: IntArray,
    first_gap: int,
    fixed: int,
    out: IntArray,
    counts: IntArray,
    cheapest: FloatArray,
    v: int,
) -> None:
    """Screen requests ``ris`` against route ``v``: for each ``row`` still ``alive`` whose
    request ``fits`` the vehicle, ``out[row, :counts[row]]`` are the cheapest (cost delta,
    pickup after ``i``, drop-off after ``j``) that pass the necessary conditions, cheapest
    first, none of them ``used`` yet; ``cheapest[row, v]`` is the first cost (infinite
    when none, and for every other row).

    ``room[kind, position]`` is the seats free after each position; ``req_needs[request,
    kind]`` the seats a request takes. The exact check is the caller's.
    """
    m = nodes.shape[0]
    for row in range(ris.shape[0]):
        ri = ris[row]
        cheapest[row, v] = np.inf
        if not alive[row] or not fits[ri]:
            continue
        used[row] = 0
        p, d, limit = req_p[ri], req_d[ri], req_limit[ri]
        e_p, l_p, e_d, l_d = early[p], late[p], early[d], late[d]
        count = 0
        # ``latest`` never decreases along a route: a gap whose next stop must start before
        # the pickup window opens cannot take the pickup, so start after the last such gap
        lo, hi = 0, m
        while lo < hi:
            mid = (lo + hi) // 2
            if latest[mid] < e_p:
                lo = mid + 1
            else:
                hi = mid
        first = max(first_gap, lo - 1)
        for i in range(first, m - 1):
            if start[i] > l_p:
                break
            ni = nodes[i]
            t_p = max(start[i] + tr[ni, p], e_p)
            if t_p > l_p:
                continue
            if not _seated_c(req_needs[ri], room, i):
                continue
            ni1 = nodes[i + 1]
            leave_cost = c[ni, p] - legcost[i]
            t_d = max(t_p + tr[p, d], e_d)
            if t_d <= l_d and tr[p, d] <= limit and t_d + tr[d, ni1] <= latest[i + 1]:
                count = _keep_c(out[row], count, leave_cost + c[p, d] + c[d, ni1], i, i)
            arrive = t_p + tr[p, ni1]
            if arrive > latest[i + 1]:
                continue
            push = max(arrive - start[i + 1], 0)
            ride0 = tr[p, ni1] - along[i + 1]
            pick_cost = leave_cost + c[p, ni1]
            base_slack = slack[i + 1]
            for j in range(i + 1, m - 1):
                if start[j] > l_d:
                    break
                if not _seated_c(req_needs[ri], room, j):
                    break
                t_j = start[j] + max(push - (slack[j] - base_slack), 0)
                if t_j > latest[j]:
                    break
                ride = ride0 + along[j]
                if ride > limit:  # the ride only grows with a later drop-off
                    break
                nj = nodes[j]
                if ride + tr[nj, d] > limit:
                    continue
                t_d = max(t_j + tr[nj, d], e_d)
                nj1 = nodes[j + 1]
                if t_d > l_d or t_d + tr[d, nj1] > latest[j + 1]:
                    continue
                cost = pick_cost + c[nj, d] + c[d, nj1] - legcost[j]
                count = _keep_c(out[row], count, cost, i, j)
        if m == 2:  # the first ride of an unused vehicle puts it on the road
            for k in range(count):
                out[row, k, 0] += fixed
        counts[row] = count
        cheapest[row, v] = out[row, 0, 0] if count else np.inf


screen_route = compiled(_screen)


def _screen_routes(
    ris: IntArray,
    alive: npt.NDArray[np.bool_],
    fits: npt.NDArray[np.bool_],
    used: IntArray,
    req_p: IntArray,
    req_d: IntArray,
    req_limit: IntArray,
    req_needs: IntArray,
    early: IntArray,
    late: IntArray,
    tr: IntArray,
    c: IntArray,
    nodes: IntArray,
    start: IntArray,
    latest: IntArray,
    slack: IntArray,
    along: IntArray,
    room: IntArray,
    legcost: IntArray,
    bounds: IntArray,
    first_gap: IntArray,
    fixed: IntArray,
    out: IntArray,
    counts: IntArray,
    cheapest: FloatArray,
) -> None:
    """:func:`screen_route` for every vehicle ``v`` in one call: its route is
    ``bounds[v]:bounds[v + 1]`` of the arrays laid end to end (none: nothing fits), and
    ``fits``, ``used``, ``out`` and ``counts`` are indexed by vehicle first."""
    for v in range(bounds.shape[0] - 1):
        a, b = bounds[v], bounds[v + 1]
        if a == b:
            for row in range(ris.shape[0]):
                cheapest[row, v] = np.inf
            continue
        screen_route(
            ris, alive, fits[v], used[v], req_p, req_d, req_limit, req_needs, early, late, tr,
            c, nodes[a:b], start[a:b], latest[a:b], slack[a:b], along[a:b], room[:, a:b],
            legcost[a:b], first_gap[v], fixed[v], out[v], counts[v], cheapest, v,
        )  # fmt: skip


screen_routes = compiled(_screen_routes)


def _route_arrays(
    nodes: IntArray,
    start: IntArray,
    tr: IntArray,
    c: IntArray,
    late: IntArray,
    demand: IntArray,
    free: IntArray,
    needed: npt.NDArray[np.bool_],
    big: int,
) -> tuple[IntArray, IntArray, IntArray, IntArray, IntArray]:
    """What screening reads of a route with least schedule ``start``: latest start keeping
    later windows (rides ignored: optimistic), cumulative waiting, cumulative transit,
    seats free after each position per kind (``big`` for kinds not ``needed``: never
    read) and the cost of the arc leaving each position."""
    m = nodes.shape[0]
    latest = np.empty(m, dtype=np.int64)
    for k in range(m):
        latest[k] = late[nodes[k]]
    for k in range(m - 2, -1, -1):
        latest[k] = min(latest[k], latest[k + 1] - tr[nodes[k], nodes[k + 1]])
    slack = np.zeros(m, dtype=np.int64)
    along = np.zeros(m, dtype=np.int64)
    legcost = np.zeros(m, dtype=np.int64)
    for k in range(1, m):
        leg = tr[nodes[k - 1], nodes[k]]
        slack[k] = slack[k - 1] + start[k] - (start[k - 1] + leg)
        along[k] = along[k - 1] + leg
        legcost[k - 1] = c[nodes[k - 1], nodes[k]]
    kinds = free.shape[0]
    room = np.full((kinds, m), big, dtype=np.int64)
    for kind in range(kinds):
        if needed[kind]:
            left = free[kind]
            for k in range(m):
                left -= demand[kind, nodes[k]]
                room[kind, k] = left
    return latest, slack, along, room, legcost


route_arrays = compiled(_route_arrays)


def _choose(
    cost: FloatArray,
    alive: npt.NDArray[np.bool_],
    heavy: npt.NDArray[np.bool_],
    regret: int,
    noise: float,
    draws: FloatArray,
) -> tuple[int, int]:
    """The (row, vehicle) to insert next from ``cost[row, vehicle]`` (the cheapest screened
    insertion, infinite when none), or (-1, -1) when no live row has one.

    Regret-k (k = ``regret`` > 1): the row whose k cheapest vehicles differ most from its
    cheapest, a row with fewer than k first; cheapest first when k = 1. With ``noise``,
    each cost is scaled by 1 ± ``noise`` (``draws`` uniform in [0, 1)). Rows ``heavy``
    (kept rides) go before all others; ties go to the first row and the lowest vehicle.
    """
    rows, nv = cost.shape
    top = np.empty(max(regret, 1), dtype=np.float64)
    found_row, found_v, found_score = -1, -1, -np.inf
    for row in range(rows):
        if not alive[row]:
            continue
        n = 0
        best_v = -1
        for v in range(nv):
            x = cost[row, v]
            if x == np.inf:
                continue
            if noise:
                x = x * (1.0 + noise * (2.0 * draws[row, v] - 1.0))
            # keep the ``regret`` smallest, sorted, ties to the lower vehicle (seen first)
            if n < top.shape[0]:
                k = n
                n += 1
            elif x < top[n - 1]:
                k = n - 1
            else:
                continue
            while k > 0 and top[k - 1] > x:
                top[k] = top[k - 1]
                k -= 1
            top[k] = x
            if k == 0:
                best_v = v
        if n == 0:
            continue
        if regret <= 1:
            score = -top[0]
        else:
            score = 0.0
            for k in range(1, n):
                score += top[k] - top[0]
            score += (regret - n) * 1e12  # few options left: insert it first
        if heavy[row]:
            score += 1e15  # a kept ride goes back in before any newcomer
        if found_row < 0 or score > found_score:
            found_row, found_v, found_score = row, best_v, score
    return found_row, found_v


choose_insertion = compiled(_choose)


def warm_up() -> None:
    """Compile (or load from the cache) every kernel with the argument types the search
    passes, so no solve spends its time limit compiling (measured: about 3 s the first
    time on this project's 2-core machine, a fraction of a second from the cache)."""
    ints = np.zeros(2, dtype=np.int64)
    square = np.zeros((2, 2), dtype=np.int64)
    flags = np.zeros(2, dtype=np.bool_)
    nodes = np.array([0, 1], dtype=np.int64)
    out = np.zeros((1, 1, 3), dtype=np.int64)
    screen_route(
        ints[:1], flags[:1], flags, ints[:1].copy(), ints, ints, ints, square, ints, ints,
        square, square,
        nodes, ints, ints, ints, ints, square, ints, 0, 0, out, ints[:1],
        np.zeros((1, 2)), 0,
    )  # fmt: skip
    screen_routes(
        ints[:1], flags[:1], flags[None, :], ints[None, :1].copy(), ints, ints, ints, square,
        ints, ints, square, square, nodes, ints, ints, ints, ints, square, ints,
        np.array([0, 2], dtype=np.int64), ints[:1], ints[:1], out[None], ints[None, :1].copy(),
        np.zeros((1, 1)),
    )  # fmt: skip
    route_arrays(nodes, ints, square, square, ints, square, ints, flags, 1)
    choose_insertion(np.zeros((1, 2)), flags[:1], flags[:1], 1, 0.0, np.zeros((0, 0)))


warm_up()
