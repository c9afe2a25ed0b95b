"""Units on a case: assigning (by a dispatcher or automatically for red calls), the crew's
milestones through the state machine, and what that does to the unit and the incident."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from dispatch import clock
from dispatch.audit import service as audit
from dispatch.auth.principal import Principal
from dispatch.db.session import UnitOfWork
from dispatch.errors import Conflict, Forbidden, InvalidInput, NotFound
from dispatch.events import AssignmentCreated, AssignmentProgressed
from dispatch.fleet import service as fleet
from dispatch.incidents import lifecycle, recommend
from dispatch.incidents import offerstore as offers
from dispatch.incidents.config import DispatchConfig
from dispatch.models import Assignment, Hospital, Incident, Vehicle
from dispatch.models.enums import OPEN_INCIDENT_STATUSES, AssignmentStatus, IncidentStatus, Triage
from dispatch.organisations import hierarchy
from dispatch.routing.ranking import RankedUnit
from dispatch.transports import service as transports

#: A phone's clock may run a little fast; further ahead than this is refused.
CLOCK_SKEW = timedelta(minutes=2)


async def active_for_incident(uow: UnitOfWork, incident_id: int) -> list[Assignment]:
    stmt = select(Assignment).where(
        Assignment.incident_id == incident_id, Assignment.is_active.is_(True)
    )
    return list((await uow.session.scalars(stmt.order_by(Assignment.id))).all())


async def list_for_incident(uow: UnitOfWork, incident_id: int) -> list[Assignment]:
    stmt = select(Assignment).where(Assignment.incident_id == incident_id).order_by(Assignment.id)
    return list((await uow.session.scalars(stmt)).all())


async def get(uow: UnitOfWork, actor: Principal, assignment_id: int) -> Assignment:
    stmt = uow.strategy.lock_for_update(
        select(Assignment)
        .where(Assignment.id == assignment_id)
        .execution_options(populate_existing=True)
    )
    assignment = await uow.session.scalar(stmt)
    if assignment is None:
        raise NotFound(f"Assignment {assignment_id} does not exist.")
    if not actor.is_operational and actor.vehicle_id != assignment.vehicle_id:
        raise Forbidden(
            f"Assignment {assignment_id} belongs to another unit; a crew acts only for its own."
        )
    return assignment


async def current_for_vehicle(uow: UnitOfWork, vehicle_id: int) -> Assignment | None:
    return await uow.session.scalar(
        select(Assignment).where(
            Assignment.vehicle_id == vehicle_id, Assignment.is_active.is_(True)
        )
    )


async def assign(
    uow: UnitOfWork,
    actor: Principal,
    incident: Incident,
    vehicle_id: int,
    *,
    recommended_rank: int | None = None,
    auto: bool = False,
    recommendation: list[RankedUnit] | None = None,
) -> Assignment:
    """Send a unit. Two dispatchers racing for one unit: one wins, the other gets a 409
    naming the incident that took it. A red call may take a unit off a booked transport
    (no patient aboard); its rides are released for re-planning and the care centre told."""
    if incident.status not in OPEN_INCIDENT_STATUSES:
        raise Conflict(
            f"Incident {incident.id} is {incident.status.value}; it takes no more units."
        )
    owner = await uow.session.scalar(
        select(Vehicle.organisation_id).where(Vehicle.id == vehicle_id)
    )
    allowed = await hierarchy.units_for_call(uow, incident.organisation_id, incident.mutual_aid)
    if owner is not None and allowed is not None and owner not in allowed:
        raise Conflict(
            f"Unit {vehicle_id} belongs to another centre's area; hand the call over or ask "
            "for mutual aid first."
        )
    claim = await fleet.claim_vehicle(uow, vehicle_id, may_preempt=incident.triage == Triage.RED)
    vehicle = claim.vehicle
    now = clock.now()
    assignment = Assignment(
        incident_id=incident.id,
        vehicle_id=vehicle.id,
        assigned_by_id=actor.user_id,
        notified_at=now,
        notified_received_at=now,
        recommended_rank=recommended_rank,
        auto_dispatched=auto,
        preempted_booking_ids=list(claim.preempted_booking_ids) or None,
    )
    uow.session.add(assignment)
    if incident.status == IncidentStatus.PENDING:
        incident.status = IncidentStatus.DISPATCHED
    try:
        await uow.session.flush()
    except IntegrityError as exc:  # the partial unique index: last line of defence
        raise Conflict(
            f"{vehicle.call_sign} was just assigned elsewhere; pick another unit."
        ) from exc
    await offers.withdraw_pending(
        uow, actor, incident.id, now, f"{vehicle.call_sign} was assigned by {actor.label}"
    )
    if claim.preempted_booking_ids:
        await transports.release_rides(
            uow,
            actor,
            claim.preempted_booking_ids,
            f"{vehicle.call_sign} was taken for red emergency call {incident.id}",
        )
    after = audit.snapshot(assignment)
    if recommendation is not None:
        after["recommendation"] = _summary(recommendation)
    audit.record(uow, actor, "assignment.created", assignment, after=after)
    uow.emit(
        AssignmentCreated(
            assignment_id=assignment.id,
            incident_id=incident.id,
            vehicle_id=assignment.vehicle_id,
            status=assignment.status.value,
            triage=incident.triage.value,
            call_sign=vehicle.call_sign,
            lat=incident.lat,
            lon=incident.lon,
            address_text=incident.address_text,
            chief_complaint=incident.chief_complaint,
            auto_dispatched=auto,
            preempted_booking_ids=tuple(claim.preempted_booking_ids),
        )
    )
    return assignment


def _summary(ranked: list[RankedUnit]) -> list[dict[str, Any]]:
    """What the audit log keeps of a recommendation: every shown unit with ETA and score."""
    return [
        {
            "rank": r.rank,
            "vehicle_id": r.candidate.vehicle_id,
            "call_sign": r.candidate.call_sign,
            "eta_s": r.eta_s,
            "score_s": r.score_s,
            "reasons": list(r.reasons),
        }
        for r in ranked
    ]


def record_recommendation(
    uow: UnitOfWork, actor: Principal, incident: Incident, rec: recommend.Recommendation
) -> None:
    audit.record(
        uow,
        actor,
        "recommendation.made",
        incident,
        after={
            "incident_id": incident.id,
            "candidates": _summary(rec.ranked),
            "excluded": len(rec.excluded),
            "off_duty": rec.off_duty,
        },
    )


async def auto_dispatch(
    uow: UnitOfWork, actor: Principal, incident: Incident, cfg: DispatchConfig
) -> Assignment | None:
    """Assign the best unit without waiting for a dispatcher. If the best is taken in the
    meantime, the next ones are tried (each in a savepoint)."""
    rec = await recommend.recommend(uow, incident, cfg)
    record_recommendation(uow, actor, incident, rec)
    for ranked in rec.ranked[:3]:
        try:
            async with uow.session.begin_nested():
                return await assign(
                    uow,
                    actor,
                    incident,
                    ranked.candidate.vehicle_id,
                    recommended_rank=ranked.rank,
                    auto=True,
                    recommendation=rec.ranked,
                )
        except Conflict:
            continue
    return None


async def _refresh_incident(uow: UnitOfWork, incident: Incident) -> None:
    if incident.status not in OPEN_INCIDENT_STATUSES:
        return
    active = await active_for_incident(uow, incident.id)
    status = lifecycle.incident_status(a.status for a in active)
    incident.status = status or (
        IncidentStatus.PENDING if incident.status == IncidentStatus.DISPATCHED else incident.status
    )


async def apply_milestone(
    uow: UnitOfWork,
    actor: Principal,
    assignment: Assignment,
    status: AssignmentStatus,
    at: datetime | None,
    *,
    destination_hospital_id: int | None = None,
    update_incident: bool = True,
) -> Assignment:
    """Move an assignment to ``status`` (idempotent: repeating the current status is a
    no-op, because phones resend). Invalid moves are a 409 listing the allowed ones."""
    now = clock.now()
    if status == assignment.status:
        return assignment
    if not lifecycle.can_move(assignment.status, status):
        allowed = lifecycle.allowed_next(assignment.status)
        raise Conflict(
            f"Assignment {assignment.id} is {assignment.status.value.replace('_', ' ')}; "
            f"it cannot become {status.value.replace('_', ' ')}. "
            f"Allowed next: {', '.join(allowed) if allowed else 'none (finished)'}.",
            allowed_next=allowed,
        )
    at = at or now
    if at > now + CLOCK_SKEW:
        raise InvalidInput("at", "The reported time is in the future; check the phone's clock.")
    if assignment.notified_at is not None and at < assignment.notified_at - CLOCK_SKEW:
        raise InvalidInput("at", "The reported time is before the unit was notified.")
    if destination_hospital_id is not None:
        if await uow.session.get(Hospital, destination_hospital_id) is None:
            raise InvalidInput(
                "destination_hospital_id", f"Hospital {destination_hospital_id} does not exist."
            )
        assignment.destination_hospital_id = destination_hospital_id
    before = audit.snapshot(assignment)
    for implied in lifecycle.IMPLIED.get(status, ()):
        if getattr(assignment, f"{implied.value}_at") is None:
            setattr(assignment, f"{implied.value}_at", at)
            setattr(assignment, f"{implied.value}_received_at", now)
    reached = assignment.status
    setattr(assignment, f"{status.value}_at", at)
    setattr(assignment, f"{status.value}_received_at", now)
    assignment.status = status
    vehicle = await uow.session.get(Vehicle, assignment.vehicle_id)
    assert vehicle is not None
    if status in lifecycle.FINAL:
        assignment.is_active = False
        vehicle.state = (
            lifecycle.vehicle_state_after_cancel(reached)
            if status == AssignmentStatus.CANCELLED
            else lifecycle.VEHICLE_STATE[status]
        )
    else:
        vehicle.state = lifecycle.VEHICLE_STATE[status]
    incident = await uow.session.get(Incident, assignment.incident_id)
    assert incident is not None
    await uow.session.flush()
    if update_incident:
        await _refresh_incident(uow, incident)
        await uow.session.flush()
    old, new = audit.changed(before, audit.snapshot(assignment))
    audit.record(uow, actor, f"assignment.{status.value}", assignment, before=old, after=new)
    uow.emit(
        AssignmentProgressed(
            assignment_id=assignment.id,
            incident_id=incident.id,
            vehicle_id=assignment.vehicle_id,
            status=status.value,
            triage=incident.triage.value,
            at=at,
            vehicle_state=vehicle.state.value,
            incident_status=incident.status.value,
            finished=not assignment.is_active,
        )
    )
    return assignment
