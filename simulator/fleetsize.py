"""``python -m simulator fleet-size``: how many units each policy needs to reach a share of
calls in time, the way a city weighs a policy against buying ambulances.

Each run is a city report of one policy at one fleet size: ``NAME@UNITS=PATH[#POLICY]``.
Per policy and fleet size the share of calls of the triage reached within the limit is
averaged over the seeds run; the units needed for the goal are read off the line between
the two sizes around it (linear interpolation). A goal met at the smallest size run says
"at most" that size; one never met says "more than" the largest. Run every policy and
size on the same seeds (the table lists the seeds behind each figure): a seed fixes the
day's calls.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Sequence
from itertools import pairwise
from typing import Any

from simulator.compare import CompareError, Run, load_run, share


def load_sized(spec: str) -> tuple[int, Run]:
    """``NAME@UNITS=PATH[#POLICY]`` → (units, the run named NAME)."""
    head, sep, rest = spec.partition("=")
    name, at, units = head.partition("@")
    if not sep or not at or not name:
        raise CompareError(f"{spec!r}: give NAME@UNITS=PATH or NAME@UNITS=PATH#POLICY")
    try:
        size = int(units)
    except ValueError:
        raise CompareError(f"{spec!r}: UNITS must be a whole number") from None
    if size < 1:
        raise CompareError(f"{spec!r}: UNITS must be at least 1")
    return size, load_run(f"{name}={rest}")


def units_needed(points: Sequence[tuple[int, float]], goal: float) -> dict[str, Any]:
    """From (units, share) sorted by units: the units needed for ``goal``."""
    first_units, first_share = points[0]
    if first_share >= goal:
        return {"units": first_units, "bound": "at_most"}
    for (u0, s0), (u1, s1) in pairwise(points):
        if s0 < goal <= s1:
            return {"units": round(u0 + (goal - s0) * (u1 - u0) / (s1 - s0), 1), "bound": "about"}
    return {"units": points[-1][0], "bound": "more_than"}


def fleet_size(
    sized: Sequence[tuple[int, Run]], triage: str, limit_s: float, goal: float
) -> dict[str, Any]:
    if not 0 < goal <= 1:
        raise CompareError("the goal is a share above 0 and at most 1 (e.g. 0.7)")
    runs: dict[str, dict[int, dict[int, Run]]] = defaultdict(lambda: defaultdict(dict))
    for units, run in sized:
        if run.seed in runs[run.name][units]:
            raise CompareError(f"two runs of {run.name} with {units} units for seed {run.seed}")
        runs[run.name][units][run.seed] = run
    out: dict[str, Any] = {"triage": triage, "within_s": limit_s, "goal_pct": 100 * goal}
    policies: dict[str, Any] = {}
    for name, by_units in sorted(runs.items()):
        curve: list[tuple[int, float]] = []
        table: dict[int, Any] = {}
        for units in sorted(by_units):
            shares = [share(r, triage, limit_s) for r in by_units[units].values()]
            present = [s for s in shares if s is not None]
            if not present:
                continue
            mean = statistics.fmean(present)
            curve.append((units, mean))
            table[units] = {"seeds": sorted(by_units[units]), "mean_pct": round(100 * mean, 2)}
        if not curve:
            raise CompareError(f"{name}: no {triage} call in any run")
        policies[name] = {"by_units": table, "needed": units_needed(curve, goal)}
    out["policies"] = policies
    return out
