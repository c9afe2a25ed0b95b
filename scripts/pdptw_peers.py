"""Li & Lim instances side by side: the project's scheduler, PyVRP and VROOM, every plan
re-timed and verified by the project's independent checker in the instance's own units.

The peers are not dependencies of the project; give them a virtual environment of their
own (with the project's numpy and ortools pins) and run from the repository root:

    python3 -m venv /tmp/peers
    /tmp/peers/bin/pip install pyvrp==0.14.1 pyvroom==1.15.2 \\
        ortools==$(.venv/bin/python -c 'import ortools; print(ortools.__version__)') \\
        numpy==$(.venv/bin/python -c 'import numpy; print(numpy.__version__)')
    PYTHONPATH=. /tmp/peers/bin/python scripts/pdptw_peers.py \\
        --instances ../shared/data/pdptw/lilim-100 --time-limit 30 > peers.json

Every solver gets the same integer data (× 1000, travel rounded up) and, like the instances'
objective, fewest vehicles first (a fixed cost per vehicle). PyVRP runs for the time limit;
VROOM has none and runs at its deepest exploration (level 5) on one thread. Prints JSON.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dispatch.routing.darp.bench_pdptw import length, read_bks, run_instance
from dispatch.routing.darp.check import verify
from dispatch.routing.darp.lilim import LiLimInstance, read_lilim, to_problem
from dispatch.routing.darp.model import Plan, StopRef
from dispatch.routing.darp.timetable import retime_routes

SCALE = 1000
FIXED = 10**9  # more than any plan's length × SCALE: fewest vehicles first
Routes = list[list[StopRef]]


def _ints(inst: LiLimInstance) -> tuple[np.ndarray, Callable[[float], int]]:
    return np.ceil(inst.distance() * SCALE - 1e-9).astype(np.int64), lambda x: int(x * SCALE)


def solve_pyvrp(inst: LiLimInstance, time_limit_s: float) -> Routes:
    import pyvrp
    from pyvrp.stop import MaxRuntime

    travel, s = _ints(inst)
    model = pyvrp.Model()
    locations = [model.add_location(x=s(x), y=s(y)) for x, y in inst.xy]
    e0, l0 = s(inst.earliest[0]), s(inst.latest[0])
    depot = model.add_depot(locations[0], tw_early=e0, tw_late=l0)
    model.add_vehicle_type(
        num_available=inst.vehicles, capacity=inst.capacity, start_depot=depot,
        end_depot=depot, fixed_cost=FIXED, tw_early=e0, tw_late=l0,
    )  # fmt: skip
    for p, d in inst.pairs:
        model.add_shipment(
            locations[p], locations[d],
            pickup_tw_early=s(inst.earliest[p]), pickup_tw_late=s(inst.latest[p]),
            pickup_service_duration=s(inst.service[p]),
            delivery_tw_early=s(inst.earliest[d]), delivery_tw_late=s(inst.latest[d]),
            delivery_service_duration=s(inst.service[d]), amount=int(inst.demand[p]),
        )  # fmt: skip
    for (i, a), (j, b) in itertools.permutations(enumerate(locations), 2):
        model.add_edge(a, b, distance=int(travel[i, j]), duration=int(travel[i, j]))
    result = model.solve(stop=MaxRuntime(time_limit_s), display=False)
    routes: Routes = []
    for route in result.best.routes():
        stops = []
        for act in route.schedule():
            if act.is_pickup() or act.is_delivery():
                p, _ = inst.pairs[act.idx]
                stops.append(StopRef(str(p), "pickup" if act.is_pickup() else "dropoff"))
        routes.append(stops)
    return routes


def solve_vroom(inst: LiLimInstance, time_limit_s: float) -> Routes:
    import vroom

    travel, s = _ints(inst)
    problem = vroom.Input()
    problem.set_durations_matrix(profile="car", matrix_input=travel.tolist())
    window = vroom.TimeWindow(s(inst.earliest[0]), s(inst.latest[0]))
    for k in range(inst.vehicles):
        problem.add_vehicle(
            vroom.Vehicle(
                k + 1, start=0, end=0, capacity=[inst.capacity], time_window=window,
                costs=vroom.VehicleCosts(fixed=FIXED),
            )
        )  # fmt: skip
    pickup_of: dict[int, int] = {}
    for i, (p, d) in enumerate(inst.pairs):
        pickup_of[2 * i + 1] = pickup_of[2 * i + 2] = p
        steps = [
            vroom.ShipmentStep(
                2 * i + 1 + k,
                location=node,
                default_service=s(inst.service[node]),
                time_windows=[vroom.TimeWindow(s(inst.earliest[node]), s(inst.latest[node]))],
            )
            for k, node in enumerate((p, d))
        ]
        problem.add_shipment(*steps, amount=vroom.Amount([int(inst.demand[p])]))
    solution = problem.solve(exploration_level=5, nb_threads=1)
    routes: Routes = []
    for _, rows in solution.routes.groupby("vehicle_id", sort=True):
        stops = [
            StopRef(str(pickup_of[int(r.id)]), "pickup" if r.type == "pickup" else "dropoff")
            for r in rows.itertuples()
            if r.type in ("pickup", "delivery")
        ]
        routes.append(stops)
    return routes


def checked(inst: LiLimInstance, routes: Routes, seconds: float) -> dict[str, Any]:
    """A peer's routes re-timed and verified in the instance's units, as ours are."""
    exact = to_problem(inst, None)
    orders = [(v.id, stops) for v, stops in zip(exact.vehicles, routes, strict=False)]
    retimed, problem = retime_routes(exact, orders)
    timed = [r for r in retimed if r is not None]
    served = {s.request_id for stops in routes for s in stops}
    unserved = [r.id for r in exact.requests if r.id not in served]
    distance = length(inst, timed)
    if problem is None and not unserved:
        broken = verify(exact, Plan(tuple(timed), (), distance), 1e-6)
        problem = broken[0].message if broken else None
    return {
        "served": len(served),
        "feasible": problem is None and not unserved,
        "violation": problem,
        "vehicles": sum(1 for stops in routes if stops),
        "distance": round(distance, 2),
        "seconds": round(seconds, 2),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--instances", type=Path, required=True)
    parser.add_argument("--time-limit", type=float, default=30.0)
    parser.add_argument("--names", default=None)
    args = parser.parse_args(argv)
    names = args.names.split(",") if args.names else sorted(
        p.stem for p in args.instances.glob("l*.txt")
    )  # fmt: skip
    bks = read_bks(args.instances)
    rows = []
    for name in names:
        path = args.instances / f"{name}.txt"
        inst = read_lilim(path)
        row: dict[str, Any] = {"name": name, "bks": bks.get(name)}
        ours = run_instance(path, args.time_limit, bks.get(name))
        row["project"] = {
            k: ours[k] for k in ("served", "feasible", "vehicles", "distance", "seconds")
        }
        for peer, solve in (("pyvrp", solve_pyvrp), ("vroom", solve_vroom)):
            started = time.perf_counter()
            routes = solve(inst, args.time_limit)
            row[peer] = checked(inst, routes, time.perf_counter() - started)
        rows.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)
    summary: dict[str, Any] = {"instances": len(rows), "time_limit_s": args.time_limit}
    for who in ("project", "pyvrp", "vroom"):
        summary[who] = {
            "feasible": sum(1 for r in rows if r[who]["feasible"]),
            "vehicles": sum(r[who]["vehicles"] for r in rows),
            "distance": round(sum(r[who]["distance"] for r in rows), 2),
        }
    summary["project_vs_pyvrp"] = {
        "fewer_vehicles": sum(1 for r in rows if r["project"]["vehicles"] < r["pyvrp"]["vehicles"]),
        "more_vehicles": sum(1 for r in rows if r["project"]["vehicles"] > r["pyvrp"]["vehicles"]),
        "distance_pct_at_same_vehicles": _same_fleet_gap(rows, "pyvrp"),
    }
    print(json.dumps({"instances": rows, "summary": summary}, indent=1))
    return 0


def _same_fleet_gap(rows: list[dict[str, Any]], peer: str) -> float | None:
    same = [
        r for r in rows if r["project"]["vehicles"] == r[peer]["vehicles"] and r[peer]["feasible"]
    ]
    if not same:
        return None
    ours = sum(r["project"]["distance"] for r in same)
    theirs = sum(r[peer]["distance"] for r in same)
    return round(100 * (ours / theirs - 1), 2)


if __name__ == "__main__":
    sys.exit(main())
