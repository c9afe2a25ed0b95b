"""The ALNS search state: routes as node lists, and their exact schedules.

Every change the search keeps must leave each route with a schedule, so the exact check is
here beside the routes: the least schedule of a sequence, found by raising start times until
windows, ride limits and route duration all hold (the simple temporal problem of
:mod:`.timetable`, specialised to a chain; compiled in :mod:`.alns_timing`). The destroy
(:mod:`.alns_destroy`) and repair (:mod:`.alns_repair`) operators read and change this
state; :mod:`.alns` runs the search.

A break is placed in one gap of the route (or before or after it), trying the gaps around
where its window opens; placement is sound but not exhaustive, which costs at worst a missed
insertion.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from dispatch.routing.darp.alns_kernels import Packed, route_arrays
from dispatch.routing.darp.alns_timing import least_schedule, place_breaks
from dispatch.routing.darp.engine import DarpModel, Routes
from dispatch.routing.darp.precheck import fitting_vehicles

BIG = 2**50  # "no limit" for ride gaps, route spans and seats

#: Routes, where each pickup is, the cached route states and known schedules: what a
#: rejected move undoes.
Snapshot = tuple[list[list[int]], dict[int, int], list["RouteState | None"], list[list[int] | None]]


@dataclass(slots=True)
class RouteState:
    """A route's nodes, its least schedule and what screening insertions into it reads
    (:func:`.alns_kernels.route_arrays`), cached until the route changes."""

    nodes: list[int]
    start: list[int]  # least feasible start of service per position
    packed: Packed  # the same and more, as arrays for the compiled screening
    cost: int  # travel cost of the route

    @property
    def room(self) -> list[list[int]]:
        """Seats free after service at each position, per kind (empty for a kind no
        request of the search needs: screening never reads it)."""
        return [row if row[0] < BIG else [] for row in self.packed[5].tolist()]


class AlnsState:
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
        self.ride_gap = [BIG] * n  # max start(d) - start(p), indexed by pickup node
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
        self.fixed = list(model.fixed)
        self.rate = list(model.time_rate)
        self.max_span = [
            BIG if v.max_duration is None else int(v.max_duration) for v in problem.vehicles
        ]
        self.first_gap = [1 if v.next_stop is not None else 0 for v in problem.vehicles]
        self.first_gap_a = np.asarray(self.first_gap, dtype=np.int64)
        self.fixed_a = np.asarray(self.fixed, dtype=np.int64)
        self.service_l: list[int] = model.service.tolist()
        self.breaks: list[list[tuple[int, int, int]]] = [
            [(int(b.duration), int(b.window.earliest), int(b.window.latest)) for b in v.breaks]
            for v in problem.vehicles
        ]
        self.break_order: list[list[int]] = [
            sorted(range(len(bs)), key=[b[1] for b in bs].__getitem__) for bs in self.breaks
        ]
        self.breaks_a = [np.asarray(bs, dtype=np.int64).reshape(len(bs), 3) for bs in self.breaks]
        self.break_order_a = [np.asarray(o, dtype=np.int64) for o in self.break_order]
        #: Times the drop penalty a request costs unserved (kept rides outweigh the rest).
        self.weight = [model.drop_weight[rid] for rid, _, _ in self.requests]
        fits = fitting_vehicles(problem, [by_id[rid] for rid, _, _ in self.requests])
        self.fits = fits if len(self.requests) else np.zeros((0, nv), dtype=bool)
        self.fits_t = np.ascontiguousarray(self.fits.T)
        self.req_index = {p: i for i, (_, p, _) in enumerate(self.requests)}
        # the same, as arrays for the compiled screening (:mod:`.alns_kernels`)
        self.tr_a = np.ascontiguousarray(model.transit, dtype=np.int64)
        self.cost_a = np.ascontiguousarray(model.arc_cost, dtype=np.int64)
        self.early_a = np.ascontiguousarray(model.early, dtype=np.int64)
        self.late_a = np.ascontiguousarray(model.late, dtype=np.int64)
        self.req_p = np.asarray([p for _, p, _ in self.requests], dtype=np.int64)
        self.req_d = np.asarray([d for _, _, d in self.requests], dtype=np.int64)
        self.req_limit = np.asarray([self.ride_gap[p] for _, p, _ in self.requests], np.int64)
        self.req_needs = np.maximum(
            self.demand[self.req_p] if len(self.requests) else np.zeros((0, len(kinds))), 0
        ).astype(np.int64)
        self.service_a = np.ascontiguousarray(model.service, dtype=np.int64)
        self.is_pickup_a = np.asarray(self.is_pickup, dtype=np.bool_)
        self.partner_a = np.asarray(self.partner, dtype=np.int64)
        self.ride_gap_a = np.asarray(self.ride_gap, dtype=np.int64)
        # seats free on each vehicle at its start, per kind, and the kinds rides need
        self.free_l: list[list[int]] = (self.cap - self.start_load).tolist()
        self.needs: list[list[tuple[int, int]]] = [
            [(k, int(q)) for k, q in enumerate(self.demand[p].tolist()) if q > 0]
            for _, p, _ in self.requests
        ]
        #: Seat kinds some request of this search needs: the only ones screening reads.
        self.kinds_needed = {k for need in self.needs for k, _ in need}
        self.demand_a = np.ascontiguousarray(self.demand.T, dtype=np.int64)
        self.free_a = np.ascontiguousarray(self.cap - self.start_load, dtype=np.int64)
        self.needed_a = np.asarray([k in self.kinds_needed for k in range(len(kinds))], np.bool_)
        self.routes: list[list[int]] = []
        for v, vehicle in enumerate(problem.vehicles):
            stops = routes.get(vehicle.id, ([], None))[0]
            middle = [
                (model.pickup if s.kind == "pickup" else model.dropoff)[s.request_id] for s in stops
            ]
            self.routes.append([v, *middle, nv + v])
        self.cache: list[RouteState | None] = [None] * nv
        #: The least schedule of a route when the change that made it already computed it
        #: (every kept change checks one), so the cache is rebuilt without computing it again.
        self.known: list[list[int] | None] = [None] * nv
        #: Each route's travel cost with the route it is of (:meth:`cost_of`).
        self.costs: list[tuple[list[int], int] | None] = [None] * nv
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
        """Least times with each break in its own gap, and the gaps (-1: before the start);
        sound (what it returns is feasible) though not exhaustive
        (:func:`.alns_timing.place_breaks`)."""
        gaps = np.zeros(len(self.breaks[v]), dtype=np.int64)
        found = place_breaks(
            np.asarray(nodes, dtype=np.int64),
            self.tr_a,
            self.early_a,
            self.late_a,
            self.service_a,
            self.is_pickup_a,
            self.partner_a,
            self.ride_gap_a,
            self.max_span[v],
            self.breaks_a[v],
            self.break_order_a[v],
            BIG,
            gaps,
        )
        return (found.tolist(), gaps.tolist()) if len(found) else None

    def _least(
        self, v: int, nodes: list[int], placed: Sequence[tuple[int, int, int, int]]
    ) -> list[int] | None:
        """Least start times with breaks ``(gap, duration, opens, closes)`` in given gaps."""
        found = least_schedule(
            np.asarray(nodes, dtype=np.int64),
            self.tr_a,
            self.early_a,
            self.late_a,
            self.service_a,
            self.is_pickup_a,
            self.partner_a,
            self.ride_gap_a,
            self.max_span[v],
            np.asarray(placed, dtype=np.int64).reshape(len(placed), 4),
            BIG,
        )
        return found.tolist() if len(found) else None

    def route_cost(self, nodes: list[int]) -> int:
        c = self.cost_l
        return sum(c[a][b] for a, b in itertools.pairwise(nodes))

    def route_state(self, v: int) -> RouteState:
        """What screening needs of route ``v``, cached until the route changes."""
        cached = self.cache[v]
        if cached is not None:
            return cached
        nodes = self.routes[v]
        start = self.known[v] or self.schedule(v, nodes)
        assert start is not None, "routes must stay feasible"
        nodes_a = np.asarray(nodes, dtype=np.int64)
        start_a = np.asarray(start, dtype=np.int64)
        arrays = route_arrays(
            nodes_a,
            start_a,
            self.tr_a,
            self.cost_a,
            self.late_a,
            self.demand_a,
            self.free_a[v],
            self.needed_a,
            BIG,
        )
        cost = int(arrays[-1].sum())  # the cost of the arc leaving each position
        state = RouteState(nodes, start, (nodes_a, start_a, *arrays), cost)
        self.cache[v] = state
        return state

    # --- changes --------------------------------------------------------------------------

    def apply(
        self,
        v: int,
        nodes: list[int],
        start: list[int] | None = None,
        added: Sequence[int] | None = None,
    ) -> None:
        """Make ``nodes`` route ``v`` (already checked feasible by the caller, whose
        :meth:`schedule` of it is ``start`` when given); ``added``, when given, are the only
        pickups that were not on it (else every pickup is looked at)."""
        self.routes[v] = nodes
        self.cache[v] = None
        self.known[v] = start
        where = self.where
        if added is not None:
            for x in added:
                where[x] = v
            return
        is_pickup = self.is_pickup
        for x in nodes:
            if is_pickup[x]:
                where[x] = v

    def remove(self, ri: int) -> bool:
        """Take request ``ri`` out of its route; False when it is on none, or when the
        shorter route gets no schedule from :meth:`schedule` (whose break placement is
        heuristic), so the route stays as it was."""
        _, p, d = self.requests[ri]
        v = self.where.get(p)
        if v is None:
            return False
        new = [x for x in self.routes[v] if x != p and x != d]
        start = self.schedule(v, new)
        if start is None:
            return False
        self.apply(v, new, start, ())
        del self.where[p]
        return True

    def remove_all(self, chosen: list[int]) -> list[int]:
        """Take requests ``chosen`` out of their routes, one schedule per route changed; the
        requests of a route that would get none are taken out one at a time
        (:meth:`remove`). Returns those taken out, in the order given."""
        by_route: dict[int, list[int]] = {}
        for ri in chosen:
            v = self.where.get(self.requests[ri][1])
            if v is not None:
                by_route.setdefault(v, []).append(ri)
        taken: set[int] = set()
        for v, ris in by_route.items():
            gone = {x for ri in ris for x in self.requests[ri][1:]}
            new = [x for x in self.routes[v] if x not in gone]
            start = self.schedule(v, new)
            if start is None:
                taken.update(ri for ri in ris if self.remove(ri))
                continue
            self.apply(v, new, start, ())
            for ri in ris:
                del self.where[self.requests[ri][1]]
            taken.update(ris)
        return [ri for ri in chosen if ri in taken]

    def snapshot(self) -> Snapshot:
        # a route is never changed in place (:meth:`apply` replaces it): the lists are shared
        return list(self.routes), dict(self.where), list(self.cache), list(self.known)

    def restore(self, saved: Snapshot) -> None:
        """Go back to ``saved`` (taken by :meth:`snapshot`, used once)."""
        self.routes, self.where, self.cache, self.known = saved

    def time_out(self, v: int) -> int:
        """Time from leaving the start to reaching the end on route ``v``'s least schedule,
        leaving just in time for the first stop (0 for an empty or frozen route: a frozen
        one is the same in every candidate)."""
        nodes = self.routes[v]
        if len(nodes) <= 2 or self.frozen[v]:
            return 0
        t = self.route_state(v).start
        return t[-1] - max(t[0], t[1] - self.tr_l[nodes[0]][nodes[1]])

    def cost_of(self, v: int) -> int:
        """Travel cost of route ``v`` (kept with the route, which is replaced, never changed
        in place, so the same list has the same cost)."""
        nodes = self.routes[v]
        state = self.cache[v]
        if state is not None:
            return state.cost
        known = self.costs[v]
        if known is None or known[0] is not nodes:
            known = self.costs[v] = (nodes, self.route_cost(nodes))
        return known[1]

    def total(self) -> int:
        """Travel cost of all routes, frozen ones included, the fixed cost of every vehicle
        that has stops, and each vehicle's time out at its rate."""
        out = 0
        for v, nodes in enumerate(self.routes):
            out += self.cost_of(v)
            if len(nodes) > 2:
                out += self.fixed[v] + (self.rate[v] * self.time_out(v) if self.rate[v] else 0)
        return out
