from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, StringConstraints, field_validator

from dispatch.incidents.offerschemas import FiguresOut, OfferOut
from dispatch.models.enums import AssignmentStatus, Capability, IncidentStatus, Triage
from dispatch.schemas import (
    Address,
    Id,
    Input,
    Latitude,
    Longitude,
    Notes,
    Output,
    Phone,
    Timestamp,
    Update,
    no_control_chars,
)

ComplaintCode = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=100, pattern=r"^[a-z0-9_]+$"),
]
Reason = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=500),
    AfterValidator(no_control_chars),
]


class IncidentCreate(Input):
    lat: Latitude
    lon: Longitude
    address_text: Address | None = None
    caller_phone: Phone | None = None
    chief_complaint: ComplaintCode = Field(description="A code from GET /complaints")
    triage: Triage | None = Field(
        default=None, description="Omit to take the complaint's suggestion; differing = override"
    )
    triage_override_reason: Reason | None = None
    patient_count: Annotated[int, Field(ge=0, le=1000)] = 1
    notes: Notes | None = None


class IncidentUpdate(Update):
    """Re-triage or edit; ``null`` clears the override reason, the address or the notes."""

    nullable = frozenset({"triage_override_reason", "address_text", "notes"})
    triage: Triage | None = None
    triage_override_reason: Reason | None = None
    required_capability: Capability | None = None
    needs_stretcher: bool | None = None
    patient_count: Annotated[int, Field(ge=0, le=1000)] | None = None
    address_text: Address | None = None
    notes: Notes | None = None


class IncidentOut(Output):
    id: int
    organisation_id: int
    lat: float
    lon: float
    address_text: str | None
    caller_phone: str | None
    chief_complaint: str
    triage: Triage
    triage_suggested: Triage | None
    triage_override_reason: str | None
    required_capability: Capability
    needs_stretcher: bool
    patient_count: int
    notes: str | None
    status: IncidentStatus
    created_at: datetime
    closed_at: datetime | None
    cancel_reason: str | None
    mutual_aid: bool = False


#: Why a call moves or asks for help (a code: the audit log keeps no free text).
CentreReason = Literal["outside_area", "no_unit_free", "overload", "other"]


class HandOverIn(Input):
    centre_id: Id = Field(description="The dispatch centre that takes the call over")
    reason: CentreReason


class MutualAidIn(Input):
    enabled: bool = Field(description="True: every centre's units may answer this call")
    reason: CentreReason = "no_unit_free"


class DuplicateOut(Output):
    incident_id: int
    distance_m: float
    minutes_ago: float
    chief_complaint: str
    triage: Triage
    status: IncidentStatus


class AssignmentCreate(Input):
    vehicle_id: Id
    recommended_rank: Annotated[int, Field(ge=1, le=10_000)] | None = Field(
        default=None, description="The unit's rank in the recommendation the dispatcher used"
    )


class AssignmentOut(Output):
    id: int
    incident_id: int
    vehicle_id: int
    status: AssignmentStatus
    is_active: bool
    recommended_rank: int | None
    auto_dispatched: bool
    preempted_booking_ids: list[int] | None
    destination_hospital_id: int | None
    ack_alerted_at: datetime | None
    created_at: datetime
    notified_at: datetime | None
    notified_received_at: datetime | None
    acknowledged_at: datetime | None
    acknowledged_received_at: datetime | None
    en_route_at: datetime | None
    en_route_received_at: datetime | None
    on_scene_at: datetime | None
    on_scene_received_at: datetime | None
    at_patient_at: datetime | None
    at_patient_received_at: datetime | None
    left_scene_at: datetime | None
    left_scene_received_at: datetime | None
    at_destination_at: datetime | None
    at_destination_received_at: datetime | None
    handed_over_at: datetime | None
    handed_over_received_at: datetime | None
    back_in_service_at: datetime | None
    back_in_service_received_at: datetime | None
    cancelled_at: datetime | None
    cancelled_received_at: datetime | None


class IntakeOut(IncidentOut):
    complaint_label: str
    possible_duplicates: list[DuplicateOut]
    auto_assignment: AssignmentOut | None = None
    auto_offer: OfferOut | None = Field(
        default=None, description="Red calls with auto offers: the offer made at once"
    )


class ComplaintOut(Output):
    code: str
    label: str
    triage: Triage
    capability: Capability
    needs_stretcher: bool
    hospital_capability: str | None


class PreemptionOut(Output):
    booking_ids: list[int]
    disrupted_rides: int


class CandidateOut(Output):
    rank: int
    vehicle_id: int
    call_sign: str
    kind: str
    state: str
    eta_s: int
    score_s: int
    distance_m: float = Field(description="Straight-line distance to the call")
    stale: bool
    gps_age_s: float | None
    position_source: str
    preemption: PreemptionOut | None
    reasons: list[str]


class ExcludedOut(Output):
    vehicle_id: int
    call_sign: str
    reason: str


class RecommendationOut(Output):
    incident_id: int
    computed_at: datetime
    candidates: list[CandidateOut]
    excluded: list[ExcludedOut]
    off_duty: int
    backup: CandidateOut | None = Field(
        default=None,
        description="Tiered response: the nearest ALS unit to send as well, because the "
        "first unit is not ALS (DISPATCH_TIERED_ALS_LEVELS)",
    )


class MilestoneIn(Input):
    """A crew's status report. ``at`` is the phone's clock when the crew pressed the button
    (it may be much earlier if the phone was offline); the server keeps it and its own
    receipt time."""

    status: AssignmentStatus
    at: Timestamp | None = None
    destination_hospital_id: Id | None = None

    @field_validator("status")
    @classmethod
    def _reportable(cls, status: AssignmentStatus) -> AssignmentStatus:
        if status == AssignmentStatus.NOTIFIED:
            raise ValueError("notified is set by the server when the unit is assigned")
        return status


class CancelIn(Input):
    reason: Reason


class HospitalSuggestionOut(Output):
    hospital_id: int
    name: str
    eta_s: int | None = Field(
        description="Road ETA from the scene; null when the road map cannot place the "
        "hospital or the scene (listed last, never recommended; the reasons say why)"
    )
    distance_m: float
    on_diversion: bool
    available_er_beds: int | None
    has_capability: bool
    recommended: bool
    reasons: list[str]


class AlertOut(Output):
    kind: str  # unacknowledged_assignment | red_call_waiting | stale_unit
    severity: str  # critical | warning
    message: str
    since: datetime
    incident_id: int | None = None
    vehicle_id: int | None = None
    assignment_id: int | None = None
    next_unit: CandidateOut | None = None


class IntervalOut(Output):
    count: int
    p50_s: float | None
    p90_s: float | None


class TriageKpiOut(Output):
    triage: str
    calls: int
    reached: int
    target_s: int | None
    within_target: int | None
    share_within_target: float | None
    response: IntervalOut
    call_to_notify: IntervalOut
    notify_to_en_route: IntervalOut


class KpiOut(Output):
    since: datetime
    until: datetime
    levels: list[TriageKpiOut]
    stations: list[FiguresOut] = Field(
        default_factory=list, description="Offers answered per station (in your area)"
    )
    operators: list[FiguresOut] = Field(
        default_factory=list, description="The same per operator (hospital, centre)"
    )


class CurrentAssignmentOut(Output):
    assignment: AssignmentOut | None
    incident: IncidentOut | None
