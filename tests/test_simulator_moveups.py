"""The city simulator on a server that keeps the simulated time and follows its move-ups:
two runs of one seed, each on a fresh server, give every call the same unit and the same
times, the same moves, and the server's stamps are exactly the simulated moments."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from simulator.city.config import CityConfig
from simulator.city.engine import run_city
from simulator.city.records import CaseRecord
from simulator.city.scenario import load_scenario
from tests.helpers.simulator_server import clean_env, dispatch_cli, start_server, stop_server
from tests.helpers.stacks import TEST_SECRET

PASSWORD = "moveup-supervisor-password-1"
OSM = Path(__file__).resolve().parents[2] / "shared/data/bangkok/bangkok_central_major_roads.osm"


async def _day(tmp: Path, name: str) -> tuple[dict[str, Any], list[CaseRecord]]:
    env = clean_env(
        DISPATCH_DATABASE_URL=f"sqlite+aiosqlite:///{tmp / name}.sqlite",
        DISPATCH_SECRET_KEY=TEST_SECRET,
        DISPATCH_OSMAND_PORT="0",
        DISPATCH_CACHE_DIR=str(tmp / "cache"),
        DISPATCH_LOG_LEVEL="WARNING",
        DISPATCH_SIMULATED_CLOCK="true",
        DISPATCH_COVERAGE_DISPATCH="true",
    )
    if OSM.exists():
        env["DISPATCH_OSM_PATH"] = str(OSM)
    dispatch_cli(["db", "upgrade"], env)
    dispatch_cli(["org", "create", "--name", "City", "--kind", "dispatch_centre"], env)
    dispatch_cli(
        ["user", "create", "--username", "sup", "--role", "supervisor", "--organisation-id", "1"],
        {**env, "DISPATCH_NEW_USER_PASSWORD": PASSWORD},
    )
    proc, url = await asyncio.to_thread(start_server, env, tmp / f"{name}.log")
    try:
        config = CityConfig(
            url=url,
            scenario=load_scenario().with_overrides(units=8, calls_per_day=500),
            seed=5,
            start_hour=8,
            hours=1.5,
            policies=("system",),
            transports=False,
            username="sup",
            password=PASSWORD,
            quiet=True,
            server_clock=True,
            follow_moveups=True,
        )
        config.check()
        report, records, _fleets, _setup = await run_city(config)
        return report, records
    finally:
        await asyncio.to_thread(stop_server, proc)


async def test_the_same_seed_gives_the_same_day_with_the_same_moves(tmp_path: Path) -> None:
    first, first_records = await _day(tmp_path, "first")
    second, second_records = await _day(tmp_path, "second")

    def outcome(records: list[CaseRecord]) -> list[tuple[object, ...]]:
        return sorted(
            (r.call.n, r.call_sign, r.created_v, r.notified_v, r.on_scene_v, r.free_v)
            for r in records
        )

    assert outcome(first_records) == outcome(second_records)
    assert first["responses"] == second["responses"]
    assert first["moveups"] == second["moveups"]
    assert first["moveups"]["followed"] > 0 and first["moveups"]["posts_reached"] > 0
    assert not first["request_failures"]
    verify = first["verify"]
    assert verify["response_max_abs_diff_s"] == 0 and verify["notified_max_abs_diff_s"] == 0


def test_a_simulated_server_clock_takes_one_policy_and_no_transports() -> None:
    scenario = load_scenario()
    base: dict[str, Any] = {
        "url": "http://127.0.0.1:9",
        "scenario": scenario,
        "username": "u",
        "password": "p",
    }
    with pytest.raises(ValueError, match="needs --server-clock"):
        CityConfig(**base, follow_moveups=True, transports=False, policies=("system",)).check()
    with pytest.raises(ValueError, match="one --policy per server"):
        CityConfig(**base, server_clock=True, transports=False).check()
    with pytest.raises(ValueError, match="--no-transports"):
        CityConfig(**base, server_clock=True, policies=("system",)).check()
    CityConfig(**base, server_clock=True, transports=False, policies=("baseline",)).check()
