"""Recombining the routes the search has seen: set partitioning over a pool of routes.

Why: the insertion search stalls in a basin (measured on the larger Cordeau instances: no
new best in the last half of a round), while the routes it built and threw away on the
way hold better plans, a route from one local optimum beside routes from another. Every
route the search builds has an exact schedule, so any choice of them that serves each
ride once, with no more routes than vehicles, is a feasible plan. A small integer program
over the pool (SCIP, as bundled with OR-Tools) picks the cheapest such choice; the search
then goes on from it. This is the set-partitioning component of Gschwind & Drexl's ALNS
for the dial-a-ride problem.

Routes are pooled per class of interchangeable vehicles (same start and end, seats, shift,
breaks, costs and rides they may take), so a route found on one van is offered to its
twins. A vehicle that already carries someone or has a committed next stop is a class of
its own.
"""

from __future__ import annotations

import time

from ortools.linear_solver import pywraplp

from dispatch.routing.darp.alns_state import AlnsState

#: Routes kept at most; past it the most expensive route per ride served is dropped first.
MAX_ROUTES = 30000


class RoutePool:
    """Feasible routes by vehicle class, each with its cost in the search's objective."""

    def __init__(self) -> None:
        #: the class of each vehicle, and the vehicles of each class not frozen
        self.klass: list[int] = []
        self.members: list[list[int]] = []
        #: stops each vehicle must keep (patients aboard, the stop under way): such a
        #: vehicle is a class of its own and always gets a route
        self.keep: list[tuple[int, ...]] = []
        self.keep_set: list[set[int]] = []
        #: (class, the route's stops) -> cost
        self.routes: dict[tuple[int, tuple[int, ...]], int] = {}

    def prepare(self, search: AlnsState) -> None:
        """Sort the vehicles into classes (once: the model is the same in every round) and
        pool the routes of ``search``."""
        if not self.klass:
            riders = {x for _, p, d in search.requests for x in (p, d)}
            self.keep = [tuple(x for x in r[1:-1] if x not in riders) for r in search.routes]
            self.keep_set = [set(k) for k in self.keep]
            self.klass = _classes(search, self.keep)
        self.members = [[] for _ in range(max(self.klass, default=-1) + 1)]
        for v, k in enumerate(self.klass):
            if not search.frozen[v]:
                self.members[k].append(v)
        self.add_all(search)

    def add(self, search: AlnsState, v: int) -> None:
        """Pool route ``v`` as it is now (routes of frozen vehicles and empty ones are not)."""
        nodes = search.routes[v]
        if len(nodes) <= 2 or search.frozen[v]:
            return
        key = (self.klass[v], tuple(nodes[1:-1]))
        if key not in self.routes:
            value = search.cost_of(v) + search.fixed[v]
            if search.rate[v]:
                value += search.rate[v] * search.time_out(v)
            self.routes[key] = value

    def add_all(self, search: AlnsState) -> None:
        for v in range(search.nv):
            self.add(search, v)

    def _trim(self, search: AlnsState) -> None:
        if len(self.routes) <= MAX_ROUTES:
            return
        ranked = sorted(
            self.routes.items(),
            key=lambda kv: kv[1] / max(1, sum(1 for x in kv[0][1] if x in search.req_index)),
        )
        self.routes = dict(ranked[: MAX_ROUTES * 3 // 4])

    def recombine(self, search: AlnsState, limit_s: float) -> bool:
        """Replace the routes of ``search`` by the cheapest partition of the rides they
        serve into pooled routes, if one costs less (rides left out stay out).

        The current routes must be in the pool, so the program has a solution; it is given
        as the hint. Returns whether the routes changed.
        """
        began = time.perf_counter()
        self._trim(search)
        self.add_all(search)  # after trimming: the current routes stay a solution
        solver = pywraplp.Solver.CreateSolver("SCIP")
        if solver is None:  # pragma: no cover - bundled with OR-Tools
            return False
        free = [v for v in range(search.nv) if not search.frozen[v]]
        riders = search.req_index  # the pickup of each ride the search may move
        placed = {x for v in free for x in search.routes[v] if x in riders}
        by_ride: dict[int, list[pywraplp.Variable]] = {x: [] for x in placed}
        by_class: dict[int, list[pywraplp.Variable]] = {}
        columns: list[tuple[pywraplp.Variable, int, tuple[int, ...]]] = []
        objective = solver.Objective()
        for (k, stops), value in self.routes.items():
            picks = [x for x in stops if x in riders]
            if not self.members[k] or any(x not in by_ride for x in picks):
                continue
            var = solver.BoolVar("")
            objective.SetCoefficient(var, value)
            columns.append((var, k, stops))
            by_class.setdefault(k, []).append(var)
            for x in picks:
                by_ride[x].append(var)
        for xs in by_ride.values():
            row = solver.Constraint(1, 1)
            for var in xs:
                row.SetCoefficient(var, 1)
        for k, xs in by_class.items():
            must = any(self.keep[v] for v in self.members[k])
            row = solver.Constraint(1 if must else 0, len(self.members[k]))
            for var in xs:
                row.SetCoefficient(var, 1)
        objective.SetMinimization()
        current = {
            (self.klass[v], tuple(search.routes[v][1:-1]))
            for v in free
            if len(search.routes[v]) > 2
        }
        solver.SetHint(
            [var for var, _, _ in columns],
            [1.0 if (k, stops) in current else 0.0 for var, k, stops in columns],
        )
        left = limit_s - (time.perf_counter() - began)  # building the program counts
        if left < 0.05:
            return False
        solver.SetTimeLimit(int(left * 1000))
        status = solver.Solve()
        if status not in (pywraplp.Solver.OPTIMAL, pywraplp.Solver.FEASIBLE):
            return False
        chosen = [(k, stops) for var, k, stops in columns if var.solution_value() > 0.5]
        if sum(self.routes[c] for c in chosen) >= sum(self.routes[c] for c in current):
            return False
        return _install(search, self, chosen)


def _install(search: AlnsState, pool: RoutePool, chosen: list[tuple[int, tuple[int, ...]]]) -> bool:
    """Give each chosen route a vehicle of its class and make it the search's routes, if
    every one gets its exact schedule there (else nothing changes)."""
    nv = search.nv
    spare = {k: list(vs) for k, vs in enumerate(pool.members)}
    new: dict[int, tuple[list[int], list[int]]] = {}
    for k, stops in chosen:
        v = spare[k].pop(0)
        nodes = [v, *stops, nv + v]
        start = search.schedule(v, nodes)
        if start is None or tuple(x for x in stops if x in pool.keep_set[v]) != pool.keep[v]:
            return False
        new[v] = (nodes, start)
    if any(pool.keep[v] for v in range(nv) if v not in new and not search.frozen[v]):
        return False
    for v in range(nv):
        if search.frozen[v]:
            continue
        nodes, start = new.get(v, ([v, nv + v], None))
        search.apply(v, nodes, start)
    return True


def _classes(search: AlnsState, keep: list[tuple[int, ...]]) -> list[int]:
    """The class of each vehicle: equal when a route fits one exactly as the other."""
    nv, tr, cost = search.nv, search.tr_l, search.cost_l
    signature: dict[object, int] = {}
    out = []
    for v in range(nv):
        s, e = v, nv + v
        alone = bool(search.first_gap[v]) or any(search.start_load[v].tolist()) or bool(keep[v])
        key: object = (
            ("alone", v)
            if alone
            else (
                tuple(tr[s]),
                tuple(row[s] for row in tr),
                tuple(tr[e]),
                tuple(row[e] for row in tr),
                tuple(cost[s]),
                tuple(row[s] for row in cost),
                tuple(cost[e]),
                tuple(row[e] for row in cost),
                search.early_l[s],
                search.late_l[s],
                search.early_l[e],
                search.late_l[e],
                search.service_l[s],
                search.service_l[e],
                search.fixed[v],
                search.rate[v],
                search.max_span[v],
                tuple(search.breaks[v]),
                tuple(search.free_l[v]),
                tuple(search.fits[:, v].tolist()),
            )
        )
        out.append(signature.setdefault(key, len(signature)))
    return out
