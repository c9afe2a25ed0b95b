from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Query, Request, Response

from dispatch import clock
from dispatch.api import paging
from dispatch.api.deps import CurrentPrincipal, Emergency, Operational, PathId, State, UoW
from dispatch.api.idempotency import IDEMPOTENT, IdempotentRoute
from dispatch.errors import InvalidInput
from dispatch.incidents import alerts, assignments, recommend, reports, service
from dispatch.incidents import stationboard as board
from dispatch.incidents.offerschemas import OfferOut
from dispatch.incidents.schemas import (
    AlertOut,
    AssignmentCreate,
    AssignmentOut,
    CancelIn,
    CandidateOut,
    ComplaintOut,
    DuplicateOut,
    ExcludedOut,
    HospitalSuggestionOut,
    IncidentCreate,
    IncidentOut,
    IncidentUpdate,
    IntakeOut,
    KpiOut,
    PreemptionOut,
    RecommendationOut,
)
from dispatch.organisations import hierarchy
from dispatch.routing.base import LatLon
from dispatch.routing.ranking import RankedUnit
from dispatch.schemas import Timestamp

router = APIRouter(tags=["incidents"], route_class=IdempotentRoute)


def candidate_out(r: RankedUnit) -> CandidateOut:
    unit = r.candidate
    return CandidateOut(
        rank=r.rank,
        vehicle_id=unit.vehicle_id,
        call_sign=unit.call_sign,
        kind=unit.kind,
        state=unit.state,
        eta_s=r.eta_s,
        score_s=r.score_s,
        distance_m=r.distance_m,
        stale=r.stale,
        gps_age_s=None if unit.gps_age_s is None else round(unit.gps_age_s, 1),
        position_source=unit.position_source,
        preemption=None
        if unit.preemption is None
        else PreemptionOut(
            booking_ids=list(unit.preemption.booking_ids),
            disrupted_rides=unit.preemption.disrupted_rides,
        ),
        reasons=list(r.reasons),
    )


@router.get("/complaints", response_model=list[ComplaintOut], summary="The complaint table")
async def complaints(_actor: CurrentPrincipal, cfg: Emergency) -> list[ComplaintOut]:
    return [ComplaintOut.model_validate(rule) for rule in cfg.triage.all()]


@router.post(
    "/incidents",
    response_model=IntakeOut,
    status_code=201,
    summary="Take a call",
    dependencies=[IDEMPOTENT],
)
async def create_incident(
    uow: UoW,
    actor: Operational,
    cfg: Emergency,
    data: IncidentCreate,
) -> IntakeOut:
    intake = await service.create(uow, actor, data, cfg)
    return IntakeOut(
        **IncidentOut.model_validate(intake.incident).model_dump(),
        complaint_label=intake.complaint_label,
        possible_duplicates=[
            DuplicateOut(
                incident_id=d.incident.id,
                distance_m=d.distance_m,
                minutes_ago=d.minutes_ago,
                chief_complaint=d.incident.chief_complaint,
                triage=d.incident.triage,
                status=d.incident.status,
            )
            for d in intake.duplicates
        ],
        auto_assignment=None
        if intake.auto_assignment is None
        else AssignmentOut.model_validate(intake.auto_assignment),
        auto_offer=None
        if intake.auto_offer is None
        else OfferOut.model_validate(intake.auto_offer),
    )


@router.get(
    "/incidents",
    response_model=list[IncidentOut],
    summary=f"Incidents, newest first, a page at a time (next: the {paging.NEXT_CURSOR} header)",
)
async def list_incidents(
    uow: UoW,
    actor: Operational,
    request: Request,
    response: Response,
    open_only: bool = False,
    limit: int = paging.limit_query(200),
    cursor: str | None = paging.cursor_query(),
) -> list[IncidentOut]:
    before = paging.time_id_cursor(cursor)
    centres = await hierarchy.visible_centres(uow, actor)
    found = await service.list_incidents(
        uow, open_only=open_only, limit=limit + 1, before=before, centres=centres
    )
    shown = paging.page(
        found, limit, request, response, lambda i: paging.time_id_text(i.created_at, i.id)
    )
    return [IncidentOut.model_validate(i) for i in shown]


@router.get("/incidents/{incident_id}", response_model=IncidentOut)
async def get_incident(uow: UoW, actor: CurrentPrincipal, incident_id: PathId) -> IncidentOut:
    return IncidentOut.model_validate(await service.get(uow, actor, incident_id))


@router.patch("/incidents/{incident_id}", response_model=IncidentOut, summary="Re-triage, edit")
async def update_incident(
    uow: UoW, actor: Operational, incident_id: PathId, data: IncidentUpdate
) -> IncidentOut:
    return IncidentOut.model_validate(await service.update(uow, actor, incident_id, data))


@router.post(
    "/incidents/{incident_id}/recommendations",
    response_model=RecommendationOut,
    summary="Rank the units that could go, with ETAs and reasons (recorded in the audit log)",
)
async def recommend_units(
    uow: UoW,
    state: State,
    actor: Operational,
    cfg: Emergency,
    incident_id: PathId,
    limit: int | None = Query(
        default=None,
        ge=1,
        le=1000,
        description="How many ranked units to return (default: the configured 10); "
        "a larger list for a desk that works only part of the fleet",
    ),
) -> RecommendationOut:
    incident = await service.get(uow, actor, incident_id)
    rec = await recommend.recommend(uow, incident, cfg, limit=limit, now=state.clock.now())
    assignments.record_recommendation(uow, actor, incident, rec)
    return RecommendationOut(
        incident_id=incident.id,
        computed_at=rec.computed_at,
        candidates=[candidate_out(r) for r in rec.ranked],
        excluded=[ExcludedOut.model_validate(e) for e in rec.excluded],
        off_duty=rec.off_duty,
        backup=None if rec.backup is None else candidate_out(rec.backup),
    )


@router.get("/incidents/{incident_id}/assignments", response_model=list[AssignmentOut])
async def list_assignments(
    uow: UoW, actor: CurrentPrincipal, incident_id: PathId
) -> list[AssignmentOut]:
    await service.get(uow, actor, incident_id)
    units = await assignments.list_for_incident(uow, incident_id)
    return [AssignmentOut.model_validate(a) for a in units]


@router.post(
    "/incidents/{incident_id}/assignments",
    response_model=AssignmentOut,
    status_code=201,
    responses={409: {"description": "The unit is already taken (names the incident)"}},
    dependencies=[IDEMPOTENT],
)
async def assign_unit(
    uow: UoW,
    actor: Operational,
    incident_id: PathId,
    data: AssignmentCreate,
) -> AssignmentOut:
    # The call first, then its unit and offers: the order every path that sends a unit
    # takes (an offer's acceptance too), so none waits on another in the opposite order.
    incident = await service.get(uow, actor, incident_id, lock=True)
    assignment = await assignments.assign(
        uow, actor, incident, data.vehicle_id, recommended_rank=data.recommended_rank
    )
    return AssignmentOut.model_validate(assignment)


@router.post("/incidents/{incident_id}/close", response_model=IncidentOut)
async def close_incident(uow: UoW, actor: Operational, incident_id: PathId) -> IncidentOut:
    return IncidentOut.model_validate(await service.close(uow, actor, incident_id))


@router.post("/incidents/{incident_id}/cancel", response_model=IncidentOut)
async def cancel_incident(
    uow: UoW, actor: Operational, incident_id: PathId, data: CancelIn
) -> IncidentOut:
    return IncidentOut.model_validate(await service.cancel(uow, actor, incident_id, data.reason))


@router.get(
    "/incidents/{incident_id}/hospitals",
    response_model=list[HospitalSuggestionOut],
    summary="Receiving hospitals by ETA from the scene, diverting ones last",
)
async def suggest_hospitals(
    uow: UoW, actor: CurrentPrincipal, cfg: Emergency, incident_id: PathId
) -> list[HospitalSuggestionOut]:
    incident = await service.get(uow, actor, incident_id)
    rule = cfg.triage.get(incident.chief_complaint)
    suggestions = await recommend.suggest_hospitals(
        uow, cfg, LatLon(incident.lat, incident.lon), rule.hospital_capability if rule else None
    )
    return [
        HospitalSuggestionOut(
            hospital_id=s.hospital.id,
            name=s.hospital.name,
            eta_s=s.eta_s,
            distance_m=round(s.distance_m, 1),
            on_diversion=s.hospital.on_diversion,
            available_er_beds=s.hospital.available_er_beds,
            has_capability=s.has_capability,
            recommended=s.recommended,
            reasons=list(s.reasons),
        )
        for s in suggestions
    ]


@router.get("/alerts", response_model=list[AlertOut], tags=["alerts"])
async def current_alerts(uow: UoW, _actor: Operational, cfg: Emergency) -> list[AlertOut]:
    found = await alerts.current_alerts(uow, cfg, clock.now())
    return [
        AlertOut(
            kind=a.kind,
            severity=a.severity,
            message=a.message,
            since=a.since,
            incident_id=a.incident_id,
            vehicle_id=a.vehicle_id,
            assignment_id=a.assignment_id,
            next_unit=None if a.next_unit is None else candidate_out(a.next_unit),
        )
        for a in found
    ]


@router.get("/kpis", response_model=KpiOut, tags=["kpis"], summary="Response-time figures")
async def kpis(
    uow: UoW,
    actor: Operational,
    cfg: Emergency,
    since: Timestamp | None = Query(
        default=None, description="Default: 24 hours ago; with a time zone, e.g. +07:00"
    ),
    until: Timestamp | None = Query(default=None, description="Default: now"),
) -> KpiOut:
    until = until or clock.now()
    since = since or until - timedelta(days=1)
    if since >= until:
        raise InvalidInput("until", "until must be after since.", location="query")
    levels = await reports.kpis(uow, since, until, cfg.response_targets_s)
    stations, operators = await board.figures(uow, actor, since, until)
    return KpiOut.model_validate(
        {
            "since": since,
            "until": until,
            "levels": levels,
            "stations": stations,
            "operators": operators,
        },
        from_attributes=True,
    )
