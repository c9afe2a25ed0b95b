"""Response-time figures the way EMS reports them: percentiles per triage level and the
share of calls reached within the target (among the calls a unit reached).

Percentiles use the nearest-rank method (the value at rank ceil(q·n) of the sorted list),
so every reported figure is a time that actually happened and small samples stay exact.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime


def percentile(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    if not 0 < q <= 1:
        raise ValueError("q must be in (0, 1]")
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


@dataclass(frozen=True, slots=True)
class CallTimes:
    """One call's timeline: created, first unit notified / en route / on scene."""

    triage: str
    created_at: datetime
    first_notified_at: datetime | None
    first_en_route_at: datetime | None
    first_on_scene_at: datetime | None
    #: notify -> en route of the same (first) assignment, seconds
    notify_to_en_route_s: float | None = None


@dataclass(frozen=True, slots=True)
class IntervalStats:
    count: int
    p50_s: float | None
    p90_s: float | None

    @classmethod
    def of(cls, values: Sequence[float]) -> IntervalStats:
        return cls(len(values), percentile(values, 0.5), percentile(values, 0.9))


@dataclass(frozen=True, slots=True)
class TriageKpi:
    triage: str
    calls: int
    reached: int
    target_s: int | None
    within_target: int | None
    share_within_target: float | None
    response: IntervalStats
    call_to_notify: IntervalStats
    notify_to_en_route: IntervalStats


def _seconds(later: datetime | None, earlier: datetime) -> float | None:
    return None if later is None else (later - earlier).total_seconds()


def compute(calls: Iterable[CallTimes], targets_s: Mapping[str, int]) -> list[TriageKpi]:
    """Figures per triage level, in the order red, yellow, green, white, black."""
    by_triage: dict[str, list[CallTimes]] = {}
    for call in calls:
        by_triage.setdefault(call.triage, []).append(call)
    order = ["red", "yellow", "green", "white", "black"]
    out = []
    for triage in sorted(by_triage, key=lambda t: order.index(t) if t in order else len(order)):
        group = by_triage[triage]
        response = [
            s for c in group if (s := _seconds(c.first_on_scene_at, c.created_at)) is not None
        ]
        notify = [
            s for c in group if (s := _seconds(c.first_notified_at, c.created_at)) is not None
        ]
        en_route = [c.notify_to_en_route_s for c in group if c.notify_to_en_route_s is not None]
        target = targets_s.get(triage)
        within: int | None = None
        share: float | None = None
        if target is not None:
            within = sum(1 for s in response if s <= target)
            share = round(within / len(response), 4) if response else None
        out.append(
            TriageKpi(
                triage=triage,
                calls=len(group),
                reached=len(response),
                target_s=target,
                within_target=within,
                share_within_target=share,
                response=IntervalStats.of(response),
                call_to_notify=IntervalStats.of(notify),
                notify_to_en_route=IntervalStats.of(en_route),
            )
        )
    return out
