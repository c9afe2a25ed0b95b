"""Prometheus metrics.

Two kinds: counters and histograms updated where the work happens (once per batch or per
request, never per fix: the GPS path handles thousands of fixes a second), and gauges and
totals read from live objects (hub, history writer, connection pool) only when
``/metrics`` is scraped, so they cost nothing in between.

Each process serves its own ``/metrics``; with several workers, scrape every worker (one
target per container or port), and let Prometheus sum them. No cross-process aggregation
happens here.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Coroutine, Iterator, Mapping
from typing import Any, ParamSpec, TypeVar

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from sqlalchemy.pool import QueuePool

__all__ = ["CONTENT_TYPE_LATEST", "render"]

P = ParamSpec("P")
R = TypeVar("R")

# The ``*_created`` timestamp series double the output and tell Prometheus nothing it uses.
disable_created_metrics()  # type: ignore[no-untyped-call]

# --- updated where the work happens -----------------------------------------------------

FIXES_INGESTED = Counter(
    "dispatch_fixes_ingested",
    "GPS fixes committed to history, by outcome (stored = new, duplicate = sent before)",
    ["outcome"],
)
FIXES_STORED = FIXES_INGESTED.labels("stored")
FIXES_DUPLICATE = FIXES_INGESTED.labels("duplicate")
FIXES_DROPPED = Counter(
    "dispatch_fixes_dropped",
    "GPS fixes acknowledged but not stored, by reason (bad_value: stored without an "
    "unreadable optional value); phones are never refused a fix, so they never stall",
    ["reason"],
)
INGEST_BATCH_SECONDS = Histogram(
    "dispatch_ingest_batch_seconds",
    "Time to commit one group-commit batch of fixes (insert + last positions)",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
INGEST_BATCH_FIXES = Histogram(
    "dispatch_ingest_batch_fixes",
    "Fixes per group-commit batch",
    buckets=(1, 10, 50, 100, 250, 500, 1000, 2500, 5000),
)
INGEST_BATCH_FAILURES = Counter(
    "dispatch_ingest_batch_failures", "Batches of fixes the database refused (phones retry)"
)
RECOMMENDATION_SECONDS = Histogram(
    "dispatch_recommendation_seconds",
    "Time to rank the units for one call (query, road ETAs, ranking)",
    buckets=(0.0025, 0.005, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
)
SOLVER_SECONDS = Histogram(
    "dispatch_solver_seconds",
    "Dial-a-ride solver time per run (plan = a day plan, insert = a change into a plan)",
    ["kind"],
    buckets=(0.1, 0.25, 0.5, 1.0, 1.5, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0),
)
HTTP_SECONDS = Histogram(
    "dispatch_http_request_seconds",
    "HTTP requests by method, route template and status",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
HTTP_IN_FLIGHT = Gauge("dispatch_http_requests_in_flight", "HTTP requests being handled")


def timed(
    histogram: Histogram,
) -> Callable[[Callable[P, Coroutine[Any, Any, R]]], Callable[P, Coroutine[Any, Any, R]]]:
    """Observe an async function's duration (prometheus_client's own decorator would time
    only the creation of the coroutine)."""

    def decorate(func: Callable[P, Coroutine[Any, Any, R]]) -> Callable[P, Coroutine[Any, Any, R]]:
        @functools.wraps(func)
        async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            started = time.perf_counter()
            try:
                return await func(*args, **kwargs)
            finally:
                histogram.observe(time.perf_counter() - started)

        return wrapper

    return decorate


# --- read when scraped ------------------------------------------------------------------


class _StateCollector(Collector):
    """Turns the values read at scrape time (hub, history writer, pool) into series."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        self.values = values

    def collect(self) -> Iterator[Metric]:
        v = self.values
        clients = GaugeMetricFamily(
            "dispatch_websocket_clients", "Open websockets by channel", labels=["channel"]
        )
        clients.add_metric(["control"], v["control_clients"])
        clients.add_metric(["driver"], v["driver_sessions"])
        yield clients
        queued = GaugeMetricFamily(
            "dispatch_websocket_queued",
            "Messages waiting in the screens' and phones' queues, by kind",
            labels=["kind"],
        )
        queued.add_metric(["events"], v["queued_events"])
        queued.add_metric(["positions"], v["queued_positions"])
        queued.add_metric(["driver"], v["queued_driver"])
        yield queued
        yield GaugeMetricFamily(
            "dispatch_websocket_queue_max_events",
            "Longest event queue of one control screen (resync at DISPATCH_CLIENT_QUEUE_EVENTS)",
            value=v["max_queued_events"],
        )
        yield CounterMetricFamily(
            "dispatch_positions_coalesced",
            "Position updates replaced by a newer one before a screen was sent them",
            value=v["coalesced_positions"],
        )
        dropped = CounterMetricFamily(
            "dispatch_updates_dropped", "Updates not delivered, by reason", labels=["reason"]
        )
        dropped.add_metric(["position_out_of_order"], v["out_of_order_positions"])
        dropped.add_metric(["driver_outbox_full"], v["driver_dropped"])
        dropped.add_metric(["live_publish_failed"], v["live_publish_failures"])
        yield dropped
        yield CounterMetricFamily(
            "dispatch_websocket_resync_disconnects",
            "Control screens disconnected for falling behind (they resume)",
            value=v["resync_disconnects"],
        )
        yield GaugeMetricFamily(
            "dispatch_history_pending_fixes",
            "Fixes accepted and waiting for the next group commit",
            value=v["history_pending"],
        )
        yield GaugeMetricFamily(
            "dispatch_event_seq", "Last event sequence number seen", value=v["last_seq"]
        )
        yield GaugeMetricFamily(
            "dispatch_draining", "1 while this worker drains before stopping", value=v["draining"]
        )
        pool = v.get("pool")
        if pool is not None:
            size = GaugeMetricFamily(
                "dispatch_db_pool_connections",
                "Database pool connections by state",
                labels=["state"],
            )
            for state in ("checked_out", "idle", "overflow"):
                size.add_metric([state], pool[state])
            yield size
            yield GaugeMetricFamily(
                "dispatch_db_pool_size", "Configured pool size (no overflow)", value=pool["size"]
            )


def pool_usage(pool: object) -> dict[str, int] | None:
    """Checked-out, idle and overflow connections of a queue pool (None for others, e.g.
    the single connection of an in-memory SQLite database)."""
    if not isinstance(pool, QueuePool):
        return None
    return {
        "checked_out": pool.checkedout(),
        "idle": pool.checkedin(),
        "overflow": max(0, pool.overflow()),
        "size": pool.size(),
    }


def render(values: Mapping[str, Any]) -> bytes:
    """The exposition text: process-wide metrics plus this app's live ``values``."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_StateCollector(values))
    return generate_latest(REGISTRY) + generate_latest(registry)
