"""The dispatch benchmark, run for real on a tiny map: it must work on both stacks, leave no
scratch database behind, and every measured call must have produced a committed
assignment whose event reached the subscriber. Timings are never asserted (they depend on
the machine); only that they are sane figures."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from dispatch.benchmarks.dispatch_bench import bench_dispatch, main
from tests.helpers.stacks import PG_URL, REDIS_URL, require_production_stack
from tests.routing.osmfixture import write_osm

pytestmark = pytest.mark.slow

UNITS = 30
CALLS = 5
LATENCIES = ("recommend_service_ms", "recommend_http_ms", "e2e_ms", "assign_to_event_ms")


def grid_map(path: Path, size: int = 4, spacing_m: float = 400.0) -> Path:
    """``size`` x ``size`` crossings of two-way primary roads around the map origin."""
    half = (size - 1) * spacing_m / 2
    nodes = {
        f"n{i}_{j}": (i * spacing_m - half, j * spacing_m - half)
        for i in range(size)
        for j in range(size)
    }
    rows = [([f"n{i}_{j}" for i in range(size)], {"highway": "primary"}) for j in range(size)]
    cols = [([f"n{i}_{j}" for j in range(size)], {"highway": "primary"}) for i in range(size)]
    return write_osm(path, nodes, rows + cols)


def _check_latency(figures: dict[str, Any], repeats: int) -> None:
    assert figures["repeats"] == repeats
    assert 0 < figures["p50"] <= figures["p99"] <= figures["max"]
    assert figures["mean"] > 0


def _scratch_exists(url: str) -> bool:
    """Whether the benchmark's ``<name>_bench`` database is still there."""
    parsed = make_url(url)
    name = f"{parsed.database}_bench"

    async def look() -> bool:
        engine = create_async_engine(parsed)
        try:
            async with engine.connect() as conn:
                found = await conn.scalar(
                    text("SELECT count(*) FROM pg_database WHERE datname = :name"),
                    {"name": name},
                )
                return bool(found)
        finally:
            await engine.dispose()

    # Its own loop, never pytest-asyncio's (asyncio.run would unset the current loop).
    with asyncio.Runner(loop_factory=asyncio.new_event_loop) as runner:
        return runner.run(look())


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_every_measured_call_commits_an_assignment_and_delivers_its_event(
    backend: str, tmp_path: Path
) -> None:
    if backend == "postgresql":
        require_production_stack()
    database_url = PG_URL if backend == "postgresql" else None
    redis_url = REDIS_URL if backend == "postgresql" else None

    figures = bench_dispatch(
        grid_map(tmp_path / "grid.osm"),
        database_url,
        redis_url,
        tmp_path / "cache",
        units=UNITS,
        calls=CALLS,
        seed=1,
    )

    json.dumps(figures)  # JSON-able as promised
    assert figures["database"] == backend
    assert figures["bus"] == ("redis" if redis_url else "in-process")
    assert figures["units"] == UNITS and figures["calls"] == CALLS
    assert figures["travel"] == "RoadGraphProvider"
    assert figures["graph"]["nodes"] > 0 and figures["graph"]["edges"] > 0
    for key in LATENCIES:
        _check_latency(figures[key], CALLS)
    for step in ("create", "recommend", "assign"):
        _check_latency(figures["e2e_steps_http_ms"][step], CALLS)
    assert 0 < figures["recommend_service_ms"]["units_with_eta"] <= UNITS
    assert 1 <= figures["recommend_http_ms"]["shown"] <= 10
    assert figures["assignments_seen_via_events"] == CALLS
    assert figures["assignments_committed"] == CALLS
    assert figures["cpu_count"] >= 1
    if database_url is not None:
        assert not _scratch_exists(database_url)


def test_module_entry_point_prints_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    osm = grid_map(tmp_path / "grid.osm", size=3)
    argv = ["--osm", str(osm), "--cache-dir", str(tmp_path / "cache")]
    assert main([*argv, "--units", "12", "--calls", "2", "--warmup", "1", "--json"]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["database"] == "sqlite" and figures["bus"] == "in-process"
    assert figures["assignments_committed"] == 2
    assert figures["e2e_ms"]["repeats"] == 2
