from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, Field, StringConstraints

from dispatch.models.enums import DeclineReason, OfferStatus, Triage
from dispatch.schemas import Id, Input, Output, no_control_chars

OfferNote = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=500),
    AfterValidator(no_control_chars),
]


class OfferStart(Input):
    vehicle_id: Id | None = Field(
        default=None, description="Offer to this unit's station; default: the best one"
    )


class DeclineIn(Input):
    reason: DeclineReason = Field(description="Why the station cannot take the call")
    note: OfferNote | None = None


class WithdrawIn(Input):
    note: OfferNote | None = None


class OfferOut(Output):
    id: int
    incident_id: int
    organisation_id: int
    vehicle_id: int
    station_id: int | None
    chain_id: int | None
    step: int
    triage: Triage
    status: OfferStatus
    recommended_rank: int | None
    eta_s: int | None
    unit_state: str
    auto: bool
    offered_by: str
    offered_at: datetime
    expires_at: datetime
    answered_at: datetime | None
    answered_by: str | None
    decline_reason: DeclineReason | None
    note: str | None
    assignment_id: int | None


class AnswerOut(OfferOut):
    """The answered offer and, after a decline, the offer the chain moved on to."""

    next_offer: OfferOut | None = None


class IntervalSecondsOut(Output):
    count: int
    p50_s: float | None
    p90_s: float | None


class BoardUnitOut(Output):
    vehicle_id: int
    call_sign: str
    kind: str
    state: str
    out_of_service_reason: str | None
    gps_age_s: float | None
    incident_id: int | None
    offer_id: int | None


class StationBoardOut(Output):
    station_id: int
    name: str
    station_type: str
    centre_id: int
    operator_id: int | None
    operator_name: str | None
    lat: float
    lon: float
    units: list[BoardUnitOut]
    offers: int
    accepted: int
    declined: dict[str, int]
    timed_out: int
    declined_while_available: int = Field(
        description="Declines 'busy' or 'no crew' of a unit that showed available"
    )
    flagged: bool
    accept_p50_s: float | None = Field(
        default=None, description="Median seconds from offer to acceptance in the window"
    )


class BoardOut(Output):
    since: datetime
    now: datetime
    stations: list[StationBoardOut]


class FiguresOut(Output):
    id: int
    name: str
    offers: int
    accepted: int
    declined: int
    declined_by_reason: dict[str, int]
    timed_out: int
    withdrawn: int
    accept_s: IntervalSecondsOut = Field(description="Offer made -> accepted")
    response_s: IntervalSecondsOut = Field(
        description="Call taken -> first on scene, for the calls taken by offer"
    )


class ServiceIn(Input):
    in_service: bool
    reason: (
        Annotated[
            str,
            StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
            AfterValidator(no_control_chars),
        ]
        | None
    ) = Field(default=None, description="Required to take a unit out (no crew, a fault …)")
