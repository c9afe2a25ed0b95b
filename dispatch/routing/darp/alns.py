"""Adaptive large neighbourhood search (Ropke & Pisinger 2006) on the routes OR-Tools found.

Why: OR-Tools' local search never leaves the space of feasible solutions, and on a day of
narrow windows and ride limits almost every neighbour is infeasible. Measured on the Cordeau
instances it stalls ~7 % above the best known cost on 8 vehicles and 96 requests, and neither
its metaheuristics nor re-solving pairs of routes moved it. Removing a handful of related
requests and re-inserting them (cheapest or regret insertion) makes large, feasible jumps.

Insertion positions for a request are screened for all (pickup gap, drop-off gap) pairs of a
route at once with numpy: arrival times pushed forward through the route's waiting slack,
latest feasible start times, the shortest possible ride and seats of every kind. Only the
cheapest survivors get the exact check: the least schedule of the new sequence, found by
raising start times until windows, ride limits and route duration all hold (the simple
temporal problem of :mod:`.timetable`, specialised to a chain).

A break is placed in one gap of the route (or before or after it), trying the gaps around
where its window opens; placement is sound but not exhaustive, which costs at worst a missed
insertion.
"""

from __future__ import annotations

import itertools
import math
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from dispatch.routing.darp.engine import DarpModel, Routes
from dispatch.routing.darp.model import StopRef
from dispatch.routing.darp.precheck import fitting_vehicles

_BIG = 2**50
_EXACT_CHECKS = 8  # exact schedules tried per route and request, cheapest first


@dataclass(slots=True)
class _Route:
    """A route's nodes and what screening insertions into it needs (plain lists: routes are
    short and the screening prunes hard, where numpy's per-call cost would dominate)."""

    nodes: list[int]
    start: list[int]  # least feasible start of service per position
    latest: list[int]  # latest start keeping later windows (rides ignored: optimistic)
    slack: list[int]  # cumulative waiting up to each position
    along: list[int]  # cumulative transit along the route
    room: list[list[int]]  # [kind][position]: free seats after service at the position
    legcost: list[int]  # cost of the arc leaving each position


class Alns:
    """The search state over ``model``'s nodes; routes are lists of node ids."""

    def __init__(self, model: DarpModel, routes: Routes, seed: int = 0) -> None:
        problem = model.problem
        self.rng = random.Random(seed)
        self.nv = nv = len(problem.vehicles)
        self.tr_l, self.cost_l = model.matrices_as_lists()
        self.early_l: list[int] = model.early.tolist()
        self.late_l: list[int] = model.late.tolist()
        kinds = problem.seat_kinds
        n = model.n
        self.demand = np.zeros((n, len(kinds)), dtype=np.int64)
        self.cap = np.array(
            [[v.capacity.get(k, 0) for k in kinds] for v in problem.vehicles], dtype=np.int64
        ).reshape(nv, len(kinds))
        self.start_load = np.zeros((nv, len(kinds)), dtype=np.int64)
        self.ride_gap = [_BIG] * n  # max start(d) - start(p), indexed by pickup node
        self.partner = [-1] * n
        self.is_pickup = [False] * n
        by_id = {r.id: r for r in model.requests}
        self.requests: list[tuple[str, int, int]] = []
        for r in model.requests:
            load = np.array([r.load.get(k, 0) for k in kinds], dtype=np.int64)
            d = model.dropoff[r.id]
            self.demand[d] = -load
            if r.aboard is not None:
                self.start_load[model.vehicle_index[r.aboard.vehicle_id]] += load
                continue
            p = model.pickup[r.id]
            self.demand[p] = load
            self.partner[p], self.partner[d] = d, p
            self.is_pickup[p] = True
            if r.max_ride is not None:
                self.ride_gap[p] = int(r.max_ride) + int(r.pickup_service)
            if r.id not in model.mandatory:
                self.requests.append((r.id, p, d))
        self.max_span = [
            _BIG if v.max_duration is None else int(v.max_duration) for v in problem.vehicles
        ]
        self.first_gap = [1 if v.next_stop is not None else 0 for v in problem.vehicles]
        self.service_l: list[int] = model.service.tolist()
        self.breaks: list[list[tuple[int, int, int]]] = [
            [(int(b.duration), int(b.window.earliest), int(b.window.latest)) for b in v.breaks]
            for v in problem.vehicles
        ]
        self.break_order: list[list[int]] = [
            sorted(range(len(bs)), key=[b[1] for b in bs].__getitem__) for bs in self.breaks
        ]
        fits = fitting_vehicles(problem, [by_id[rid] for rid, _, _ in self.requests])
        self.fits = fits if len(self.requests) else np.zeros((0, nv), dtype=bool)
        self.req_index = {p: i for i, (_, p, _) in enumerate(self.requests)}
        self.needs: list[list[tuple[int, int]]] = [
            [(k, int(q)) for k, q in enumerate(self.demand[p].tolist()) if q > 0]
            for _, p, _ in self.requests
        ]
        self.routes: list[list[int]] = []
        for v, vehicle in enumerate(problem.vehicles):
            stops = routes.get(vehicle.id, ([], None))[0]
            middle = [
                (model.pickup if s.kind == "pickup" else model.dropoff)[s.request_id] for s in stops
            ]
            self.routes.append([v, *middle, nv + v])
        self.cache: list[_Route | None] = [None] * nv
        self.frozen = [False] * nv
        self.where: dict[int, int] = {}  # pickup node -> vehicle
        for v, nodes in enumerate(self.routes):
            for x in nodes:
                if self.is_pickup[x]:
                    self.where[x] = v

    # --- exact schedule -------------------------------------------------------------------

    def schedule(self, v: int, nodes: list[int]) -> list[int] | None:
        """Least start times of ``nodes`` on vehicle ``v``, or None when infeasible."""
        if not self.breaks[v]:
            return self._least(v, nodes, ())
        found = self.place_breaks(v, nodes)
        return None if found is None else found[0]

    def place_breaks(self, v: int, nodes: list[int]) -> tuple[list[int], list[int]] | None:
        """Least times with each break in its own gap, and the gaps (-1: before the start).

        Breaks are placed in window order, each trying the gaps around where its window
        opens; sound (what it returns is feasible) though not exhaustive.
        """
        base = self._least(v, nodes, ())
        if base is None:
            return None
        m = len(nodes)
        placed: list[tuple[int, int, int, int]] = []
        times = base
        gaps = [0] * len(self.breaks[v])
        for index in self.break_order[v]:
            duration, opens, closes = self.breaks[v][index]
            first = next((k for k in range(m) if base[k] >= opens), m) - 1
            later = [g for g in range(max(first, -1), m) if g < 0 or base[g] <= closes]
            earlier = list(range(min(first, m - 1) - 1, -2, -1))
            used = {g for g, _, _, _ in placed}
            for g in [*later[:4], *earlier[:2]]:
                if g in used:
                    continue
                trial = sorted([*placed, (g, duration, opens, closes)])
                got = self._least(v, nodes, trial)
                if got is not None:
                    placed, times, gaps[index] = trial, got, g
                    break
            else:
                return None
        return times, gaps

    def _least(
        self, v: int, nodes: list[int], placed: Sequence[tuple[int, int, int, int]]
    ) -> list[int] | None:
        """Least start times with breaks ``(gap, duration, opens, closes)`` in given gaps."""
        tr, early, late = self.tr_l, self.early_l, self.late_l
        m = len(nodes)
        low = [early[x] for x in nodes]
        up = [late[x] for x in nodes]
        pause = [0] * m
        for g, duration, opens, closes in placed:
            if g < 0:  # before leaving the start
                low[0] = max(low[0], opens + duration)
            elif g >= m - 1:  # after arriving at the end
                up[m - 1] = min(up[m - 1], closes)
            else:
                pause[g] += duration
                low[g + 1] = max(low[g + 1], opens + duration)
                up[g] = min(up[g], closes - self.service_l[nodes[g]])
        t = [0] * m
        t[0] = low[0]
        if t[0] > up[0]:
            return None
        for k in range(1, m):
            x = t[k - 1] + tr[nodes[k - 1]][nodes[k]] + pause[k - 1]
            e = low[k]
            t[k] = x if x > e else e
            if t[k] > up[k]:
                return None
        rides: list[tuple[int, int, int]] = []
        pos: dict[int, int] = {}
        for k, x in enumerate(nodes):
            if self.is_pickup[x]:
                pos[x] = k
            elif self.partner[x] in pos:
                p = self.partner[x]
                gap = self.ride_gap[p]
                if gap < _BIG:
                    rides.append((pos[p], k, gap))
        span = self.max_span[v]
        for _ in range(2 * m + 2):
            lowest = m
            for i, j, gap in rides:
                if t[j] - t[i] > gap:
                    t[i] = t[j] - gap
                    if t[i] > up[i]:
                        return None
                    lowest = min(lowest, i)
            if t[m - 1] - t[0] > span:
                t[0] = t[m - 1] - span
                if t[0] > up[0]:
                    return None
                lowest = 0
            if lowest == m:
                return t
            for k in range(lowest + 1, m):
                x = t[k - 1] + tr[nodes[k - 1]][nodes[k]] + pause[k - 1]
                if x > t[k]:
                    if x > up[k]:
                        return None
                    t[k] = x
        return None

    def route_cost(self, nodes: list[int]) -> int:
        c = self.cost_l
        return sum(c[a][b] for a, b in itertools.pairwise(nodes))

    def _state(self, v: int) -> _Route:
        cached = self.cache[v]
        if cached is not None:
            return cached
        nodes = self.routes[v]
        start = self.schedule(v, nodes)
        assert start is not None, "routes must stay feasible"
        tr, cost = self.tr_l, self.cost_l
        m = len(nodes)
        legs = [tr[a][b] for a, b in itertools.pairwise(nodes)]
        latest = [self.late_l[x] for x in nodes]
        for k in range(m - 2, -1, -1):
            latest[k] = min(latest[k], latest[k + 1] - legs[k])
        slack = [0] * m
        along = [0] * m
        for k in range(1, m):
            slack[k] = slack[k - 1] + start[k] - (start[k - 1] + legs[k - 1])
            along[k] = along[k - 1] + legs[k - 1]
        load = self.start_load[v] + np.cumsum(self.demand[nodes], axis=0)
        room = (self.cap[v][None, :] - load).T.tolist()
        state = _Route(
            nodes=nodes,
            start=start,
            latest=latest,
            slack=slack,
            along=along,
            room=room,
            legcost=[*(cost[a][b] for a, b in itertools.pairwise(nodes)), 0],
        )
        self.cache[v] = state
        return state

    # --- insertion ------------------------------------------------------------------------

    def screen(self, ri: int, v: int) -> list[tuple[int, int, int]]:
        """Insertions of request ``ri`` into vehicle ``v`` that pass the necessary
        conditions, cheapest first: (cost delta, pickup after ``i``, drop-off after ``j``).

        Necessary conditions prune the pairs (times only grow along a route, so most loops
        stop early); the exact check is left to the caller.
        """
        if not self.fits[ri, v] or self.frozen[v]:
            return []
        _, p, d = self.requests[ri]
        st = self._state(v)
        nodes, start, latest, slack, along, legcost = (
            st.nodes,
            st.start,
            st.latest,
            st.slack,
            st.along,
            st.legcost,
        )
        tr, c = self.tr_l, self.cost_l
        tr_p, tr_d, c_p, c_d = tr[p], tr[d], c[p], c[d]
        e_p, l_p, e_d, l_d = self.early_l[p], self.late_l[p], self.early_l[d], self.late_l[d]
        limit = self.ride_gap[p]
        seats = [(st.room[k], q) for k, q in self.needs[ri]]
        room0, q0 = seats[0] if len(seats) == 1 else ([_BIG] * len(nodes), 0)
        multi = len(seats) > 1
        m = len(nodes)
        found: list[tuple[int, int, int]] = []
        for i in range(self.first_gap[v], m - 1):
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
                nj = nodes[j]
                if ride0 + along[j] + tr[nj][d] > limit:
                    continue
                t_d = t_j + tr[nj][d]
                if t_d < e_d:
                    t_d = e_d
                nj1 = nodes[j + 1]
                if t_d > l_d or t_d + tr_d[nj1] > latest[j + 1]:
                    continue
                found.append((pick_cost + c[nj][d] + c_d[nj1] - legcost[j], i, j))
        found.sort()
        return found[:_EXACT_CHECKS]

    def apply(self, v: int, nodes: list[int]) -> None:
        self.routes[v] = nodes
        self.cache[v] = None
        for x in nodes:
            if self.is_pickup[x]:
                self.where[x] = v

    def remove(self, ri: int) -> bool:
        _, p, d = self.requests[ri]
        v = self.where.get(p)
        if v is None:
            return False
        new = [x for x in self.routes[v] if x != p and x != d]
        if self.schedule(v, new) is None:
            return False
        self.apply(v, new)
        del self.where[p]
        return True

    def insert_all(self, pending: list[int], regret: int, noise: float) -> list[int]:
        """Insert ``pending`` requests (regret-k, or cheapest first when k = 1); the rest are
        returned unassigned.

        Choices are made on screened costs; only the chosen insertion gets the exact check
        (measured: the cheapest screened position is exactly feasible ~92 % of the time), and
        a failed one is dropped from the candidates before choosing again.
        """
        found: dict[tuple[int, int], list[tuple[int, int, int]]] = {}
        version = [0] * self.nv
        seen: dict[tuple[int, int], int] = {}
        pending = list(pending)
        rng = self.rng
        while pending:
            choice: tuple[float, int, int] | None = None
            for ri in pending:
                options: list[tuple[float, int]] = []
                for v in range(self.nv):
                    key = (ri, v)
                    if seen.get(key) != version[v]:
                        found[key] = self.screen(ri, v)
                        seen[key] = version[v]
                    cands = found[key]
                    if cands:
                        jitter = 1.0 + noise * (2 * rng.random() - 1) if noise else 1.0
                        options.append((cands[0][0] * jitter, v))
                if not options:
                    continue
                options.sort()
                if regret <= 1:
                    score = -options[0][0]
                else:
                    top = options[:regret]
                    score = sum(o[0] - top[0][0] for o in top[1:])
                    score += (regret - len(top)) * 1e12  # few options left: insert it first
                if choice is None or score > choice[0]:
                    choice = (score, ri, options[0][1])
            if choice is None:
                break
            _, ri, v = choice
            cands = found[ri, v]
            _, i, j = cands.pop(0)
            _, p, d = self.requests[ri]
            nodes = self.routes[v]
            new = [*nodes[: i + 1], p, *nodes[i + 1 : j + 1], d, *nodes[j + 1 :]]
            if self.schedule(v, new) is None:
                continue
            self.apply(v, new)
            version[v] += 1
            pending.remove(ri)
        return pending

    # --- removal --------------------------------------------------------------------------

    def assigned(self) -> list[int]:
        """Requests on routes this search may change."""
        return [
            i
            for i, (_, p, _) in enumerate(self.requests)
            if p in self.where and not self.frozen[self.where[p]]
        ]

    def _times(self) -> dict[int, int]:
        out: dict[int, int] = {}
        for v in range(self.nv):
            if not self.frozen[v]:
                st = self._state(v)
                out.update(zip(st.nodes, st.start, strict=True))
        return out

    def related(self, count: int) -> list[int]:
        """Shaw removal: a random request and those closest to it in place and time."""
        assigned = self.assigned()
        if not assigned:
            return []
        seed = self.rng.choice(assigned)
        times = self._times()
        _, sp, sd = self.requests[seed]
        scored = []
        for ri in assigned:
            _, p, d = self.requests[ri]
            score = (
                self.tr_l[sp][p]
                + self.tr_l[sd][d]
                + abs(times[sp] - times[p])
                + abs(times[sd] - times[d])
            )
            scored.append((score, ri))
        scored.sort()
        return self._pick([ri for _, ri in scored], count)

    def worst(self, count: int) -> list[int]:
        """Requests whose removal saves the most travel cost."""
        c = self.cost_l
        scored = []
        for v, nodes in enumerate(self.routes):
            if self.frozen[v]:
                continue
            pos = {x: k for k, x in enumerate(nodes)}
            for i, x in enumerate(nodes):
                if not (self.is_pickup[x] and x in self.req_index):
                    continue
                j = pos[self.partner[x]]
                a, d = nodes[i - 1], nodes[j]
                if j == i + 1:
                    b = nodes[j + 1]
                    saving = c[a][x] + c[x][d] + c[d][b] - c[a][b]
                else:
                    nx, pd, nd = nodes[i + 1], nodes[j - 1], nodes[j + 1]
                    saving = c[a][x] + c[x][nx] - c[a][nx] + c[pd][d] + c[d][nd] - c[pd][nd]
                scored.append((-saving, self.req_index[x]))
        scored.sort()
        return self._pick([ri for _, ri in scored], count)

    def randomly(self, count: int) -> list[int]:
        assigned = self.assigned()
        return self.rng.sample(assigned, min(count, len(assigned)))

    def _pick(self, ranked: list[int], count: int, power: float = 4.0) -> list[int]:
        """Mostly the best-ranked, with randomness (Ropke & Pisinger's y^p choice)."""
        ranked = list(ranked)
        out: list[int] = []
        while ranked and len(out) < count:
            k = int(len(ranked) * self.rng.random() ** power)
            out.append(ranked.pop(k))
        return out

    def total(self) -> int:
        return sum(self.route_cost(r) for r in self.routes)


def improve_alns(model: DarpModel, routes: Routes, deadline: float, seed: int = 0) -> Routes:
    """Improve ``routes`` until ``deadline`` (``time.perf_counter()``); never serves fewer."""
    problem = model.problem
    search = Alns(model, routes, seed)
    if not search.requests:
        return routes
    for v in range(search.nv):
        # A route this search cannot re-time (a break placement it does not try) is kept
        # as it is; the others are searched.
        search.frozen[v] = search.schedule(v, search.routes[v]) is None
    rng = search.rng
    penalty = model.penalty
    unassigned = [i for i, (_, p, _) in enumerate(search.requests) if p not in search.where]
    unassigned = search.insert_all(unassigned, 2, 0.0)

    def value(cost: int, missing: int) -> int:
        return cost + penalty * missing

    current = value(search.total(), len(unassigned))
    best = current
    best_routes = [list(r) for r in search.routes]
    best_unassigned = list(unassigned)
    removers = [search.related, search.worst, search.randomly]
    inserters = [(1, 0.0), (2, 0.0), (3, 0.0), (1, 0.1), (2, 0.1)]
    w_rem = [1.0] * len(removers)
    w_ins = [1.0] * len(inserters)
    n_req = len(search.requests)
    started = time.perf_counter()
    span = max(deadline - started, 1e-3)
    t0 = 0.005 * max(current, 1) / math.log(2)
    while time.perf_counter() < deadline:
        frac = (time.perf_counter() - started) / span
        temperature = t0 * (0.01**frac)
        saved = [list(r) for r in search.routes]
        saved_where = dict(search.where)
        saved_unassigned = list(unassigned)
        saved_cache = list(search.cache)
        k_rem = rng.choices(range(len(removers)), weights=w_rem)[0]
        k_ins = rng.choices(range(len(inserters)), weights=w_ins)[0]
        count = rng.randint(min(2, n_req), max(2, min(n_req, 4 + n_req // 6, 30)))
        chosen = [ri for ri in removers[k_rem](count) if search.remove(ri)]
        regret, noise = inserters[k_ins]
        unassigned = search.insert_all(unassigned + chosen, regret, noise)
        candidate = value(search.total(), len(unassigned))
        score = 0.0
        if candidate < best:
            best = candidate
            best_routes = [list(r) for r in search.routes]
            best_unassigned = list(unassigned)
            score = 3.0
        if candidate < current:
            current = candidate
            score = max(score, 1.0)
        elif candidate < current + (temperature * -math.log(max(rng.random(), 1e-12))):
            current = candidate
            score = max(score, 0.5)
        else:
            search.routes = saved
            search.where = saved_where
            search.cache = saved_cache
            unassigned = saved_unassigned
        w_rem[k_rem] = 0.9 * w_rem[k_rem] + 0.1 * (0.2 + score)
        w_ins[k_ins] = 0.9 * w_ins[k_ins] + 0.1 * (0.2 + score)
    del best_unassigned
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
