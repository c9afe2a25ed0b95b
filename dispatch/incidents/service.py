"""Call intake and the incident as a whole: triage suggestion and override, duplicate
hints, optional auto-dispatch of red calls, closing and cancelling."""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from sqlalchemy import and_, or_, select

from dispatch import clock
from dispatch.audit import service as audit
from dispatch.auth.principal import Principal
from dispatch.db.session import UnitOfWork
from dispatch.errors import Conflict, Forbidden, InvalidInput, NotFound
from dispatch.events import (
    IncidentCancelled,
    IncidentClosed,
    IncidentCreated,
    IncidentUpdated,
)
from dispatch.incidents import assignments, recommend
from dispatch.incidents import offers as offer_chain
from dispatch.incidents import offerstore as offers
from dispatch.incidents.config import DispatchConfig
from dispatch.incidents.schemas import IncidentCreate, IncidentUpdate
from dispatch.models import Assignment, Incident, Offer
from dispatch.models.enums import OPEN_INCIDENT_STATUSES, AssignmentStatus, IncidentStatus, Triage
from dispatch.organisations import hierarchy
from dispatch.routing.base import LatLon
from dispatch.routing.geo import haversine_m


@dataclass(frozen=True, slots=True)
class Duplicate:
    incident: Incident
    distance_m: float
    minutes_ago: float


@dataclass(frozen=True)
class Intake:
    incident: Incident
    complaint_label: str
    duplicates: list[Duplicate]
    auto_assignment: Assignment | None
    auto_offer: Offer | None = None


def require_dispatcher(actor: Principal) -> None:
    if not actor.is_operational:
        raise Forbidden("Only dispatch staff handle calls.")


async def possible_duplicates(
    uow: UnitOfWork,
    cfg: DispatchConfig,
    lat: float,
    lon: float,
    now: datetime,
    exclude_id: int | None = None,
) -> list[Duplicate]:
    """Open incidents near the same place in the recent past: the same crash is often
    reported by several callers."""
    if cfg.duplicate_radius_m <= 0:
        return []
    dlat = cfg.duplicate_radius_m / 111_000 * 1.2  # a box a little larger than the circle
    dlon = dlat / max(0.1, math.cos(math.radians(lat)))
    rows = (
        await uow.session.scalars(
            select(Incident).where(
                Incident.status.in_(OPEN_INCIDENT_STATUSES),
                Incident.created_at >= now - cfg.duplicate_window,
                Incident.lat.between(lat - dlat, lat + dlat),
                Incident.lon.between(lon - dlon, lon + dlon),
            )
        )
    ).all()
    found = []
    for incident in rows:
        if incident.id == exclude_id:
            continue
        distance = float(
            haversine_m(
                np.array([lat]), np.array([lon]), np.array([incident.lat]), np.array([incident.lon])
            )[0]
        )
        if distance <= cfg.duplicate_radius_m:
            minutes = (now - incident.created_at).total_seconds() / 60
            found.append(Duplicate(incident, round(distance, 1), round(minutes, 1)))
    found.sort(key=lambda d: (d.distance_m, d.incident.id))
    return found


async def create(
    uow: UnitOfWork, actor: Principal, data: IncidentCreate, cfg: DispatchConfig
) -> Intake:
    require_dispatcher(actor)
    rule = cfg.triage.get(data.chief_complaint)
    if rule is None:
        raise InvalidInput(
            "chief_complaint",
            f"Unknown complaint code {data.chief_complaint!r}; "
            f"use one of: {', '.join(cfg.triage.codes)}.",
        )
    recommend.check_location(cfg, data.lat, data.lon)
    triage = data.triage or rule.triage
    overridden = triage != rule.triage
    now = clock.now()
    duplicates = await possible_duplicates(uow, cfg, data.lat, data.lon, now)
    incident = Incident(
        organisation_id=actor.organisation_id,
        created_by_id=actor.user_id,
        created_at=now,
        lat=data.lat,
        lon=data.lon,
        address_text=data.address_text,
        caller_phone=data.caller_phone,
        chief_complaint=data.chief_complaint,
        triage=triage,
        triage_suggested=rule.triage,
        triage_override_reason=data.triage_override_reason if overridden else None,
        required_capability=rule.capability,
        needs_stretcher=rule.needs_stretcher,
        patient_count=data.patient_count,
        notes=data.notes,
    )
    uow.session.add(incident)
    await uow.session.flush()
    audit.record(uow, actor, "incident.created", incident)
    if overridden:
        audit.record(
            uow,
            actor,
            "incident.triage_overridden",
            incident,
            before={"triage": rule.triage.value},
            after={"triage": triage.value, "triage_override_reason": data.triage_override_reason},
        )
    uow.emit(
        IncidentCreated(
            incident_id=incident.id,
            organisation_id=incident.organisation_id,
            triage=incident.triage.value,
            lat=incident.lat,
            lon=incident.lon,
            chief_complaint=incident.chief_complaint,
            possible_duplicate_of=tuple(d.incident.id for d in duplicates),
        )
    )
    auto = None
    offer = None
    if cfg.auto_dispatch_red and triage == Triage.RED:
        if cfg.auto_offer_red:
            offer = await _auto_offer(uow, actor, incident, cfg)
        else:
            auto = await assignments.auto_dispatch(uow, actor, incident, cfg)
    return Intake(incident, rule.label, duplicates, auto, offer)


async def _auto_offer(
    uow: UnitOfWork, actor: Principal, incident: Incident, cfg: DispatchConfig
) -> Offer | None:
    """Offer a red call to the best station at once; with no station free it waits for
    a dispatcher, as it would without auto dispatch."""
    try:
        async with uow.session.begin_nested():
            return await offer_chain.start(uow, actor, incident, cfg, now=clock.now(), auto=True)
    except Conflict:
        return None


async def list_incidents(
    uow: UnitOfWork,
    *,
    open_only: bool = False,
    limit: int = 200,
    before: tuple[datetime, int] | None = None,
    centres: Collection[int] | None = None,
) -> list[Incident]:
    """Newest first; ``before`` (time, id): the rows after that one (the next page);
    ``centres``: only the calls of these centres (None: all)."""
    stmt = select(Incident).order_by(Incident.created_at.desc(), Incident.id.desc()).limit(limit)
    if centres is not None:
        stmt = stmt.where(Incident.organisation_id.in_(sorted(centres)))
    if before is not None:
        at, row = before
        stmt = stmt.where(
            or_(Incident.created_at < at, and_(Incident.created_at == at, Incident.id < row))
        )
    if open_only:
        stmt = stmt.where(Incident.status.in_(OPEN_INCIDENT_STATUSES))
    return list((await uow.session.scalars(stmt)).all())


async def get(
    uow: UnitOfWork, actor: Principal, incident_id: int, *, lock: bool = False
) -> Incident:
    stmt = select(Incident).where(Incident.id == incident_id)
    if lock:
        stmt = uow.strategy.lock_for_update(stmt.execution_options(populate_existing=True))
    incident = await uow.session.scalar(stmt)
    if incident is None:
        raise NotFound(f"Incident {incident_id} does not exist.")
    if actor.is_operational:
        # Another area's call answers 404, exactly like one that does not exist.
        centres = await hierarchy.visible_centres(uow, actor)
        hierarchy.check_visible(centres, incident.organisation_id, f"Incident {incident_id}")
    else:
        # A crew sees only the incidents its vehicle is (or was) sent to.
        sent = await uow.session.scalar(
            select(Assignment.id).where(
                Assignment.incident_id == incident_id, Assignment.vehicle_id == actor.vehicle_id
            )
        )
        if actor.vehicle_id is None or sent is None:
            raise NotFound(f"Incident {incident_id} does not exist.")
    return incident


async def update(
    uow: UnitOfWork, actor: Principal, incident_id: int, data: IncidentUpdate
) -> Incident:
    require_dispatcher(actor)
    incident = await get(uow, actor, incident_id)
    if incident.status not in OPEN_INCIDENT_STATUSES:
        raise Conflict(
            f"Incident {incident_id} is {incident.status.value}; it can no longer change."
        )
    changes = data.model_dump(exclude_unset=True)
    before = audit.snapshot(incident)
    for key, value in changes.items():
        setattr(incident, key, value)
    if "triage" in changes and incident.triage == incident.triage_suggested:
        incident.triage_override_reason = None
    await uow.session.flush()
    old, new = audit.changed(before, audit.snapshot(incident))
    if new:
        action = "incident.triage_overridden" if "triage" in new else "incident.updated"
        audit.record(uow, actor, action, incident, before=old, after=new)
        uow.emit(IncidentUpdated(incident.id, audit.plain(new)))
    return incident


async def close(uow: UnitOfWork, actor: Principal, incident_id: int) -> Incident:
    """Close a finished case; every unit must be back in service or cancelled first."""
    require_dispatcher(actor)
    incident = await get(uow, actor, incident_id, lock=True)
    if incident.status not in OPEN_INCIDENT_STATUSES:
        raise Conflict(f"Incident {incident_id} is already {incident.status.value}.")
    active = await assignments.active_for_incident(uow, incident_id)
    if active:
        units = ", ".join(f"assignment {a.id} ({a.status.value.replace('_', ' ')})" for a in active)
        raise Conflict(
            f"Incident {incident_id} still has units working: {units}. "
            "They must be back in service or cancelled before closing.",
            active_assignment_ids=[a.id for a in active],
        )
    before = audit.snapshot(incident)
    incident.status = IncidentStatus.CLOSED
    incident.closed_at = clock.now()
    await uow.session.flush()
    old, new = audit.changed(before, audit.snapshot(incident))
    audit.record(uow, actor, "incident.closed", incident, before=old, after=new)
    await offers.withdraw_pending(uow, actor, incident.id, clock.now(), "the call was closed")
    uow.emit(IncidentClosed(incident.id))
    return incident


async def cancel(uow: UnitOfWork, actor: Principal, incident_id: int, reason: str) -> Incident:
    """Cancel a call (a hoax, a duplicate, the patient left): every unit is stood down."""
    require_dispatcher(actor)
    incident = await get(uow, actor, incident_id, lock=True)
    if incident.status not in OPEN_INCIDENT_STATUSES:
        raise Conflict(f"Incident {incident_id} is already {incident.status.value}.")
    for assignment in await assignments.active_for_incident(uow, incident_id):
        await assignments.apply_milestone(
            uow, actor, assignment, AssignmentStatus.CANCELLED, None, update_incident=False
        )
    before = audit.snapshot(incident)
    incident.status = IncidentStatus.CANCELLED
    incident.cancel_reason = reason
    incident.closed_at = clock.now()
    await uow.session.flush()
    old, new = audit.changed(before, audit.snapshot(incident))
    audit.record(uow, actor, "incident.cancelled", incident, before=old, after=new)
    await offers.withdraw_pending(uow, actor, incident.id, clock.now(), "the call was cancelled")
    uow.emit(IncidentCancelled(incident.id, reason))
    return incident


def point_of(incident: Incident) -> LatLon:
    return LatLon(incident.lat, incident.lon)
