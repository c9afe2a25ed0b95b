"""``python -m simulator compare``: policies against a baseline over seeded days.

Each run is a city report (``python -m simulator city --json``) and the policy in it to
read: ``NAME=PATH`` (the report's only policy) or ``NAME=PATH#POLICY``. Runs of the same
name and seed are one day of that policy; the baseline's day of the same seed is its pair
(the same calls: a seed fixes them). Each policy is run on a server of its own, so the
coverage one server keeps is not blurred by another policy's fleet.

For each policy and target (red within 10 min, red within 8, yellow within 15 by default)
the JSON gives the share per seed, the mean difference to the baseline over seeds with its
95 % interval (Student's t), and a paired per-call test pooled over every seed (exact
McNemar: of the calls one policy reached in time and the other did not, which way they
fall)."""

from __future__ import annotations

import json
import math
import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: (label, triage, seconds) of the default comparisons.
TARGETS: tuple[tuple[str, str, int], ...] = (
    ("red_within_10_min", "red", 600),
    ("red_within_8_min", "red", 480),
    ("yellow_within_15_min", "yellow", 900),
)

#: Two-sided 97.5 % quantiles of Student's t by degrees of freedom (1 … 10; beyond, 1.96
#: is within 0.3 % of it past 30).
_T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306,
         9: 2.262, 10: 2.228}  # fmt: skip


class CompareError(ValueError):
    pass


@dataclass(frozen=True)
class Run:
    name: str
    seed: int
    #: call number → (triage, seconds to the first unit on scene or None)
    calls: dict[int, tuple[str, float | None]]
    #: move-ups the crews followed that day (None: the run did not follow move-ups)
    moves: int | None = None


def load_run(spec: str) -> Run:
    """``NAME=PATH`` or ``NAME=PATH#POLICY``."""
    name, sep, rest = spec.partition("=")
    if not sep or not name or not rest:
        raise CompareError(f"{spec!r}: give NAME=PATH or NAME=PATH#POLICY")
    path, _, policy = rest.partition("#")
    try:
        report = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CompareError(f"{path}: {exc}") from exc
    responses = report.get("responses")
    if not isinstance(responses, dict) or not responses:
        raise CompareError(f"{path}: no per-call responses (a city report of this version?)")
    if not policy:
        if len(responses) != 1:
            raise CompareError(f"{path} holds {', '.join(responses)}: add #POLICY")
        policy = next(iter(responses))
    if policy not in responses:
        raise CompareError(f"{path} has no policy {policy!r} (it has {', '.join(responses)})")
    calls = {int(n): (str(t), None if s is None else float(s)) for n, t, s in responses[policy]}
    moveups = report.get("moveups")
    followed = isinstance(moveups, dict) and moveups.get("rounds") and "followed" in moveups
    moves = int(moveups["followed"]) if followed else None  # None: it did not follow move-ups
    return Run(name, int(report["seed"]), calls, moves)


def share(run: Run, triage: str, limit_s: float) -> float | None:
    mine = [s for t, s in run.calls.values() if t == triage]
    if not mine:
        return None
    return sum(1 for s in mine if s is not None and s <= limit_s) / len(mine)


def interval(diffs: Sequence[float]) -> dict[str, float | None]:
    """Mean and 95 % interval of ``diffs`` (over seeds)."""
    n = len(diffs)
    mean = statistics.fmean(diffs)
    if n < 2:
        return {"mean": mean, "low": None, "high": None, "sd": None}
    sd = statistics.stdev(diffs)
    half = _T975.get(n - 1, 1.96) * sd / math.sqrt(n)
    return {"mean": mean, "low": mean - half, "high": mean + half, "sd": sd}


def mcnemar(better: int, worse: int) -> float:
    """Exact two-sided McNemar p-value: ``better`` discordant pairs one way, ``worse``
    the other (a binomial test of the split at one half)."""
    n = better + worse
    if n == 0:
        return 1.0
    k = min(better, worse)
    tail: float = sum(math.comb(n, i) for i in range(k + 1)) / 2**n
    return min(1.0, 2 * tail)


def compare(runs: Sequence[Run], baseline: str) -> dict[str, Any]:
    by_name: dict[str, dict[int, Run]] = defaultdict(dict)
    for run in runs:
        if run.seed in by_name[run.name]:
            raise CompareError(f"two runs of {run.name} for seed {run.seed}")
        by_name[run.name][run.seed] = run
    if baseline not in by_name:
        raise CompareError(f"no run named {baseline!r} (the baseline)")
    base = by_name[baseline]
    out: dict[str, Any] = {"baseline": baseline, "policies": {}}
    for name, seeds in by_name.items():
        common = sorted(set(seeds) & set(base))
        if not common:
            raise CompareError(f"{name}: no seed in common with the baseline")
        figures: dict[str, Any] = {"seeds": common}
        per_call = [
            moves / len(run.calls)
            for run in (seeds[seed] for seed in common)
            if (moves := run.moves) is not None and run.calls
        ]
        if per_call:
            figures["moveups_per_call"] = round(statistics.fmean(per_call), 3)
        for label, triage, limit in TARGETS:
            per_seed = {seed: share(seeds[seed], triage, limit) for seed in common}
            entry: dict[str, Any] = {
                "per_seed_pct": {s: _pct(v) for s, v in per_seed.items()},
                "mean_pct": _pct(_mean(per_seed.values())),
            }
            if name != baseline:
                diffs = []
                better = worse = 0
                for seed in common:
                    mine, theirs = seeds[seed], base[seed]
                    a, b = share(mine, triage, limit), share(theirs, triage, limit)
                    if a is not None and b is not None:
                        diffs.append(100 * (a - b))
                    for n, (t, s) in mine.calls.items():
                        if t != triage or n not in theirs.calls:
                            continue
                        ours = s is not None and s <= limit
                        other = theirs.calls[n][1]
                        theirs_ok = other is not None and other <= limit
                        better += ours and not theirs_ok
                        worse += theirs_ok and not ours
                ci = interval(diffs) if diffs else {"mean": None}
                entry["difference_points"] = {k: _round(v) for k, v in ci.items()}
                entry["paired_calls"] = {
                    "better": better,
                    "worse": worse,
                    "p_value": round(mcnemar(better, worse), 5),
                }
            figures[label] = entry
        out["policies"][name] = figures
    return out


def _mean(values: Any) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.fmean(present) if present else None


def _pct(value: float | None) -> float | None:
    return None if value is None else round(100 * value, 2)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)
