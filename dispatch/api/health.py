from __future__ import annotations

import asyncio

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from dispatch.api.deps import State

router = APIRouter(tags=["health"])

_CHECK_TIMEOUT_S = 2.0


@router.get("/healthz", summary="The process is up")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="Database (and Redis, when configured) reachable")
async def readyz(state: State) -> JSONResponse:
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
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "unready", "checks": checks},
        status_code=200 if ready else 503,
    )
