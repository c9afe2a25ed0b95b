"""What a vehicle must do whatever else is planned: patients aboard and the stop under way.

These are the re-planning rules: a patient aboard is a drop-off only, on the vehicle that
carries them; the stop a vehicle is already driving to stays its first stop. Both are
mandatory in the model (no disjunction), so they must always be feasible on their own; when
the clock has overtaken them (a late patient aboard), their deadlines are opened and the plan
carries a warning instead of failing.
"""

from __future__ import annotations

import dataclasses

from dispatch.routing.darp.model import OPEN, Problem, Request, StopRef, TimeWindow, Vehicle
from dispatch.routing.darp.timetable import route_timetable


class InvalidProblemError(ValueError):
    """The problem contradicts itself (e.g. a patient aboard a vehicle that is not in it)."""


def is_mandatory(problem: Problem, request: Request) -> bool:
    """Aboard patients and pickups already under way are committed: never dropped."""
    if request.aboard is not None:
        return True
    return any(
        v.next_stop is not None and v.next_stop.request_id == request.id for v in problem.vehicles
    )


def mandatory_ids(problem: Problem) -> set[str]:
    out = {r.id for r in problem.requests if r.aboard is not None}
    out.update(v.next_stop.request_id for v in problem.vehicles if v.next_stop is not None)
    return out


def validate_commitments(problem: Problem) -> None:
    """Patients aboard and stops under way must belong to vehicles in the problem.

    A vehicle with a patient aboard cannot be removed from a plan: the patient would be
    stranded. Callers take a vehicle out only once it is empty (DESIGN.md §1: an emergency
    may pull a van only while no patient is aboard), so this raises instead of guessing.
    """
    vehicles = {v.id: v for v in problem.vehicles}
    requests = {r.id: r for r in problem.requests}
    for r in problem.requests:
        if r.aboard is not None and r.aboard.vehicle_id not in vehicles:
            raise InvalidProblemError(
                f"request {r.id}: patient aboard vehicle {r.aboard.vehicle_id}, which is not in "
                "the problem; a vehicle with patients aboard cannot be removed"
            )
    taken: set[str] = set()
    for v in problem.vehicles:
        aboard_load = dict.fromkeys(problem.seat_kinds, 0)
        for r in problem.requests:
            if r.aboard is not None and r.aboard.vehicle_id == v.id:
                for k, q in r.load.items():
                    aboard_load[k] += q
        if any(q > v.capacity.get(k, 0) for k, q in aboard_load.items()):
            raise InvalidProblemError(f"vehicle {v.id}: more patients aboard than seats")
        stop = v.next_stop
        if stop is None:
            continue
        if stop.request_id not in requests:
            raise InvalidProblemError(f"vehicle {v.id}: next stop of unknown {stop.request_id}")
        if stop.request_id in taken:
            raise InvalidProblemError(f"request {stop.request_id}: under way on two vehicles")
        taken.add(stop.request_id)
        r = requests[stop.request_id]
        if stop.kind == "pickup" and r.aboard is not None:
            raise InvalidProblemError(f"request {r.id}: pickup under way but already aboard")
        if stop.kind == "dropoff" and (r.aboard is None or r.aboard.vehicle_id != v.id):
            raise InvalidProblemError(f"request {r.id}: drop-off under way but not aboard {v.id}")


def committed_stops(problem: Problem, vehicle: Vehicle) -> list[StopRef]:
    """The stops ``vehicle`` must make whatever else happens, in a sensible direct order."""
    out: list[StopRef] = []
    if vehicle.next_stop is not None:
        out.append(vehicle.next_stop)
    aboard = sorted(
        (r for r in problem.requests if r.aboard is not None and r.aboard.vehicle_id == vehicle.id),
        key=lambda r: r.dropoff_window.latest,
    )
    out.extend(StopRef(r.id, "dropoff") for r in aboard if StopRef(r.id, "dropoff") not in out)
    if vehicle.next_stop is not None and vehicle.next_stop.kind == "pickup":
        out.append(StopRef(vehicle.next_stop.request_id, "dropoff"))
    return out


def relax_commitments(problem: Problem) -> tuple[Problem, tuple[str, ...]]:
    """Open the deadlines of committed stops that can no longer be met even directly.

    A late patient aboard must still be delivered; a hard deadline would make the whole solve
    infeasible. The plan then serves them as soon as possible and says so in a warning.
    """
    requests = {r.id: r for r in problem.requests}
    vehicles = list(problem.vehicles)
    warnings: list[str] = []
    for i, v in enumerate(vehicles):
        stops = committed_stops(problem, v)
        if not stops or route_timetable(problem, v, stops, requests) is not None:
            continue
        for s in stops:
            r = requests[s.request_id]
            requests[r.id] = dataclasses.replace(
                r,
                pickup_window=TimeWindow(r.pickup_window.earliest, OPEN.latest),
                dropoff_window=TimeWindow(r.dropoff_window.earliest, OPEN.latest),
                max_ride=None,
            )
        vehicles[i] = dataclasses.replace(
            v, shift=TimeWindow(v.shift.earliest, OPEN.latest), max_duration=None
        )
        names = ", ".join(sorted({s.request_id for s in stops}))
        warnings.append(
            f"vehicle {v.id}: committed stops ({names}) cannot keep their windows, ride limits "
            "or shift end any more; they are served as soon as possible"
        )
    if not warnings:
        return problem, ()
    relaxed = dataclasses.replace(
        problem, requests=tuple(requests[r.id] for r in problem.requests), vehicles=tuple(vehicles)
    )
    return relaxed, tuple(warnings)
