"""The seeded Cordeau-style generator and its benchmark: same seed, same instance; every
ride fits a vehicle's day alone; long runs are kept and reused."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from dispatch.routing.darp import alns, bench_generated, solve, verify
from dispatch.routing.darp.cordeau import read_cordeau, to_problem
from dispatch.routing.darp.engine import SearchOptions
from dispatch.routing.darp.generate import HORIZON, format_cordeau, generate_cordeau


def test_same_seed_same_instance_and_the_text_reads_back(tmp_path: Path) -> None:
    a, b = generate_cordeau(150, 7), generate_cordeau(150, 7)
    assert format_cordeau(a) == format_cordeau(b)
    assert format_cordeau(generate_cordeau(150, 8)) != format_cordeau(a)
    assert (a.name, a.vehicles, a.requests) == ("g13-150-s7", 13, 150)
    path = tmp_path / f"{a.name}.txt"
    path.write_text(format_cordeau(a))
    back = read_cordeau(path)
    for field in ("xy", "service", "load", "earliest", "latest"):
        assert np.array_equal(getattr(back, field), getattr(a, field)), field
    assert (back.vehicles, back.capacity, back.max_ride, back.max_duration) == (13, 3, 30, 720)


def test_every_ride_alone_fits_a_vehicles_day() -> None:
    inst = generate_cordeau(200, 3)
    n, d = inst.requests, inst.distance
    booked_pickups = 0
    for i in range(1, n + 1):
        p, q = i, n + i
        narrow_pickup = inst.latest[p] - inst.earliest[p] == 15
        narrow_dropoff = inst.latest[q] - inst.earliest[q] == 15
        assert narrow_pickup != narrow_dropoff  # one end booked, the other free all day
        booked_pickups += narrow_pickup
        assert d[p, q] <= inst.max_ride
        # leave the depot at 0, serve the ride as early as its windows allow, go back
        at_p = max(d[0, p], inst.earliest[p])
        at_q = max(at_p + inst.service[p] + d[p, q], inst.earliest[q])
        assert at_p <= inst.latest[p] and at_q <= inst.latest[q]
        assert at_q + inst.service[q] + d[q, 2 * n + 1] <= HORIZON
    assert booked_pickups == n // 2


def test_the_benchmark_keeps_long_runs_and_reuses_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    refs = tmp_path / "refs.json"
    argv = ["--sizes", "12", "--seeds", "1", "--time-limit", "1", "--reference-limit", "1.5"]
    argv += ["--references", str(refs), "--write", str(tmp_path / "inst")]
    assert bench_generated.main(argv) == 0
    first = json.loads(capsys.readouterr().out)
    row = first["instances"][0]
    assert row["name"] == "g1-12-s1" and row["short"]["feasible"]
    stored = json.loads(refs.read_text())
    assert list(stored) == ["g1-12-s1@1.5"]
    assert (tmp_path / "inst" / "g1-12-s1.txt").is_file()
    # a stored long run is reused as it is: make it recognisable
    stored["g1-12-s1@1.5"]["cost"] = 10**6
    refs.write_text(json.dumps(stored))
    assert bench_generated.main(argv) == 0
    again = json.loads(capsys.readouterr().out)["instances"][0]
    assert again["reference"]["cost"] == 10**6


def test_a_large_problem_is_planned_by_the_insertion_search_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Past ``ortools_up_to`` requests OR-Tools is not run, and past ``ORDERED_FIRST``
    pending requests the first placement is in time order: both paths still give a plan
    the checker accepts, serving every ride of an easy instance (here made "large" by
    lowering the thresholds)."""
    monkeypatch.setattr(alns, "ORDERED_FIRST", 4)
    inst = generate_cordeau(24, 5, vehicles=4)
    problem = to_problem(inst)
    plan = solve(problem, 3.0, options=SearchOptions(ortools_up_to=10))
    assert plan.status == "solved by insertion search"
    assert verify(problem, plan) == [] and len(plan.served) == 24
    assert solve(problem, 3.0).status == "solved"
