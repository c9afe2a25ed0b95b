"""Gather the fleet's state, ask the travel-time provider for every unit's ETA in one
query, and let the pure ranking order them. Also: which hospital to take the patient to."""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import String, func, select, type_coerce

from dispatch import clock
from dispatch.coverage.fleet import holding_sites, on_duty, unit_state
from dispatch.coverage.keeper import CoverageKeeper
from dispatch.coverage.model import UnitState
from dispatch.db.session import UnitOfWork
from dispatch.errors import InvalidInput
from dispatch.incidents.config import DispatchConfig
from dispatch.models import Assignment, Hospital, Incident, StandbyPost, Vehicle
from dispatch.models.enums import CLAIMABLE_STATES, Triage, VehicleState
from dispatch.observability.metrics import RECOMMENDATION_SECONDS, timed
from dispatch.organisations import hierarchy
from dispatch.routing.base import LatLon, PointOutsideNetworkError, TravelTimeProvider
from dispatch.routing.geo import haversine_m
from dispatch.routing.kinds import traits
from dispatch.routing.ranking import (
    CallNeeds,
    Preemption,
    RankedUnit,
    UnitCandidate,
    needs_advanced_backup,
    rank_units,
)
from dispatch.transports import service as transports


@dataclass(frozen=True, slots=True)
class Excluded:
    vehicle_id: int
    call_sign: str
    reason: str


@dataclass(frozen=True)
class Recommendation:
    incident_id: int
    computed_at: datetime
    ranked: list[RankedUnit]
    excluded: list[Excluded]
    off_duty: int
    #: Tiered response: the nearest ALS unit to send as well, when the first is not one.
    backup: RankedUnit | None = None


def needs_of(incident: Incident) -> CallNeeds:
    return CallNeeds(
        location=LatLon(incident.lat, incident.lon),
        triage=incident.triage.value,
        capability=incident.required_capability.value,
        needs_stretcher=incident.needs_stretcher,
    )


async def eta_to(
    travel: TravelTimeProvider, origins: list[LatLon], destination: LatLon, at: datetime
) -> tuple[np.ndarray, list[int]]:
    """ETAs from ``origins`` to ``destination`` in one query (in a worker thread); origins
    off the road network are dropped and their indexes returned."""
    keep = list(range(len(origins)))
    dropped: list[int] = []
    while keep:
        try:
            points = [origins[i] for i in keep]
            etas = await asyncio.to_thread(travel.many_to_one, points, destination, at)
            return etas, dropped
        except PointOutsideNetworkError as exc:
            if exc.point == destination or exc.index is None:
                raise
            dropped.append(keep.pop(exc.index))
    return np.zeros(0, dtype=np.int64), dropped


@timed(RECOMMENDATION_SECONDS)
async def recommend(
    uow: UnitOfWork,
    incident: Incident,
    cfg: DispatchConfig,
    *,
    now: datetime | None = None,
    exclude_vehicle_ids: Collection[int] = (),
    limit: int | None = None,
) -> Recommendation:
    """Rank every unit that could go to ``incident`` right now; the best ``limit``
    (default ``cfg.shown``) are returned."""
    now = now or clock.now()
    session = uow.session
    # One query for the whole fleet; kind and state as plain strings (no enum round trip):
    # this runs on every call for every unit.
    rows = (
        await session.execute(
            on_duty(
                Vehicle.id,
                Vehicle.call_sign,
                type_coerce(Vehicle.kind, String),
                type_coerce(Vehicle.state, String),
                Vehicle.last_lat,
                Vehicle.last_lon,
                Vehicle.last_fix_at,
                Vehicle.seats_stretcher,
                Vehicle.station_id,
                Vehicle.organisation_id,
            )
        )
    ).all()
    # A call is answered by its own centre's area unless mutual aid was asked for.
    allowed = await hierarchy.units_for_call(uow, incident.organisation_id, incident.mutual_aid)
    off_duty = int(
        await session.scalar(select(func.count()).where(Vehicle.state == VehicleState.OFF_DUTY))
        or 0
    )
    loads = await transports.transport_loads(uow)
    holding = await holding_sites(uow) if cfg.coverage is not None else {}
    posts = (
        await session.execute(
            select(StandbyPost.lat, StandbyPost.lon).where(StandbyPost.active.is_(True))
        )
    ).all()
    is_red = incident.triage == Triage.RED
    candidates: list[UnitCandidate] = []
    may_park: list[tuple[UnitCandidate, float | None, float | None]] = []
    excluded: list[Excluded] = []
    fleet: list[UnitState] = []  # every unit on duty with a place, as coverage sees it
    claimable = {s.value for s in CLAIMABLE_STATES}
    triage = incident.triage.value
    for row in rows:
        (vid, call_sign, kind, state, lat, lon, fix_at, stretchers, station_id, centre, st_lat,
         st_lon, busy_with) = row  # fmt: skip
        if allowed is not None and centre not in allowed:
            continue
        load = loads.get(vid)
        reason: str | None = None
        preemption: Preemption | None = None
        if vid in exclude_vehicle_ids:
            reason = "already tried for this call"
        elif busy_with is not None:
            reason = f"busy with incident {busy_with}"
        elif not (kind_traits := traits(kind)).may_answer(triage):
            reason = kind_traits.not_for_calls
        elif load is not None and load.on_board:
            reason = f"patient aboard (booking {load.on_board[0]})"
        elif load is not None and load.busy:
            if is_red:
                preemption = Preemption(load.remaining)
            else:
                reason = "on a booked transport (only red calls may take it)"
        elif state not in claimable:
            reason = state.replace("_", " ")
        position: LatLon | None = None
        source = "gps"
        if reason is None:
            if lat is not None and lon is not None and fix_at is not None:
                position = LatLon(lat, lon)
            elif st_lat is not None and st_lon is not None:
                position, source = LatLon(st_lat, st_lon), "station"
            else:
                reason = "no known position"
        if cfg.coverage is not None:
            here = position
            if here is None and lat is not None and lon is not None:
                here = LatLon(lat, lon)
            elif here is None and st_lat is not None and st_lon is not None:
                here = LatLon(st_lat, st_lon)
            free = (
                busy_with is None
                and state in claimable
                and (load is None or not (load.busy or load.on_board))
            )
            if here is not None:
                home = f"station:{station_id}" if station_id is not None else None
                site = holding.get(vid, home) if free else home
                fleet.append(unit_state(vid, kind, here, free=free, site_key=site))
        if reason is not None or position is None:
            excluded.append(Excluded(vid, call_sign, reason or "no known position"))
            continue
        candidates.append(
            UnitCandidate(
                vehicle_id=vid,
                call_sign=call_sign,
                kind=kind,
                state=state,
                position=position,
                position_source=source,
                gps_age_s=(now - fix_at).total_seconds() if fix_at and source == "gps" else None,
                seats_stretcher=stretchers,
                preemption=preemption,
            )
        )
        if source == "gps" and state in _MAY_PARK:
            may_park.append((candidates[-1], st_lat, st_lon))
    _mark_parked(may_park, posts)
    needs = needs_of(incident)
    etas, dropped = await eta_to(cfg.travel, [c.position for c in candidates], needs.location, now)
    for i in sorted(dropped):
        unit = candidates[i]
        excluded.append(Excluded(unit.vehicle_id, unit.call_sign, "position off the road network"))
    gone = set(dropped)
    reachable = [c for i, c in enumerate(candidates) if i not in gone]
    if cfg.coverage is not None:
        await _price_coverage(uow, cfg.coverage, fleet, reachable, triage, now)
    ranked = rank_units(needs, reachable, etas, cfg.policy, limit=limit or cfg.shown)
    excluded.sort(key=lambda e: e.call_sign)
    backup = None
    sent: list[str] = []
    if needs.triage in cfg.tiered_als:
        sent = list(
            await session.scalars(
                select(type_coerce(Vehicle.kind, String))
                .join(Assignment, Assignment.vehicle_id == Vehicle.id)
                .where(Assignment.incident_id == incident.id, Assignment.is_active.is_(True))
            )
        )
    if needs_advanced_backup(needs, ranked[0] if ranked else None, cfg.tiered_als, sent):
        advanced = [j for j, c in enumerate(reachable) if traits(c.kind).care_level == "als"]
        best = rank_units(
            needs, [reachable[j] for j in advanced], etas[advanced], cfg.policy, limit=1
        )
        backup = best[0] if best else None
    return Recommendation(incident.id, now, ranked, excluded, off_duty, backup)


#: A unit within this distance of its station or a standby post is parked there.
PARKED_RADIUS_M = 300.0
#: Available, or back in service and returning (a crew rarely says it has arrived): at its
#: base either is a parked unit.
_MAY_PARK = frozenset({VehicleState.AVAILABLE.value, VehicleState.RETURNING.value})


def _mark_parked(
    units: Sequence[tuple[UnitCandidate, float | None, float | None]],
    posts: Sequence[Any],
) -> None:
    """Mark the units (with their station's place) that stand within ``PARKED_RADIUS_M`` of
    their station or any standby post: one vectorised pass for the whole fleet."""
    if not units:
        return
    lat = np.array([u.position.lat for u, _, _ in units], dtype=np.float64)
    lon = np.array([u.position.lon for u, _, _ in units], dtype=np.float64)
    st_lat = np.array([np.nan if a is None else a for _, a, _ in units], dtype=np.float64)
    st_lon = np.array([np.nan if b is None else b for _, _, b in units], dtype=np.float64)
    near = haversine_m(lat, lon, st_lat, st_lon) <= PARKED_RADIUS_M  # no station: NaN, False
    if posts:
        p_lat = np.array([row[0] for row in posts], dtype=np.float64)
        p_lon = np.array([row[1] for row in posts], dtype=np.float64)
        to_posts = haversine_m(lat[:, None], lon[:, None], p_lat[None, :], p_lon[None, :])
        near |= (to_posts <= PARKED_RADIUS_M).any(axis=1)
    for (unit, _, _), parked in zip(units, near.tolist(), strict=True):
        unit.parked = bool(parked)


async def _price_coverage(
    uow: UnitOfWork,
    keeper: CoverageKeeper,
    fleet: list[UnitState],
    candidates: list[UnitCandidate],
    triage: str,
    now: datetime,
) -> None:
    """Add to each candidate what its departure would leave uncovered (nothing while the
    coverage is still being built: then the ranking is by ETA alone)."""
    coverage = await keeper.ready(uow, now)
    if coverage is None:
        return
    costs = keeper.costs(coverage, fleet, [c.vehicle_id for c in candidates], triage, now)
    for candidate in candidates:
        cost = costs.get(candidate.vehicle_id)
        if cost is not None:
            candidate.coverage_s = cost.penalty_s
            candidate.coverage_reason = cost.reason


def check_location(cfg: DispatchConfig, lat: float, lon: float, field: str = "lat") -> None:
    """Refuse a place outside the service area (the configured box, or too far from any
    road of the configured map): a call's, or a booked ride's pickup or destination."""
    if cfg.service_bbox is not None:
        min_lat, min_lon, max_lat, max_lon = cfg.service_bbox
        if not (min_lat <= lat <= max_lat and min_lon <= lon <= max_lon):
            raise InvalidInput(field, "The location is outside the service area.")
    distance_to_network = getattr(cfg.travel, "distance_to_network", None)
    max_snap_m = getattr(cfg.travel, "max_snap_m", None)
    if callable(distance_to_network) and max_snap_m is not None:
        distance = float(distance_to_network([LatLon(lat, lon)])[0])
        if distance > max_snap_m:
            raise InvalidInput(
                field,
                f"The location is outside the service area ({distance:.0f} m from the "
                "nearest mapped road).",
            )


@dataclass(frozen=True, slots=True)
class HospitalSuggestion:
    hospital: Hospital
    eta_s: int | None  # None: the travel-time provider cannot place it (off the road map)
    distance_m: float
    has_capability: bool
    recommended: bool
    reasons: tuple[str, ...]


async def etas_from(
    travel: TravelTimeProvider, origin: LatLon, points: list[LatLon], at: datetime
) -> tuple[list[int | None], str | None]:
    """Road ETAs from ``origin`` to each point in one query (in a worker thread). A point
    the provider cannot place gets ``None`` and the others are still answered; an origin it
    cannot place leaves every ETA ``None`` and is named in the second value."""
    etas: list[int | None] = [None] * len(points)
    keep = list(range(len(points)))
    while keep:
        try:
            found = await asyncio.to_thread(
                travel.one_to_many, origin, [points[i] for i in keep], at
            )
        except PointOutsideNetworkError as exc:
            if exc.index is None or exc.point == origin or not 0 <= exc.index < len(keep):
                return etas, f"the scene is off the road map ({exc.distance_m:.0f} m from a road)"
            keep.pop(exc.index)
            continue
        for i, eta in zip(keep, found, strict=True):
            etas[i] = int(eta) if np.isfinite(eta) else None
        break
    return etas, None


async def suggest_hospitals(
    uow: UnitOfWork,
    cfg: DispatchConfig,
    origin: LatLon,
    capability: str | None,
    *,
    now: datetime | None = None,
) -> list[HospitalSuggestion]:
    """Emergency departments by ETA from ``origin``; diverting ones are listed but never
    recommended; one with the needed capability (stroke, trauma, …) beats a nearer one
    without it. One the road map cannot place (saved before places were checked, or the map
    changed) is listed last without an ETA, never recommended, rather than failing them all."""
    now = now or clock.now()
    hospitals: Sequence[Hospital] = (
        await uow.session.scalars(
            select(Hospital)
            .where(Hospital.has_emergency_department.is_(True))
            .order_by(Hospital.id)
        )
    ).all()
    if not hospitals:
        return []
    points = [LatLon(h.lat, h.lon) for h in hospitals]
    etas, scene_problem = await etas_from(cfg.travel, origin, points, now)
    lat = np.array([p.lat for p in points])
    lon = np.array([p.lon for p in points])
    distances = haversine_m(
        lat, lon, np.full(len(points), origin.lat), np.full(len(points), origin.lon)
    )
    rows = []
    for hospital, eta, distance in zip(hospitals, etas, distances, strict=True):
        capable = capability is None or capability in (hospital.capabilities or [])
        if eta is not None:
            reasons = [f"road ETA {eta / 60:.1f} min"]
        else:
            reasons = [f"no road ETA: {scene_problem or 'the hospital is off the road map'}"]
        if capability is not None:
            reasons.append(f"{capability} centre" if capable else f"no {capability} service")
        if hospital.on_diversion:
            why = f": {hospital.diversion_reason}" if hospital.diversion_reason else ""
            reasons.append(f"on diversion{why}")
        if hospital.available_er_beds is not None:
            reasons.append(f"{hospital.available_er_beds} ER beds free")
        rows.append((hospital, eta, float(distance), capable, tuple(reasons)))
    rows.sort(
        key=lambda r: (
            r[1] is None and scene_problem is None,
            r[0].on_diversion,
            not r[3],
            r[1] if r[1] is not None else r[2],
            r[0].id,
        )
    )
    return [
        HospitalSuggestion(
            h, eta, dist, capable, i == 0 and not h.on_diversion and eta is not None, reasons
        )
        for i, (h, eta, dist, capable, reasons) in enumerate(rows)
    ]
