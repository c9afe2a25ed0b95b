"""Plain data of the dial-a-ride problem and of its plans; no solver types leak out of here.

Times are numbers on one axis chosen by the caller (seconds since a reference instant for the
service, the instance's own units for benchmarks); locations are indices into the travel-time
matrix. Keeping both abstract is what lets the same model serve bookings and the Cordeau
benchmark, and lets the checker verify plans without knowing where the numbers came from.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from dispatch.routing.darp.rush import TravelBands

SEAT_KINDS: tuple[str, ...] = ("seated", "wheelchair", "stretcher")

StopKind = Literal["start", "pickup", "dropoff", "end"]
Matrix = npt.NDArray[np.int64] | npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """Service may begin at ``earliest`` at the soonest and at ``latest`` at the latest."""

    earliest: float
    latest: float

    def __post_init__(self) -> None:
        if self.latest < self.earliest:
            raise ValueError(f"empty time window [{self.earliest}, {self.latest}]")


OPEN = TimeWindow(0, 2**40)


@dataclass(frozen=True, slots=True)
class Break:
    """A driver break of ``duration`` that must begin within ``window``.

    It is taken while the vehicle is not serving a stop: before the route, between two stops
    (interrupting the drive or the wait) or after the route.
    """

    window: TimeWindow
    duration: float


@dataclass(frozen=True, slots=True)
class Aboard:
    """A patient already in ``vehicle_id``: only the drop-off remains, on that vehicle.

    ``picked_up_at`` is when pickup service ended; the ride-time limit counts from there.
    """

    vehicle_id: str
    picked_up_at: float


@dataclass(frozen=True, slots=True)
class Request:
    """One booking leg: pickup and drop-off on the same vehicle.

    ``load`` maps a seat kind to the seats used (a wheelchair user with an escort is
    ``{"wheelchair": 1, "seated": 1}``). ``max_ride`` is an absolute limit (callers derive it
    from minutes and/or a factor of the direct trip), measured from the end of pickup service
    to the start of drop-off service; None means no limit.
    """

    id: str
    pickup: int
    dropoff: int
    load: Mapping[str, int]
    pickup_window: TimeWindow = OPEN
    dropoff_window: TimeWindow = OPEN
    max_ride: float | None = None
    pickup_service: float = 0
    dropoff_service: float = 0
    aboard: Aboard | None = None
    #: The ride holds a published pickup: a plan never drops it to serve rides without one.
    kept: bool = False
    #: Set when ``pickup_window`` was narrowed around the published pickup: the window to
    #: fall back to when the promise cannot be kept (the ride is then moved, not dropped).
    wide_pickup: TimeWindow | None = None


@dataclass(frozen=True, slots=True)
class StopRef:
    """A stop of a request: the one a vehicle is driving to stays first on that vehicle."""

    request_id: str
    kind: Literal["pickup", "dropoff"]


@dataclass(frozen=True, slots=True)
class Vehicle:
    """A vehicle and its shift.

    ``shift.earliest`` is the earliest departure from ``start`` and ``shift.latest`` the
    latest arrival at ``end``. When re-planning, ``start`` is the current position and
    ``ready_at`` the current time (or the end of the service or break in progress);
    ``next_stop`` is the stop it is already driving to. Breaks already taken must be left out.
    """

    id: str
    capacity: Mapping[str, int]
    start: int
    end: int
    shift: TimeWindow
    breaks: tuple[Break, ...] = ()
    max_duration: float | None = None
    ready_at: float | None = None
    next_stop: StopRef | None = None
    #: What using this vehicle at all costs, in the units of the arc cost: a plan serves
    #: the same rides with fewer vehicles when the driving saved is worth less.
    fixed_cost: float = 0.0
    #: What each unit of time out costs (seconds, for bookings), from leaving ``start`` to
    #: reaching ``end``, in the units of the arc cost: drivers are paid by the hour, so a
    #: plan weighs a long idle day against another vehicle.
    time_cost: float = 0.0

    @property
    def earliest_departure(self) -> float:
        return (
            self.shift.earliest
            if self.ready_at is None
            else max(self.shift.earliest, self.ready_at)
        )


@dataclass(frozen=True)
class Problem:
    """Requests, vehicles and the matrices over location indices (``travel[from, to]``).

    ``cost`` is the objective per arc (e.g. metres); the travel time is used when absent.
    The solver needs integer matrices; float matrices are for verifying benchmark plans in
    their own units.
    """

    requests: tuple[Request, ...]
    vehicles: tuple[Vehicle, ...]
    travel: Matrix
    cost: Matrix | None = None
    seat_kinds: tuple[str, ...] = SEAT_KINDS
    #: Rush hours on the time axis: ``travel`` is then free-flow and a leg's time depends
    #: on when it leaves (:meth:`leg`); None: ``travel`` holds every leg's time.
    bands: TravelBands | None = None

    def __post_init__(self) -> None:
        n = self.travel.shape[0]
        if self.travel.ndim != 2 or self.travel.shape[1] != n:
            raise ValueError("travel must be a square matrix")
        if self.cost is not None and self.cost.shape != self.travel.shape:
            raise ValueError("cost must have the shape of travel")
        ids = [r.id for r in self.requests]
        if len(set(ids)) != len(ids):
            raise ValueError("request ids must be unique")
        vids = [v.id for v in self.vehicles]
        if len(set(vids)) != len(vids):
            raise ValueError("vehicle ids must be unique")
        for r in self.requests:
            if not (0 <= r.pickup < n and 0 <= r.dropoff < n):
                raise ValueError(f"request {r.id}: location index out of range")
            unknown = set(r.load) - set(self.seat_kinds)
            if unknown:
                raise ValueError(f"request {r.id}: unknown seat kind(s) {sorted(unknown)}")
            if any(q < 0 for q in r.load.values()):
                raise ValueError(f"request {r.id}: negative load")
        for v in self.vehicles:
            if not (0 <= v.start < n and 0 <= v.end < n):
                raise ValueError(f"vehicle {v.id}: location index out of range")

    @property
    def arc_cost(self) -> Matrix:
        return self.travel if self.cost is None else self.cost

    def leg(self, frm: int, to: int, depart: float) -> float:
        """Seconds from location ``frm`` to ``to`` leaving at ``depart``."""
        base = float(self.travel[frm, to])
        return base if self.bands is None else self.bands.duration(base, depart)

    def request(self, request_id: str) -> Request:
        for r in self.requests:
            if r.id == request_id:
                return r
        raise KeyError(request_id)


@dataclass(frozen=True, slots=True)
class Visit:
    """A stop on a route: arrival, start of service and departure on the problem's axis."""

    kind: StopKind
    location: int
    arrival: float
    start: float
    departure: float
    request_id: str | None = None


@dataclass(frozen=True, slots=True)
class ScheduledBreak:
    """A break as planned: it begins at ``start`` after visit ``after`` (-1: before the route,
    i.e. before leaving the start; the last index: after arriving at the end)."""

    start: float
    duration: float
    after: int


@dataclass(frozen=True, slots=True)
class VehicleRoute:
    vehicle_id: str
    visits: tuple[Visit, ...]
    breaks: tuple[ScheduledBreak, ...] = ()

    @property
    def request_ids(self) -> tuple[str, ...]:
        """Requests with a stop on this route, in order of first appearance."""
        seen: dict[str, None] = {}
        for v in self.visits:
            if v.request_id is not None:
                seen.setdefault(v.request_id, None)
        return tuple(seen)


# Reason codes of unserved requests: stable strings a UI can translate; ``reason`` is English.
NO_SEAT_KIND = "no_seat_kind"
NO_VEHICLE_FITS = "no_vehicle_fits"
EMPTY_WINDOW = "empty_window"
PICKUP_UNREACHABLE = "pickup_unreachable"
DROPOFF_UNREACHABLE = "dropoff_unreachable"
RIDE_BELOW_DIRECT = "ride_limit_below_direct_trip"
RIDE_WINDOWS = "ride_limit_conflicts_with_windows"
SHIFT_TOO_SHORT = "no_shift_covers_trip"
NO_ROOM = "no_room"
FAILED_CHECK = "failed_verification"
PROMISE_MOVED = "pickup_moved"


@dataclass(frozen=True, slots=True)
class Unserved:
    request_id: str
    code: str
    reason: str


@dataclass(frozen=True)
class Plan:
    """Routes with their timetable, and every request not served with its reason.

    ``cost`` is the travel cost of the routes (penalties excluded). ``warnings`` records what
    the solver had to relax (a patient aboard who can no longer arrive in time).
    """

    routes: tuple[VehicleRoute, ...]
    unserved: tuple[Unserved, ...]
    cost: float
    status: str = ""
    warnings: tuple[str, ...] = ()
    seconds: float = 0.0
    #: Kept rides whose pickup had to leave the window around the time told, and why.
    moved: tuple[Unserved, ...] = ()

    @property
    def served(self) -> tuple[str, ...]:
        return tuple(rid for r in self.routes for rid in r.request_ids)

    def route_of(self, vehicle_id: str) -> VehicleRoute | None:
        for r in self.routes:
            if r.vehicle_id == vehicle_id:
                return r
        return None


def route_stops(route: VehicleRoute) -> list[StopRef]:
    """The request stops of a route in order (start and end left out)."""
    return [
        StopRef(v.request_id, "pickup" if v.kind == "pickup" else "dropoff")
        for v in route.visits
        if v.request_id is not None and v.kind in ("pickup", "dropoff")
    ]


def stop_sequences(plan: Plan) -> dict[str, list[StopRef]]:
    """Each vehicle's request stops in order; the shape a warm start needs."""
    return {route.vehicle_id: route_stops(route) for route in plan.routes}


def total_load(requests: Sequence[Request], kind: str) -> int:
    return sum(int(r.load.get(kind, 0)) for r in requests)


def clock_text(seconds: float) -> str:
    """A moment of the scheduler's axis (seconds since local midnight of the service day)
    as the day's clock reads it: "07:40", "00:30 next day". Reasons are read by schedulers."""
    if not math.isfinite(seconds) or seconds >= OPEN.latest:
        return "open"
    minutes = round(seconds / 60)
    days, minutes = divmod(minutes, 24 * 60)
    text = f"{minutes // 60:02d}:{minutes % 60:02d}"
    return text if days == 0 else f"{text} {'next day' if days == 1 else f'+{days} days'}"


def is_open(window: TimeWindow) -> bool:
    """The window puts no latest time (the default ``OPEN``)."""
    return window.latest >= OPEN.latest


def minutes_text(seconds: float) -> str:
    """A duration in whole minutes: "75 min"."""
    return f"{math.ceil(seconds / 60 - 1e-9)} min"
