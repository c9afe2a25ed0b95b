"""Scale check: a synthetic day of bookings on a real road graph, then one same-day insertion.

``python -m dispatch.routing.darp.scale --osm PATH [--bookings 400] [--vehicles 30]
[--time-limit 60] [--insert-limit 2] [--cache-dir DIR]``. Bookings are seeded random trips
between points snapped to the network and a few "hospital" points (outbound trips arrive by an
appointment, returns leave within a pickup window), mixed mobility (seated, wheelchair,
stretcher, some with an escort), two shifts with lunch breaks. Times are seconds since local
midnight. Travel times follow the provider's rush hours by time of day (``--travel
timed``), or, as plans were made before, one matrix at 08:00 for the whole day (``--travel
rush``); either plan's figures are read with every leg timed at its real departure.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from dispatch.routing.base import LatLon
from dispatch.routing.bench import random_points
from dispatch.routing.darp.check import verify
from dispatch.routing.darp.figures import plan_figures
from dispatch.routing.darp.matrices import timed_matrix
from dispatch.routing.darp.model import Break, Plan, Problem, Request, TimeWindow, Vehicle
from dispatch.routing.darp.solver import insert, solve
from dispatch.routing.factory import build_provider
from dispatch.routing.roadgraph import RoadGraphProvider

MIN = 60
HOUR = 3600
SERVICE = {"seated": 2 * MIN, "wheelchair": 5 * MIN, "stretcher": 8 * MIN}


def _booking(
    rng: np.random.Generator, rid: str, home: int, hospital: int, travel: np.ndarray, slow: float
) -> Request:
    mobility = rng.choice(["seated", "wheelchair", "stretcher"], p=[0.7, 0.22, 0.08])
    load = {str(mobility): 1}
    if mobility != "stretcher" and rng.random() < 0.3:
        load["seated"] = load.get("seated", 0) + 1  # an escort
    service = SERVICE[str(mobility)]
    outbound = rng.random() < 0.5
    pickup, dropoff = (home, hospital) if outbound else (hospital, home)
    direct = int(travel[pickup, dropoff] * slow)  # at its slowest: the limit holds all day
    at = int(rng.integers(8 * HOUR, 17 * HOUR) // (5 * MIN) * (5 * MIN))
    if outbound:  # arrive by the appointment, at most 30 minutes early
        pickup_window = TimeWindow(0, 24 * HOUR)
        dropoff_window = TimeWindow(at - 30 * MIN, at)
    else:  # ready at ``at``, collected within 30 minutes
        pickup_window = TimeWindow(at, at + 30 * MIN)
        dropoff_window = TimeWindow(0, 24 * HOUR)
    return Request(
        id=rid,
        pickup=pickup,
        dropoff=dropoff,
        load=load,
        pickup_window=pickup_window,
        dropoff_window=dropoff_window,
        max_ride=direct + max(20 * MIN, direct),
        pickup_service=service,
        dropoff_service=service,
    )


def synthetic_day(
    provider: RoadGraphProvider, bookings: int, vehicles: int, seed: int = 0
) -> tuple[Problem, list[LatLon]]:
    """A seeded day: ``bookings`` trips, ``vehicles`` vehicles, and the points they use."""
    rng = np.random.default_rng(seed)
    homes = random_points(provider, rng, bookings + 1)  # one spare for the insertion
    hospitals = random_points(provider, rng, 8)
    depots = random_points(provider, rng, 3)
    points = [*homes, *hospitals, *depots]
    midnight = datetime(2026, 3, 20, tzinfo=ZoneInfo(provider.time_profile.timezone))
    travel, bands = timed_matrix(provider, points, midnight, midnight + timedelta(hours=9))
    slow = 1.0 if bands is None else bands.slowest
    h0, d0 = len(homes), len(homes) + len(hospitals)
    requests = tuple(
        _booking(rng, f"b{i}", i, h0 + int(rng.integers(len(hospitals))), travel, slow)
        for i in range(bookings)
    )
    fleet = []
    for k in range(vehicles):
        kind = k % 10
        if kind < 6:
            capacity = {"seated": 6, "wheelchair": 2}
        elif kind < 8:
            capacity = {"seated": 3, "wheelchair": 3}
        else:
            capacity = {"seated": 2, "stretcher": 1}
        early = k % 3 != 2
        shift = TimeWindow(7 * HOUR, 16 * HOUR) if early else TimeWindow(10 * HOUR, 19 * HOUR)
        lunch = TimeWindow(11 * HOUR, 13 * HOUR) if early else TimeWindow(14 * HOUR, 15 * HOUR)
        depot = d0 + k % len(depots)
        fleet.append(
            Vehicle(
                id=f"v{k}",
                capacity=capacity,
                start=depot,
                end=depot,
                shift=shift,
                breaks=(Break(lunch, 30 * MIN),),
            )
        )
    problem = Problem(requests=requests, vehicles=tuple(fleet), travel=travel, bands=bands)
    return problem, points


def rush_all_day(problem: Problem, at: float = 8 * HOUR) -> Problem:
    """The same day with every leg timed at ``at`` (one matrix, no bands): how days were
    planned before travel times followed the time of day."""
    if problem.bands is None:
        return problem
    factor = problem.bands.factor_at(at)
    travel = np.ceil(problem.travel * factor).astype(np.int64)
    return replace(problem, travel=travel, bands=None)


def _pickups(plan: Plan) -> dict[str, float]:
    return {
        v.request_id: v.start
        for r in plan.routes
        for v in r.visits
        if v.kind == "pickup" and v.request_id is not None
    }


def with_promises(problem: Problem, plan: Plan, tolerance_s: float = 10 * MIN) -> Problem:
    """``problem`` with every ride ``plan`` serves kept, its pickup window narrowed to the
    planned pickup +- ``tolerance_s`` (as the service does for the times it told)."""
    told = _pickups(plan)
    requests = []
    for r in problem.requests:
        at = told.get(r.id)
        if at is None:
            requests.append(r)
            continue
        w = r.pickup_window
        low, high = max(w.earliest, at - tolerance_s), min(w.latest, at + tolerance_s)
        narrowed = TimeWindow(low, high) if low <= high else w
        requests.append(replace(r, kept=True, pickup_window=narrowed, wide_pickup=w))
    return replace(problem, requests=tuple(requests))


def replan_figures(problem: Problem, plan: Plan, limit_s: float, keep: bool) -> dict[str, Any]:
    """Re-plan the same day for ``limit_s``: from scratch (``keep`` False: how days were
    re-planned before) or keeping ``plan``'s promises, and what became of its rides."""
    if keep:
        again = solve(with_promises(problem, plan), limit_s, warm_start=plan)
    else:
        again = solve(problem, limit_s)
    before, after = _pickups(plan), _pickups(again)
    shifts = [abs(after[rid] - at) / MIN for rid, at in before.items() if rid in after]
    return {
        "time_limit_s": limit_s,
        "served": len(again.served),
        "planned_rides_dropped": sum(1 for rid in before if rid not in after),
        "pickups_moved_over_10_min": sum(1 for s in shifts if s > 10),
        "max_pickup_move_min": round(max(shifts, default=0.0), 1),
        "moved_with_reason": len(again.moved),
    }


def bench_scale(
    osm_path: Path,
    cache_dir: Path,
    bookings: int = 400,
    vehicles: int = 30,
    time_limit_s: float = 60.0,
    insert_limit_s: float = 0.4,
    seed: int = 0,
    travel: str = "timed",
    vehicle_cost_min: float = 600.0,
    replan: bool = False,
    inserts: int = 1,
    reference_limit_s: float = 0.0,
    hour_cost_min: float = 0.0,
) -> dict[str, Any]:
    """Plan the day, verify it, then insert each of ``inserts`` more bookings into it (one
    at a time, into the same plan: a care centre's late bookings, each timed)."""
    provider = build_provider(osm_path, None, cache_dir)
    assert isinstance(provider, RoadGraphProvider)
    started = time.perf_counter()
    truth, _ = synthetic_day(provider, bookings + inserts, vehicles, seed)
    if vehicle_cost_min > 0:
        fleet = tuple(replace(v, fixed_cost=vehicle_cost_min * MIN) for v in truth.vehicles)
        truth = replace(truth, vehicles=fleet)
    if hour_cost_min > 0:  # driving seconds per second out
        fleet = tuple(replace(v, time_cost=hour_cost_min * MIN / 3600) for v in truth.vehicles)
        truth = replace(truth, vehicles=fleet)
    full = truth if travel == "timed" else rush_all_day(truth)
    matrix_s = time.perf_counter() - started
    day = replace(full, requests=full.requests[:bookings])
    plan = solve(day, time_limit_s)
    violations = verify(day, plan)
    real = verify(replace(truth, requests=day.requests), plan)
    codes = Counter(u.code for u in plan.unserved)
    seconds, placed, reasons, broken = [], 0, Counter[str](), 0
    for new in full.requests[bookings:]:
        later = replace(full, requests=(*day.requests, new))
        started = time.perf_counter()
        inserted = insert(later, plan, insert_limit_s)
        seconds.append(time.perf_counter() - started)
        placed += new.id in inserted.served
        reasons.update(u.code for u in inserted.unserved if u.request_id == new.id)
        broken += len(verify(later, inserted))
    reference = {}
    if reference_limit_s > 0:
        best = solve(day, reference_limit_s)
        reference = {
            "time_limit_s": reference_limit_s,
            "served": len(best.served),
            "cost_s": best.cost,
            # the plan serving more rides is better whatever its cost: a cost gap only
            # means something between plans that serve as many
            "served_more_than_plan": len(best.served) - len(plan.served),
            "gap_pct": round(100 * (plan.cost - best.cost) / best.cost, 2)
            if best.cost and len(best.served) == len(plan.served)
            else None,
            "vehicles_used": plan_figures(truth, best).vehicles_used,
        }
    replans = {}
    if replan:
        for name, keep in (("from_scratch", False), ("keeping_promises", True)):
            replans[name] = replan_figures(day, plan, 2 * time_limit_s, keep)
    return {
        "bookings": bookings,
        "vehicles": vehicles,
        "travel": travel,
        "vehicle_cost_min": vehicle_cost_min,
        "hour_cost_min": hour_cost_min,
        "locations": int(full.travel.shape[0]),
        "matrix_s": round(matrix_s, 2),
        "solve": {
            "time_limit_s": time_limit_s,
            "seconds": round(plan.seconds, 2),
            "served": len(plan.served),
            "unserved_by_code": dict(codes),
            "violations": [v.message for v in violations[:5]],
            "violations_at_real_times": len(real),
            "cost_s": plan.cost,
            "at_real_times": plan_figures(truth, plan).as_dict(),
        },
        "insert": {
            "time_limit_s": insert_limit_s,
            "bookings_inserted": len(seconds),
            "seconds_p50": round(float(np.percentile(seconds, 50)), 3),
            "seconds_p95": round(float(np.percentile(seconds, 95)), 3),
            "seconds_max": round(max(seconds), 3),
            "new_booking_served": placed,
            "unserved_by_code": dict(reasons),
            "violations": broken,
        },
        "reference": reference,
        "replan_twice_as_long": replans,
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dispatch.routing.darp.scale")
    parser.add_argument("--osm", type=Path, required=True)
    parser.add_argument("--cache-dir", type=Path, default=Path("/tmp/darpcache"))
    parser.add_argument("--bookings", type=int, default=400)
    parser.add_argument("--vehicles", type=int, default=30)
    parser.add_argument("--time-limit", type=float, default=60.0)
    parser.add_argument("--insert-limit", type=float, default=0.4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--travel", choices=["timed", "rush"], default="timed",
        help="timed: legs by time of day; rush: the 08:00 matrix all day (the old way)",
    )  # fmt: skip
    parser.add_argument(
        "--vehicle-cost-min", type=float, default=600.0,
        help="fixed cost of using a vehicle, in minutes of driving (0: vehicles are free)",
    )  # fmt: skip
    parser.add_argument(
        "--hour-cost-min", type=float, default=0.0,
        help="cost of each hour a vehicle is out, in minutes of driving (0: hours are free)",
    )  # fmt: skip
    parser.add_argument("--inserts", type=int, default=1, help="late bookings, each timed")
    parser.add_argument(
        "--reference-limit", type=float, default=0.0,
        help="also plan the day for this long and give the gap of the first plan to it",
    )  # fmt: skip
    parser.add_argument(
        "--replan", action="store_true",
        help="then re-plan the day for twice the time, from scratch and keeping promises",
    )  # fmt: skip
    args = parser.parse_args(argv)
    report = bench_scale(
        args.osm,
        args.cache_dir,
        args.bookings,
        args.vehicles,
        args.time_limit,
        args.insert_limit,
        args.seed,
        args.travel,
        args.vehicle_cost_min,
        args.replan,
        args.inserts,
        args.reference_limit,
        args.hour_cost_min,
    )
    print(json.dumps(report, indent=1))
    return 0 if not report["solve"]["violations"] and not report["insert"]["violations"] else 1


if __name__ == "__main__":
    sys.exit(main())
