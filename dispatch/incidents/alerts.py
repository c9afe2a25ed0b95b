"""What needs a dispatcher's attention now: crews that have not acknowledged, red calls
still without a unit, units whose GPS went quiet, and crews in danger (SOS).

``raise_ack_alerts`` runs periodically in every worker; a conditional update makes sure
each late assignment is announced exactly once, whichever worker gets there first.

Crew-safety alarms are stored (every worker and a reloaded screen sees them until a
dispatcher acknowledges), announced once each, and folded: an SOS repeated while one is
open for the vehicle, or the same SOS resent by a phone, adds no second alarm.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update

from dispatch.audit import service as audit
from dispatch.db.session import UnitOfWork
from dispatch.errors import NotFound
from dispatch.events import AlertRaised, CrewAlarmAcknowledged, CrewAlarmRaised
from dispatch.incidents import recommend
from dispatch.incidents.config import DispatchConfig
from dispatch.models import Assignment, CrewAlarm, Incident, Vehicle
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


# --- crew safety (SOS) --------------------------------------------------------------------


@dataclass(frozen=True)
class PhoneActor:
    """Who raised an alarm when no login did: a Traccar Client / OsmAnd device."""

    label: str
    user_id: int | None = None


@dataclass(frozen=True)
class AlarmOutcome:
    alarm: CrewAlarm
    #: False when the SOS was folded into an alarm already stored (a repeat or a resend).
    created: bool


async def raise_crew_alarm(
    uow: UnitOfWork,
    actor: audit.Actor,
    vehicle_id: int,
    *,
    now: datetime,
    source: str,
    kind: str = "sos",
    device_time: datetime | None = None,
    lat: float | None = None,
    lon: float | None = None,
) -> AlarmOutcome:
    """Store a crew's SOS and announce it, unless it repeats one already stored.

    The vehicle row is locked first, so two workers taking the same phone's SOS at once
    serialise here (the partial unique index on open alarms backs that up)."""
    vehicle = await uow.session.scalar(
        uow.strategy.lock_for_update(select(Vehicle).where(Vehicle.id == vehicle_id))
    )
    if vehicle is None:
        raise NotFound(f"Vehicle {vehicle_id} does not exist.")
    if device_time is not None:  # the phone resending an SOS it already delivered
        same = await uow.session.scalar(
            select(CrewAlarm).where(
                CrewAlarm.vehicle_id == vehicle_id, CrewAlarm.device_time == device_time
            )
        )
        if same is not None:
            return AlarmOutcome(same, created=False)
    current = await uow.session.scalar(
        select(CrewAlarm).where(CrewAlarm.vehicle_id == vehicle_id, CrewAlarm.is_open.is_(True))
    )
    if current is not None:
        current.repeats += 1
        current.last_at = now
        if lat is not None and lon is not None:
            current.lat, current.lon = lat, lon
        await uow.session.flush()
        return AlarmOutcome(current, created=False)
    alarm = CrewAlarm(
        vehicle_id=vehicle_id,
        kind=kind,
        source=source,
        is_open=True,
        raised_at=now,
        device_time=device_time,
        last_at=now,
        repeats=0,
        lat=lat,
        lon=lon,
    )
    uow.session.add(alarm)
    await uow.session.flush()
    audit.record(uow, actor, "crew_alarm.raised", alarm)
    uow.emit(
        CrewAlarmRaised(
            alarm_id=alarm.id,
            vehicle_id=vehicle_id,
            call_sign=vehicle.call_sign,
            kind=kind,
            source=source,
            raised_at=now,
            lat=lat,
            lon=lon,
        )
    )
    return AlarmOutcome(alarm, created=True)


async def acknowledge_crew_alarm(
    uow: UnitOfWork, actor: audit.Actor, alarm_id: int, now: datetime
) -> CrewAlarm:
    """A dispatcher takes charge of an alarm; acknowledging it again changes nothing."""
    alarm = await uow.session.scalar(
        uow.strategy.lock_for_update(select(CrewAlarm).where(CrewAlarm.id == alarm_id))
    )
    if alarm is None:
        raise NotFound(f"Crew alarm {alarm_id} does not exist.")
    if not alarm.is_open:
        return alarm
    alarm.is_open = False
    alarm.acknowledged_at = now
    alarm.acknowledged_by_user_id = actor.user_id
    alarm.acknowledged_by = str(getattr(actor, "name", None) or actor.label)[:200]
    await uow.session.flush()
    audit.record(
        uow,
        actor,
        "crew_alarm.acknowledged",
        alarm,
        before={"is_open": True},
        after={"is_open": False, "acknowledged_at": now.isoformat(), "repeats": alarm.repeats},
    )
    uow.emit(
        CrewAlarmAcknowledged(
            alarm_id=alarm.id,
            vehicle_id=alarm.vehicle_id,
            acknowledged_at=now,
            acknowledged_by=alarm.acknowledged_by,
        )
    )
    return alarm


async def list_crew_alarms(
    uow: UnitOfWork, *, open_only: bool = True, limit: int = 100
) -> list[CrewAlarm]:
    """Newest first: every open alarm (a reloaded screen shows them), or the recent ones."""
    stmt = select(CrewAlarm).order_by(CrewAlarm.raised_at.desc(), CrewAlarm.id.desc())
    if open_only:
        stmt = stmt.where(CrewAlarm.is_open.is_(True))
    return list((await uow.session.scalars(stmt.limit(limit))).all())
