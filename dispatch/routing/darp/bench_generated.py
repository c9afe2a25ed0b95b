"""Generated Cordeau-style instances past 100 requests: the plan at the time limit against
the best plan the project finds in a long run.

``dispatch bench darp-generated [--sizes 100,150,200] [--seeds 1] [--time-limit 30]
[--reference-limit 600] [--references FILE] [--write DIR]``. No best-known costs exist for
these instances, so the reference is the best of the long run and the short one (the gap
is never negative). Long runs are slow; ``--references`` keeps their results in a JSON
file, reused when the instance and the reference limit match. Every plan is verified by
the independent checker in the instance's own units. Runs one after another on one core;
prints JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dispatch.routing.darp.bench import run_cordeau
from dispatch.routing.darp.cordeau import CordeauInstance
from dispatch.routing.darp.generate import format_cordeau, generate_cordeau

_KEPT = ("served", "feasible", "violation", "cost", "seconds")


def _reference(
    inst: CordeauInstance, limit_s: float, store: dict[str, Any], path: Path | None
) -> dict[str, Any]:
    key = f"{inst.name}@{limit_s:g}"
    found = store.get(key)
    if found is None:
        run = run_cordeau(inst, limit_s)
        found = {k: run[k] for k in _KEPT}
        store[key] = found
        if path is not None:
            path.write_text(json.dumps(store, indent=1, sort_keys=True) + "\n")
    return dict(found)


def bench_generated(
    sizes: Sequence[int],
    seeds: Sequence[int],
    time_limit_s: float = 30.0,
    reference_limit_s: float = 600.0,
    references: Path | None = None,
    write: Path | None = None,
) -> dict[str, Any]:
    store: dict[str, Any] = {}
    if references is not None and references.is_file():
        store = json.loads(references.read_text())
    load_before = os.getloadavg()
    rows = []
    for size in sizes:
        for seed in seeds:
            inst = generate_cordeau(size, seed)
            if write is not None:
                write.mkdir(parents=True, exist_ok=True)
                (write / f"{inst.name}.txt").write_text(format_cordeau(inst))
            ref = _reference(inst, reference_limit_s, store, references)
            run = run_cordeau(inst, time_limit_s)
            short = {k: run[k] for k in _KEPT}
            rows.append(_row(inst, size, seed, short, ref))
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    by_size = {}
    for size in sizes:
        gaps = [r["gap_pct"] for r in rows if r["requests"] == size and r["gap_pct"] is not None]
        by_size[str(size)] = {
            "runs": sum(1 for r in rows if r["requests"] == size),
            "mean_gap_pct": round(sum(gaps) / len(gaps), 2) if gaps else None,
            "max_gap_pct": max(gaps) if gaps else None,
        }
    summary = {
        "time_limit_s": time_limit_s,
        "reference_limit_s": reference_limit_s,
        "by_size": by_size,
        "all_feasible": all(r["short"]["feasible"] and r["reference"]["feasible"] for r in rows),
        "fewer_served_than_reference": sum(
            1 for r in rows if r["short"]["served"] < r["reference"]["served"]
        ),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
    }
    return {"instances": rows, "summary": summary}


def _row(
    inst: CordeauInstance, size: int, seed: int, short: dict[str, Any], ref: dict[str, Any]
) -> dict[str, Any]:
    """The gap counts only when both runs serve as many requests (fewer served is worse)."""
    both = short["served"] == ref["served"] and short["feasible"] and ref["feasible"]
    best = min(short["cost"], ref["cost"]) if both else None
    return {
        "name": inst.name,
        "requests": size,
        "vehicles": inst.vehicles,
        "seed": seed,
        "short": short,
        "reference": ref,
        "best_cost": best,
        "gap_pct": round(100.0 * (short["cost"] / best - 1.0), 2) + 0.0 if best else None,
    }


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="dispatch bench darp-generated")
    parser.add_argument("--sizes", type=_ints, default=[100, 150, 200])
    parser.add_argument("--seeds", type=_ints, default=[1])
    parser.add_argument("--time-limit", type=float, default=30.0)
    parser.add_argument("--reference-limit", type=float, default=600.0)
    parser.add_argument("--references", type=Path, default=None, help="JSON cache of long runs")
    parser.add_argument("--write", type=Path, default=None, help="also save the instances here")
    args = parser.parse_args(argv)
    if any(s < 2 for s in args.sizes) or not args.seeds:
        parser.error("sizes must be at least 2 and one seed is needed")
    report = bench_generated(
        args.sizes, args.seeds, args.time_limit, args.reference_limit, args.references, args.write
    )
    print(json.dumps(report, indent=1))
    return 0 if report["summary"]["all_feasible"] else 1


if __name__ == "__main__":
    sys.exit(main())
