"""Reading incident timelines out of the database for the KPI maths in ``kpis``."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from dispatch.db.session import UnitOfWork
from dispatch.incidents.kpis import CallTimes, TriageKpi, compute
from dispatch.models import Assignment, Incident
from dispatch.models.enums import IncidentStatus


async def kpis(
    uow: UnitOfWork, since: datetime, until: datetime, targets_s: dict[str, int]
) -> list[TriageKpi]:
    """Calls received in [since, until), cancelled calls excluded."""
    incidents = (
        await uow.session.scalars(
            select(Incident).where(
                Incident.created_at >= since,
                Incident.created_at < until,
                Incident.status != IncidentStatus.CANCELLED,
            )
        )
    ).all()
    by_incident: dict[int, list[Assignment]] = {}
    if incidents:
        rows = await uow.session.scalars(
            select(Assignment)
            .where(Assignment.incident_id.in_([i.id for i in incidents]))
            .order_by(Assignment.id)
        )
        for assignment in rows:
            by_incident.setdefault(assignment.incident_id, []).append(assignment)
    calls = []
    for incident in incidents:
        units = by_incident.get(incident.id, [])
        notified = sorted(
            (a for a in units if a.notified_at is not None), key=lambda a: (a.notified_at, a.id)
        )
        first = notified[0] if notified else None
        calls.append(
            CallTimes(
                triage=incident.triage.value,
                created_at=incident.created_at,
                first_notified_at=first.notified_at if first else None,
                first_en_route_at=min(
                    (a.en_route_at for a in units if a.en_route_at), default=None
                ),
                first_on_scene_at=min(
                    (a.on_scene_at for a in units if a.on_scene_at), default=None
                ),
                notify_to_en_route_s=(
                    (first.en_route_at - first.notified_at).total_seconds()
                    if first and first.en_route_at and first.notified_at
                    else None
                ),
            )
        )
    return compute(calls, targets_s)
