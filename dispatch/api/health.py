"""Liveness, readiness and metrics for the proxy, the orchestrator and Prometheus."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from starlette.responses import Response

from dispatch.api.deps import State
from dispatch.observability import metrics
from dispatch.state import AppState

router = APIRouter(tags=["health"])

_CHECK_TIMEOUT_S = 2.0


@router.get("/healthz", summary="The process is up")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="503 when the database is unreachable or the worker is draining; 'degraded' "
    "(still 200) when only Redis is unreachable",
)
async def readyz(state: State) -> JSONResponse:
    if state.lifecycle.draining:
        # Shutting down: the proxy should send new work elsewhere.
        return JSONResponse({"status": "draining", "checks": {}}, status_code=503)
    checks: dict[str, str] = {}
    try:
        await asyncio.wait_for(state.db.ping(), _CHECK_TIMEOUT_S)
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"error: {type(exc).__name__}"
    if state.settings.redis_url:
        try:
            await asyncio.wait_for(state.broker.ping(), _CHECK_TIMEOUT_S)
            checks["redis"] = "ok"
        except Exception as exc:
            checks["redis"] = f"error: {type(exc).__name__}"
    if checks["database"] != "ok":
        return JSONResponse({"status": "unready", "checks": checks}, status_code=503)
    # Without Redis a worker still takes calls and stores fixes (only the cross-worker live
    # view suffers); every worker sees the same outage, so pulling them all from the proxy
    # would turn a degraded control room into a dark one.
    degraded = any(v != "ok" for v in checks.values())
    return JSONResponse({"status": "degraded" if degraded else "ready", "checks": checks})


def _live_values(state: AppState) -> dict[str, Any]:
    return {
        **state.hub.stats(),
        "history_pending": state.ingestor.history.pending,
        "live_publish_failures": state.ingestor.live.failures,
        "draining": int(state.lifecycle.draining),
        "pool": metrics.pool_usage(state.db.engine.pool),
    }


@router.get("/metrics", summary="Prometheus metrics of this worker", include_in_schema=False)
async def prometheus_metrics(state: State) -> Response:
    return Response(metrics.render(_live_values(state)), media_type=metrics.CONTENT_TYPE_LATEST)
