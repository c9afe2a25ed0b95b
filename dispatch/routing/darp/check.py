"""Independent verification of a plan against its problem.

Deliberately shares no code with the model, the timetable or the solver: it reads the plain
problem and the plan's own times and checks every rule directly, so a bug in how the solver
is modelled cannot hide itself. ``tol`` absorbs float noise when plans are checked in a
benchmark's own (fractional) units; for whole seconds it can be 0.
"""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass

from dispatch.routing.darp.model import Plan, Problem, Request, Vehicle, VehicleRoute


@dataclass(frozen=True, slots=True)
class Violation:
    """One broken rule; ``kind`` is stable (tests and callers match on it)."""

    kind: str
    message: str
    vehicle_id: str | None = None
    request_id: str | None = None


class _Checker:
    def __init__(self, problem: Problem, plan: Plan, tol: float) -> None:
        self.problem = problem
        self.plan = plan
        self.tol = tol
        self.requests = {r.id: r for r in problem.requests}
        self.vehicles = {v.id: v for v in problem.vehicles}
        self.out: list[Violation] = []

    def add(self, kind: str, message: str, vehicle: str | None, request: str | None) -> None:
        self.out.append(Violation(kind, message, vehicle, request))

    def run(self) -> list[Violation]:
        seen_vehicles: Counter[str] = Counter(r.vehicle_id for r in self.plan.routes)
        for vid, n in seen_vehicles.items():
            if n > 1:
                self.add("route", f"vehicle {vid} has {n} routes", vid, None)
        for route in self.plan.routes:
            vehicle = self.vehicles.get(route.vehicle_id)
            if vehicle is None:
                self.add("route", f"unknown vehicle {route.vehicle_id}", route.vehicle_id, None)
                continue
            if self._shape(route, vehicle):
                self._timing(route, vehicle)
                self._load(route, vehicle)
                self._rides(route, vehicle)
                self._breaks(route, vehicle)
        self._coverage()
        self._cost()
        return self.out

    def _shape(self, route: VehicleRoute, vehicle: Vehicle) -> bool:
        """Start and end in place, stops at their requests' locations; False if unreadable."""
        vid = vehicle.id
        visits = route.visits
        if len(visits) < 2 or visits[0].kind != "start" or visits[-1].kind != "end":
            self.add("route", f"vehicle {vid}: a route must run from start to end", vid, None)
            return False
        if visits[0].location != vehicle.start or visits[-1].location != vehicle.end:
            self.add("route", f"vehicle {vid}: route does not start/end at its places", vid, None)
        ok = True
        for v in visits[1:-1]:
            r = self.requests.get(v.request_id or "")
            if v.kind not in ("pickup", "dropoff") or r is None:
                self.add(
                    "route", f"vehicle {vid}: stop of unknown request {v.request_id}", vid, None
                )
                ok = False
                continue
            where = r.pickup if v.kind == "pickup" else r.dropoff
            if v.location != where:
                self.add("route", f"{r.id}: {v.kind} at the wrong place", vid, r.id)
        if vehicle.next_stop is not None:
            first = visits[1] if len(visits) > 2 else None
            ns = vehicle.next_stop
            if first is None or (first.request_id, first.kind) != (ns.request_id, ns.kind):
                self.add(
                    "under_way",
                    f"vehicle {vid}: {ns.kind} of {ns.request_id} is under way but not first",
                    vid,
                    ns.request_id,
                )
        return ok

    def _service(self, r: Request | None, kind: str) -> float:
        if r is None:
            return 0.0
        return float(r.pickup_service if kind == "pickup" else r.dropoff_service)

    def _timing(self, route: VehicleRoute, vehicle: Vehicle) -> None:
        tol, vid = self.tol, vehicle.id
        visits = route.visits
        depart = vehicle.shift.earliest
        if vehicle.ready_at is not None:
            depart = max(depart, vehicle.ready_at)
        if visits[0].start < depart - tol:
            self.add(
                "shift", f"vehicle {vid} leaves at {visits[0].start:g} before {depart:g}", vid, None
            )
        if visits[-1].start > vehicle.shift.latest + tol:
            self.add(
                "shift",
                f"vehicle {vid} ends at {visits[-1].start:g}, after its shift "
                f"({vehicle.shift.latest:g})",
                vid,
                None,
            )
        if vehicle.max_duration is not None:
            span = visits[-1].start - visits[0].start
            if span > vehicle.max_duration + tol:
                self.add(
                    "duration",
                    f"vehicle {vid}: route lasts {span:g}, limit {vehicle.max_duration:g}",
                    vid,
                    None,
                )
        pauses: dict[int, float] = {}
        for b in route.breaks:
            pauses[b.after] = pauses.get(b.after, 0.0) + b.duration
        for i, v in enumerate(visits):
            r = self.requests.get(v.request_id or "")
            service = self._service(r, v.kind) if v.kind in ("pickup", "dropoff") else 0.0
            if v.arrival > v.start + tol or abs(v.departure - (v.start + service)) > tol:
                self.add(
                    "timing", f"vehicle {vid}: inconsistent times at stop {i}", vid, v.request_id
                )
            if r is not None and v.kind in ("pickup", "dropoff"):
                window = r.pickup_window if v.kind == "pickup" else r.dropoff_window
                if v.start < window.earliest - tol or v.start > window.latest + tol:
                    self.add(
                        "window",
                        f"{r.id}: {v.kind} starts at {v.start:g}, outside "
                        f"[{window.earliest:g}, {window.latest:g}]",
                        vid,
                        r.id,
                    )
            if i + 1 < len(visits):
                nxt = visits[i + 1]
                leave, pause = v.start + service, pauses.get(i, 0.0)
                # a break is taken before the drive or after it, whichever arrives sooner
                need = min(
                    leave + self.problem.leg(v.location, nxt.location, leave) + pause,
                    leave + pause + self.problem.leg(v.location, nxt.location, leave + pause),
                )
                reach = v.departure + self.problem.leg(v.location, nxt.location, v.departure)
                if nxt.start < need - tol or nxt.arrival < reach - tol:
                    self.add(
                        "travel",
                        f"vehicle {vid}: stop {i + 1} starts at {nxt.start:g}, but cannot begin "
                        f"before {need:g}",
                        vid,
                        nxt.request_id,
                    )

    def _load(self, route: VehicleRoute, vehicle: Vehicle) -> None:
        vid = vehicle.id
        onboard: Counter[str] = Counter()
        for r in self.problem.requests:
            if r.aboard is not None and r.aboard.vehicle_id == vid:
                onboard.update(r.load)
        for v in route.visits[1:-1]:
            r = self.requests[v.request_id or ""]
            if v.kind == "pickup":
                onboard.update(r.load)
            else:
                onboard.subtract(r.load)
            for kind in self.problem.seat_kinds:
                cap = vehicle.capacity.get(kind, 0)
                if onboard[kind] > cap:
                    self.add(
                        "capacity",
                        f"vehicle {vid}: {onboard[kind]} {kind} aboard after {v.kind} of {r.id}, "
                        f"capacity {cap}",
                        vid,
                        r.id,
                    )
                if onboard[kind] < 0:
                    self.add("capacity", f"vehicle {vid}: negative {kind} load", vid, r.id)

    def _rides(self, route: VehicleRoute, vehicle: Vehicle) -> None:
        vid = vehicle.id
        picked: dict[str, float] = {}
        for v in route.visits[1:-1]:
            r = self.requests[v.request_id or ""]
            if v.kind == "pickup":
                picked[r.id] = v.start + float(r.pickup_service)
                continue
            if r.id in picked:
                left = picked[r.id]
            elif r.aboard is not None:
                left = r.aboard.picked_up_at
            else:
                continue  # reported as a precedence violation in _coverage
            ride = v.start - left
            if r.max_ride is not None and ride > r.max_ride + self.tol:
                self.add("ride_time", f"{r.id}: ride of {ride:g}, limit {r.max_ride:g}", vid, r.id)

    def _breaks(self, route: VehicleRoute, vehicle: Vehicle) -> None:
        tol, vid = self.tol, vehicle.id
        visits = route.visits
        if len(route.breaks) != len(vehicle.breaks):
            self.add(
                "break",
                f"vehicle {vid}: {len(route.breaks)} breaks planned, {len(vehicle.breaks)} due",
                vid,
                None,
            )
            return
        for k, (done, due) in enumerate(zip(route.breaks, vehicle.breaks, strict=True)):
            what = f"vehicle {vid}: break {k}"
            if done.duration < due.duration - tol:
                self.add("break", f"{what} lasts {done.duration:g} < {due.duration:g}", vid, None)
            if not (due.window.earliest - tol <= done.start <= due.window.latest + tol):
                self.add("break", f"{what} begins at {done.start:g}, outside its window", vid, None)
            end = done.start + done.duration
            if done.after < -1 or done.after >= len(visits):
                self.add("break", f"{what} is placed after a stop that does not exist", vid, None)
                continue
            if done.after == -1:
                if end > visits[0].start + tol:
                    self.add("break", f"{what} overlaps the departure", vid, None)
                continue
            here = visits[done.after]
            if done.start < here.departure - tol:
                self.add("break", f"{what} overlaps service at stop {done.after}", vid, None)
            if done.after + 1 < len(visits) and end > visits[done.after + 1].start + tol:
                self.add("break", f"{what} overlaps service at stop {done.after + 1}", vid, None)
        spans = sorted((b.start, b.start + b.duration) for b in route.breaks)
        for (_, e0), (s1, _) in itertools.pairwise(spans):
            if s1 < e0 - tol:
                self.add("break", f"vehicle {vid}: breaks overlap", vid, None)

    def _coverage(self) -> None:
        where: dict[str, list[tuple[str, int, str]]] = {}
        for route in self.plan.routes:
            for i, v in enumerate(route.visits):
                if v.request_id is not None and v.kind in ("pickup", "dropoff"):
                    where.setdefault(v.request_id, []).append((route.vehicle_id, i, v.kind))
        listed = Counter(u.request_id for u in self.plan.unserved)
        for rid, n in listed.items():
            if rid not in self.requests:
                self.add("coverage", f"unserved list names unknown request {rid}", None, rid)
            if n > 1:
                self.add("coverage", f"{rid} is listed unserved {n} times", None, rid)
        for u in self.plan.unserved:
            if not u.reason:
                self.add(
                    "coverage", f"{u.request_id} is unserved without a reason", None, u.request_id
                )
        for r in self.problem.requests:
            stops = where.get(r.id, [])
            kinds = Counter(k for _, _, k in stops)
            vehicles = {vid for vid, _, _ in stops}
            if r.aboard is not None:
                if r.id in listed:
                    self.add("aboard", f"{r.id} is aboard but listed unserved", None, r.id)
                if kinds != Counter(dropoff=1) or vehicles != {r.aboard.vehicle_id}:
                    self.add(
                        "aboard",
                        f"{r.id}: aboard {r.aboard.vehicle_id}, must be dropped off once by it",
                        r.aboard.vehicle_id,
                        r.id,
                    )
                continue
            if not stops:
                if r.id not in listed:
                    self.add(
                        "coverage", f"{r.id} is neither served nor listed unserved", None, r.id
                    )
                continue
            if r.id in listed:
                self.add("coverage", f"{r.id} is served and also listed unserved", None, r.id)
            if kinds != Counter(pickup=1, dropoff=1):
                self.add("precedence", f"{r.id}: needs one pickup and one drop-off", None, r.id)
                continue
            if len(vehicles) != 1:
                self.add(
                    "same_vehicle",
                    f"{r.id}: picked up and dropped off by different vehicles",
                    None,
                    r.id,
                )
                continue
            pos = {k: i for _, i, k in stops}
            if pos["pickup"] > pos["dropoff"]:
                self.add(
                    "precedence", f"{r.id}: dropped off before being picked up", stops[0][0], r.id
                )

    def _cost(self) -> None:
        total = 0.0
        cost = self.problem.arc_cost
        for route in self.plan.routes:
            for a, b in zip(route.visits, route.visits[1:], strict=False):
                total += float(cost[a.location, b.location])
        if abs(total - self.plan.cost) > max(self.tol, 1e-9) * max(1.0, abs(total)):
            self.add(
                "cost", f"plan cost {self.plan.cost:g} but its arcs cost {total:g}", None, None
            )


def verify(problem: Problem, plan: Plan, tol: float = 1e-6) -> list[Violation]:
    """Every rule ``plan`` breaks for ``problem``; empty when the plan can be published.

    Checked: routes from each vehicle's start to its end; every request served once (pickup
    before drop-off, same vehicle) or listed unserved with a reason; patients aboard dropped
    off by their vehicle; the stop under way first; time windows, travel and service times,
    ride times, seats of every kind at every stop, shift end and route duration, breaks.
    """
    return _Checker(problem, plan, tol).run()
