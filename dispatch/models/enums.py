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
    STATION = "station"  # staff of one station: answer its offers, set its units' service


class CentreLevel(enum.StrEnum):
    """Where a dispatch centre sits (Songkhla: province, district, sub-district)."""

    PROVINCE = "province"
    DISTRICT = "district"
    SUBDISTRICT = "subdistrict"


class StationType(enum.StrEnum):
    """Who runs a station (HCMC 115's satellite types 1-3)."""

    HOSPITAL = "hospital"  # type 1: run by a hospital
    SHARED = "shared"  # type 2: shared between a hospital and the centre
    CENTRE = "centre"  # type 3: run by the dispatch centre itself


class OfferStatus(enum.StrEnum):
    PENDING = "pending"  # waiting for the station's answer
    ACCEPTED = "accepted"  # the unit goes: the offer became an assignment
    DECLINED = "declined"  # the station said no (with a reason)
    TIMED_OUT = "timed_out"  # no answer in time
    WITHDRAWN = "withdrawn"  # a dispatcher stopped it, or the call was served otherwise


class DeclineReason(enum.StrEnum):
    BUSY = "busy"  # "xe bận": the unit is out
    NO_CREW = "no_crew"
    VEHICLE_FAULT = "vehicle_fault"
    TOO_FAR = "too_far"
    OTHER = "other"


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
