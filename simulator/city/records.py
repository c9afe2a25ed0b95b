"""What a city run keeps of its day: the units, and a record of every call and every
booked ride under each policy.

Why a module of plain data: the actors fill these records (the crews, the policies, the
booked transports) and the report and the verification read them. Living apart from all
of them, the records let those modules form layers instead of importing each other.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from simulator.city.clock import Clock
from simulator.city.geometry import Leg
from simulator.city.scenario import Call, Place, Ride


@dataclass
class Unit:
    vehicle_id: int
    call_sign: str
    kind: str
    token: str
    home: Place
    lat: float
    lon: float
    clock: Clock  # its policy's
    leg: Leg | None = None
    busy: bool = False
    intervals: list[tuple[float, float]] = field(default_factory=list)
    drive_task: asyncio.Task[None] | None = None
    # booked transports: a transport unit on its shift works its manifest under ``lock``
    transport: bool = False
    on_shift: bool = False
    on_manifest: bool = False
    manifest_task: asyncio.Task[None] | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    fixes_in_flight: set[asyncio.Task[None]] = field(default_factory=set)
    # move-up: the standby post an accepted move sent it to, and that move
    post: tuple[float, float] | None = None
    post_move: int | None = None

    def position(self, v: float) -> tuple[float, float]:
        return self.leg.at(v) if self.leg is not None else (self.lat, self.lon)

    def halt(self, v: float) -> None:
        """Stop where the unit is at ``v`` (a return drive interrupted by a new job)."""
        if self.drive_task is not None and not self.drive_task.done():
            self.drive_task.cancel()
        self.drive_task = None
        self.lat, self.lon = self.position(v)
        self.leg = None


@dataclass
class OfferStep:
    """One offer of a call (``offers`` policy): to whom, when, and what came of it, in
    virtual seconds. ``k`` numbers the call's offers over all its chains, from 1."""

    k: int
    offer_id: int
    chain_id: int
    step: int
    station_id: int | None
    vehicle_id: int
    offered_v: float
    expires_v: float
    planned: str  # the station's drawn answer: accept, decline, no_answer
    delay_s: float
    status: str = "pending"  # the server's status once answered or timed out
    answered_v: float | None = None
    reason: str | None = None
    late: bool = False  # the station answered after the timer: the server said 409

    @property
    def held_s(self) -> float | None:
        """How long the offer stood before it was answered or timed out."""
        return None if self.answered_v is None else self.answered_v - self.offered_v


@dataclass
class CaseRecord:
    """Everything the simulator saw of one call under one policy (virtual seconds)."""

    call: Call
    policy: str
    incident_id: int | None = None
    refused: str | None = None
    error: str | None = None
    created_v: float | None = None
    notified_v: float | None = None
    en_route_v: float | None = None
    on_scene_v: float | None = None
    left_scene_v: float | None = None
    at_destination_v: float | None = None
    free_v: float | None = None
    waited_s: float | None = None  # set when no unit was free at the first attempt
    call_sign: str | None = None
    unit_kind: str | None = None
    assignment_id: int | None = None
    rank: int | None = None  # its place among the fleet's units in the server's ranking
    eta_s: int | None = None
    drive_s: float | None = None
    chosen_stale: bool = False  # the server flagged the chosen unit's GPS as stale
    preempted_rides: list[int] = field(default_factory=list)
    # a preemption: the best ETA of a unit of this fleet that was free without one
    best_free_eta_s: int | None = None
    # tiered response: the ALS unit sent beside a first unit that was not ALS
    backup: Unit | None = None
    backup_assignment_id: int | None = None
    backup_notified_v: float | None = None
    backup_on_scene_v: float | None = None
    backup_done: bool = False
    #: Resolved when the backup is done, for a first unit waiting on it (at the same
    #: virtual moment whichever reply came first: a poll raced the backup's request).
    backup_finished: asyncio.Future[None] | None = None
    # offers: the moment the call was ready to hand out (call taken), its offers in
    # order, the moment a station accepted, and how often every station said no
    ready_v: float | None = None
    offers: list[OfferStep] = field(default_factory=list)
    accepted_v: float | None = None
    exhausted: int = 0

    @property
    def response_s(self) -> float | None:
        """Call to the first unit on scene (the backup, when it arrives first)."""
        arrivals = [v for v in (self.on_scene_v, self.backup_on_scene_v) if v is not None]
        if not arrivals or self.created_v is None:
            return None
        return min(arrivals) - self.created_v


@dataclass
class RideRecord:
    """One booked ride (outbound or the way home) under one policy, in virtual seconds of
    its service date."""

    ride: Ride
    policy: str
    leg: str  # "outbound" | "return"
    booking_id: int | None = None
    planned_pickup_v: float | None = None  # the day-ahead plan's pickup
    unserved_reason: str | None = None  # the day-ahead plan could not serve it
    pickup_arrival_v: float | None = None
    pickup_v: float | None = None  # patient aboard
    dropoff_v: float | None = None  # arrived at the destination
    no_show: bool = False
    completed: bool = False  # the drop-off was reported done
    released: bool = False  # taken off its unit by a preemption
    vehicle: str | None = None  # who carried the patient
    error: str | None = None

    @property
    def due_v(self) -> float:
        """Arrive by the appointment (outbound); be picked up by the window's end (home)."""
        if self.leg == "outbound":
            return self.ride.appointment_s
        assert self.ride.return_window is not None
        return self.ride.return_window[1]

    @property
    def delay_s(self) -> float | None:
        """Seconds after what was booked (negative: early); None while not done."""
        if self.leg == "outbound":
            return None if self.dropoff_v is None else self.dropoff_v - self.due_v
        return None if self.pickup_arrival_v is None else self.pickup_arrival_v - self.due_v


@dataclass
class TransportDay:
    """One policy's transport units and booked rides on its own service date."""

    policy: str
    day: date
    tz: ZoneInfo
    units: list[Unit]
    records: list[RideRecord] = field(default_factory=list)
    by_booking: dict[int, RideRecord] = field(default_factory=dict)
    plan: dict[str, Any] = field(default_factory=dict)
    replanned_into_past: int = 0
    waiting: set[int] = field(default_factory=set)  # released rides without a unit

    @property
    def start(self) -> datetime:
        return datetime(self.day.year, self.day.month, self.day.day, tzinfo=self.tz)

    def v(self, stamp: str) -> float:
        return (datetime.fromisoformat(stamp) - self.start).total_seconds()

    def iso(self, v: float) -> str:
        return (self.start + timedelta(seconds=v)).isoformat()
