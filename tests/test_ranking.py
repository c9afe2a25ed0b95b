"""The pure ranking: capability, stretcher, staleness and preemption, deterministically."""

from __future__ import annotations

from dispatch.routing.base import LatLon
from dispatch.routing.ranking import (
    CallNeeds,
    Preemption,
    RankingPolicy,
    UnitCandidate,
    rank_units,
)

HERE = LatLon(13.7460, 100.5340)
RED_ALS = CallNeeds(HERE, "red", "als", needs_stretcher=True)
GREEN_BLS = CallNeeds(HERE, "green", "bls", needs_stretcher=False)
POLICY = RankingPolicy()


def unit(
    vid: int,
    kind: str = "als",
    *,
    call_sign: str | None = None,
    state: str = "available",
    gps_age_s: float | None = 10.0,
    stretcher: int = 1,
    preemption: Preemption | None = None,
) -> UnitCandidate:
    return UnitCandidate(
        vehicle_id=vid,
        call_sign=call_sign or f"U{vid}",
        kind=kind,
        state=state,
        position=LatLon(13.75 + vid * 1e-3, 100.53),
        position_source="gps" if gps_age_s is not None else "station",
        gps_age_s=gps_age_s,
        seats_stretcher=stretcher,
        preemption=preemption,
    )


def order(needs: CallNeeds, units: list[UnitCandidate], etas: list[int]) -> list[str]:
    return [r.candidate.call_sign for r in rank_units(needs, units, etas, POLICY)]


def test_red_call_prefers_als_unless_bls_is_much_closer() -> None:
    als, bls = unit(1, "als", call_sign="A"), unit(2, "bls", call_sign="B")
    assert order(RED_ALS, [als, bls], [400, 300]) == ["A", "B"]  # 100 s < 180 s penalty
    assert order(RED_ALS, [als, bls], [700, 300]) == ["B", "A"]  # 400 s > 180 s penalty
    ranked = rank_units(RED_ALS, [als, bls], [400, 300], POLICY)
    assert ranked[1].score_s == 300 + POLICY.als_call_bls_unit_s
    assert any("BLS unit for an ALS call" in r for r in ranked[1].reasons)
    # For a BLS-level call there is no such penalty: nearest first.
    assert order(GREEN_BLS, [als, bls], [400, 300]) == ["B", "A"]


def test_stretcher_calls_never_get_a_unit_without_a_stretcher() -> None:
    no_stretcher = unit(1, "bls", call_sign="NS", stretcher=0)
    ok = unit(2, "bls", call_sign="OK")
    assert order(RED_ALS, [no_stretcher, ok], [60, 900]) == ["OK"]
    assert order(GREEN_BLS, [no_stretcher, ok], [60, 900]) == ["NS", "OK"]


def test_motorbike_is_a_first_responder_with_a_penalty() -> None:
    bike = unit(1, "motorbike", call_sign="M", stretcher=0)
    als = unit(2, "als", call_sign="A")
    ranked = rank_units(RED_ALS, [bike, als], [100, 200], POLICY)
    assert [r.candidate.call_sign for r in ranked] == ["A", "M"]
    assert any("first responder" in r for r in ranked[1].reasons)


def test_stale_units_are_flagged_not_hidden() -> None:
    fresh = unit(1, call_sign="F", gps_age_s=5)
    stale = unit(2, call_sign="S", gps_age_s=600)
    never = unit(3, call_sign="N", gps_age_s=None)
    ranked = rank_units(RED_ALS, [fresh, stale, never], [300, 200, 100], POLICY)
    by_sign = {r.candidate.call_sign: r for r in ranked}
    assert set(by_sign) == {"F", "S", "N"}
    assert by_sign["S"].stale and by_sign["N"].stale and not by_sign["F"].stale
    assert by_sign["S"].score_s == 200 + POLICY.stale_s
    assert any("GPS stale, last fix 10.0 min ago" in r for r in by_sign["S"].reasons)
    assert any("no GPS fix" in r for r in by_sign["N"].reasons)


def test_preemption_costs_per_disrupted_ride() -> None:
    free = unit(1, call_sign="FREE")
    busy = unit(2, call_sign="VAN", preemption=Preemption((11, 12, 13)))
    ranked = rank_units(RED_ALS, [free, busy], [900, 100], POLICY)
    cost = POLICY.preemption_base_s + 3 * POLICY.preemption_per_ride_s
    van = next(r for r in ranked if r.candidate.call_sign == "VAN")
    assert van.score_s == 100 + cost
    assert any("3 ride(s) to re-plan" in r for r in van.reasons)
    assert [r.candidate.call_sign for r in ranked] == ["VAN", "FREE"]  # 100 + 480 < 900
    assert order(RED_ALS, [free, busy], [500, 100]) == ["FREE", "VAN"]  # 500 < 580


def test_ranking_is_deterministic_with_ties_broken_by_eta_then_call_sign() -> None:
    units = [unit(i, call_sign=f"U{i:02d}") for i in range(10)]
    etas = [300] * 10
    first = order(RED_ALS, units, etas)
    assert first == sorted(first)
    assert order(RED_ALS, list(reversed(units)), list(reversed(etas))) == first
    ranked = rank_units(RED_ALS, units, etas, POLICY, limit=3)
    assert [r.rank for r in ranked] == [1, 2, 3]
    assert ranked[0].reasons[0] == "road ETA 5.0 min"


def test_the_coverage_a_departure_leaves_behind_counts_as_seconds() -> None:
    """Coverage-aware dispatch: the service prices each unit's departure (capped per
    triage); the ranking adds it and says where."""
    sole = unit(1, "bls", call_sign="N1")
    sole.coverage_s, sole.coverage_reason = (
        900,
        "the only free unit within 10 min of 40% of red calls (North)",
    )
    spare = unit(2, "bls", call_sign="B1")
    spare.coverage_s = 30
    assert order(GREEN_BLS, [sole, spare], [560, 790]) == ["B1", "N1"]
    ranked = rank_units(GREEN_BLS, [sole, spare], [560, 790], POLICY)
    assert ranked[1].score_s == 560 + 900
    assert ranked[1].reasons[-1] == (
        "leaves coverage behind: the only free unit within 10 min of 40% of red calls "
        "(North) (+900 s)"
    )
    assert ranked[0].reasons[-1] == "leaves coverage behind (+30 s)"
    # Without a price (coverage off, or still being built) the order is by ETA.
    sole.coverage_s, spare.coverage_s = 0, 0
    assert order(GREEN_BLS, [sole, spare], [560, 790]) == ["N1", "B1"]
    assert not any("coverage" in r for r in rank_units(GREEN_BLS, [sole], [560])[0].reasons)
