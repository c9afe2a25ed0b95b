"""Handing a call over to another centre, and mutual aid across a boundary.

A hand-over moves the call (and its offers' figures from then on) to the other centre: it
leaves the first centre's list, and its pending offer is withdrawn, since the new centre
chooses among its own stations. Mutual aid keeps the call where it is but lets every
centre's units be recommended and assigned. Both are audited on the incident, so they
appear in its history."""

from __future__ import annotations

from dispatch import clock
from dispatch.audit import service as audit
from dispatch.auth.principal import Principal
from dispatch.db.session import UnitOfWork
from dispatch.errors import Conflict, InvalidInput
from dispatch.events import IncidentUpdated
from dispatch.incidents import offerstore as offers
from dispatch.incidents import service
from dispatch.models import Incident
from dispatch.models.enums import OPEN_INCIDENT_STATUSES
from dispatch.organisations import hierarchy


async def hand_over(
    uow: UnitOfWork, actor: Principal, incident_id: int, centre_id: int, reason: str
) -> Incident:
    service.require_dispatcher(actor)
    incident = await service.get(uow, actor, incident_id, lock=True)
    if incident.status not in OPEN_INCIDENT_STATUSES:
        raise Conflict(f"Incident {incident_id} is {incident.status.value}; it cannot move.")
    target = await hierarchy.dispatch_centre(uow, centre_id, "centre_id")
    if target.id == incident.organisation_id:
        raise InvalidInput("centre_id", "The call already belongs to that centre.")
    before = {"organisation_id": incident.organisation_id}
    incident.organisation_id = target.id
    await uow.session.flush()
    audit.record(
        uow,
        actor,
        "incident.handed_over",
        incident,
        before=before,
        after={"organisation_id": target.id, "centre": target.name, "reason": reason},
    )
    await offers.withdraw_pending(
        uow, actor, incident.id, clock.now(), f"handed over to {target.name}"
    )
    uow.emit(IncidentUpdated(incident.id, {"organisation_id": target.id}))
    return incident


async def set_mutual_aid(
    uow: UnitOfWork, actor: Principal, incident_id: int, enabled: bool, reason: str | None
) -> Incident:
    """Repeating the same setting changes nothing."""
    service.require_dispatcher(actor)
    incident = await service.get(uow, actor, incident_id, lock=True)
    if incident.mutual_aid == enabled:
        return incident
    if incident.status not in OPEN_INCIDENT_STATUSES:
        raise Conflict(f"Incident {incident_id} is {incident.status.value}.")
    incident.mutual_aid = enabled
    await uow.session.flush()
    audit.record(
        uow,
        actor,
        "incident.mutual_aid",
        incident,
        before={"mutual_aid": not enabled},
        after={"mutual_aid": enabled, "reason": reason},
    )
    uow.emit(IncidentUpdated(incident.id, {"mutual_aid": enabled}))
    return incident
