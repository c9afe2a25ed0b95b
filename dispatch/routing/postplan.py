"""Where the next posts or stations should go: the question a city asks before it
builds one. Maximal covering (MCLP: the most demand within the target) or p-median (the
least demand-weighted travel time), chosen greedily one site at a time on top of the
sites that already exist, then improved by swapping sites (Teitz–Bart interchange), with
the gain each added site brings.

Pure: travel times from candidate sites to zones and the demand per zone in, the chosen
sites and figures out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from dispatch.routing.base import FloatArray, IntArray

Objective = Literal["mclp", "pmedian"]


@dataclass(frozen=True, slots=True)
class Step:
    """The site added at this step, what it added, and the city after it."""

    site: int
    gain: float  # MCLP: share of demand newly covered; p-median: seconds saved on average
    covered: float  # share of demand within the target after this step
    mean_s: float  # demand-weighted mean travel time after this step


@dataclass(frozen=True)
class PostPlan:
    objective: Objective
    existing: tuple[int, ...]
    steps: tuple[Step, ...]
    covered_before: float
    mean_before_s: float

    @property
    def sites(self) -> list[int]:
        return [s.site for s in self.steps]


def _figures(
    times: FloatArray, demand: FloatArray, chosen: Sequence[int], budget_s: float
) -> tuple[float, float]:
    if not chosen:
        return 0.0, float("inf")
    nearest = times[np.asarray(chosen)].min(axis=0)
    covered = float(demand[nearest <= budget_s].sum())
    mean = float((demand * nearest).sum())
    return covered, mean


def _score(objective: Objective, covered: float, mean: float) -> tuple[float, float]:
    """Larger is better; the other figure breaks ties."""
    return (covered, -mean) if objective == "mclp" else (-mean, covered)


def plan_posts(
    times_s: IntArray | FloatArray,
    demand: FloatArray,
    *,
    count: int,
    budget_s: float,
    existing: Sequence[int] = (),
    objective: Objective = "mclp",
    swaps: bool = True,
) -> PostPlan:
    """Choose ``count`` more sites (rows of ``times_s``) for ``demand`` (one weight per
    zone, normalised here) on top of ``existing``."""
    times = np.asarray(times_s, dtype=np.float64)
    weights = np.asarray(demand, dtype=np.float64)
    if weights.shape != (times.shape[1],) or np.any(weights < 0):
        raise ValueError("demand needs one non-negative weight per zone")
    total = weights.sum()
    weights = weights / total if total > 0 else np.full(times.shape[1], 1 / times.shape[1])
    fixed = list(dict.fromkeys(existing))
    candidates = [s for s in range(times.shape[0]) if s not in fixed]
    count = min(count, len(candidates))
    covered0, mean0 = _figures(times, weights, fixed, budget_s)
    chosen: list[int] = []
    for _ in range(count):
        best: tuple[tuple[float, float], int] | None = None
        for site in candidates:
            if site in chosen:
                continue
            covered, mean = _figures(times, weights, [*fixed, *chosen, site], budget_s)
            key = _score(objective, covered, mean)
            if best is None or key > best[0]:
                best = (key, site)
        assert best is not None
        chosen.append(best[1])
    if swaps and chosen:
        chosen = _interchange(times, weights, fixed, chosen, candidates, budget_s, objective)
    steps = []
    prev_cov, prev_mean = covered0, mean0
    for i, site in enumerate(chosen):
        covered, mean = _figures(times, weights, [*fixed, *chosen[: i + 1]], budget_s)
        if objective == "mclp":
            gain = covered - prev_cov
        else:
            gain = (prev_mean - mean) if np.isfinite(prev_mean) else float("inf")
        steps.append(Step(site, gain, covered, mean))
        prev_cov, prev_mean = covered, mean
    return PostPlan(objective, tuple(fixed), tuple(steps), covered0, mean0)


def _interchange(
    times: FloatArray,
    weights: FloatArray,
    fixed: list[int],
    chosen: list[int],
    candidates: list[int],
    budget_s: float,
    objective: Objective,
) -> list[int]:
    """Swap a chosen site for an unchosen one while that improves the objective; keep
    the order of greatest marginal gain for reporting."""
    current = list(chosen)
    best_key = _score(objective, *_figures(times, weights, [*fixed, *current], budget_s))
    improved = True
    while improved:
        improved = False
        for i in range(len(current)):
            for site in candidates:
                if site in current:
                    continue
                trial = [*current[:i], site, *current[i + 1 :]]
                key = _score(objective, *_figures(times, weights, [*fixed, *trial], budget_s))
                if key > best_key:
                    current, best_key, improved = trial, key, True
    # Order by marginal contribution, as a city would build them.
    ordered: list[int] = []
    remaining = list(current)
    while remaining:
        pick = max(
            remaining,
            key=lambda s: _score(
                objective, *_figures(times, weights, [*fixed, *ordered, s], budget_s)
            ),
        )
        ordered.append(pick)
        remaining.remove(pick)
    return ordered
