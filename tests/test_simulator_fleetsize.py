"""``python -m simulator fleet-size`` on hand-made reports: the share per fleet size over
seeds and the units each policy needs for a goal, read off between the sizes around it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from simulator.cli import main
from simulator.compare import CompareError
from simulator.fleetsize import units_needed


def _report(tmp: Path, tag: str, seed: int, reached: int, of: int = 10) -> str:
    """A report whose policy reached ``reached`` of ``of`` red calls within 10 min."""
    calls: list[list[Any]] = [[n, "red", 300 if n <= reached else 900] for n in range(1, of + 1)]
    calls.append([of + 1, "yellow", 100])
    path = tmp / f"{tag}-{seed}.json"
    path.write_text(json.dumps({"seed": seed, "responses": {"p": calls}}), encoding="utf-8")
    return str(path)


def test_units_needed_interpolates_between_the_sizes_around_the_goal() -> None:
    curve = [(20, 0.50), (25, 0.60), (30, 0.80)]
    assert units_needed(curve, 0.70) == {"units": 27.5, "bound": "about"}
    assert units_needed(curve, 0.60) == {"units": 25.0, "bound": "about"}
    assert units_needed(curve, 0.40) == {"units": 20, "bound": "at_most"}
    assert units_needed(curve, 0.90) == {"units": 30, "bound": "more_than"}


def test_the_command_averages_seeds_per_size_and_compares_policies(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # baseline: 20 units 4 and 6 of 10 (50 %), 30 units 7 and 7 (70 %) → 60 % at 25 units.
    # coverage: 20 units 6 and 6 (60 %) → already there with 20.
    specs = [
        f"baseline@20={_report(tmp_path, 'b20', 1, 4)}",
        f"baseline@20={_report(tmp_path, 'b20', 2, 6)}",
        f"baseline@30={_report(tmp_path, 'b30', 1, 7)}",
        f"baseline@30={_report(tmp_path, 'b30', 2, 7)}",
        f"coverage@20={_report(tmp_path, 'c20', 1, 6)}#p",
        f"coverage@20={_report(tmp_path, 'c20', 2, 6)}#p",
    ]
    assert main(["fleet-size", *specs, "--goal-pct", "60"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["goal_pct"] == 60.0 and out["within_s"] == 600.0
    base = out["policies"]["baseline"]
    assert base["by_units"] == {
        "20": {"seeds": [1, 2], "mean_pct": 50.0},
        "30": {"seeds": [1, 2], "mean_pct": 70.0},
    }
    assert base["needed"] == {"units": 25.0, "bound": "about"}
    assert out["policies"]["coverage"]["needed"] == {"units": 20, "bound": "at_most"}


@pytest.mark.parametrize(
    "spec", ["baseline=x.json", "baseline@many=x.json", "baseline@0=x.json", "@20=x.json"]
)
def test_a_malformed_run_is_refused_by_name(spec: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fleet-size", spec]) == 2
    assert "fleet-size:" in capsys.readouterr().err


def test_the_same_seed_twice_at_one_size_is_refused(tmp_path: Path) -> None:
    from simulator.fleetsize import fleet_size, load_sized

    runs = [load_sized(f"b@20={_report(tmp_path, 'x', 1, 5)}")] * 2
    with pytest.raises(CompareError, match="two runs of b with 20 units for seed 1"):
        fleet_size(runs, "red", 600, 0.6)
