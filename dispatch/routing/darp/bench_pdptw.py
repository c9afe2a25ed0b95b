"""Li & Lim pickup-and-delivery benchmark: the scheduler against the best known plans.

``dispatch bench pdptw --instances DIR [--time-limit S] [--names lc101,...] [--json]``.
Each instance is solved through the same :func:`~.solver.solve` as bookings (integers,
× 1000, a fixed cost per vehicle so that fewer vehicles come first), then re-timed and
verified by the independent checker in the instance's own units. Reported per instance:
vehicles and distance against ``bks.csv`` (vehicles, then distance). Instances run one
after another on one core.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import os
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from dispatch.routing.darp.check import verify
from dispatch.routing.darp.lilim import LiLimInstance, read_lilim, to_problem
from dispatch.routing.darp.model import Plan, VehicleRoute, route_stops
from dispatch.routing.darp.solver import solve
from dispatch.routing.darp.timetable import retime_routes

SCALE = 1000
TOLERANCE = 1e-6


def read_bks(instances_dir: Path) -> dict[str, tuple[int, float]]:
    path = instances_dir / "bks.csv"
    if not path.is_file():
        return {}
    with path.open(newline="") as f:
        return {
            row["instance"]: (int(row["vehicles"]), float(row["distance"]))
            for row in csv.DictReader(f)
        }


def length(inst: LiLimInstance, routes: Iterable[VehicleRoute]) -> float:
    """The routes' total distance in the instance's units."""
    dist = inst.distance()
    return float(
        sum(dist[a.location, b.location] for r in routes for a, b in itertools.pairwise(r.visits))
    )


def run_instance(
    path: Path, time_limit_s: float, bks: tuple[int, float] | None = None
) -> dict[str, Any]:
    inst = read_lilim(path)
    started = time.perf_counter()
    plan = solve(to_problem(inst, SCALE), time_limit_s)
    seconds = time.perf_counter() - started
    exact = to_problem(inst, None)
    timed, violation = retime_routes(exact, [(r.vehicle_id, route_stops(r)) for r in plan.routes])
    retimed = [t or r for t, r in zip(timed, plan.routes, strict=True)]
    distance = length(inst, retimed)
    used = sum(1 for r in retimed if any(v.request_id for v in r.visits))
    checked = Plan(routes=tuple(retimed), unserved=plan.unserved, cost=distance)
    violations = verify(exact, checked, TOLERANCE)
    if violations and violation is None:
        violation = violations[0].message
    out: dict[str, Any] = {
        "name": inst.name,
        "requests": inst.requests,
        "served": inst.requests - len(plan.unserved),
        "feasible": violation is None,
        "violation": violation,
        "vehicles": used,
        "distance": round(distance, 2),
        "seconds": round(seconds, 2),
    }
    if bks is not None:
        out["bks_vehicles"], out["bks_distance"] = bks
        out["vehicles_over_bks"] = used - bks[0]
        out["distance_gap_pct"] = round(100.0 * (distance / bks[1] - 1.0), 2) + 0.0
    return out


def bench_pdptw(
    instances_dir: Path, time_limit_s: float = 30.0, names: Sequence[str] | None = None
) -> dict[str, Any]:
    bks = read_bks(instances_dir)
    if names is None:
        names = sorted(p.stem for p in instances_dir.glob("l*.txt"))
    if not names:
        raise FileNotFoundError(f"no Li & Lim instances (lc*, lr*, lrc*) in {instances_dir}")
    load_before = os.getloadavg()
    results = [
        run_instance(instances_dir / f"{name}.txt", time_limit_s, bks.get(name)) for name in names
    ]
    same_fleet = [r for r in results if r.get("vehicles_over_bks") == 0]
    return {
        "instances": results,
        "summary": {
            "instances": len(results),
            "time_limit_s": time_limit_s,
            "all_feasible": all(r["feasible"] for r in results),
            "all_served": all(r["served"] == r["requests"] for r in results),
            "vehicles_over_bks": sum(r.get("vehicles_over_bks", 0) for r in results),
            "at_bks_vehicles": len(same_fleet),
            "mean_distance_gap_pct_at_bks_vehicles": round(
                sum(r["distance_gap_pct"] for r in same_fleet) / len(same_fleet), 2
            )
            if same_fleet
            else None,
            "seconds": round(sum(r["seconds"] for r in results), 1),
            "load_average_before": [round(x, 2) for x in load_before],
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
        },
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="dispatch bench pdptw")
    parser.add_argument("--instances", type=Path, required=True, help="folder with lc101.txt…")
    parser.add_argument("--time-limit", type=float, default=30.0, help="seconds per instance")
    parser.add_argument("--names", default=None, help="comma-separated instance names")
    args = parser.parse_args(argv)
    names = args.names.split(",") if args.names else None
    try:
        report = bench_pdptw(args.instances, args.time_limit, names)
    except FileNotFoundError as exc:
        parser.error(str(exc))
    print(json.dumps(report, indent=1))
    ok = report["summary"]["all_feasible"] and report["summary"]["all_served"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
