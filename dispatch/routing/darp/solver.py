"""The public scheduler: plain problem in, verified plan out.

The OR-Tools model (:mod:`.engine`) finds a first solution (or starts from the plan in
force), then an adaptive large-neighbourhood search (:mod:`.alns`) improves the order of
stops, with short OR-Tools polishing runs in between. The timetable is recomputed
from that order (:mod:`.timetable`) and the plan verified by the independent checker
(:mod:`.check`); a request whose part of the plan fails either moves to "unserved" with the
reason, so only plans the checker accepts are returned.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping, Sequence

import numpy as np

from dispatch.routing.darp.alns import improve_alns
from dispatch.routing.darp.alns_pool import RoutePool
from dispatch.routing.darp.check import Violation, verify
from dispatch.routing.darp.commitments import (
    committed_stops,
    is_mandatory,
    relax_commitments,
    validate_commitments,
)
from dispatch.routing.darp.engine import DarpModel, Routes, SearchOptions, route_cost
from dispatch.routing.darp.figures import time_out
from dispatch.routing.darp.model import (
    FAILED_CHECK,
    NO_ROOM,
    PROMISE_MOVED,
    Plan,
    Problem,
    Request,
    StopRef,
    TimeWindow,
    Unserved,
    VehicleRoute,
    clock_text,
    is_open,
    route_stops,
    stop_sequences,
)
from dispatch.routing.darp.precheck import precheck
from dispatch.routing.darp.timetable import route_timetable

NO_ROOM_REASON = "no room in any vehicle's schedule"


def no_room_reason(request: Request) -> str:
    """No room, said with the times the scheduler would try to move."""
    pickup, dropoff = request.pickup_window, request.dropoff_window
    if not is_open(pickup):
        return (
            f"{NO_ROOM_REASON} for a pickup between {clock_text(pickup.earliest)} and "
            f"{clock_text(pickup.latest)}"
        )
    if not is_open(dropoff):
        return f"{NO_ROOM_REASON} to arrive by {clock_text(dropoff.latest)}"
    return NO_ROOM_REASON


def _route_cost(problem: Problem, route: VehicleRoute) -> float:
    locs = np.asarray([v.location for v in route.visits], dtype=np.int64)
    return float(problem.arc_cost[locs[:-1], locs[1:]].sum())


def _assemble(
    problem: Problem,
    planned: Routes,
    unserved: dict[str, Unserved],
) -> list[VehicleRoute]:
    """Timetables for the planned stop orders; requests whose route has none are unserved."""
    requests = {r.id: r for r in problem.requests}
    routes: list[VehicleRoute] = []
    for vehicle in problem.vehicles:
        stops, placement = planned.get(vehicle.id, ([], None))
        route = route_timetable(problem, vehicle, stops, requests, placement)
        while route is None:
            optional = [
                s.request_id
                for s in stops
                if s.kind == "pickup" and not is_mandatory(problem, requests[s.request_id])
            ]
            if not optional:
                raise RuntimeError(f"vehicle {vehicle.id}: committed stops have no timetable")
            drop = last_to_keep(optional, requests)
            unserved[drop] = Unserved(
                drop, FAILED_CHECK, f"{NO_ROOM_REASON} (the solver's sequence had no timetable)"
            )
            stops = [s for s in stops if s.request_id != drop]
            route = route_timetable(problem, vehicle, stops, requests)
        routes.append(route)
    return routes


def last_to_keep(request_ids: Sequence[str], requests: Mapping[str, Request]) -> str:
    """Which ride a route that cannot be timed gives up: the last one without a promise,
    a kept ride only when there is none."""
    free = [rid for rid in request_ids if not requests[rid].kept]
    return (free or list(request_ids))[-1]


def _plan(problem: Problem, routes: list[VehicleRoute], unserved: Mapping[str, Unserved]) -> Plan:
    order = {r.id: i for i, r in enumerate(problem.requests)}
    return Plan(
        routes=tuple(routes),
        unserved=tuple(sorted(unserved.values(), key=lambda u: order.get(u.request_id, 0))),
        cost=sum(_route_cost(problem, r) for r in routes),
    )


def _offenders(problem: Problem, violations: Sequence[Violation]) -> dict[str, Violation]:
    """Optional requests to blame for ``violations`` (vehicle-wide ones blame all of it)."""
    requests = {r.id: r for r in problem.requests}
    out: dict[str, Violation] = {}
    for v in violations:
        rid = v.request_id
        if rid is not None and rid in requests and not is_mandatory(problem, requests[rid]):
            out.setdefault(rid, v)
    return out


def enforce(problem: Problem, routes: list[VehicleRoute], unserved: dict[str, Unserved]) -> Plan:
    """Verify; move requests named by a violation to unserved and re-time, until clean."""
    requests = {r.id: r for r in problem.requests}
    for _ in range(len(problem.requests) + 1):
        plan = _plan(problem, routes, unserved)
        violations = verify(problem, plan)
        if not violations:
            return plan
        blamed = _offenders(problem, violations)
        if not blamed:
            vehicles = {v.vehicle_id for v in violations if v.vehicle_id is not None}
            blamed = {
                rid: violations[0]
                for route in routes
                if route.vehicle_id in vehicles
                for rid in route.request_ids
                if not is_mandatory(problem, requests[rid])
            }
            unkept = {rid: why for rid, why in blamed.items() if not requests[rid].kept}
            blamed = unkept or blamed  # rides without a promise go first
        if not blamed:
            raise RuntimeError(f"plan fails verification: {violations[0].message}")
        for rid, why in blamed.items():
            unserved[rid] = Unserved(rid, FAILED_CHECK, f"{NO_ROOM_REASON} ({why.message})")
        planned: Routes = {
            r.vehicle_id: ([s for s in route_stops(r) if s.request_id not in blamed], None)
            for r in routes
        }
        routes = _assemble(problem, planned, unserved)
    raise RuntimeError("plan verification did not converge")


def _improve(
    model: DarpModel,
    planned: Routes,
    deadline: float,
    budget: float,
    options: SearchOptions,
    pool: RoutePool,
) -> Routes:
    """Alternate ALNS rounds and OR-Tools polishes from the best routes until ``deadline``;
    ``pool`` keeps the routes of every round for the next ones to recombine."""
    round_ = 0
    while deadline - time.perf_counter() > 0.3:
        now = time.perf_counter()
        planned = improve_alns(
            model,
            planned,
            min(deadline, now + budget * options.alns_slice),
            options.seed + round_,
            pool,
        )
        round_ += 1
        left = deadline - time.perf_counter()
        if left > 0.3 and options.polish_slice > 0:
            polished = model.search(
                min(left, budget * options.polish_slice),
                options,
                {vid: stops for vid, (stops, _) in planned.items()},
            )
            if polished is not None and _total(model, polished) <= _total(model, planned):
                planned = polished
    return planned


def _total(model: DarpModel, routes: Routes) -> tuple[int, float]:
    """(minus the weight of the rides served, cost) of ``routes``: smaller is better (a kept
    ride weighs more than all others together; a used vehicle adds its fixed cost and its
    time out at its rate)."""
    problem = model.problem
    by_id = {r.id: r for r in model.requests}
    weight = model.drop_weight
    served = sum(
        weight.get(s.request_id, 1)
        for stops, _ in routes.values()
        for s in stops
        if s.kind == "dropoff"
    )
    cost = 0.0
    for vehicle in problem.vehicles:
        stops, placement = routes.get(vehicle.id, ([], None))
        cost += route_cost(problem, vehicle.start, vehicle.end, stops, by_id)
        cost += round(float(vehicle.fixed_cost)) if stops else 0
        if stops and vehicle.time_cost:
            timed = route_timetable(problem, vehicle, stops, by_id, placement)
            cost += 0.0 if timed is None else vehicle.time_cost * time_out(problem, timed)
    return (-served, cost)


#: Share of the time a plan with narrowed (kept) pickups leaves for moving those it cannot
#: keep rather than dropping them.
_MOVE_SHARE = 0.15


def solve(
    problem: Problem,
    time_limit_s: float,
    warm_start: Plan | Mapping[str, Sequence[StopRef]] | None = None,
    options: SearchOptions = SearchOptions(),
) -> Plan:
    """Plan ``problem`` within about ``time_limit_s`` seconds (model building included).

    Kept rides whose pickup window was narrowed around the time told
    (``Request.wide_pickup``) are planned in it when possible; those the plan cannot keep
    there get their whole window back in a second, short insertion run from that plan, and
    are listed in ``Plan.moved`` with the reason, instead of being dropped.
    """
    narrowed = {r.id for r in problem.requests if r.wide_pickup is not None}
    if not narrowed:
        return _solve_once(problem, time_limit_s, warm_start, options)
    requests = {r.id: r for r in problem.requests}
    started = time.perf_counter()
    plan = _solve_once(problem, time_limit_s * (1 - _MOVE_SHARE), warm_start, options)
    missed = {u.request_id: u for u in plan.unserved if u.request_id in narrowed}
    if not missed:
        return plan
    widened = dataclasses.replace(
        problem,
        requests=tuple(
            dataclasses.replace(r, pickup_window=r.wide_pickup, wide_pickup=None)
            if r.id in missed and r.wide_pickup is not None
            else r
            for r in problem.requests
        ),
    )
    left = max(0.2, time_limit_s - (time.perf_counter() - started))
    # newcomers leave their places and go back in after the missed kept rides
    kept_only = {
        route.vehicle_id: [s for s in route_stops(route) if requests[s.request_id].kept]
        for route in plan.routes
    }
    again = _solve_once(widened, left, kept_only, INSERT_OPTIONS)
    pickups = {
        v.request_id: v.start for route in again.routes for v in route.visits if v.kind == "pickup"
    }
    moved = tuple(
        Unserved(rid, PROMISE_MOVED, f"the pickup told could not be kept: {u.reason}")
        for rid, u in missed.items()
        if rid in pickups and not _within(pickups[rid], requests[rid].pickup_window)
    )
    return dataclasses.replace(
        again, moved=moved, warnings=plan.warnings, seconds=time.perf_counter() - started
    )


def _within(t: float, window: TimeWindow) -> bool:
    return window.earliest - 1e-6 <= t <= window.latest + 1e-6


def _solve_once(
    problem: Problem,
    time_limit_s: float,
    warm_start: Plan | Mapping[str, Sequence[StopRef]] | None,
    options: SearchOptions,
) -> Plan:
    """One search: plan ``problem`` within about ``time_limit_s`` seconds.

    ``warm_start`` is a previous plan (or stop orders per vehicle id): its routes, cleaned
    of what no longer applies, are the starting solution, so new requests are inserted into
    the existing schedule rather than planned from scratch. Every request of ``problem``
    ends up in exactly one route or in ``Plan.unserved`` with a reason.
    """
    started = time.perf_counter()
    deadline = started + time_limit_s
    validate_commitments(problem)
    effective, warnings = relax_commitments(problem)
    unserved = dict(precheck(effective))
    requests = [r for r in effective.requests if r.id not in unserved]
    planned: Routes | None = None
    status = "nothing to plan"
    if requests and effective.vehicles:
        model = DarpModel(effective, requests)
        pool = RoutePool()
        warm = stop_sequences(warm_start) if isinstance(warm_start, Plan) else warm_start
        # Re-timing and verifying the routes afterwards takes time too.
        reserve = 0.02 + 0.004 * len(effective.vehicles) + 0.0003 * len(requests)
        deadline -= min(0.2 * time_limit_s, reserve)
        remaining = max(0.05, deadline - time.perf_counter())
        if len(requests) > options.ortools_up_to:
            options = dataclasses.replace(options, first_phase=0.0, polish_slice=0.0)
        improving = options.improve and remaining > 1.0
        status = "solved"
        if options.first_phase > 0:
            first = remaining * options.first_phase if improving else remaining
            planned = model.search(first, options, warm)
        if planned is None:
            # No OR-Tools search or no first solution in time: the insertion search starts
            # from the warm routes (or the committed stops) instead of giving up.
            base = model.clean_warm(warm or {})
            planned = improve_alns(
                model,
                {vid: (stops, None) for vid, stops in base.items()},
                deadline,
                options.seed,
                pool,
            )
            status = "solved by insertion search"
        if improving:
            planned = _improve(model, planned, deadline, time_limit_s, options, pool)
    if planned is None:
        planned = {v.id: (committed_stops(effective, v), None) for v in effective.vehicles}
    served = {s.request_id for stops, _ in planned.values() for s in stops}
    for r in requests:
        if r.id not in served:
            unserved[r.id] = Unserved(r.id, NO_ROOM, no_room_reason(r))
    routes = _assemble(effective, planned, unserved)
    plan = enforce(effective, routes, unserved)
    return dataclasses.replace(
        plan, status=status, warnings=warnings, seconds=time.perf_counter() - started
    )


INSERT_OPTIONS = SearchOptions(first_phase=0.0, alns_slice=1.0, polish_slice=0.0)


def insert(
    problem: Problem,
    previous: Plan,
    time_limit_s: float = 2.0,
    options: SearchOptions = INSERT_OPTIONS,
) -> Plan:
    """Same-day insertion: ``problem`` holds the current state plus the new request(s);
    ``previous`` is the plan in force.

    Its routes (cleaned of what no longer applies) are kept, the new requests inserted where
    they cost least and the rest of ``time_limit_s`` spent improving; OR-Tools is not needed
    for that and skipping its model restart is what keeps a 400-booking day within ~2 s.
    """
    return solve(problem, time_limit_s, warm_start=previous, options=options)
