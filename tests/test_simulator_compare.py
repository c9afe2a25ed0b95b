"""``python -m simulator compare`` on hand-made reports: shares per seed, the difference to
the baseline with its interval over seeds, and the paired per-call test."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from simulator.cli import main
from simulator.compare import CompareError, compare, interval, load_run, mcnemar


def _report(tmp: Path, name: str, seed: int, policies: dict[str, list[Any]]) -> str:
    path = tmp / f"{name}-{seed}.json"
    path.write_text(json.dumps({"seed": seed, "responses": policies}), encoding="utf-8")
    return str(path)


# Seed 1: four red calls; the baseline reaches 1 and 2 in 10 min, the policy 1, 2 and 3.
# Seed 2: the baseline reaches 1, the policy 1 and 2; call 3 never reached by either.
BASE = {
    1: [[1, "red", 300], [2, "red", 590], [3, "red", 700], [4, "red", None], [5, "yellow", 800]],
    2: [[1, "red", 400], [2, "red", 650], [3, "red", None], [4, "yellow", 1000]],
}
POLICY = {
    1: [[1, "red", 300], [2, "red", 600], [3, "red", 500], [4, "red", None], [5, "yellow", 950]],
    2: [[1, "red", 420], [2, "red", 560], [3, "red", None], [4, "yellow", 800]],
}


def _runs(tmp_path: Path) -> list[str]:
    specs = []
    for seed in (1, 2):
        specs.append(f"baseline={_report(tmp_path, 'base', seed, {'baseline': BASE[seed]})}")
        both = {"system": POLICY[seed], "baseline": BASE[seed]}
        specs.append(f"coverage={_report(tmp_path, 'cov', seed, both)}#system")
    return specs


def test_shares_differences_and_the_paired_test(tmp_path: Path) -> None:
    result = compare([load_run(s) for s in _runs(tmp_path)], "baseline")
    red = result["policies"]["coverage"]["red_within_10_min"]
    assert red["per_seed_pct"] == {1: 75.0, 2: 66.67}
    assert result["policies"]["baseline"]["red_within_10_min"]["per_seed_pct"] == {
        1: 50.0,
        2: 33.33,
    }
    # differences 25 and 33.33 points: mean 29.17, sd 5.89, t(1) = 12.706
    diff = red["difference_points"]
    assert diff["mean"] == pytest.approx(29.17, abs=0.01)
    half = 12.706 * statistics_sd([25.0, 100 / 3]) / math.sqrt(2)
    assert diff["high"] == pytest.approx(29.17 + half, abs=0.01)
    # calls better: seed 1 call 3, seed 2 call 2; worse: none
    assert red["paired_calls"] == {"better": 2, "worse": 0, "p_value": 0.5}
    yellow = result["policies"]["coverage"]["yellow_within_15_min"]
    assert yellow["per_seed_pct"] == {1: 0.0, 2: 100.0}
    assert yellow["paired_calls"] == {"better": 1, "worse": 1, "p_value": 1.0}


def statistics_sd(values: list[float]) -> float:
    mean = sum(values) / len(values)
    return math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def test_mcnemar_and_interval_on_known_values() -> None:
    assert mcnemar(0, 0) == 1.0
    assert mcnemar(10, 0) == pytest.approx(2 / 1024)
    assert mcnemar(7, 3) == pytest.approx(2 * (1 + 10 + 45 + 120) / 1024)
    single = interval([3.0])
    assert (single["mean"], single["low"]) == (3.0, None)


def test_bad_runs_are_named(tmp_path: Path) -> None:
    both = _report(tmp_path, "two", 1, {"system": POLICY[1], "baseline": BASE[1]})
    with pytest.raises(CompareError, match="add #POLICY"):
        load_run(f"x={both}")
    with pytest.raises(CompareError, match="no policy 'ranking'"):
        load_run(f"x={both}#ranking")
    with pytest.raises(CompareError, match="NAME=PATH"):
        load_run(both)
    old = tmp_path / "old.json"
    old.write_text(json.dumps({"seed": 1, "policies": {}}), encoding="utf-8")
    with pytest.raises(CompareError, match="no per-call responses"):
        load_run(f"x={old}")
    with pytest.raises(CompareError, match="baseline"):
        compare([load_run(f"x={both}#system")], "baseline")


def test_the_command_prints_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compare", *_runs(tmp_path)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["policies"]["coverage"]["seeds"] == [1, 2]
    assert main(["compare", "nonsense"]) == 2


def test_moves_per_call_are_averaged_over_the_seeds(tmp_path: Path) -> None:
    """Seed 1: 2 moves over 5 calls (0.4); seed 2: 1 move over 4 calls (0.25)."""
    specs = []
    for seed, moves in ((1, 2), (2, 1)):
        base = _report(tmp_path, "b", seed, {"baseline": BASE[seed]})
        no_rounds = json.loads(Path(base).read_text(encoding="utf-8"))
        no_rounds["moveups"] = {"rounds": 0, "followed": 0}  # it did not follow move-ups
        Path(base).write_text(json.dumps(no_rounds), encoding="utf-8")
        path = tmp_path / f"m-{seed}.json"
        report = {
            "seed": seed,
            "responses": {"system": POLICY[seed]},
            "moveups": {"rounds": 9, "followed": moves},
        }
        path.write_text(json.dumps(report), encoding="utf-8")
        specs += [f"baseline={base}", f"moveup={path}"]
    result = compare([load_run(s) for s in specs], "baseline")
    assert result["policies"]["moveup"]["moveups_per_call"] == pytest.approx(0.325)
    assert "moveups_per_call" not in result["policies"]["baseline"]
