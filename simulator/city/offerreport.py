"""What the ``offers`` policy's day says: how long a call took from being handed out to a
station that took it, how many offers that needed, and the same calls under the phone
loop they replace; then what the server stored of every offer, against what the
simulator saw.

The phone loop is derived, not simulated: the dispatcher phones the same stations in the
same order and hears the same answers (the seeded declines and silences), and each
station phoned costs ``phone_cost_s`` (dialling, ringing, "xe bận") instead of the time
the offer stood. Everything else the call went through (waiting for a free unit, a new
round after every station said no) is kept. What it leaves out: a slower loop would
itself keep units waiting longer, so a busy day's later calls would meet a different
fleet; the figure is the loop's cost on these calls, not a second day.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Sequence
from statistics import fmean
from typing import Any

from simulator.city.answers import AnswerModel
from simulator.city.api import Api
from simulator.city.clock import Clock
from simulator.city.records import CaseRecord
from simulator.city.scenario import TRIAGE_ORDER
from simulator.stats import percentile

DEFINITIONS = {
    "handout_to_accepted_s": "call ready to hand out (taken, after the scenario's call-"
    "taking delay) -> a station accepted; waits for a free unit included",
    "received_to_accepted_s": "call received (incident created) -> a station accepted",
    "phone_loop": "the same stations in the same order with the same answers, each "
    "station phoned costing phone_cost_s instead of the time its offer stood",
}


def _stats(values: Sequence[float]) -> dict[str, float | None]:
    ordered = sorted(values)
    if not ordered:
        return {"p50": None, "p90": None, "mean": None, "max": None}
    return {
        "p50": round(percentile(ordered, 50), 1),
        "p90": round(percentile(ordered, 90), 1),
        "mean": round(fmean(ordered), 1),
        "max": round(ordered[-1], 1),
    }


def handout_s(rec: CaseRecord) -> float | None:
    if rec.accepted_v is None or rec.ready_v is None:
        return None
    return rec.accepted_v - rec.ready_v


def phone_loop_s(rec: CaseRecord, phone_cost_s: float) -> float | None:
    """The call's hand-out → accepted time had the dispatcher phoned its stations."""
    offers_s = handout_s(rec)
    held = [step.held_s for step in rec.offers]
    if offers_s is None or any(h is None for h in held):
        return None
    return offers_s - sum(h for h in held if h is not None) + phone_cost_s * len(held)


def offer_figures(
    records: list[CaseRecord], model: AnswerModel, late_answers: int, errors: list[str]
) -> dict[str, Any]:
    calls = [r for r in records if r.incident_id is not None]
    taken = [r for r in calls if r.accepted_v is not None]
    steps = [step for r in calls for step in r.offers]
    statuses = Counter(step.status for step in steps)
    reasons = Counter(step.reason for step in steps if step.status == "declined")
    handout = [h for r in taken if (h := handout_s(r)) is not None]
    phone = [p for r in taken if (p := phone_loop_s(r, model.phone_cost_s)) is not None]
    received = [
        r.accepted_v - r.created_v
        for r in taken
        if r.accepted_v is not None and r.created_v is not None
    ]
    by_triage = {}
    for triage in TRIAGE_ORDER:
        mine = [r for r in taken if r.call.triage == triage]
        if mine:
            by_triage[triage] = {
                "calls": len(mine),
                "handout_to_accepted_s": _stats(
                    [h for r in mine if (h := handout_s(r)) is not None]
                ),
                "phone_loop_s": _stats(
                    [p for r in mine if (p := phone_loop_s(r, model.phone_cost_s)) is not None]
                ),
            }
    more = sum(1 for r in taken if len(r.offers) > 1)
    return {
        "definitions": DEFINITIONS,
        "answer_model": model.describe(),
        "calls": len(calls),
        "accepted": len(taken),
        "handout_to_accepted_s": _stats(handout),
        "received_to_accepted_s": _stats(received),
        "offers": len(steps),
        "offers_per_call": {
            "mean": round(len(steps) / len(calls), 3) if calls else None,
            "max": max((len(r.offers) for r in calls), default=0),
            "histogram": dict(sorted(Counter(len(r.offers) for r in calls).items())),
        },
        "calls_with_more_than_one_offer": more,
        "more_than_one_offer_share": round(more / len(taken), 4) if taken else None,
        "outcomes": dict(sorted(statuses.items())),
        "declined_by_reason": dict(sorted(reasons.items())),
        "timed_out": statuses.get("timed_out", 0),
        "timed_out_unanswered": sum(1 for s in steps if s.status == "timed_out" and not s.late),
        "late_answers_refused": late_answers,
        "chains_exhausted": sum(r.exhausted for r in calls),
        "calls_waited_for_a_free_station": sum(1 for r in calls if r.waited_s is not None),
        "by_triage": by_triage,
        "phone_loop": {
            "phone_cost_s": model.phone_cost_s,
            "stations_phoned_per_call": round(len(steps) / len(calls), 3) if calls else None,
            "handout_to_accepted_s": _stats(phone),
            "p50_saved_by_offers_s": (
                round(percentile(sorted(phone), 50) - percentile(sorted(handout), 50), 1)
                if phone and handout
                else None
            ),
        },
        "errors": errors[:5],
        # [call, triage, offers, hand-out → accepted s, phone loop s]: per call, so runs
        # of one seed can be compared call by call
        "per_call": [
            [
                r.call.n,
                r.call.triage,
                len(r.offers),
                None if (h := handout_s(r)) is None else round(h, 3),
                None if (p := phone_loop_s(r, model.phone_cost_s)) is None else round(p, 3),
            ]
            for r in sorted(calls, key=lambda r: r.call.n)
        ],
    }


def _reason(status: str, reason: str | None) -> str | None:
    return reason if status == "declined" else None


async def verify_offers(
    api: Api, clock: Clock, records: list[CaseRecord], start_s: float, end_s: float
) -> dict[str, Any]:
    """Every call's chain as the server stored it against the offers the simulator
    followed: the same offers in the same order, the same stations, answers, reasons
    and moments; and the server's per-station counts (``GET /kpis``) against the run's."""
    calls = [r for r in records if r.incident_id is not None]
    gate = asyncio.Semaphore(16)
    differ: list[str] = []

    async def one(rec: CaseRecord) -> None:
        async with gate:
            chain = (await api.send("GET", f"/incidents/{rec.incident_id}/offers")).json()
        seen = [
            (s.offer_id, s.station_id, s.vehicle_id, s.status, _reason(s.status, s.reason))
            for s in rec.offers
        ]
        stored = [
            (
                int(o["id"]),
                o["station_id"],
                int(o["vehicle_id"]),
                o["status"],
                _reason(o["status"], o["decline_reason"]),
            )
            for o in chain
        ]
        if seen != stored:
            differ.append(f"call {rec.call.n}: saw {seen}, server {stored}")
            return
        for step, o in zip(rec.offers, chain, strict=True):
            # the server's microsecond stamps against the simulator's float moments
            moments = (clock.virtual(o["offered_at"]), clock.virtual(o["answered_at"]))
            seen_at = (step.offered_v, step.answered_v)
            if any(b is None or abs(a - b) > 1e-3 for a, b in zip(moments, seen_at, strict=True)):
                differ.append(f"call {rec.call.n} offer {step.offer_id}: {moments} != {seen_at}")
        accepted = [o for o in chain if o["status"] == "accepted"]
        if accepted and accepted[-1]["assignment_id"] != rec.assignment_id:
            differ.append(f"call {rec.call.n}: assignment {accepted[-1]['assignment_id']}")

    await asyncio.gather(*(one(r) for r in calls))
    params = {
        "since": clock.local(start_s).isoformat(),
        "until": clock.local(max(end_s, clock.now_v()) + 1).isoformat(),
    }
    kpis = (await api.send("GET", "/kpis", params=params)).json()
    stations = kpis.get("stations", [])
    server = {
        key: sum(int(s[key]) for s in stations)
        for key in ("offers", "accepted", "declined", "timed_out", "withdrawn")
    }
    steps = [step for r in calls for step in r.offers]
    mine = Counter(step.status for step in steps)
    simulator = {
        "offers": len(steps),
        **{k: mine.get(k, 0) for k in ("accepted", "declined", "timed_out", "withdrawn")},
    }
    return {
        "calls_compared": len(calls),
        "offers_compared": len(steps),
        "differ": sorted(differ)[:10],
        "differ_count": len(differ),
        "kpis_counts": server,
        "kpis_agree": server == simulator,
        "operators": [
            {
                "name": o["name"],
                "offers": o["offers"],
                "accepted": o["accepted"],
                "declined_by_reason": o["declined_by_reason"],
                "timed_out": o["timed_out"],
                "accept_p50_s": o["accept_s"]["p50_s"],
            }
            for o in kpis.get("operators", [])
            if o["offers"]
        ],
    }


def format_offers(figures: dict[str, Any]) -> list[str]:
    """The offers section of the printed table."""

    def span(stats: dict[str, Any]) -> str:
        if stats["p50"] is None:
            return "-"
        return f"p50 {stats['p50']:.0f} s / p90 {stats['p90']:.0f} s / mean {stats['mean']:.0f} s"

    phone = figures["phone_loop"]
    lines = [
        f"offers: {figures['accepted']} of {figures['calls']} calls accepted; hand-out → "
        f"accepted {span(figures['handout_to_accepted_s'])}",
        f"  phone loop ({phone['phone_cost_s']:g} s a station): "
        f"{span(phone['handout_to_accepted_s'])}",
        f"  {figures['offers']} offers ({figures['offers_per_call']['mean']} a call, "
        f"{figures['calls_with_more_than_one_offer']} calls needed more than one); "
        f"declined {json.dumps(figures['declined_by_reason'])}, timed out "
        f"{figures['timed_out']} (late answers refused {figures['late_answers_refused']}), "
        f"every station said no {figures['chains_exhausted']} times",
    ]
    verify = figures.get("verify")
    if verify:
        lines.append(
            f"  server: {verify['offers_compared']} offers compared, "
            f"{verify['differ_count']} differ; /kpis counts agree: {verify['kpis_agree']}"
        )
    return lines
