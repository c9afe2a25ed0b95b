"""Retention: personal data is kept only as long as the service needs it (PDPA s.37(3),
Vietnam Decree 13/2023 art. 16), then anonymised in place; GPS history is deleted.

Run from cron (``dispatch retention apply``, README "Privacy and data protection"). The
periods are the operator's policy, given on the command line; what counts as personal is
the models' declaration (``dispatch.models.privacy``), the same one the audit log and
``dispatch patient erase`` follow:

* finished calls (closed or cancelled before the cutoff): caller's phone, address, notes
  and free-text reasons emptied, the scene coarsened to ~1 km. Times, triage, units and
  their milestones stay, so response-time figures still add up.
* finished rides (completed, cancelled, no-show, planned for before the cutoff) and their
  planned stops: addresses and notes emptied, coordinates coarsened. The patient record
  stays (the care centre still serves them); erase it on request or discharge.
* GPS fixes recorded before the cutoff: deleted.

Each run appends one audit entry with the cutoffs and counts. Running again changes
nothing already anonymised.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select

from dispatch.audit import service as audit
from dispatch.db.session import UnitOfWork
from dispatch.models import Incident, PlanStop, PositionFix, TransportBooking
from dispatch.models.enums import BookingStatus, IncidentStatus
from dispatch.privacy.erasure import anonymise

#: Rows read per round trip.
BATCH = 500

_FINISHED_RIDES = (BookingStatus.COMPLETED, BookingStatus.CANCELLED, BookingStatus.NO_SHOW)


@dataclass
class Retention:
    incidents: int = 0
    bookings: int = 0
    plan_stops: int = 0
    gps_fixes: int = 0
    cutoffs: dict[str, str] = field(default_factory=dict)


async def apply(
    uow: UnitOfWork,
    actor: audit.Actor,
    *,
    incidents_before: datetime | None = None,
    bookings_before: datetime | None = None,
    gps_before: datetime | None = None,
) -> Retention:
    """Anonymise what is older than each given cutoff (``None``: leave that kind alone)."""
    done = Retention()
    if incidents_before is not None:
        done.cutoffs["incidents"] = incidents_before.isoformat()
        done.incidents = await _anonymise_all(
            uow,
            select(Incident).where(
                Incident.status.in_((IncidentStatus.CLOSED, IncidentStatus.CANCELLED)),
                Incident.closed_at < incidents_before,
            ),
        )
    if bookings_before is not None:
        done.cutoffs["bookings"] = bookings_before.isoformat()
        when = func.coalesce(TransportBooking.appointment_at, TransportBooking.pickup_window_end)
        old_rides = select(TransportBooking.id).where(
            TransportBooking.status.in_(_FINISHED_RIDES), when < bookings_before
        )
        done.bookings = await _anonymise_all(
            uow, select(TransportBooking).where(TransportBooking.id.in_(old_rides))
        )
        done.plan_stops = await _anonymise_all(
            uow, select(PlanStop).where(PlanStop.booking_id.in_(old_rides))
        )
    if gps_before is not None:
        done.cutoffs["gps_fixes"] = gps_before.isoformat()
        deleted = await uow.session.execute(
            delete(PositionFix).where(PositionFix.recorded_at < gps_before)
        )
        done.gps_fixes = deleted.rowcount  # type: ignore[attr-defined]
    if done.incidents or done.bookings or done.plan_stops or done.gps_fixes:
        await uow.session.flush()
        after: dict[str, Any] = {
            "cutoffs": done.cutoffs,
            "anonymised": {
                "incidents": done.incidents,
                "transport_bookings": done.bookings,
                "plan_stops": done.plan_stops,
            },
            "deleted": {"position_fixes": done.gps_fixes},
        }
        audit.record_operation(uow, actor, "retention.applied", "retention", after)
    return done


async def _anonymise_all(uow: UnitOfWork, stmt: Any) -> int:
    """Anonymise every row ``stmt`` selects, in batches by id; how many changed."""
    entity = stmt.column_descriptions[0]["entity"]
    changed, last_id = 0, 0
    while True:
        rows = list(
            await uow.session.scalars(
                stmt.where(entity.id > last_id).order_by(entity.id).limit(BATCH)
            )
        )
        if not rows:
            return changed
        changed += sum(1 for row in rows if anonymise(row))
        last_id = rows[-1].id
        await uow.session.flush()
        uow.session.expunge_all()  # written (flushed) already; keep memory flat
