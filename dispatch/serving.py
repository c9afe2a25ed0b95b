"""Running the app under uvicorn: one process (API port plus the OsmAnd port) or several
workers on one port (uvicorn's own supervisor). Either way each worker drains on SIGTERM
(``dispatch.lifecycle``), finishes in-flight requests within
``DISPATCH_SHUTDOWN_TIMEOUT_S`` and writes its buffered fixes before exiting.

Logging goes through ``dispatch.observability.logs`` (uvicorn gets ``log_config=None`` so
its lines use the same format and carry request ids).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Callable, Iterator

import uvicorn
from fastapi import FastAPI

from dispatch.config import Settings
from dispatch.observability.logs import configure_logging

log = logging.getLogger(__name__)


def create_worker_app() -> FastAPI:
    """The factory each ``--workers`` process calls: settings from its environment, its
    own logging set-up (a spawned process starts without one), drain on SIGTERM."""
    from dispatch.app import create_app

    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)
    return create_app(settings, trap_signals=True)


def serve(settings: Settings, host: str, port: int, workers: int) -> None:
    if workers > 1 and settings.secret_key is None:
        raise SystemExit("error: several workers need a shared DISPATCH_SECRET_KEY")
    level = settings.log_level.lower()
    if workers > 1:
        log.info("several workers: OsmAnd is served on the API port at %s", settings.osmand_path)
        uvicorn.run(
            "dispatch.serving:create_worker_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level=level,
            log_config=None,
            ws_per_message_deflate=False,
            timeout_graceful_shutdown=math.ceil(settings.shutdown_timeout_s),
        )
        return
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        runner.run(_serve_one(settings, host, port, level))


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop when installed (as uvicorn itself would pick), else the standard loop."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


class _FollowerServer(uvicorn.Server):
    """The OsmAnd server: it leaves signals to the API server and stops when that does."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def _serve_one(settings: Settings, host: str, port: int, level: str) -> None:
    """The API and, on its own port, the OsmAnd endpoint for Traccar Client phones, in one
    process; when either stops, both stop."""
    from dispatch.app import create_app, create_osmand_app

    app = create_app(settings, trap_signals=True)
    # No permessage-deflate: compressing every position frame for every screen costs more
    # CPU and memory per connection than the bandwidth it saves on a control-room LAN.
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=level,
        log_config=None,
        ws_per_message_deflate=False,
        timeout_graceful_shutdown=math.ceil(settings.shutdown_timeout_s),
    )
    api = uvicorn.Server(config)
    servers = [api]
    if settings.osmand_port:
        osm_config = uvicorn.Config(
            create_osmand_app(app),
            host=host,
            port=settings.osmand_port,
            log_level=level,
            log_config=None,
            timeout_graceful_shutdown=math.ceil(settings.shutdown_timeout_s),
        )
        servers.append(_FollowerServer(osm_config))
    tasks = [asyncio.create_task(server.serve()) for server in servers]

    async def follow_api() -> None:
        # After the drain the API server is told to exit: the OsmAnd port closes with it,
        # while the history writer still runs, so its in-flight fixes are stored too.
        while not api.should_exit:  # noqa: ASYNC110 (uvicorn exposes a flag, not an event)
            await asyncio.sleep(0.1)

    follower = asyncio.create_task(follow_api())
    await asyncio.wait([*tasks, follower], return_when=asyncio.FIRST_COMPLETED)
    for server in servers:
        server.should_exit = True
    follower.cancel()
    await asyncio.gather(*tasks, follower, return_exceptions=True)
