"""What the control room reads about its stations: the live availability board (every
station's units with state and GPS age, its declines of the last hours, and a flag on a
station that declines while its unit shows available) and the figures per station and
per operator (offers, accepted, declined by reason, timed out, time to accept, response
times of the jobs it took), so a 115 centre can see which stations answer."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select

from dispatch.auth.principal import Principal
from dispatch.db.session import UnitOfWork
from dispatch.incidents.kpis import IntervalStats
from dispatch.models import Assignment, Incident, Offer, Organisation, Station, Vehicle
from dispatch.models.enums import CLAIMABLE_STATES, DeclineReason, OfferStatus
from dispatch.organisations import hierarchy

#: Declines that say "we have nothing": suspicious when the unit showed available.
NOTHING_FREE = (DeclineReason.BUSY, DeclineReason.NO_CREW)
_SHOWED_FREE = frozenset(s.value for s in CLAIMABLE_STATES)


@dataclass
class BoardUnit:
    vehicle_id: int
    call_sign: str
    kind: str
    state: str
    out_of_service_reason: str | None
    gps_age_s: float | None
    incident_id: int | None
    offer_id: int | None


@dataclass
class StationBoard:
    station_id: int
    name: str
    station_type: str
    centre_id: int
    operator_id: int | None
    operator_name: str | None
    lat: float
    lon: float
    units: list[BoardUnit] = field(default_factory=list)
    offers: int = 0
    accepted: int = 0
    declined: dict[str, int] = field(default_factory=dict)
    timed_out: int = 0
    #: Declines "busy"/"no crew" of a unit that showed available when offered.
    declined_while_available: int = 0
    flagged: bool = False
    #: Median seconds from offer to acceptance, of the accepted offers in the window.
    accept_p50_s: float | None = None


@dataclass
class Figures:
    """One station's or one operator's answers over a period."""

    id: int
    name: str
    offers: int = 0
    accepted: int = 0
    declined: int = 0
    declined_by_reason: dict[str, int] = field(default_factory=dict)
    timed_out: int = 0
    withdrawn: int = 0
    accept_s: IntervalStats = field(default_factory=lambda: IntervalStats.of([]))
    #: Call taken -> first on scene, for the calls this station's units took by offer.
    response_s: IntervalStats = field(default_factory=lambda: IntervalStats.of([]))


def _operator(station: Station) -> int:
    """Who runs the station: its operator, or the centre itself when none is named."""
    return station.operator_id or station.organisation_id


async def _stations(uow: UnitOfWork, actor: Principal) -> list[Station]:
    stmt = select(Station).order_by(Station.name, Station.id)
    if not actor.is_operational:
        if actor.station_id is None:
            return []
        stmt = stmt.where(Station.id == actor.station_id)
    else:
        centres = await hierarchy.visible_centres(uow, actor)
        if centres is not None:
            stmt = stmt.where(Station.organisation_id.in_(sorted(centres)))
    return list((await uow.session.scalars(stmt)).all())


async def _names(uow: UnitOfWork, ids: Iterable[int | None]) -> dict[int, str]:
    wanted = sorted({i for i in ids if i is not None})
    if not wanted:
        return {}
    rows = await uow.session.execute(
        select(Organisation.id, Organisation.name).where(Organisation.id.in_(wanted))
    )
    return {row[0]: row[1] for row in rows}


async def board(
    uow: UnitOfWork, actor: Principal, since: datetime, now: datetime
) -> list[StationBoard]:
    stations = await _stations(uow, actor)
    ids = [s.id for s in stations]
    operators = await _names(uow, (_operator(s) for s in stations))
    out = {
        s.id: StationBoard(
            station_id=s.id,
            name=s.name,
            station_type=s.station_type.value,
            centre_id=s.organisation_id,
            operator_id=_operator(s),
            operator_name=operators.get(_operator(s)),
            lat=s.lat,
            lon=s.lon,
        )
        for s in stations
    }
    if not ids:
        return []
    active = dict(
        (
            await uow.session.execute(
                select(Assignment.vehicle_id, Assignment.incident_id).where(
                    Assignment.is_active.is_(True)
                )
            )
        ).all()
    )
    pending = dict(
        (
            await uow.session.execute(
                select(Offer.vehicle_id, Offer.id).where(Offer.status == OfferStatus.PENDING)
            )
        ).all()
    )
    for v in await uow.session.scalars(
        select(Vehicle).where(Vehicle.station_id.in_(ids)).order_by(Vehicle.call_sign)
    ):
        assert v.station_id is not None
        out[v.station_id].units.append(
            BoardUnit(
                vehicle_id=v.id,
                call_sign=v.call_sign,
                kind=v.kind.value,
                state=v.state.value,
                out_of_service_reason=v.out_of_service_reason,
                gps_age_s=None
                if v.last_fix_at is None
                else round(max(0.0, (now - v.last_fix_at).total_seconds()), 1),
                incident_id=active.get(v.id),
                offer_id=pending.get(v.id),
            )
        )
    accept: dict[int, list[float]] = {}
    for offer in await uow.session.scalars(
        select(Offer).where(Offer.station_id.in_(ids), Offer.offered_at >= since)
    ):
        assert offer.station_id is not None
        row = out[offer.station_id]
        row.offers += 1
        if offer.status == OfferStatus.ACCEPTED and offer.answered_at is not None:
            row.accepted += 1
            waited = (offer.answered_at - offer.offered_at).total_seconds()
            accept.setdefault(offer.station_id, []).append(waited)
        row.timed_out += offer.status == OfferStatus.TIMED_OUT
        if offer.status == OfferStatus.DECLINED and offer.decline_reason is not None:
            reason = offer.decline_reason.value
            row.declined[reason] = row.declined.get(reason, 0) + 1
            if offer.decline_reason in NOTHING_FREE and offer.unit_state in _SHOWED_FREE:
                row.declined_while_available += 1
    for row in out.values():
        row.flagged = row.declined_while_available > 0
        row.accept_p50_s = IntervalStats.of(accept.get(row.station_id, [])).p50_s
    return list(out.values())


async def figures(
    uow: UnitOfWork, actor: Principal, since: datetime, until: datetime
) -> tuple[list[Figures], list[Figures]]:
    """Per station and per operator, for the offers made in [since, until)."""
    stations = await _stations(uow, actor)
    by_id = {s.id: s for s in stations}
    operators = await _names(uow, (_operator(s) for s in stations))
    rows = (
        await uow.session.execute(
            select(Offer, Incident.created_at, Assignment.on_scene_at)
            .join(Incident, Incident.id == Offer.incident_id)
            .outerjoin(Assignment, Assignment.id == Offer.assignment_id)
            .where(
                Offer.station_id.in_(sorted(by_id)),
                Offer.offered_at >= since,
                Offer.offered_at < until,
            )
            .order_by(Offer.id)
        )
    ).all()
    per_station: dict[int, list[tuple[Offer, datetime, datetime | None]]] = {}
    per_operator: dict[int, list[tuple[Offer, datetime, datetime | None]]] = {}
    for offer, created_at, on_scene_at in rows:
        assert offer.station_id is not None
        per_station.setdefault(offer.station_id, []).append((offer, created_at, on_scene_at))
        operator = _operator(by_id[offer.station_id])
        per_operator.setdefault(operator, []).append((offer, created_at, on_scene_at))
    station_rows = [_tally(s.id, s.name, per_station.get(s.id, [])) for s in stations]
    operator_rows = [
        _tally(op, operators.get(op, str(op)), per_operator.get(op, []))
        for op in sorted({_operator(s) for s in stations})
    ]
    return station_rows, operator_rows


def _tally(key: int, name: str, rows: list[tuple[Offer, datetime, datetime | None]]) -> Figures:
    reasons: Counter[str] = Counter()
    accept: list[float] = []
    response: list[float] = []
    counts: Counter[OfferStatus] = Counter()
    for offer, created_at, on_scene_at in rows:
        counts[offer.status] += 1
        if offer.status == OfferStatus.DECLINED and offer.decline_reason is not None:
            reasons[offer.decline_reason.value] += 1
        if offer.status == OfferStatus.ACCEPTED and offer.answered_at is not None:
            accept.append((offer.answered_at - offer.offered_at).total_seconds())
            if on_scene_at is not None:
                response.append((on_scene_at - created_at).total_seconds())
    return Figures(
        id=key,
        name=name,
        offers=len(rows),
        accepted=counts[OfferStatus.ACCEPTED],
        declined=counts[OfferStatus.DECLINED],
        declined_by_reason=dict(sorted(reasons.items())),
        timed_out=counts[OfferStatus.TIMED_OUT],
        withdrawn=counts[OfferStatus.WITHDRAWN],
        accept_s=IntervalStats.of(accept),
        response_s=IntervalStats.of(response),
    )
