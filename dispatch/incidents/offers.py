"""The offer chain of a call: offer it to the best station's unit, and on a decline or a
timeout to the next best station, without a dispatcher redialling.

Race-safety: an offer changes state only under its row lock, re-read after the lock
(``populate_existing``), so twenty stations' or dispatchers' accepts of one offer make one
assignment; two pending offers for one call or one unit are refused by the database's
partial unique indexes; the assignment itself goes through the one claim every other way
of sending a unit uses. A timer is the row's ``expires_at`` read against the server's
clock, so any worker (or a restarted one, or a simulation's clock) moves it on the same."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from dispatch.audit import service as audit
from dispatch.auth.principal import Principal
from dispatch.db.session import UnitOfWork
from dispatch.errors import Conflict, NotFound
from dispatch.events import AlertRaised
from dispatch.incidents import alerts, assignments, recommend
from dispatch.incidents import offerstore as store
from dispatch.incidents.config import DispatchConfig
from dispatch.models import Incident, Offer, Organisation, Vehicle
from dispatch.models.enums import (
    OPEN_INCIDENT_STATUSES,
    DeclineReason,
    IncidentStatus,
    OfferStatus,
    Triage,
)
from dispatch.organisations import hierarchy
from dispatch.routing.ranking import RankedUnit

#: How many ranked units the chain looks through for the next station.
LOOK_AHEAD = 200


@dataclass(frozen=True)
class Answer:
    """An answered (or timed-out) offer and the one the chain moved on to, if any."""

    offer: Offer
    next: Offer | None


def _who(actor: Principal | None) -> str:
    if actor is None:
        return "system"
    return (actor.name or actor.label)[:200]


async def timeout_s(uow: UnitOfWork, cfg: DispatchConfig, centre_id: int, triage: Triage) -> int:
    """The centre's own timer for this triage level, else the deployment's."""
    own = await uow.session.scalar(
        select(Organisation.offer_timeouts_s).where(Organisation.id == centre_id)
    )
    if own and triage.value in own:
        return int(own[triage.value])
    return int(cfg.offer_timeouts_s.get(triage.value, 60))


async def _tried(uow: UnitOfWork, chain_id: int | None) -> tuple[set[int], set[int]]:
    """Units and stations already asked in this chain."""
    if chain_id is None:
        return set(), set()
    rows = (
        await uow.session.execute(
            select(Offer.vehicle_id, Offer.station_id).where(Offer.chain_id == chain_id)
        )
    ).all()
    return {r[0] for r in rows}, {r[1] for r in rows if r[1] is not None}


async def _offered_elsewhere(uow: UnitOfWork) -> set[int]:
    """Units waiting for their station's answer on another call (one offer at a time)."""
    return set(
        (
            await uow.session.scalars(
                select(Offer.vehicle_id).where(Offer.status == OfferStatus.PENDING)
            )
        ).all()
    )


#: A unit another call's offer took a moment ago is skipped and the next one tried.
ATTEMPTS = 3


async def _make(
    uow: UnitOfWork,
    actor: Principal | None,
    incident: Incident,
    cfg: DispatchConfig,
    now: datetime,
    *,
    chain_id: int | None,
    step: int,
    vehicle_id: int | None,
    auto: bool,
) -> Offer | None:
    """Offer the call to ``vehicle_id`` (which must be rankable now), or to the best unit
    of a station not yet asked in this chain; None when no station is left. Two calls
    offered at the same moment may pick the same unit: the database refuses the second
    pending offer for it, and that call moves on to its next best unit."""
    tried_units, tried_stations = await _tried(uow, chain_id)
    skip = tried_units | await _offered_elsewhere(uow)
    if vehicle_id is not None:
        skip.discard(vehicle_id)
    timer = timedelta(seconds=await timeout_s(uow, cfg, incident.organisation_id, incident.triage))
    for _attempt in range(ATTEMPTS):
        chosen = await _choose(uow, incident, cfg, now, skip, tried_stations, vehicle_id)
        if chosen is None:
            return None
        ranked, station_id = chosen
        unit = ranked.candidate
        offer = Offer(
            incident_id=incident.id,
            organisation_id=incident.organisation_id,
            vehicle_id=unit.vehicle_id,
            station_id=station_id,
            chain_id=chain_id,
            step=step,
            triage=incident.triage,
            status=OfferStatus.PENDING,
            recommended_rank=ranked.rank,
            eta_s=ranked.eta_s,
            unit_state=unit.state,
            auto=auto,
            offered_by=_who(actor),
            offered_at=now,
            expires_at=now + timer,
        )
        try:
            async with uow.session.begin_nested():
                uow.session.add(offer)
                await uow.session.flush()
        except IntegrityError:  # the partial unique indexes: last line of defence
            if vehicle_id is not None or await _has_pending(uow, incident.id):
                raise Conflict(
                    f"Incident {incident.id} or unit {unit.call_sign} already has an open offer."
                ) from None
            skip.add(unit.vehicle_id)
            continue
        if offer.chain_id is None:
            offer.chain_id = offer.id
            await uow.session.flush()
        store.record(uow, actor, "offer.made", offer)
        await store.announce(uow, offer)
        return offer
    raise Conflict(f"Units for incident {incident.id} are being offered elsewhere; try again.")


async def _has_pending(uow: UnitOfWork, incident_id: int) -> bool:
    found = await uow.session.scalar(
        select(Offer.id).where(
            Offer.incident_id == incident_id, Offer.status == OfferStatus.PENDING
        )
    )
    return found is not None


async def _choose(
    uow: UnitOfWork,
    incident: Incident,
    cfg: DispatchConfig,
    now: datetime,
    skip: set[int],
    tried_stations: set[int],
    vehicle_id: int | None,
) -> tuple[RankedUnit, int | None] | None:
    """The ranked unit to offer and its station."""
    rec = await recommend.recommend(
        uow, incident, cfg, now=now, exclude_vehicle_ids=skip, limit=LOOK_AHEAD
    )
    ranked = rec.ranked
    stations = dict(
        (
            await uow.session.execute(
                select(Vehicle.id, Vehicle.station_id).where(
                    Vehicle.id.in_([r.candidate.vehicle_id for r in ranked])
                )
            )
        ).all()
    )
    if vehicle_id is not None:
        chosen = next((r for r in ranked if r.candidate.vehicle_id == vehicle_id), None)
        if chosen is None:
            why = next((e.reason for e in rec.excluded if e.vehicle_id == vehicle_id), None)
            raise Conflict(f"Unit {vehicle_id} cannot take this call now: {why or 'not free'}.")
    else:
        chosen = next(
            (r for r in ranked if stations.get(r.candidate.vehicle_id) not in tried_stations),
            None,
        )
        if chosen is None:
            return None
    return chosen, stations.get(chosen.candidate.vehicle_id)


async def _open_incident(uow: UnitOfWork, incident_id: int) -> Incident | None:
    incident = await uow.session.scalar(
        uow.strategy.lock_for_update(
            select(Incident)
            .where(Incident.id == incident_id)
            .execution_options(populate_existing=True)
        )
    )
    if incident is None or incident.status not in OPEN_INCIDENT_STATUSES:
        return None
    return incident


async def start(
    uow: UnitOfWork,
    actor: Principal | None,
    incident: Incident,
    cfg: DispatchConfig,
    *,
    now: datetime,
    vehicle_id: int | None = None,
    auto: bool = False,
) -> Offer:
    """Begin a chain: offer the call to ``vehicle_id``'s station, or to the best one."""
    if incident.status not in OPEN_INCIDENT_STATUSES:
        raise Conflict(f"Incident {incident.id} is {incident.status.value}; it takes no offers.")
    pending = await uow.session.scalar(
        select(Offer.id).where(
            Offer.incident_id == incident.id, Offer.status == OfferStatus.PENDING
        )
    )
    if pending is not None:
        raise Conflict(
            f"Incident {incident.id} is already offered (offer {pending}); withdraw it first."
        )
    offer = await _make(
        uow, actor, incident, cfg, now, chain_id=None, step=1, vehicle_id=vehicle_id,
        auto=auto,
    )  # fmt: skip
    if offer is None:
        raise Conflict(f"No station has a unit that can take incident {incident.id} now.")
    return offer


async def _next(
    uow: UnitOfWork, actor: Principal | None, after: Offer, cfg: DispatchConfig, now: datetime
) -> Offer | None:
    """The chain moves on, unless the call got a unit or ended meanwhile."""
    incident = await _open_incident(uow, after.incident_id)
    if incident is None or incident.status != IncidentStatus.PENDING:
        return None
    nxt = await _make(
        uow, actor, incident, cfg, now, chain_id=after.chain_id, step=after.step + 1,
        vehicle_id=None, auto=after.auto,
    )  # fmt: skip
    if nxt is None:
        await _exhausted(uow, incident, after, now)
    return nxt


async def _exhausted(uow: UnitOfWork, incident: Incident, last: Offer, now: datetime) -> None:
    alert = alerts.Alert(
        kind="offers_exhausted",
        severity="critical" if incident.triage == Triage.RED else "warning",
        message=(
            f"No station took incident {incident.id} after {last.step} offer(s); "
            "assign a unit or ask for mutual aid."
        ),
        since=now,
        incident_id=incident.id,
    )
    audit.record(uow, None, "alert.offers_exhausted", incident, after={"offers": last.step})
    uow.emit(AlertRaised(alerts.alert_json(alert)))


async def _locked(uow: UnitOfWork, offer_id: int) -> Offer:
    """The offer under its row lock, its call's row locked first: every path that changes
    both (an accept, a direct assignment, a hand-over, the timer) takes the call before
    its offers, so two of them never wait on each other in opposite order."""
    incident_id = await uow.session.scalar(select(Offer.incident_id).where(Offer.id == offer_id))
    if incident_id is None:
        raise NotFound(f"Offer {offer_id} does not exist.")
    await uow.session.scalar(
        uow.strategy.lock_for_update(select(Incident.id).where(Incident.id == incident_id))
    )
    offer = await uow.session.scalar(
        uow.strategy.lock_for_update(
            select(Offer).where(Offer.id == offer_id).execution_options(populate_existing=True)
        )
    )
    if offer is None:
        raise NotFound(f"Offer {offer_id} does not exist.")
    return offer


async def may_answer(uow: UnitOfWork, actor: Principal, offer: Offer) -> bool:
    """The offered station's staff, the offered unit's crew, or a dispatcher of the area."""
    return await hierarchy.acts_for_unit(
        uow,
        actor,
        station_id=offer.station_id,
        vehicle_id=offer.vehicle_id,
        centre_id=offer.organisation_id,
    )


async def get(uow: UnitOfWork, actor: Principal, offer_id: int, *, lock: bool = False) -> Offer:
    offer = await (_locked(uow, offer_id) if lock else uow.session.get(Offer, offer_id))
    if offer is None or not await may_answer(uow, actor, offer):
        raise NotFound(f"Offer {offer_id} does not exist.")
    return offer


def _answered(offer: Offer, actor: Principal | None, now: datetime) -> None:
    offer.answered_at = now
    offer.answered_by = _who(actor)


async def accept(
    uow: UnitOfWork, actor: Principal, offer_id: int, cfg: DispatchConfig, now: datetime
) -> Answer:
    """The station takes the call: the offer becomes the unit's assignment. Accepting an
    accepted offer again changes nothing. If the unit was taken meanwhile, the offer is
    withdrawn and the chain moves on (the answer says so)."""
    offer = await get(uow, actor, offer_id, lock=True)
    if offer.status == OfferStatus.ACCEPTED:
        return Answer(offer, None)
    if offer.status != OfferStatus.PENDING:
        raise Conflict(f"This offer was {offer.status.value.replace('_', ' ')}.")
    if now >= offer.expires_at:
        raise Conflict("This offer timed out; it is moving on to the next station.")
    incident = await _open_incident(uow, offer.incident_id)
    if incident is None:
        raise Conflict(f"Incident {offer.incident_id} has ended.")
    offer.status = OfferStatus.ACCEPTED
    _answered(offer, actor, now)
    await uow.session.flush()
    try:
        async with uow.session.begin_nested():
            assignment = await assignments.assign(
                uow,
                actor,
                incident,
                offer.vehicle_id,
                recommended_rank=offer.recommended_rank,
                auto=offer.auto,
            )
    except Conflict as exc:
        offer.status = OfferStatus.WITHDRAWN
        offer.note = f"the unit could not be sent: {exc}"[:500]
        await uow.session.flush()
        store.record(uow, actor, "offer.withdrawn", offer)
        await store.announce(uow, offer)
        return Answer(offer, await _next(uow, actor, offer, cfg, now))
    offer.assignment_id = assignment.id
    await uow.session.flush()
    store.record(uow, actor, "offer.accepted", offer)
    await store.announce(uow, offer)
    return Answer(offer, None)


async def decline(
    uow: UnitOfWork,
    actor: Principal,
    offer_id: int,
    reason: DeclineReason,
    note: str | None,
    cfg: DispatchConfig,
    now: datetime,
) -> Answer:
    """The station says no (a reason is required); the next best station is offered the
    call at once. Declining a declined offer again changes nothing."""
    offer = await get(uow, actor, offer_id, lock=True)
    if offer.status == OfferStatus.DECLINED:
        return Answer(offer, None)
    if offer.status != OfferStatus.PENDING:
        raise Conflict(f"This offer was {offer.status.value.replace('_', ' ')}.")
    offer.status = OfferStatus.DECLINED
    offer.decline_reason = reason
    offer.note = note
    _answered(offer, actor, now)
    await uow.session.flush()
    store.record(uow, actor, "offer.declined", offer)
    await store.announce(uow, offer)
    return Answer(offer, await _next(uow, actor, offer, cfg, now))


async def withdraw(
    uow: UnitOfWork, actor: Principal, offer_id: int, note: str | None, now: datetime
) -> Offer:
    """A dispatcher stops the chain (to assign by hand, or the call needs no unit)."""
    offer = await get(uow, actor, offer_id, lock=True)
    if not actor.is_operational:
        raise NotFound(f"Offer {offer_id} does not exist.")
    if offer.status == OfferStatus.WITHDRAWN:
        return offer
    if offer.status != OfferStatus.PENDING:
        raise Conflict(f"This offer was {offer.status.value.replace('_', ' ')}.")
    offer.status = OfferStatus.WITHDRAWN
    offer.note = (note or "withdrawn by a dispatcher")[:500]
    _answered(offer, actor, now)
    await uow.session.flush()
    store.record(uow, actor, "offer.withdrawn", offer)
    await store.announce(uow, offer)
    return offer


async def any_due(uow: UnitOfWork, now: datetime) -> bool:
    found = await uow.session.scalar(
        select(Offer.id)
        .where(Offer.status == OfferStatus.PENDING, Offer.expires_at <= now)
        .limit(1)
    )
    return found is not None


async def expire_due(uow: UnitOfWork, cfg: DispatchConfig, now: datetime) -> list[Answer]:
    """Every pending offer whose timer ran out: timed out at its deadline, and the chain
    moves on. Safe on several workers at once (each offer is re-read under its lock)."""
    due = (
        await uow.session.scalars(
            select(Offer.id)
            .where(Offer.status == OfferStatus.PENDING, Offer.expires_at <= now)
            .order_by(Offer.expires_at, Offer.id)
        )
    ).all()
    moved: list[Answer] = []
    for offer_id in due:
        offer = await _locked(uow, offer_id)
        if offer.status != OfferStatus.PENDING or offer.expires_at > now:
            continue  # another worker (or the station, just in time) got there first
        offer.status = OfferStatus.TIMED_OUT
        offer.answered_at = offer.expires_at
        offer.answered_by = "timer"
        await uow.session.flush()
        store.record(uow, None, "offer.timed_out", offer)
        await store.announce(uow, offer)
        moved.append(Answer(offer, await _next(uow, None, offer, cfg, now)))
    return moved


async def chain_of(uow: UnitOfWork, incident_id: int) -> list[Offer]:
    """Every offer of a call, in the order they were made."""
    return list(
        (
            await uow.session.scalars(
                select(Offer).where(Offer.incident_id == incident_id).order_by(Offer.id)
            )
        ).all()
    )


async def list_offers(
    uow: UnitOfWork,
    actor: Principal,
    *,
    open_only: bool,
    station_id: int | None,
    limit: int,
) -> list[Offer]:
    """Newest first. Station staff see their station's; a crew its unit's; dispatchers
    their area's (optionally one station's)."""
    stmt = select(Offer).order_by(Offer.id.desc()).limit(limit)
    if open_only:
        stmt = stmt.where(Offer.status == OfferStatus.PENDING)
    if actor.station_id is not None and not actor.is_operational:
        stmt = stmt.where(Offer.station_id == actor.station_id)
    elif actor.vehicle_id is not None and not actor.is_operational:
        stmt = stmt.where(Offer.vehicle_id == actor.vehicle_id)
    elif actor.is_operational:
        centres = await hierarchy.visible_centres(uow, actor)
        if centres is not None:
            stmt = stmt.where(Offer.organisation_id.in_(sorted(centres)))
        if station_id is not None:
            stmt = stmt.where(Offer.station_id == station_id)
    else:
        return []
    return list((await uow.session.scalars(stmt)).all())
