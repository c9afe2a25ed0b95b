"""Domain vocabularies shared by models, schemas and services (DESIGN.md §4)."""

from __future__ import annotations

import enum


class OrganisationKind(enum.StrEnum):
    DISPATCH_CENTRE = "dispatch_centre"
    CARE_CENTRE = "care_centre"
    HOSPITAL_OPERATOR = "hospital_operator"


class MoveUpMode(enum.StrEnum):
    """How a centre takes the system's move-up suggestions."""

    OFF = "off"
    SUGGEST = "suggest"
    AUTO = "auto"


class Role(enum.StrEnum):
    DISPATCHER = "dispatcher"
    SUPERVISOR = "supervisor"
    DRIVER = "driver"
    CARE_CENTRE = "care_centre"
    ADMIN = "admin"


class VehicleKind(enum.StrEnum):
    ALS = "als"  # advanced life support ambulance
    BLS = "bls"  # basic life support ambulance
    TRANSPORT_VAN = "transport_van"
    MOTORBIKE = "motorbike"  # first responder, carries no patient


class VehicleState(enum.StrEnum):
    OFF_DUTY = "off_duty"
    AVAILABLE = "available"
    DISPATCHED = "dispatched"
    EN_ROUTE = "en_route"
    ON_SCENE = "on_scene"
    TRANSPORTING = "transporting"
    AT_DESTINATION = "at_destination"
    RETURNING = "returning"


#: States in which a unit may be claimed for a new job.
CLAIMABLE_STATES = frozenset({VehicleState.AVAILABLE, VehicleState.RETURNING})


class Capability(enum.StrEnum):
    """The level of care a call needs."""

    ALS = "als"  # advanced life support (paramedic / doctor)
    BLS = "bls"  # basic life support (EMT)
    ANY = "any"


class Triage(enum.StrEnum):
    """Thailand NIEM / 1669 colours."""

    RED = "red"  # critical
    YELLOW = "yellow"  # urgent
    GREEN = "green"  # non-urgent
    WHITE = "white"  # non-emergency
    BLACK = "black"  # other / not EMS


class IncidentStatus(enum.StrEnum):
    PENDING = "pending"  # no unit yet
    DISPATCHED = "dispatched"
    ON_SCENE = "on_scene"
    TRANSPORTING = "transporting"
    CLOSED = "closed"
    CANCELLED = "cancelled"


OPEN_INCIDENT_STATUSES = frozenset(
    {
        IncidentStatus.PENDING,
        IncidentStatus.DISPATCHED,
        IncidentStatus.ON_SCENE,
        IncidentStatus.TRANSPORTING,
    }
)


class AssignmentStatus(enum.StrEnum):
    """NEMSIS v3 eTimes milestones, in order."""

    NOTIFIED = "notified"
    ACKNOWLEDGED = "acknowledged"
    EN_ROUTE = "en_route"
    ON_SCENE = "on_scene"
    AT_PATIENT = "at_patient"
    LEFT_SCENE = "left_scene"
    AT_DESTINATION = "at_destination"
    HANDED_OVER = "handed_over"
    BACK_IN_SERVICE = "back_in_service"
    CANCELLED = "cancelled"


class Mobility(enum.StrEnum):
    AMBULATORY = "ambulatory"
    WHEELCHAIR = "wheelchair"
    STRETCHER = "stretcher"


class BookingStatus(enum.StrEnum):
    REQUESTED = "requested"
    PLANNED = "planned"
    VEHICLE_EN_ROUTE = "vehicle_en_route"
    ON_BOARD = "on_board"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    NO_SHOW = "no_show"


class BookingOutcome(enum.StrEnum):
    COMPLETED = "completed"
    NO_SHOW = "no_show"
    CANCELLED = "cancelled"
    LATE_CANCEL = "late_cancel"
