"""Cordeau dial-a-ride benchmark: the scheduler against the best known costs.

``python -m dispatch.routing.darp.bench --instances DIR [--time-limit S] [--names a2-16,...]
[--search-seeds 0,1,...] [--json]``. Each instance is solved through the same
:func:`~.solver.solve` as bookings (in integers, × 1000), then re-timed and verified by
the independent checker in the instance's own double-precision units; the cost reported is
the Euclidean length of the routes. Instances run one after another on one core, once per
search seed.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dispatch.routing.darp.check import verify
from dispatch.routing.darp.cordeau import CordeauInstance, read_cordeau, route_cost, to_problem
from dispatch.routing.darp.engine import SearchOptions
from dispatch.routing.darp.model import Plan, StopRef, route_stops
from dispatch.routing.darp.solver import solve
from dispatch.routing.darp.timetable import retime_routes

SCALE = 1000
TOLERANCE = 1e-6


def read_bks(instances_dir: Path) -> dict[str, float]:
    path = instances_dir / "bks.csv"
    if not path.is_file():
        return {}
    with path.open(newline="") as f:
        return {row["instance"]: float(row["best_known_cost"]) for row in csv.DictReader(f)}


def _node(inst: CordeauInstance, stop: StopRef) -> int:
    i = int(stop.request_id)
    return i if stop.kind == "pickup" else inst.requests + i


def run_instance(
    path: Path,
    time_limit_s: float,
    bks: float | None = None,
    options: SearchOptions = SearchOptions(),
) -> dict[str, Any]:
    """Solve one instance file and verify it in its own units."""
    return run_cordeau(read_cordeau(path), time_limit_s, bks, options)


def run_cordeau(
    inst: CordeauInstance,
    time_limit_s: float,
    bks: float | None = None,
    options: SearchOptions = SearchOptions(),
) -> dict[str, Any]:
    """Solve one instance and verify it in its own units."""
    started = time.perf_counter()
    plan = solve(to_problem(inst, SCALE), time_limit_s, options=options)
    seconds = time.perf_counter() - started
    exact = to_problem(inst, None)
    timed, violation = retime_routes(exact, [(r.vehicle_id, route_stops(r)) for r in plan.routes])
    retimed = [t or r for t, r in zip(timed, plan.routes, strict=True)]
    node_routes = [
        [0, *(_node(inst, s) for s in route_stops(r)), 2 * inst.requests + 1] for r in retimed
    ]
    cost = route_cost(inst, node_routes)
    checked = Plan(routes=tuple(retimed), unserved=plan.unserved, cost=cost)
    violations = verify(exact, checked, TOLERANCE)
    if violations and violation is None:
        violation = violations[0].message
    served = inst.requests - len(plan.unserved)
    routes = [
        [
            {"node": node, "start": round(v.start, 6)}
            for node, v in zip(nodes, r.visits, strict=True)
        ]
        for nodes, r in zip(node_routes, retimed, strict=True)
        if len(nodes) > 2
    ]
    return {
        "name": inst.name,
        "vehicles": inst.vehicles,
        "requests": inst.requests,
        "served": served,
        "feasible": violation is None,
        "violation": violation,
        "cost": round(cost, 2),
        "bks": bks,
        "gap_pct": None if not bks else round(100.0 * (cost / bks - 1.0), 2) + 0.0,
        "seconds": round(seconds, 2),
        "routes": routes,
    }


def _order(name: str) -> tuple[int, int]:
    m, n = name[1:].split("-")
    return int(m), int(n)


def bench_darp(
    instances_dir: Path,
    time_limit_s: float = 30.0,
    names: Sequence[str] | None = None,
    search_seeds: Sequence[int] = (0,),
) -> dict[str, Any]:
    """Run the instances (all ``a*.txt`` when ``names`` is None) once per search seed and
    summarise the gaps.

    Why several seeds: a search that stops at a time gives a different plan on each run,
    and one instance moved by two and a half points between two runs (a7-56); a change to
    the search is judged on the mean over seeds and its spread, not on one run.
    """
    bks = read_bks(instances_dir)
    if names is None:
        names = sorted((p.stem for p in instances_dir.glob("a*-*.txt")), key=_order)
    if not names:
        raise FileNotFoundError(f"no Cordeau instances (aM-N.txt) in {instances_dir}")
    load_before = os.getloadavg()
    results = []
    for seed in search_seeds:
        for name in names:
            path, options = instances_dir / f"{name}.txt", SearchOptions(seed=seed)
            result = run_instance(path, time_limit_s, bks.get(name), options)
            results.append({**result, "seed": seed})
    gaps = [r["gap_pct"] for r in results if r["gap_pct"] is not None]
    by_seed = {
        str(seed): _mean([r["gap_pct"] for r in results if r["seed"] == seed])
        for seed in search_seeds
    }
    seed_means = [m for m in by_seed.values() if m is not None]
    summary = {
        "instances": len(names),
        "runs": len(results),
        "time_limit_s": time_limit_s,
        "search_seeds": list(search_seeds),
        "mean_gap_pct": _mean(gaps),
        "max_gap_pct": max(gaps) if gaps else None,
        "mean_gap_pct_by_seed": by_seed,
        "seed_spread_pct": [min(seed_means), max(seed_means)] if seed_means else None,
        "all_feasible": all(r["feasible"] for r in results),
        "all_served": all(r["served"] == r["requests"] for r in results),
        "seconds": round(sum(r["seconds"] for r in results), 1),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
    }
    return {"instances": results, "summary": summary}


def _mean(gaps: Sequence[float | None]) -> float | None:
    known = [g for g in gaps if g is not None]
    return round(sum(known) / len(known), 2) if known else None


def _table(report: dict[str, Any]) -> str:
    head = ("instance", "seed", "served", "feasible", "cost", "bks", "gap%", "s")
    lines = ["{:<8} {:>4} {:>7} {:>8} {:>9} {:>9} {:>6} {:>6}".format(*head)]
    for r in report["instances"]:
        served = f"{r['served']}/{r['requests']}"
        lines.append(
            f"{r['name']:<8} {r['seed']:>4} {served:>7} {r['feasible']!s:>8} {r['cost']:>9.2f} "
            f"{r['bks'] or 0:>9.2f} {r['gap_pct'] or 0:>6.2f} {r['seconds']:>6.1f}"
        )
    s = report["summary"]
    lines.append(
        f"mean gap {s['mean_gap_pct']}%  max gap {s['max_gap_pct']}%  all feasible "
        f"{s['all_feasible']}  all served {s['all_served']}  ({s['seconds']} s)"
    )
    if len(s["search_seeds"]) > 1:
        lines.append(f"mean gap by search seed {s['mean_gap_pct_by_seed']}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dispatch.routing.darp.bench")
    parser.add_argument("--instances", type=Path, required=True, help="folder with aM-N.txt")
    parser.add_argument("--time-limit", type=float, default=30.0, help="seconds per instance")
    parser.add_argument("--names", default=None, help="comma-separated instance names")
    parser.add_argument(
        "--search-seeds", default="0", help="comma-separated search seeds, one run of each"
    )
    parser.add_argument("--json", action="store_true", help="print the full report as JSON")
    args = parser.parse_args(argv)
    names = args.names.split(",") if args.names else None
    try:
        seeds = [int(x) for x in args.search_seeds.split(",")]
    except ValueError:
        parser.error(f"--search-seeds: not a list of integers: {args.search_seeds!r}")
    try:
        report = bench_darp(args.instances, args.time_limit, names, seeds)
    except FileNotFoundError as exc:
        parser.error(str(exc))
    print(json.dumps(report, indent=1) if args.json else _table(report))
    ok = report["summary"]["all_feasible"] and report["summary"]["all_served"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
