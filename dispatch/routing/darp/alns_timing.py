"""The insertion search's exact check, compiled (numba): least schedules and break placement.

Why: every insertion the search keeps and every removal is checked by the least schedule of
the changed route, and a route with breaks tries several placements; measured on the
400-booking day (20 s), placing breaks from Python took 5.8 s. The functions are the plain,
typed Python they run as (:mod:`.alns_kernels` says how they are compiled).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from dispatch.routing.darp.alns_kernels import IntArray, compiled


def _least(
    nodes: IntArray,
    tr: IntArray,
    early: IntArray,
    late: IntArray,
    service: IntArray,
    is_pickup: npt.NDArray[np.bool_],
    partner: IntArray,
    ride_gap: IntArray,
    span: int,
    placed: IntArray,
    big: int,
) -> IntArray:
    """Least start times of ``nodes`` with breaks ``placed`` (rows: gap, duration, opens,
    closes) in their gaps; an empty array when there are none.

    Start times are raised until windows, ride limits and the route's span all hold: the
    simple temporal problem of :mod:`.timetable`, specialised to a chain.
    """
    m = nodes.shape[0]
    none = np.empty(0, dtype=np.int64)
    low = np.empty(m, dtype=np.int64)
    up = np.empty(m, dtype=np.int64)
    pause = np.zeros(m, dtype=np.int64)
    for k in range(m):
        low[k] = early[nodes[k]]
        up[k] = late[nodes[k]]
    for b in range(placed.shape[0]):
        g, duration, opens, closes = placed[b, 0], placed[b, 1], placed[b, 2], placed[b, 3]
        if g < 0:  # before leaving the start
            low[0] = max(low[0], opens + duration)
        elif g >= m - 1:  # after arriving at the end
            up[m - 1] = min(up[m - 1], closes)
        else:
            pause[g] += duration
            low[g + 1] = max(low[g + 1], opens + duration)
            up[g] = min(up[g], closes - service[nodes[g]])
    t = np.empty(m, dtype=np.int64)
    t[0] = low[0]
    if t[0] > up[0]:
        return none
    for k in range(1, m):
        t[k] = max(t[k - 1] + tr[nodes[k - 1], nodes[k]] + pause[k - 1], low[k])
        if t[k] > up[k]:
            return none
    ride_i = np.empty(m, dtype=np.int64)
    ride_j = np.empty(m, dtype=np.int64)
    ride_gap_of = np.empty(m, dtype=np.int64)
    rides = 0
    for k in range(m):
        x = nodes[k]
        if is_pickup[x] or partner[x] < 0:
            continue
        gap = ride_gap[partner[x]]
        if gap >= big:
            continue
        for q in range(k - 1, -1, -1):
            if nodes[q] == partner[x]:
                ride_i[rides], ride_j[rides], ride_gap_of[rides] = q, k, gap
                rides += 1
                break
    for _ in range(2 * m + 2):
        lowest = m
        for r in range(rides):
            i, j, gap = ride_i[r], ride_j[r], ride_gap_of[r]
            if t[j] - t[i] > gap:
                t[i] = t[j] - gap
                if t[i] > up[i]:
                    return none
                lowest = min(lowest, i)
        if t[m - 1] - t[0] > span:
            t[0] = t[m - 1] - span
            if t[0] > up[0]:
                return none
            lowest = 0
        if lowest == m:
            return t
        for k in range(lowest + 1, m):
            x = t[k - 1] + tr[nodes[k - 1], nodes[k]] + pause[k - 1]
            if x > t[k]:
                if x > up[k]:
                    return none
                t[k] = x
    return none


least_schedule = compiled(_least)


def _place_breaks(
    nodes: IntArray,
    tr: IntArray,
    early: IntArray,
    late: IntArray,
    service: IntArray,
    is_pickup: npt.NDArray[np.bool_],
    partner: IntArray,
    ride_gap: IntArray,
    span: int,
    breaks: IntArray,
    order: IntArray,
    big: int,
    gaps: IntArray,
) -> IntArray:
    """Least start times of ``nodes`` with each break (rows: duration, opens, closes) in a
    gap of its own, written to ``gaps`` (-1: before the start); empty when none is found.

    Breaks are placed in ``order`` (by when their windows open), each trying the four
    gaps from where its window opens on and the two before it, keeping the first that
    leaves the route a schedule: sound (what it returns is feasible), not exhaustive.
    """
    none = np.empty(0, dtype=np.int64)
    placed = np.empty((breaks.shape[0], 4), dtype=np.int64)
    base = least_schedule(
        nodes, tr, early, late, service, is_pickup, partner, ride_gap, span, placed[:0], big
    )
    if base.shape[0] == 0:
        return none
    m = nodes.shape[0]
    times = base
    count = 0
    tries = np.empty(6, dtype=np.int64)
    trial = np.empty((breaks.shape[0], 4), dtype=np.int64)
    for index in order:
        duration, opens, closes = breaks[index, 0], breaks[index, 1], breaks[index, 2]
        first = m
        for k in range(m):
            if base[k] >= opens:
                first = k
                break
        first -= 1
        n = 0
        for g in range(max(first, -1), m):  # from where the window opens, while open
            if n < 4 and (g < 0 or base[g] <= closes):
                tries[n] = g
                n += 1
        before = 0
        for g in range(min(first, m - 1) - 1, -2, -1):  # then the two gaps before
            if before < 2:
                tries[n] = g
                n += 1
                before += 1
        found = False
        for t in range(n):
            g = tries[t]
            used = False
            for b in range(count):
                used = used or placed[b, 0] == g
            if used:
                continue
            # the placed breaks with this one, in gap order
            k = 0
            for b in range(count):
                if placed[b, 0] < g:
                    trial[k] = placed[b]
                    k += 1
            trial[k, 0], trial[k, 1], trial[k, 2], trial[k, 3] = g, duration, opens, closes
            k += 1
            for b in range(count):
                if placed[b, 0] > g:
                    trial[k] = placed[b]
                    k += 1
            got = least_schedule(
                nodes, tr, early, late, service, is_pickup, partner, ride_gap, span,
                trial[: count + 1], big,
            )  # fmt: skip
            if got.shape[0]:
                placed[: count + 1] = trial[: count + 1]
                count += 1
                times = got
                gaps[index] = g
                found = True
                break
        if not found:
            return none
    return times


place_breaks = compiled(_place_breaks)


def warm_up() -> None:
    """Compile (or load from the cache) both kernels with the argument types the search
    passes, so no solve spends its time limit compiling."""
    ints = np.zeros(2, dtype=np.int64)
    square = np.zeros((2, 2), dtype=np.int64)
    flags = np.zeros(2, dtype=np.bool_)
    nodes = np.array([0, 1], dtype=np.int64)
    least_schedule(nodes, square, ints, ints, ints, flags, ints, ints, 0, square[:0], 1)
    place_breaks(
        nodes, square, ints, ints, ints, flags, ints, ints, 0, np.zeros((1, 3), np.int64),
        ints[:1], 1, ints[:1],
    )  # fmt: skip


warm_up()
