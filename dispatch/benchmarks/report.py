"""The figures a benchmark reports: latency summaries, the road graph's size, the targets met,
gathered into one JSON-able dict (its keys are what scripts and dashboards read)."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dispatch.routing.base import TravelTimeProvider
from dispatch.routing.roadgraph import RoadGraphProvider

#: The issue's targets (central Bangkok, 1,000 units, 2 cores; end-to-end on PostgreSQL).
TARGET_RECOMMEND_P99_MS = 25.0
TARGET_E2E_P99_MS = 100.0


def latency_ms(seconds: Sequence[float]) -> dict[str, float | int]:
    """p50/p99/max/mean in milliseconds, and how many samples they summarise."""
    ms = np.asarray(seconds, dtype=np.float64) * 1000.0
    p50, p99 = np.percentile(ms, [50, 99])
    return {
        "p50": round(float(p50), 3),
        "p99": round(float(p99), 3),
        "max": round(float(ms.max()), 3),
        "mean": round(float(ms.mean()), 3),
        "repeats": len(seconds),
    }


def graph_figures(travel: TravelTimeProvider) -> dict[str, int] | None:
    """Size of the road graph behind ``travel``; None for straight-line ETAs."""
    if not isinstance(travel, RoadGraphProvider):
        return None
    return {
        "nodes": travel.graph.node_count,
        "edges": travel.graph.edge_count,
        "segments": travel.index.segment_count,
    }


def summary(
    *,
    dialect: str,
    redis_url: str | None,
    loop: asyncio.AbstractEventLoop,
    osm_path: Path | None,
    travel: TravelTimeProvider,
    graph: dict[str, int] | None,
    units: int,
    calls: int,
    warmup: int,
    seed: int,
    recommendation: dict[str, Any],
    end_to_end: dict[str, Any],
) -> dict[str, Any]:
    """All figures of a run, with the setup that produced them and whether targets were met."""
    rec_http_p99 = recommendation["recommend_http_ms"]["p99"]
    rec_service_p99 = recommendation["recommend_service_ms"]["p99"]
    return {
        "database": dialect,
        "bus": "redis" if redis_url else "in-process",
        "event_loop": type(loop).__module__.split(".")[0],
        "osm": None if osm_path is None else str(osm_path),
        "travel": type(travel).__name__,
        "graph": graph,
        "units": units,
        "calls": calls,
        "warmup": warmup,
        "seed": seed,
        **recommendation,
        **end_to_end,
        "targets": {
            "recommend_p99_ms": TARGET_RECOMMEND_P99_MS,
            "recommend_service_met": rec_service_p99 <= TARGET_RECOMMEND_P99_MS,
            "recommend_http_met": rec_http_p99 <= TARGET_RECOMMEND_P99_MS,
            "e2e_p99_ms": TARGET_E2E_P99_MS,
            "e2e_met": end_to_end["e2e_ms"]["p99"] <= TARGET_E2E_P99_MS,
        },
        "cpu_count": os.cpu_count(),
        "python": sys.version.split()[0],
    }
