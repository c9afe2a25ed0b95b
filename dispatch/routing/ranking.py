"""Emergency unit ranking: which unit should go, and why.

Pure and deterministic: the same call, units and ETAs always give the same order. Each
unit's *score* is its road ETA plus explicit penalties, all in seconds, so a dispatcher can
read why a unit 2 minutes farther away ranks first (e.g. "BLS unit for an ALS call
+180 s"). Ties break on ETA, then call sign.

Hard rules come first: a unit that cannot carry a stretcher is never proposed as the
transporting unit for a stretcher call, and first responders (motorbikes) are proposed only
as first responders. What each kind may do comes from one table, ``routing.kinds``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from dispatch.routing.base import LatLon
from dispatch.routing.geo import haversine_m
from dispatch.routing.kinds import traits


@dataclass(frozen=True, slots=True)
class CallNeeds:
    location: LatLon
    triage: str  # red | yellow | green | white | black
    capability: str  # als | bls | any
    needs_stretcher: bool


@dataclass(frozen=True, slots=True)
class Preemption:
    """A unit on a booked transport with nobody aboard; taking it disrupts these rides."""

    booking_ids: tuple[int, ...]

    @property
    def disrupted_rides(self) -> int:
        return len(self.booking_ids)


@dataclass(slots=True)  # not frozen: built for every unit on every call, and cheaper so
class UnitCandidate:
    vehicle_id: int
    call_sign: str
    kind: str  # a key of routing.kinds.TRAITS
    state: str
    position: LatLon
    position_source: str  # "gps" or "station"
    gps_age_s: float | None  # None when there never was a fix
    seats_stretcher: int
    preemption: Preemption | None = None
    #: Seconds of ETA the coverage this unit's departure would leave behind is worth for
    #: this call (coverage-aware dispatch; 0 when off), and the sentence saying where.
    coverage_s: int = 0
    coverage_reason: str | None = None
    #: Free (available, or returning) and last seen at its station or a standby post: a phone
    #: that stays quiet
    #: there (Traccar Client reports every few minutes, some phones only when moving) is a
    #: parked unit, not a lost one, so its old fix is no reason to rank it lower.
    parked: bool = False


@dataclass(frozen=True)
class RankingPolicy:
    """Penalties in seconds of ETA; documented so dispatchers can predict the order."""

    als_call_bls_unit_s: int = 180
    first_responder_s: int = 120
    stale_after_s: float = 120.0
    stale_s: int = 60
    no_gps_s: int = 90
    preemption_base_s: int = 120
    preemption_per_ride_s: int = 120
    returning_s: int = 0
    #: Tiered response: calls of these triage levels get the nearest capable unit first
    #: whatever its care level (no BLS penalty); an ALS backup is proposed beside it.
    tiered_levels: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class RankedUnit:
    candidate: UnitCandidate
    rank: int
    eta_s: int
    score_s: int
    distance_m: float
    stale: bool
    reasons: tuple[str, ...] = field(default_factory=tuple)


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min"


def _assess(
    unit: UnitCandidate, needs: CallNeeds, policy: RankingPolicy, explain: bool
) -> tuple[int, bool, list[str]] | None:
    """Penalty seconds, staleness and (when ``explain``) the reasons; None = may not go.

    Strings are built only for the units that are shown, keeping a 1,000-unit ranking cheap.
    """
    reasons: list[str] = []
    penalty = 0
    kind = traits(unit.kind)
    if not kind.may_answer(needs.triage):
        return None
    if kind.first_responder:
        penalty += policy.first_responder_s
        if explain:
            reasons.append(f"{kind.label} (+{policy.first_responder_s} s)")
    elif needs.needs_stretcher and unit.seats_stretcher < 1:
        return None
    elif kind.care_level == "als":
        if explain:
            reasons.append(kind.label)
    elif needs.capability == "als" and needs.triage in policy.tiered_levels:
        if explain:
            reasons.append(f"{kind.label}: nearest first, an ALS unit follows")
    elif needs.capability == "als":
        penalty += policy.als_call_bls_unit_s
        if explain:
            reasons.append(f"BLS unit for an ALS call (+{policy.als_call_bls_unit_s} s)")
    elif explain:
        reasons.append(kind.label)
    if explain and needs.needs_stretcher and not kind.first_responder:
        reasons.append("has a stretcher")
    stale = False
    if unit.gps_age_s is None:
        stale = True
        penalty += policy.no_gps_s
        if explain:
            reasons.append(f"no GPS fix, position from its station (+{policy.no_gps_s} s)")
    elif unit.gps_age_s > policy.stale_after_s and unit.parked:
        if explain:
            reasons.append(f"parked at its base, last fix {_minutes(unit.gps_age_s)} ago")
    elif unit.gps_age_s > policy.stale_after_s:
        stale = True
        penalty += policy.stale_s
        if explain:
            reasons.append(
                f"GPS stale, last fix {_minutes(unit.gps_age_s)} ago (+{policy.stale_s} s)"
            )
    if unit.state == "returning":
        penalty += policy.returning_s
        if explain:
            reasons.append("returning to station")
    if unit.coverage_s > 0:
        penalty += unit.coverage_s
        if explain:
            where = f": {unit.coverage_reason}" if unit.coverage_reason else ""
            reasons.append(f"leaves coverage behind{where} (+{unit.coverage_s} s)")
    if unit.preemption is not None:
        rides = unit.preemption.disrupted_rides
        cost = policy.preemption_base_s + policy.preemption_per_ride_s * rides
        penalty += cost
        if explain:
            reasons.append(
                f"preemption: leaves a booked transport, {rides} ride(s) to re-plan (+{cost} s)"
            )
    return penalty, stale, reasons


def rank_units(
    needs: CallNeeds,
    candidates: Sequence[UnitCandidate],
    eta_s: npt.NDArray[np.int64] | Sequence[int],
    policy: RankingPolicy = RankingPolicy(),
    limit: int | None = None,
) -> list[RankedUnit]:
    """Order ``candidates`` (already filtered to units that may go) for ``needs``; return the
    best ``limit`` (all when None).

    ``eta_s[i]`` is the road ETA of ``candidates[i]`` to the call. Units that may not go at
    all (no stretcher on a stretcher call, except motorbike first responders) are left out.
    """
    if len(candidates) != len(eta_s):
        raise ValueError("one ETA per candidate is required")
    etas = np.asarray(eta_s, dtype=np.int64)
    keys: list[tuple[int, int, str, int]] = []
    for i, unit in enumerate(candidates):
        assessed = _assess(unit, needs, policy, explain=False)
        if assessed is not None:
            eta = int(etas[i])
            keys.append((eta + assessed[0], eta, unit.call_sign, i))
    keys.sort()
    chosen = keys if limit is None else keys[:limit]
    if not chosen:
        return []
    index = np.fromiter((k[3] for k in chosen), dtype=np.int64, count=len(chosen))
    lat = np.fromiter((candidates[i].position.lat for i in index), dtype=np.float64)
    lon = np.fromiter((candidates[i].position.lon for i in index), dtype=np.float64)
    here_lat = np.full(len(chosen), needs.location.lat)
    here_lon = np.full(len(chosen), needs.location.lon)
    distances = haversine_m(lat, lon, here_lat, here_lon)
    ranked = []
    for rank, ((score, eta, _, i), distance) in enumerate(zip(chosen, distances, strict=True), 1):
        unit = candidates[i]
        assessed = _assess(unit, needs, policy, explain=True)
        assert assessed is not None
        _, stale, reasons = assessed
        ranked.append(
            RankedUnit(
                candidate=unit,
                rank=rank,
                eta_s=eta,
                score_s=score,
                distance_m=round(float(distance), 1),
                stale=stale,
                reasons=(f"road ETA {_minutes(eta)}", *reasons),
            )
        )
    return ranked


def needs_advanced_backup(
    needs: CallNeeds,
    first: RankedUnit | None,
    levels: frozenset[str],
    sent_kinds: Sequence[str] = (),
) -> bool:
    """Tiered response: a call of ``levels`` that has no advanced (ALS) unit, sent or
    ranked first, gets the nearest ALS unit proposed too (the first unit arrives soonest,
    the ALS crew treats). ``sent_kinds``: the units already on the call."""
    if needs.triage not in levels:
        return False
    if any(traits(kind).care_level == "als" for kind in sent_kinds):
        return False
    if sent_kinds:
        return True
    return first is not None and traits(first.candidate.kind).care_level != "als"
