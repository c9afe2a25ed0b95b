"""The OR-Tools routing model of a dial-a-ride problem; it decides the order of stops only.

Modelling choices (DESIGN.md §6, measured there): integer matrices registered with
``RegisterTransitMatrix`` so no Python runs inside the search; a time dimension whose cumul
is the start of service; ride-time limits as node precedences on that dimension, which the
final CP check enforces (not the built-in pickup-to-delivery limit, which is only checked
during search); one capacity dimension per seat kind; a disjunction with a large penalty on
every stop of a request that is not committed, so an impossible booking becomes "unserved"
instead of failing the solve; an insertion heuristic for the first solution and always a
time limit. Implied window bounds and the removal of arcs no schedule can use cut the
neighbourhoods the local search has to reject.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from google.protobuf import text_format  # type: ignore[import-untyped]
from ortools.constraint_solver import pywrapcp, routing_enums_pb2

from dispatch.routing.darp.commitments import committed_stops, mandatory_ids
from dispatch.routing.darp.model import Problem, Request, StopRef
from dispatch.routing.darp.precheck import fitting_vehicles
from dispatch.routing.darp.timetable import placement_from_times, route_timetable

#: A time cost that is not a whole number per time unit is kept to 1/TIME_COST_STEPS.
TIME_COST_STEPS = 60

# Per vehicle id: its stops in order, and after which stop each break falls (solver's view).
Routes = dict[str, tuple[list[StopRef], list[int] | None]]


@dataclass(frozen=True, slots=True)
class SearchOptions:
    """How the search runs; OR-Tools enum names for the strategies.

    ``parameters`` is merged last into the RoutingSearchParameters (protobuf text format)
    for experiments. With ``improve``, the time after the first OR-Tools search alternates
    between the large-neighbourhood search of :mod:`.alns` and short OR-Tools local searches
    warm-started from its best routes (measured: each finds what the other misses).
    """

    first_solution: str = "PARALLEL_CHEAPEST_INSERTION"
    metaheuristic: str = "GUIDED_LOCAL_SEARCH"
    gls_lambda: float = 0.1
    log_search: bool = False
    parameters: str = ""
    improve: bool = True
    first_phase: float = 0.25  # share of the time for the first OR-Tools search
    alns_slice: float = 0.3  # share of the time per ALNS round, each followed by a polish
    polish_slice: float = 0.1  # share of the time per OR-Tools polish from the ALNS best
    seed: int = 0
    #: OR-Tools searches (the first phase, the polishes) only up to this many requests;
    #: above, the insertion search has all the time. Measured on a 400-booking day with
    #: breaks: OR-Tools found no first solution in 5 s, a 2-s polish took 4.8 s, and the
    #: insertion search alone served more at lower cost in the same 20 s.
    ortools_up_to: int = 300


class DarpModel:
    """The routing model of ``requests`` (already pre-checked) on ``problem``'s vehicles."""

    def __init__(self, problem: Problem, requests: Sequence[Request]) -> None:
        if not np.issubdtype(problem.travel.dtype, np.integer):
            raise ValueError("the solver needs integer travel times (round up to seconds)")
        if problem.cost is not None and not np.issubdtype(problem.cost.dtype, np.integer):
            raise ValueError("the solver needs an integer cost matrix")
        self.problem = problem
        self.requests = list(requests)
        rates = [float(v.time_cost) for v in problem.vehicles]
        #: Costs are multiplied by this in the model so a time cost per second (a fraction
        #: when it is paid by the hour) becomes an integer, to 1/60.
        self.cost_scale = 1 if all(r.is_integer() for r in rates) else TIME_COST_STEPS
        self.fixed = [round(float(v.fixed_cost)) * self.cost_scale for v in problem.vehicles]
        self.time_rate = [round(r * self.cost_scale) for r in rates]
        self.mandatory = mandatory_ids(problem)
        vehicles = problem.vehicles
        nv = len(vehicles)
        self.vehicle_index = {v.id: i for i, v in enumerate(vehicles)}
        loc = [v.start for v in vehicles] + [v.end for v in vehicles]
        service = [0] * (2 * nv)
        early = [int(v.earliest_departure) for v in vehicles] * 2
        late = [int(v.shift.latest) for v in vehicles] * 2
        self.pickup: dict[str, int] = {}
        self.dropoff: dict[str, int] = {}
        self.node_stop: dict[int, StopRef] = {}
        for r in self.requests:
            if r.aboard is None:
                self.pickup[r.id] = len(loc)
                self.node_stop[len(loc)] = StopRef(r.id, "pickup")
                loc.append(r.pickup)
                service.append(int(r.pickup_service))
                early.append(int(r.pickup_window.earliest))
                late.append(int(r.pickup_window.latest))
            self.dropoff[r.id] = len(loc)
            self.node_stop[len(loc)] = StopRef(r.id, "dropoff")
            loc.append(r.dropoff)
            service.append(int(r.dropoff_service))
            early.append(int(r.dropoff_window.earliest))
            deadline = r.dropoff_window.latest
            if r.aboard is not None and r.max_ride is not None:
                deadline = min(deadline, r.aboard.picked_up_at + r.max_ride)
            late.append(int(deadline))
        self.loc = np.asarray(loc, dtype=np.int64)
        self.service = np.asarray(service, dtype=np.int64)
        self.early = np.asarray(early, dtype=np.int64)
        self.late = np.asarray(late, dtype=np.int64)
        self.travel = self._node_travel(fastest=True)
        self._tighten_windows()
        if problem.bands is not None:  # again, with each arc at its slowest in the windows
            self.travel = self._node_travel(fastest=False)
            self._tighten_windows()
        self.n = len(loc)
        self.restart_failed = False
        self._lists: tuple[list[list[int]], list[list[int]]] | None = None
        self._renew()

    def _renew(self) -> None:
        """Build the OR-Tools model (again: see :meth:`search`)."""
        nv = len(self.problem.vehicles)
        self.manager = pywrapcp.RoutingIndexManager(
            self.n, nv, list(range(nv)), list(range(nv, 2 * nv))
        )
        self.routing = pywrapcp.RoutingModel(self.manager)
        self.break_vars: dict[int, list[pywrapcp.IntervalVar]] = {}
        self.closed = False
        self.searched = False  # a search ran on this OR-Tools model
        self._build()

    def _node_travel(self, *, fastest: bool) -> np.ndarray:
        """Driving seconds between nodes. With rush hours each arc takes the slowest time it
        can meet: it leaves its node after that node's window opens and before its own or
        its successor's closes, so a plan the search finds stays feasible at the real times.
        ``fastest``: every arc at its fastest instead, to narrow the windows first (bounds
        that hold at any time of day).
        """
        base = self.problem.travel.astype(np.int64)[np.ix_(self.loc, self.loc)]
        bands = self.problem.bands
        if bands is None:
            return base
        if fastest:
            quick: np.ndarray = np.floor(base * min(bands.factors)).astype(np.int64)
            return quick
        leave = (self.early + self.service).astype(np.float64)
        last = np.minimum((self.late + self.service)[:, None], self.late[None, :])
        last = np.maximum(last, leave[:, None]).astype(np.float64)
        free = base.astype(np.float64)
        factor = bands.worst(free, leave[:, None], last)
        return np.ceil(free * factor - 1e-6).astype(np.int64)

    def _tighten_windows(self) -> None:
        """Implied bounds (Cordeau 2006): a pickup's window from its drop-off's and the ride
        limit, and back. Narrow windows let the time filters reject bad moves sooner."""
        for r in self.requests:
            if r.id not in self.pickup:
                continue
            p, d = self.pickup[r.id], self.dropoff[r.id]
            direct = int(self.travel[p, d])
            s_p = int(self.service[p])
            self.late[p] = min(self.late[p], self.late[d] - s_p - direct)
            self.early[d] = max(self.early[d], self.early[p] + s_p + direct)
            if r.max_ride is not None:
                self.early[p] = max(self.early[p], self.early[d] - int(r.max_ride) - s_p)
                self.late[d] = min(self.late[d], self.late[p] + s_p + int(r.max_ride))

    def matrices_as_lists(self) -> tuple[list[list[int]], list[list[int]]]:
        """Transit and arc cost as nested lists, built once: pure-Python loops index them
        several times faster than numpy scalars."""
        if self._lists is None:
            self._lists = (self.transit.tolist(), self.arc_cost.tolist())
        return self._lists

    def index(self, node: int) -> int:
        return int(self.manager.NodeToIndex(node))

    def stop_index(self, stop: StopRef) -> int:
        return self.index((self.pickup if stop.kind == "pickup" else self.dropoff)[stop.request_id])

    def _build(self) -> None:
        problem, routing = self.problem, self.routing
        nv = len(problem.vehicles)
        sub = np.ix_(self.loc, self.loc)
        transit = self.travel + self.service[:, None]
        arc_cost = problem.arc_cost.astype(np.int64)[sub] * self.cost_scale
        self.transit = transit
        self.arc_cost = arc_cost
        time_cb = routing.RegisterTransitMatrix(transit.tolist())
        cost_cb = routing.RegisterTransitMatrix(arc_cost.tolist())
        routing.SetArcCostEvaluatorOfAllVehicles(cost_cb)
        for v, fixed in enumerate(self.fixed):
            if fixed > 0:
                routing.SetFixedCostOfVehicle(fixed, v)
        horizon = int(max(self.late.max(), 1))
        routing.AddDimension(time_cb, horizon, horizon, False, "time")
        self.time = routing.GetDimensionOrDie("time")
        for v, rate in enumerate(self.time_rate):
            if rate > 0:  # the span is from leaving the start to reaching the end
                self.time.SetSpanCostCoefficientForVehicle(rate, v)
        for node in range(self.n):
            if node < nv:
                idx = routing.Start(node)
            elif node < 2 * nv:
                idx = routing.End(node - nv)
            else:
                idx = self.index(node)
            self.time.CumulVar(idx).SetRange(int(self.early[node]), int(self.late[node]))
        for v, vehicle in enumerate(problem.vehicles):
            if vehicle.max_duration is not None:
                self.time.SetSpanUpperBoundForVehicle(int(vehicle.max_duration), v)
            if vehicle.next_stop is not None:
                first = self.stop_index(vehicle.next_stop)
                routing.solver().Add(routing.NextVar(routing.Start(v)) == first)
        self._prune_arcs(transit)
        self._capacities()
        # Serving one more request must beat any saving in travel cost.
        fixed = sum(self.fixed) + sum(self.time_rate) * horizon
        self.penalty = (self.n + nv + 1) * max(int(arc_cost.max(initial=0)), 1) + fixed
        # A kept ride outweighs every ride without a promise together.
        promised = 1 + sum(1 for r in self.requests if not r.kept)
        self.drop_weight = {r.id: promised if r.kept else 1 for r in self.requests}
        self._requests()
        self._breaks()

    def _prune_arcs(self, transit: np.ndarray) -> None:
        """Remove arcs no schedule can use: leaving ``i`` as early as possible still reaches
        ``j`` after its window closes. Most arcs on a day of narrow windows."""
        routing = self.routing
        nv = len(self.problem.vehicles)
        bad = (self.early[:, None] + transit) > self.late[None, :]
        bad[:, :nv] = False  # starts are never successors
        np.fill_diagonal(bad, False)
        index_of = np.fromiter(
            (self._node_index(j) for j in range(self.n)), dtype=np.int64, count=self.n
        )
        for node in range(2 * nv, self.n):
            succ = np.flatnonzero(bad[node])
            if succ.size:
                routing.NextVar(int(index_of[node])).RemoveValues(index_of[succ].tolist())

    def _node_index(self, node: int) -> int:
        nv = len(self.problem.vehicles)
        if node < nv:
            return int(self.routing.Start(node))
        if node < 2 * nv:
            return int(self.routing.End(node - nv))
        return self.index(node)

    def _capacities(self) -> None:
        problem, routing = self.problem, self.routing
        vehicles = problem.vehicles
        for kind in problem.seat_kinds:
            demand = np.zeros(self.n, dtype=np.int64)
            start_load = [0] * len(vehicles)
            for r in self.requests:
                q = int(r.load.get(kind, 0))
                if q == 0:
                    continue
                if r.aboard is None:
                    demand[self.pickup[r.id]] = q
                else:
                    start_load[self.vehicle_index[r.aboard.vehicle_id]] += q
                demand[self.dropoff[r.id]] = -q
            if not demand.any() and not any(start_load):
                continue
            cb = routing.RegisterUnaryTransitVector(demand.tolist())
            caps = [int(v.capacity.get(kind, 0)) for v in vehicles]
            routing.AddDimensionWithVehicleCapacity(cb, 0, caps, False, f"seats_{kind}")
            dim = routing.GetDimensionOrDie(f"seats_{kind}")
            for v, q in enumerate(start_load):
                dim.CumulVar(routing.Start(v)).SetValue(q)

    def _allowed(self, i: int, r: Request, fits: np.ndarray) -> list[int]:
        if r.aboard is not None:
            return [self.vehicle_index[r.aboard.vehicle_id]]
        if r.id in self.mandatory:
            return [
                j
                for j, v in enumerate(self.problem.vehicles)
                if v.next_stop is not None and v.next_stop.request_id == r.id
            ]
        return [int(j) for j in np.flatnonzero(fits[i])]

    def _requests(self) -> None:
        problem, routing = self.problem, self.routing
        solver = routing.solver()
        if not self.requests:
            return
        fits = fitting_vehicles(problem, self.requests)
        for i, r in enumerate(self.requests):
            d = self.index(self.dropoff[r.id])
            indices = [d] if r.aboard is not None else [self.index(self.pickup[r.id]), d]
            allowed = self._allowed(i, r, fits)
            if len(allowed) < len(problem.vehicles):
                # SetAllowedVehiclesForIndex's binding rejects Python lists in 9.15; a vehicle
                # variable's domain says the same and the search's filters read it.
                barred = sorted(set(range(len(problem.vehicles))) - set(allowed))
                for idx in indices:
                    routing.VehicleVar(idx).RemoveValues(barred)
            if r.id not in self.mandatory:
                for idx in indices:
                    routing.AddDisjunction([idx], self.penalty * self.drop_weight[r.id])
            if r.aboard is not None:
                continue
            p = indices[0]
            routing.AddPickupAndDelivery(p, d)
            solver.Add(routing.VehicleVar(p) == routing.VehicleVar(d))
            solver.Add(routing.ActiveVar(p) == routing.ActiveVar(d))
            s_p = int(r.pickup_service)
            direct = int(self.travel[self.pickup[r.id], self.dropoff[r.id]])
            self.time.AddNodePrecedence(p, d, s_p + direct)
            if r.max_ride is not None:
                # start(d) - (start(p) + s_p) <= max_ride  <=>  start(p) >= start(d) - ...
                self.time.AddNodePrecedence(d, p, -(int(r.max_ride) + s_p))

    def _breaks(self) -> None:
        routing = self.routing
        solver = routing.solver()
        visit = [int(self.service[self.manager.IndexToNode(i)]) for i in range(routing.Size())]
        for v, vehicle in enumerate(self.problem.vehicles):
            if not vehicle.breaks:
                continue
            intervals = [
                solver.FixedDurationIntervalVar(
                    int(b.window.earliest),
                    int(b.window.latest),
                    int(b.duration),
                    False,
                    f"break {vehicle.id} {k}",
                )
                for k, b in enumerate(vehicle.breaks)
            ]
            self.time.SetBreakIntervalsOfVehicle(intervals, v, visit)
            for interval in intervals:
                routing.AddIntervalToAssignment(interval)
            self.break_vars[v] = intervals

    def parameters(self, time_limit_s: float, options: SearchOptions) -> object:
        params = pywrapcp.DefaultRoutingSearchParameters()
        params.first_solution_strategy = getattr(
            routing_enums_pb2.FirstSolutionStrategy, options.first_solution
        )
        params.local_search_metaheuristic = getattr(
            routing_enums_pb2.LocalSearchMetaheuristic, options.metaheuristic
        )
        params.guided_local_search_lambda_coefficient = options.gls_lambda
        params.log_search = options.log_search
        if options.parameters:
            text_format.Merge(options.parameters, params)
        params.time_limit.FromMilliseconds(max(1, int(time_limit_s * 1000)))
        return params

    def clean_warm(self, warm: Mapping[str, Sequence[StopRef]]) -> dict[str, list[StopRef]]:
        """A previous plan's stop orders, cleaned to what this model accepts.

        Stops of unknown or rejected requests, split pairs and requests planned on two
        vehicles are dropped; the stop under way goes first and committed stops missing from
        the old order right after it; each route is then cut back (latest pickups first)
        until it has a feasible timetable, falling back to the committed stops alone.
        """
        problem = self.problem
        by_id = {r.id: r for r in self.requests}
        used: set[str] = set()
        out: dict[str, list[StopRef]] = {}
        for vehicle in problem.vehicles:
            committed = committed_stops(problem, vehicle)
            stops = [
                s
                for s in warm.get(vehicle.id, ())
                if s.request_id in by_id
                and s.request_id not in used
                and (s in committed or s.request_id not in self.mandatory)
            ]
            kinds: dict[str, list[str]] = {}
            for s in stops:
                kinds.setdefault(s.request_id, []).append(s.kind)
            kept = [
                s for s in stops if s in committed or kinds[s.request_id] == ["pickup", "dropoff"]
            ]
            head = [vehicle.next_stop] if vehicle.next_stop is not None else []
            missing = [s for s in committed if s not in kept and s not in head]
            route = [*head, *missing, *(s for s in kept if s not in head)]
            while route_timetable(problem, vehicle, route, by_id) is None:
                optional = [s.request_id for s in route if s.request_id not in self.mandatory]
                if not optional:
                    route = committed  # feasible: relaxed by the caller when it was not
                    break
                free = [rid for rid in optional if not by_id[rid].kept]
                drop = (free or optional)[-1]  # rides without a promise go first
                route = [s for s in route if s.request_id != drop]
            used.update(s.request_id for s in route)
            out[vehicle.id] = route
        return out

    def search(
        self,
        time_limit_s: float,
        options: SearchOptions,
        warm: Mapping[str, Sequence[StopRef]] | None = None,
    ) -> Routes | None:
        """Best routes found within the limit; None when no first solution was found.

        From ``warm`` (cleaned by :meth:`clean_warm`) when given. When OR-Tools cannot
        restart from it, the cleaned routes themselves are returned, never a plan from
        scratch that would reshuffle every booking: measured with OR-Tools 9.15, a restart
        fails (ROUTING_FAIL within 0.2 s) on a 400-booking day with break intervals, even
        from its own solution, while small problems with breaks restart fine.
        """
        params = self.parameters(time_limit_s, options)
        if warm is not None:
            cleaned = self.clean_warm(warm)
            solution = None
            if not self.restart_failed:
                initial = self._read(cleaned, params)
                if initial is None and self.searched:
                    # Measured with OR-Tools 9.15 on a generated 150-request instance:
                    # after some searches (4 s, 7.5 s; not 3, 5 or 6 s) the model refuses
                    # routes it reads on a model built afresh, and every polish of the
                    # solve was lost (3 seeds of 6). Building it again takes 0.03 s there.
                    self._renew()
                    initial = self._read(cleaned, params)
                if initial is not None:
                    solution = self.routing.SolveFromAssignmentWithParameters(initial, params)
            if solution is None:
                self.restart_failed = True  # it will fail again: do not pay for it twice
                return {vid: (stops, None) for vid, stops in cleaned.items()}
        else:
            self._close(params)
            solution = self.routing.SolveWithParameters(params)
        self.searched = True
        routing = self.routing
        invalid = routing_enums_pb2.RoutingSearchStatus.ROUTING_INVALID
        if solution is None and routing.status() == invalid:
            raise ValueError("invalid search parameters")
        return None if solution is None else self.routes(solution)

    def _close(self, params: object) -> None:
        if not self.closed:
            self.routing.CloseModelWithParameters(params)
            self.closed = True

    def _read(
        self, cleaned: Mapping[str, Sequence[StopRef]], params: object
    ) -> pywrapcp.Assignment | None:
        """The assignment of ``cleaned`` routes, or None when the model refuses them."""
        self._close(params)
        indices = [[self.stop_index(s) for s in cleaned[v.id]] for v in self.problem.vehicles]
        return self.routing.ReadAssignmentFromRoutes(indices, True)

    def routes(self, solution: pywrapcp.Assignment) -> Routes:
        """Per vehicle: its stops and where its breaks fall according to the solver."""
        routing = self.routing
        out: Routes = {}
        for v, vehicle in enumerate(self.problem.vehicles):
            index = routing.Start(v)
            stops: list[StopRef] = []
            nodes: list[int] = []
            starts: list[float] = []
            while True:
                node = self.manager.IndexToNode(index)
                nodes.append(node)
                starts.append(float(solution.Value(self.time.CumulVar(index))))
                if routing.IsEnd(index):
                    break
                if node in self.node_stop:
                    stops.append(self.node_stop[node])
                index = solution.Value(routing.NextVar(index))
            placement = None
            if v in self.break_vars:
                service = [float(self.service[n]) for n in nodes]
                begins = [float(solution.StartValue(b)) for b in self.break_vars[v]]
                placement = placement_from_times(starts, service, begins)
            out[vehicle.id] = (stops, placement)
        return out


def route_cost(
    problem: Problem,
    vehicle_start: int,
    vehicle_end: int,
    stops: Sequence[StopRef],
    requests: Mapping[str, Request],
) -> int:
    """Arc cost of a route given by its stops (start and end included)."""
    locs = [vehicle_start]
    for s in stops:
        r = requests[s.request_id]
        locs.append(r.pickup if s.kind == "pickup" else r.dropoff)
    locs.append(vehicle_end)
    idx = np.asarray(locs, dtype=np.int64)
    return int(problem.arc_cost[idx[:-1], idx[1:]].sum())
