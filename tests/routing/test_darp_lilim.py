"""The Li & Lim reader and a short benchmark run on the real instance files: the scheduler
serves pickup-and-delivery pairs, fewest vehicles first, checked in the instance's units."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from dispatch.cli import main as dispatch_main
from dispatch.routing.darp.bench_pdptw import read_bks
from dispatch.routing.darp.lilim import read_lilim, to_problem

DATA = Path(__file__).parents[2].parent / "shared" / "data" / "pdptw" / "lilim-100"

needs_data = pytest.mark.skipif(
    not (DATA / "lc101.txt").is_file(),
    reason=f"Li & Lim instances not found at {DATA} (the shared data folder is absent)",
)


@needs_data
def test_reader_pairs_pickups_with_their_deliveries() -> None:
    inst = read_lilim(DATA / "lc101.txt")
    assert (inst.vehicles, inst.capacity, inst.requests) == (25, 200, 53)
    assert inst.xy.shape == (107, 2) and inst.latest[0] == 1236
    for p, d in inst.pairs:
        assert inst.demand[p] > 0 and inst.demand[d] == -inst.demand[p]
    assert sorted(n for pair in inst.pairs for n in pair) == list(range(1, 107))
    problem = to_problem(inst, 1000)
    assert problem.travel.dtype == np.int64
    assert problem.travel[0, 1] >= inst.distance()[0, 1] * 1000
    fixed = problem.vehicles[0].fixed_cost
    assert fixed > float(inst.distance().sum(axis=1).max()) * 1000  # a vehicle outweighs a route
    assert read_bks(DATA)["lc101"] == (10, pytest.approx(828.94))


@needs_data
def test_dispatch_bench_pdptw_prints_json_figures(capsys: pytest.CaptureFixture[str]) -> None:
    code = dispatch_main(
        ["bench", "pdptw", "--instances", str(DATA), "--names", "lc101", "--time-limit", "5"]
    )
    report = json.loads(capsys.readouterr().out)
    assert code == 0
    (result,) = report["instances"]
    assert result["feasible"], result["violation"]
    assert result["served"] == 53
    assert result["vehicles"] >= 10 and result["distance"] >= 828.94 - 0.01
    assert result["bks_vehicles"] == 10 and result["distance_gap_pct"] >= -0.01
