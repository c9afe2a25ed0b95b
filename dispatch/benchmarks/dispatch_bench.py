"""End-to-end dispatch benchmark: the real app served by uvicorn, driven over real HTTP.

``python -m dispatch.benchmarks.dispatch_bench --osm PATH [--database-url URL]
[--redis-url URL] --json`` prints the figures. It measures what a control room feels:

* how long a recommendation takes, both as the HTTP round trip of
  ``POST /incidents/{id}/recommendations`` and as the service call alone, so the two can be
  told apart;
* the end-to-end path of a call: incident created over HTTP, units recommended, the best one
  assigned, and the ``assignment.created`` event received on a subscription to the app's
  bus (Redis when configured), standing in for the crew's phone.

It never touches real data: without a database URL it uses a temporary SQLite file; with a
PostgreSQL URL it creates the scratch database ``<name>_bench`` beside it (dropped before and
after); with a SQLite URL, a scratch file ``<stem>_bench.sqlite3`` beside that file. Server,
client and subscriber share one process and one event loop (uvloop when installed, as
``dispatch serve`` uses), so the figures include the client's own CPU time on a small machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from dispatch.app import create_app
from dispatch.benchmarks.end_to_end import bench_end_to_end
from dispatch.benchmarks.load import expect
from dispatch.benchmarks.moveup import bench_moveups
from dispatch.benchmarks.recommendation import bench_recommend
from dispatch.benchmarks.report import graph_figures, summary
from dispatch.benchmarks.scratch import scratch_database
from dispatch.benchmarks.server import serve
from dispatch.benchmarks.world import position_sampler, seed_world
from dispatch.config import Settings
from dispatch.db import migrate
from dispatch.db.session import Database
from dispatch.state import AppState
from dispatch.travel import provider_from_settings


async def bench_dispatch_async(
    osm_path: Path | None,
    database_url: str | None,
    redis_url: str | None,
    cache_dir: Path,
    *,
    units: int = 1000,
    calls: int = 200,
    seed: int = 0,
    warmup: int = 5,
    coverage: bool = False,
) -> dict[str, Any]:
    """:func:`bench_dispatch` inside a running event loop."""
    if units < 1 or calls < 1 or warmup < 0:
        raise ValueError("units and calls must be positive, warmup not negative")
    rng = np.random.default_rng(seed)
    await asyncio.to_thread(cache_dir.mkdir, parents=True, exist_ok=True)
    async with scratch_database(database_url) as (url, dialect):
        settings = Settings(
            database_url=url,
            redis_url=redis_url,
            redis_prefix="dispatch-bench:",  # never mixes with a deployment's own keys
            osm_path=osm_path,
            cache_dir=cache_dir,
            secret_key=secrets.token_urlsafe(48),
            auto_dispatch_red=False,
            duplicate_radius_m=0,
            coverage_dispatch=coverage,
        )
        # The same provider the app will load (from the same cache) decides where is "on
        # the network", so no seeded unit or call is refused as off the map.
        travel = await asyncio.to_thread(provider_from_settings, settings)
        draw = position_sampler(travel)
        db = Database(url)
        try:
            await migrate.upgrade(db.engine)
            login = await seed_world(db, draw, rng, units)
        finally:
            await db.dispose()
        rec_points = draw(rng, warmup + calls)
        e2e_points = draw(rng, warmup + calls)
        close = getattr(travel, "close", None)  # the app builds its own
        if callable(close):
            close()
        app = create_app(settings)
        async with serve(app) as base, httpx.AsyncClient(base_url=base, timeout=30.0) as http:
            state: AppState = app.state.dispatch
            token = expect(
                await http.post(
                    "/auth/token", data={"username": login.username, "password": login.password}
                ),
                200,
            )["access_token"]
            http.headers["Authorization"] = f"Bearer {token}"
            coverage_build_s = await _build_coverage(state)
            recommendation = await bench_recommend(http, state, rec_points, rng, warmup, units)
            end_to_end = await bench_end_to_end(http, state, e2e_points, rng, warmup)
            moveups = await bench_moveups(state, max(calls // 2, 20), warmup)
            graph = graph_figures(state.travel)
    figures = summary(
        dialect=dialect,
        redis_url=redis_url,
        loop=asyncio.get_running_loop(),
        osm_path=osm_path,
        travel=state.travel,
        graph=graph,
        units=units,
        calls=calls,
        warmup=warmup,
        seed=seed,
        recommendation=recommendation,
        end_to_end=end_to_end,
    )
    figures["coverage_dispatch"] = coverage
    if moveups is not None:
        figures.update(moveups)
    built = state.emergency.coverage.coverage if state.emergency.coverage else None
    if coverage_build_s is not None and built is not None:
        figures["coverage"] = {
            "build_s": round(coverage_build_s, 2),
            "zones": built.grid.size,
            "sites": len(built.sites),
        }
    return figures


async def _build_coverage(state: AppState) -> float | None:
    """Build the coverage before timing (a deployment builds it once, in the background)."""
    keeper = state.emergency.coverage
    if keeper is None:
        return None
    started = time.perf_counter()
    async with state.db.unit_of_work(read_only=True) as uow:
        await keeper.wait_built(uow, datetime.now(UTC))
    return time.perf_counter() - started


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop]:
    """uvloop when installed, as uvicorn picks it for ``dispatch serve``."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop
    return uvloop.new_event_loop


def bench_dispatch(
    osm_path: Path | None,
    database_url: str | None,
    redis_url: str | None,
    cache_dir: Path,
    *,
    units: int = 1000,
    calls: int = 200,
    seed: int = 0,
    warmup: int = 5,
    coverage: bool = False,
) -> dict[str, Any]:
    """Seed a scratch database, serve the real app and measure recommendation latency and
    call-to-crew-event latency over HTTP; return JSON-able figures (milliseconds).

    Runs its own event loop (never the caller's default loop), so call it from sync code.
    """
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        return runner.run(
            bench_dispatch_async(
                osm_path,
                database_url,
                redis_url,
                cache_dir,
                units=units,
                calls=calls,
                seed=seed,
                warmup=warmup,
                coverage=coverage,
            )
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Benchmark recommendations and call-to-assignment-event latency."
    )
    parser.add_argument(
        "--osm", type=Path, default=None, help="OSM extract (default: straight-line ETAs)"
    )
    parser.add_argument(
        "--database-url",
        default=None,
        help="PostgreSQL URL beside which a scratch <name>_bench database is made "
        "(default: a temporary SQLite file)",
    )
    parser.add_argument("--redis-url", default=None, help="Redis for the bus (default: in-process)")
    parser.add_argument(
        "--cache-dir", type=Path, default=Path(tempfile.gettempdir()) / "dispatch-bench"
    )
    parser.add_argument("--units", type=int, default=1000)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--coverage", action="store_true", help="coverage-aware dispatch")
    args = parser.parse_args(argv)
    figures = bench_dispatch(
        args.osm,
        args.database_url,
        args.redis_url,
        args.cache_dir,
        units=args.units,
        calls=args.calls,
        seed=args.seed,
        warmup=args.warmup,
        coverage=args.coverage,
    )
    if args.json:
        json.dump(figures, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        for key, value in figures.items():
            print(f"{key:<28} {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
