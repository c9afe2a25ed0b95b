"""What needs a dispatcher's attention now: crews that have not acknowledged, red calls
still without a unit, units whose GPS went quiet.

``raise_ack_alerts`` runs periodically in every worker; a conditional update makes sure
each late assignment is announced exactly once, whichever worker gets there first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update

from dispatch.audit import service as audit
from dispatch.db.session import UnitOfWork
from dispatch.events import AlertRaised
from dispatch.incidents import recommend
from dispatch.incidents.config import DispatchConfig
from dispatch.models import Assignment, Incident, Vehicle
from dispatch.models.enums import AssignmentStatus, IncidentStatus, Triage, VehicleState
from dispatch.routing.ranking import RankedUnit


@dataclass(frozen=True)
class Alert:
    kind: str
    severity: str
    message: str
    since: datetime
    incident_id: int | None = None
    vehicle_id: int | None = None
    assignment_id: int | None = None
    next_unit: RankedUnit | None = None


async def _overdue(uow: UnitOfWork, cfg: DispatchConfig, now: datetime) -> list[Assignment]:
    stmt = select(Assignment).where(
        Assignment.is_active.is_(True),
        Assignment.status == AssignmentStatus.NOTIFIED,
        Assignment.notified_received_at <= now - cfg.ack_timeout,
    )
    return list((await uow.session.scalars(stmt.order_by(Assignment.id))).all())


async def _unacknowledged_alert(
    uow: UnitOfWork, cfg: DispatchConfig, assignment: Assignment, now: datetime
) -> Alert:
    incident = await uow.session.get(Incident, assignment.incident_id)
    vehicle = await uow.session.get(Vehicle, assignment.vehicle_id)
    assert incident is not None and vehicle is not None
    rec = await recommend.recommend(
        uow, incident, cfg, now=now, exclude_vehicle_ids={assignment.vehicle_id}
    )
    nxt = rec.ranked[0] if rec.ranked else None
    assert assignment.notified_received_at is not None
    waited = (now - assignment.notified_received_at).total_seconds()
    proposal = f"; next best unit: {nxt.candidate.call_sign}" if nxt else "; no other unit free"
    return Alert(
        kind="unacknowledged_assignment",
        severity="critical" if incident.triage == Triage.RED else "warning",
        message=(
            f"{vehicle.call_sign} has not acknowledged incident {incident.id} "
            f"after {waited:.0f} s{proposal}."
        ),
        since=assignment.notified_received_at,
        incident_id=incident.id,
        vehicle_id=vehicle.id,
        assignment_id=assignment.id,
        next_unit=nxt,
    )


async def raise_ack_alerts(uow: UnitOfWork, cfg: DispatchConfig, now: datetime) -> list[Alert]:
    """Announce every assignment not acknowledged in time, once, with the next unit."""
    raised = []
    for assignment in await _overdue(uow, cfg, now):
        if assignment.ack_alerted_at is not None:
            continue
        claimed = await uow.session.execute(
            update(Assignment)
            .where(Assignment.id == assignment.id, Assignment.ack_alerted_at.is_(None))
            .values(ack_alerted_at=now)
        )
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            continue  # another worker announced it
        alert = await _unacknowledged_alert(uow, cfg, assignment, now)
        audit.record(
            uow,
            None,
            "alert.unacknowledged_assignment",
            assignment,
            after={
                "message": alert.message,
                "next_vehicle_id": alert.next_unit.candidate.vehicle_id
                if alert.next_unit
                else None,
            },
        )
        uow.emit(AlertRaised(alert_json(alert)))
        raised.append(alert)
    return raised


async def current_alerts(uow: UnitOfWork, cfg: DispatchConfig, now: datetime) -> list[Alert]:
    alerts = [await _unacknowledged_alert(uow, cfg, a, now) for a in await _overdue(uow, cfg, now)]
    waiting = (
        await uow.session.scalars(
            select(Incident)
            .where(
                Incident.triage == Triage.RED,
                Incident.status == IncidentStatus.PENDING,
                Incident.created_at <= now - cfg.red_waiting_alert,
            )
            .order_by(Incident.created_at)
        )
    ).all()
    for incident in waiting:
        waited = (now - incident.created_at).total_seconds()
        alerts.append(
            Alert(
                kind="red_call_waiting",
                severity="critical",
                message=f"Red call {incident.id} has waited {waited:.0f} s without a unit.",
                since=incident.created_at,
                incident_id=incident.id,
            )
        )
    stale_since = now - timedelta(seconds=cfg.stale_gps_s)
    quiet = (
        await uow.session.scalars(
            select(Vehicle)
            .where(
                Vehicle.state != VehicleState.OFF_DUTY,
                or_(Vehicle.last_fix_at.is_(None), Vehicle.last_fix_at <= stale_since),
            )
            .order_by(Vehicle.call_sign)
        )
    ).all()
    for vehicle in quiet:
        if vehicle.last_fix_at is None:
            message, since = (
                f"{vehicle.call_sign} is on duty but has sent no GPS fix.",
                vehicle.created_at,
            )
        else:
            age = (now - vehicle.last_fix_at).total_seconds()
            message, since = (
                f"{vehicle.call_sign}: no GPS for {age / 60:.1f} min.",
                vehicle.last_fix_at,
            )
        alerts.append(Alert("stale_unit", "warning", message, since, vehicle_id=vehicle.id))
    return alerts


def alert_json(alert: Alert) -> dict[str, object]:
    nxt = alert.next_unit
    return {
        "kind": alert.kind,
        "severity": alert.severity,
        "message": alert.message,
        "since": alert.since.isoformat(),
        "incident_id": alert.incident_id,
        "vehicle_id": alert.vehicle_id,
        "assignment_id": alert.assignment_id,
        "next_unit": None
        if nxt is None
        else {
            "vehicle_id": nxt.candidate.vehicle_id,
            "call_sign": nxt.candidate.call_sign,
            "eta_s": nxt.eta_s,
            "reasons": list(nxt.reasons),
        },
    }
