"""The timetable of one route, recomputed from its stop sequence alone.

The solver's cumul values are not trusted: once the order of stops (and where each break
falls) is known, the start times are a *simple temporal problem* — every constraint is
``t_v - t_u <= w`` (travel and service, windows, ride-time limits, route duration, breaks).
Its earliest solution is a shortest-path problem, solved here by Bellman-Ford with numpy
relaxation over all edges at once; a negative cycle means the sequence is infeasible. Ride-time
limits are why a plain forward pass is not enough: it may leave a passenger waiting aboard
where a later departure would have kept the ride short.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from dispatch.routing.darp.model import (
    Break,
    Problem,
    Request,
    ScheduledBreak,
    StopRef,
    Vehicle,
    VehicleRoute,
    Visit,
)
from dispatch.routing.darp.rush import TravelBands, leg_durations

_EPS = 1e-9
_RETIME_ROUNDS = 6


@dataclass(frozen=True, slots=True)
class RouteSpec:
    """A route as the scheduler sees it: stop ``i`` is served for ``service[i]``, then the
    vehicle needs ``travel[i]`` to reach stop ``i + 1``. Stop 0 is the start, the last the end.

    ``ride`` holds ``(i, j, limit)``: service at ``j`` begins at most ``limit`` after service
    at ``i`` ends.
    """

    service: Sequence[float]
    travel: Sequence[float]
    earliest: Sequence[float]
    latest: Sequence[float]
    ride: Sequence[tuple[int, int, float]] = ()
    max_duration: float | None = None
    breaks: Sequence[Break] = ()


@dataclass(frozen=True, slots=True)
class Timetable:
    start: list[float]  # service start per stop
    arrival: list[float]
    break_start: list[float]
    break_after: list[int]  # stop index after which each break begins (-1: before stop 0)


def _earliest(n: int, edges: list[tuple[int, int, float]]) -> list[float] | None:
    """Least solution of ``x_v - x_u <= w`` for every ``(u, v, w)``, node ``n - 1`` being 0.

    On the reversed graph the shortest distances from the origin are minus the least times.
    """
    src = np.fromiter((e[1] for e in edges), dtype=np.int64, count=len(edges))
    dst = np.fromiter((e[0] for e in edges), dtype=np.int64, count=len(edges))
    weight = np.fromiter((e[2] for e in edges), dtype=np.float64, count=len(edges))
    dist = np.full(n, np.inf)
    dist[n - 1] = 0.0
    for _ in range(n + 1):
        cand = dist[src] + weight
        better = cand < dist[dst] - _EPS
        if not better.any():
            return [float(-d) + 0.0 for d in dist[:-1]]
        new = dist.copy()
        np.minimum.at(new, dst[better], cand[better])
        dist = new
    return None


def _solve(spec: RouteSpec, after: Sequence[int]) -> Timetable | None:
    k = len(spec.service)
    m = len(spec.breaks)
    origin = k + m
    edges: list[tuple[int, int, float]] = []
    gap_extra = [0.0] * k
    for pause, g in zip(spec.breaks, after, strict=True):
        if 0 <= g < k - 1:
            gap_extra[g] += pause.duration
    for i in range(k):
        edges.append((i, origin, -spec.earliest[i]))
        edges.append((origin, i, spec.latest[i]))
        if i + 1 < k:
            edges.append((i + 1, i, -(spec.service[i] + spec.travel[i] + gap_extra[i])))
    for i, j, limit in spec.ride:
        edges.append((i, j, limit + spec.service[i]))
    if spec.max_duration is not None:
        edges.append((0, k - 1, spec.max_duration))
    order = sorted(range(m), key=lambda b: (after[b], spec.breaks[b].window.earliest))
    previous: dict[int, int] = {}
    for b in order:
        node = k + b
        brk, g = spec.breaks[b], after[b]
        edges.append((node, origin, -brk.window.earliest))
        edges.append((origin, node, brk.window.latest))
        if g < 0:
            edges.append((0, node, -brk.duration))  # ends before the departure from the start
        else:
            edges.append((node, g, -spec.service[g]))  # begins after service at stop g
            if g < k - 1:
                edges.append((g + 1, node, -brk.duration))  # ends before service at g + 1
        if g in previous:  # breaks in one gap follow each other
            p = previous[g]
            edges.append((node, k + p, -spec.breaks[p].duration))
        previous[g] = b
    times = _earliest(origin + 1, edges)
    if times is None:
        return None
    start = times[:k]
    arrival = [start[0]]
    for i in range(1, k):
        leave = start[i - 1] + spec.service[i - 1]
        at = leave + spec.travel[i - 1]
        for b in order:
            if after[b] == i - 1 and times[k + b] < at:
                at += spec.breaks[b].duration  # the break interrupts the drive
        arrival.append(min(at, start[i]))
    return Timetable(start, arrival, [times[k + b] for b in range(m)], list(after))


def schedule(spec: RouteSpec, placement: Sequence[int] | None = None) -> Timetable | None:
    """The earliest feasible timetable, or None when the sequence cannot be served.

    ``placement`` gives, per break, the stop after which it begins (the solver's choice, or
    else where its window opens on the schedule without breaks); when that fails, each break
    in turn takes the nearest position that works. Travel cost does not depend on where a
    break falls, so the first feasible placement is as good as any.
    """
    k = len(spec.service)
    m = len(spec.breaks)
    if placement is None and m:
        # Where each window opens on the schedule without breaks: usually right.
        bare = _solve(dataclasses.replace(spec, breaks=()), [])
        if bare is None:
            return None
        ends = [t + s for t, s in zip(bare.start, spec.service, strict=True)]
        placement = [
            max((i for i in range(k) if ends[i] <= b.window.earliest), default=-1)
            for b in spec.breaks
        ]
    first = list(placement) if placement is not None else []
    table = _solve(spec, first)
    if table is not None or m == 0:
        return table
    current = first
    table = None
    for b in range(m):
        g0 = current[b]
        near = sorted(range(-1, k), key=lambda g: (abs(g - g0), g))
        for g in near:
            trial = [*current[:b], g, *current[b + 1 :]]
            found = _solve(spec, trial)
            if found is not None:
                current, table = trial, found
                break
    return table


def placement_from_times(
    start: Sequence[float], service: Sequence[float], break_start: Sequence[float]
) -> list[int]:
    """Where each break falls given (solver) service start times: after the last stop whose
    service ended by the break's start, -1 when it begins before the departure."""
    out = []
    for b in break_start:
        g = -1
        for i, (t, s) in enumerate(zip(start, service, strict=True)):
            if t + s <= b:
                g = i
        out.append(g)
    return out


def route_spec(
    problem: Problem, vehicle: Vehicle, stops: Sequence[StopRef], requests: Mapping[str, Request]
) -> RouteSpec:
    """The scheduling view of ``vehicle`` serving ``stops`` (start and end added)."""
    locs = [vehicle.start]
    service = [0.0]
    earliest = [float(vehicle.earliest_departure)]
    latest = [float(vehicle.shift.latest)]
    ride: list[tuple[int, int, float]] = []
    picked: dict[str, int] = {}
    for pos, stop in enumerate(stops, start=1):
        r = requests[stop.request_id]
        if stop.kind == "pickup":
            locs.append(r.pickup)
            service.append(float(r.pickup_service))
            earliest.append(float(r.pickup_window.earliest))
            latest.append(float(r.pickup_window.latest))
            picked[r.id] = pos
        else:
            locs.append(r.dropoff)
            service.append(float(r.dropoff_service))
            earliest.append(float(r.dropoff_window.earliest))
            late = float(r.dropoff_window.latest)
            if r.max_ride is not None:
                if r.id in picked:
                    ride.append((picked[r.id], pos, float(r.max_ride)))
                elif r.aboard is not None:
                    late = min(late, float(r.aboard.picked_up_at + r.max_ride))
            latest.append(late)
    locs.append(vehicle.end)
    service.append(0.0)
    earliest.append(float(vehicle.earliest_departure))
    latest.append(float(vehicle.shift.latest))
    idx = np.asarray(locs, dtype=np.int64)
    legs = problem.travel[idx[:-1], idx[1:]].astype(np.float64).tolist()
    return RouteSpec(
        service=service,
        travel=legs,
        earliest=earliest,
        latest=latest,
        ride=ride,
        max_duration=None if vehicle.max_duration is None else float(vehicle.max_duration),
        breaks=vehicle.breaks,
    )


def _timed_at_departures(
    bands: TravelBands, spec: RouteSpec, placement: Sequence[int] | None
) -> tuple[RouteSpec, Timetable | None]:
    """Time a route whose legs depend on when they leave (``spec.travel`` free-flow).

    The first timetable takes every leg at its fastest (a bound: no timetable means none
    exists). Then each leg takes at least its time at the last timetable's departure; legs
    only grow, so the loop ends once every leg fits its departure. Should it not settle in a
    few rounds, each leg takes the slowest time its stop's window allows (always safe)."""
    base = list(spec.travel)
    fastest = min(bands.factors)
    legs = [b * fastest for b in base]
    table = schedule(dataclasses.replace(spec, travel=legs), placement)
    if table is None:
        return spec, None
    for _ in range(max(_RETIME_ROUNDS, len(base))):
        leave = [t + s for t, s in zip(table.start, spec.service, strict=True)]
        exact = leg_durations(bands, base, leave[:-1])
        if all(e <= g + _EPS for e, g in zip(exact, legs, strict=True)):
            return dataclasses.replace(spec, travel=legs), table
        legs = [max(e, g) for e, g in zip(exact, legs, strict=True)]
        timed = schedule(dataclasses.replace(spec, travel=legs), placement)
        if timed is None:
            break
        table = timed
    arr = np.asarray(base, dtype=np.float64)
    service = np.asarray(spec.service[:-1], dtype=np.float64)
    start = np.asarray(spec.earliest[:-1], dtype=np.float64) + service
    # as the solver's arcs: leave after this window opens, before it or the next one closes
    end = np.minimum(np.asarray(spec.latest[:-1]) + service, np.asarray(spec.latest[1:]))
    end = np.maximum(end, start)
    safe = (arr * bands.worst(arr, start, end)).tolist()
    slow = dataclasses.replace(spec, travel=safe)
    return slow, schedule(slow, placement)


def retime_routes(
    problem: Problem, orders: Sequence[tuple[str, Sequence[StopRef]]]
) -> tuple[list[VehicleRoute | None], str | None]:
    """Each vehicle's stop order timed on ``problem`` (a benchmark plan re-timed in the
    instance's own units): the routes, None where no timetable exists, and the first such
    vehicle."""
    requests = {r.id: r for r in problem.requests}
    vehicles = {v.id: v for v in problem.vehicles}
    routes: list[VehicleRoute | None] = []
    failed: str | None = None
    for vehicle_id, stops in orders:
        route = route_timetable(problem, vehicles[vehicle_id], stops, requests)
        if route is None and failed is None:
            failed = f"vehicle {vehicle_id}: no feasible timetable in exact units"
        routes.append(route)
    return routes, failed


def route_timetable(
    problem: Problem,
    vehicle: Vehicle,
    stops: Sequence[StopRef],
    requests: Mapping[str, Request],
    placement: Sequence[int] | None = None,
) -> VehicleRoute | None:
    """``vehicle`` serving ``stops`` with its earliest feasible timetable; None if impossible."""
    spec = route_spec(problem, vehicle, stops, requests)
    if problem.bands is None:
        table = schedule(spec, placement)
    else:
        spec, table = _timed_at_departures(problem.bands, spec, placement)
    if table is None:
        return None
    locs = [vehicle.start]
    for stop in stops:
        r = requests[stop.request_id]
        locs.append(r.pickup if stop.kind == "pickup" else r.dropoff)
    locs.append(vehicle.end)
    visits = [Visit("start", vehicle.start, table.arrival[0], table.start[0], table.start[0])]
    for i, stop in enumerate(stops, start=1):
        visits.append(
            Visit(
                stop.kind,
                locs[i],
                table.arrival[i],
                table.start[i],
                table.start[i] + spec.service[i],
                stop.request_id,
            )
        )
    visits.append(Visit("end", vehicle.end, table.arrival[-1], table.start[-1], table.start[-1]))
    breaks = tuple(
        ScheduledBreak(s, b.duration, a)
        for s, b, a in zip(table.break_start, vehicle.breaks, table.break_after, strict=True)
    )
    return VehicleRoute(vehicle.id, tuple(visits), breaks)
