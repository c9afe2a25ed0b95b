"""Benchmark of the road-graph provider: build/load times and query latencies.

``python -m dispatch.routing.bench --osm PATH`` prints the figures as JSON. Positions are
uniformly random inside the network's bounding box, kept only when within the snap limit, so
they include off-road legs, as real incident addresses do.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from dispatch.routing.base import LatLon
from dispatch.routing.roadgraph import RoadGraphProvider


def random_points(
    provider: RoadGraphProvider, rng: np.random.Generator, count: int
) -> list[LatLon]:
    """``count`` uniform points in the network's bounding box that snap within the limit."""
    lat0, lon0, lat1, lon1 = provider.bbox
    kept: list[LatLon] = []
    while len(kept) < count:
        batch = [
            LatLon(float(a), float(b))
            for a, b in zip(
                rng.uniform(lat0, lat1, 2 * count), rng.uniform(lon0, lon1, 2 * count), strict=True
            )
        ]
        near = provider.distance_to_network(batch) <= provider.max_snap_m
        kept.extend(p for p, ok in zip(batch, near.tolist(), strict=True) if ok)
    return kept[:count]


def _latency_ms(calls: Sequence[Callable[[], object]]) -> dict[str, float]:
    """p50/p99/max in milliseconds, one warm-up call first (imports, allocator)."""
    calls[0]()
    times = []
    for call in calls:
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000.0)
    p50, p99 = np.percentile(times, [50, 99])
    return {"p50": round(float(p50), 3), "p99": round(float(p99), 3), "max": round(max(times), 3)}


def bench_travel(
    osm_path: Path,
    cache_dir: Path,
    vehicles: int = 1000,
    matrix_size: int = 200,
    repeats: int = 200,
    matrix_repeats: int = 10,
    seed: int = 0,
) -> dict[str, Any]:
    """Measure cold build, cached load, many_to_one (one incident x ``vehicles``) and a matrix.

    The cold build uses a fresh temporary cache directory under ``cache_dir`` (removed
    afterwards) so an existing cache never hides the parse cost.
    """
    cache_dir.mkdir(parents=True, exist_ok=True)
    cold_dir = Path(tempfile.mkdtemp(prefix="bench-cold-", dir=cache_dir))
    try:
        started = time.perf_counter()
        RoadGraphProvider.from_osm(osm_path, cold_dir)
        build_cold_s = time.perf_counter() - started
        started = time.perf_counter()
        provider = RoadGraphProvider.from_osm(osm_path, cold_dir)
        load_cached_s = time.perf_counter() - started
        if not provider.graph.from_cache:
            raise RuntimeError("second build did not use the cache")
    finally:
        shutil.rmtree(cold_dir, ignore_errors=True)

    rng = np.random.default_rng(seed)
    fleet = random_points(provider, rng, vehicles)
    incidents = random_points(provider, rng, repeats)
    matrices = [random_points(provider, rng, matrix_size) for _ in range(matrix_repeats)]
    depart_at = datetime(2026, 3, 20, 8, 0, tzinfo=ZoneInfo("Asia/Bangkok"))
    graph = provider.graph
    return {
        "osm": str(osm_path),
        "cpu_count": os.cpu_count(),
        "graph": {
            "nodes": graph.node_count,
            "edges": graph.edge_count,
            "road_km_directed": round(graph.road_km(), 1),
            "segments": provider.index.segment_count,
        },
        "build_cold_s": round(build_cold_s, 3),
        "load_cached_s": round(load_cached_s, 3),
        # Cold: every call snaps all vehicles afresh (as if all had moved).
        "many_to_one_ms": {
            "vehicles": vehicles,
            "repeats": repeats,
            **_latency_ms([partial(_cold, provider, fleet, i, depart_at) for i in incidents]),
        },
        # Warm: the vehicles stood still since the last call (their snaps are cached).
        "many_to_one_cached_ms": {
            "vehicles": vehicles,
            "repeats": repeats,
            **_latency_ms([partial(provider.many_to_one, fleet, i, depart_at) for i in incidents]),
        },
        "matrix_ms": {
            "size": matrix_size,
            "repeats": matrix_repeats,
            **_latency_ms([partial(provider.matrix, m, m, depart_at) for m in matrices]),
        },
        "median_offroad_m": round(float(np.median(provider.distance_to_network(fleet))), 1),
    }


def _cold(
    provider: RoadGraphProvider, fleet: list[LatLon], incident: LatLon, depart_at: datetime
) -> object:
    provider.forget_snaps()
    return provider.many_to_one(fleet, incident, depart_at)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Benchmark road-graph travel times.")
    parser.add_argument("--osm", type=Path, required=True, help="OSM extract (.osm or .osm.pbf)")
    parser.add_argument(
        "--cache-dir", type=Path, default=Path(tempfile.gettempdir()) / "dispatch-bench"
    )
    parser.add_argument("--vehicles", type=int, default=1000)
    parser.add_argument("--matrix-size", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--matrix-repeats", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    result = bench_travel(
        args.osm,
        args.cache_dir,
        vehicles=args.vehicles,
        matrix_size=args.matrix_size,
        repeats=args.repeats,
        matrix_repeats=args.matrix_repeats,
        seed=args.seed,
    )
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
