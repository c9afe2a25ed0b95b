"""Domain events: the catalogue of facts a unit of work records and, once it has
committed, publishes to every screen and phone and hands to in-process reactions.

Each fact is a typed class (its wire name and its payload's fields), so a producer cannot
misspell a name or forget a field a consumer relies on, and a reaction subscribes to a
class, not to a string. On the wire (the bus, the outbox, the websockets) an event is the
envelope ``{"type": name, "data": payload}``; payload keys are the fields, except that the
``changes`` of an ``…updated`` event are spread into the payload (screens merge them into
the record they hold).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import date, datetime
from typing import Any, ClassVar


@dataclass(frozen=True, slots=True)
class Event:
    """The envelope on the wire: ``type`` names what happened, ``data`` is JSON-able."""

    type: str
    data: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type, "data": self.data}


def _jsonable(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return value


@dataclass(frozen=True, slots=True)
class DomainEvent:
    """Base of the catalogue. ``name`` is the wire name; subclasses set ``NAME``."""

    NAME: ClassVar[str] = ""

    @property
    def name(self) -> str:
        return self.NAME

    def data(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "changes":
                out.update(_jsonable(value))
            else:
                out[f.name] = _jsonable(value)
        return out

    def envelope(self) -> Event:
        return Event(self.name, self.data())


# --- incidents and assignments -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IncidentCreated(DomainEvent):
    NAME: ClassVar[str] = "incident.created"
    incident_id: int
    organisation_id: int
    triage: str
    lat: float
    lon: float
    chief_complaint: str
    possible_duplicate_of: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class IncidentUpdated(DomainEvent):
    NAME: ClassVar[str] = "incident.updated"
    incident_id: int
    changes: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class IncidentClosed(DomainEvent):
    NAME: ClassVar[str] = "incident.closed"
    incident_id: int


@dataclass(frozen=True, slots=True)
class IncidentCancelled(DomainEvent):
    NAME: ClassVar[str] = "incident.cancelled"
    incident_id: int
    reason: str


@dataclass(frozen=True, slots=True)
class AssignmentCreated(DomainEvent):
    """A unit was sent. ``preempted_booking_ids``: booked rides it was taken off."""

    NAME: ClassVar[str] = "assignment.created"
    assignment_id: int
    incident_id: int
    vehicle_id: int
    status: str
    triage: str
    call_sign: str
    lat: float
    lon: float
    address_text: str | None
    chief_complaint: str
    auto_dispatched: bool
    preempted_booking_ids: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class AssignmentProgressed(DomainEvent):
    """A milestone (acknowledged … back in service, or cancelled): named after it on the
    wire (``assignment.on_scene``). ``finished``: the unit is free of this job."""

    assignment_id: int
    incident_id: int
    vehicle_id: int
    status: str
    triage: str
    at: datetime
    vehicle_state: str
    incident_status: str
    finished: bool

    PREFIX: ClassVar[str] = "assignment."

    @property
    def name(self) -> str:
        return f"{self.PREFIX}{self.status}"


@dataclass(frozen=True, slots=True)
class AlertRaised(DomainEvent):
    """Something needs a dispatcher's eye (a crew not acknowledging, a red call waiting);
    ``alert`` is the alert as ``GET /alerts`` shows it."""

    NAME: ClassVar[str] = "alert.raised"
    alert: Mapping[str, Any]

    def data(self) -> dict[str, Any]:
        return dict(_jsonable(self.alert))


@dataclass(frozen=True, slots=True)
class CrewAlarmRaised(DomainEvent):
    """A crew pressed SOS (crew page, Traccar Client ``alarm=sos``): the control room must
    see and hear it at once. Announced once per alarm; a repeat while it is open is not."""

    NAME: ClassVar[str] = "crew_alarm.raised"
    alarm_id: int
    vehicle_id: int
    call_sign: str
    kind: str
    source: str
    raised_at: datetime
    lat: float | None
    lon: float | None


@dataclass(frozen=True, slots=True)
class CrewAlarmAcknowledged(DomainEvent):
    """A dispatcher took charge of a crew alarm (every screen stops sounding it; the crew's
    phone is told)."""

    NAME: ClassVar[str] = "crew_alarm.acknowledged"
    alarm_id: int
    vehicle_id: int
    acknowledged_at: datetime
    acknowledged_by: str


# --- fleet and hospitals -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VehicleUpdated(DomainEvent):
    """A unit's record changed; ``changes`` holds the new values (``state`` among them)."""

    NAME: ClassVar[str] = "vehicle.updated"
    vehicle_id: int
    changes: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class MoveUpChanged(DomainEvent):
    """A move-up suggestion appeared or changed state (``suggested`` … ``ended``): the
    control screens list it; the crew's phone hears of it once it is accepted."""

    NAME: ClassVar[str] = "moveup.changed"
    moveup_id: int
    vehicle_id: int
    call_sign: str
    status: str
    site_key: str
    site_name: str
    lat: float
    lon: float
    gain_red: float
    reason: str
    auto: bool


@dataclass(frozen=True, slots=True)
class OfferChanged(DomainEvent):
    """A call was offered to a station, or the offer was answered, timed out or withdrawn:
    the control room follows the chain live (the crew hears of the job once accepted)."""

    NAME: ClassVar[str] = "offer.changed"
    offer_id: int
    incident_id: int
    vehicle_id: int
    call_sign: str
    station_id: int | None
    station_name: str | None
    chain_id: int
    step: int
    triage: str
    status: str
    expires_at: datetime
    decline_reason: str | None
    assignment_id: int | None


@dataclass(frozen=True, slots=True)
class StandbyPostsChanged(DomainEvent):
    """A standby post was added or changed: every worker's coverage is rebuilt with it."""

    NAME: ClassVar[str] = "standby_posts.changed"
    post_id: int


@dataclass(frozen=True, slots=True)
class HospitalUpdated(DomainEvent):
    NAME: ClassVar[str] = "hospital.updated"
    hospital_id: int
    changes: Mapping[str, Any]


# --- booked transports ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BookingCreated(DomainEvent):
    NAME: ClassVar[str] = "booking.created"
    booking_id: int
    organisation_id: int
    service_date: date | None


@dataclass(frozen=True, slots=True)
class BookingUpdated(DomainEvent):
    """A booking's terms changed (``service_dates``: the days it was and is on) or its ride
    progressed (``status``)."""

    NAME: ClassVar[str] = "booking.updated"
    booking_id: int
    organisation_id: int
    service_dates: tuple[date, ...] = ()
    status: str | None = None


@dataclass(frozen=True, slots=True)
class BookingCancelled(DomainEvent):
    NAME: ClassVar[str] = "booking.cancelled"
    booking_id: int
    organisation_id: int
    service_date: date | None


@dataclass(frozen=True, slots=True)
class BookingReleased(DomainEvent):
    """A ride lost its vehicle (taken for an emergency) and waits to be planned again."""

    NAME: ClassVar[str] = "booking.released"
    booking_id: int
    organisation_id: int
    reason: str
    service_date: date | None


@dataclass(frozen=True, slots=True)
class BookingRescheduled(DomainEvent):
    NAME: ClassVar[str] = "booking.rescheduled"
    booking_id: int
    organisation_id: int
    planned_pickup_at: datetime


@dataclass(frozen=True, slots=True)
class BookingUnserved(DomainEvent):
    NAME: ClassVar[str] = "booking.unserved"
    booking_id: int
    organisation_id: int
    reason: str


@dataclass(frozen=True, slots=True)
class ManifestUpdated(DomainEvent):
    """A vehicle's list of stops for a day was (re)planned."""

    NAME: ClassVar[str] = "manifest.updated"
    vehicle_id: int
    service_date: date


@dataclass(frozen=True, slots=True)
class ManifestStopProgressed(DomainEvent):
    NAME: ClassVar[str] = "manifest.stop"
    vehicle_id: int
    stop_id: int
    status: str


# --- sessions ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeviceTokenRevoked(DomainEvent):
    """A vehicle's device token was revoked or replaced: every worker closes that phone's
    open sockets and forgets the token it may have cached (``realtime.hub``)."""

    NAME: ClassVar[str] = "vehicle.device_token_revoked"
    vehicle_id: int


@dataclass(frozen=True, slots=True)
class UserSessionsEnded(DomainEvent):
    """Every session of a user ended (deactivated, password reset, signed out everywhere):
    every worker closes the user's open sockets and forgets the tokens it cached."""

    NAME: ClassVar[str] = "user.sessions_ended"
    user_id: int
    reason: str


#: Every fact with a fixed wire name, by that name (``assignment.<milestone>`` aside).
CATALOGUE: dict[str, type[DomainEvent]] = {
    cls.NAME: cls
    for cls in (
        IncidentCreated,
        IncidentUpdated,
        IncidentClosed,
        IncidentCancelled,
        AssignmentCreated,
        AlertRaised,
        CrewAlarmRaised,
        CrewAlarmAcknowledged,
        VehicleUpdated,
        MoveUpChanged,
        StandbyPostsChanged,
        HospitalUpdated,
        BookingCreated,
        BookingUpdated,
        BookingCancelled,
        BookingReleased,
        BookingRescheduled,
        BookingUnserved,
        ManifestUpdated,
        ManifestStopProgressed,
        DeviceTokenRevoked,
        UserSessionsEnded,
    )
}
