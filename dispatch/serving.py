"""Running the app under uvicorn: one process (API port plus the OsmAnd port) or several
workers on one port (uvicorn's own supervisor). Either way each worker drains on SIGTERM
(``dispatch.lifecycle``), finishes in-flight requests within
``DISPATCH_SHUTDOWN_TIMEOUT_S`` and writes its buffered fixes before exiting.

Client addresses (login limits, logs) come from ``X-Forwarded-For`` only when the peer is
one of ``DISPATCH_FORWARDED_ALLOW_IPS`` (default 127.0.0.1): anyone else could name any
address and so step around the per-address login limits.

Slow clients: uvicorn closes idle keep-alive connections but waits forever for a request
that is never finished, so a thousand half-sent requests (slowloris) would hold a worker's
sockets. ``ReadTimeoutProtocol`` gives every request ``DISPATCH_CLIENT_READ_TIMEOUT_S`` to
arrive in full, head and body, from the first byte (or from the connection); a slower
client gets 408 and its connection is closed.

Logging goes through ``dispatch.observability.logs`` (uvicorn gets ``log_config=None`` so
its lines use the same format and carry request ids).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Callable, Iterator
from functools import cache
from typing import Any

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


try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # pragma: no cover (uvicorn[standard] brings httptools)
    HttpToolsProtocol = None  # type: ignore[assignment, misc]

_TIMEOUT_RESPONSE = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\n"
    b"content-length: 29\r\nconnection: close\r\n\r\nThe request took too long.\r\n\r\n"
)


class TimeoutConfig(uvicorn.Config):
    """uvicorn's config plus the client read timeout the protocol enforces."""

    def __init__(self, app: Any, *, client_read_timeout_s: float, **kwargs: Any) -> None:
        super().__init__(app, http=read_timeout_protocol(), **kwargs)
        self.client_read_timeout_s = client_read_timeout_s


@cache
def _timeout_from_environment() -> float:
    """For ``--workers`` processes, whose uvicorn config is built by ``uvicorn.run``: the
    same settings the worker's app reads."""
    return Settings().client_read_timeout_s


if HttpToolsProtocol is not None:

    class ReadTimeoutProtocol(HttpToolsProtocol):
        """uvicorn's HTTP protocol with a deadline on reading each request: armed when the
        connection opens or a request's first byte arrives, disarmed once the request has
        fully arrived (the response and keep-alive follow uvicorn's own timers)."""

        def __init__(self, config: uvicorn.Config, *args: Any, **kwargs: Any) -> None:
            super().__init__(config, *args, **kwargs)
            timeout = getattr(config, "client_read_timeout_s", None)
            self.read_timeout_s: float = timeout or _timeout_from_environment()
            self.read_deadline: asyncio.TimerHandle | None = None
            self.head_received = False

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self.head_received = False
            self._arm()

        def on_headers_complete(self) -> None:
            self.head_received = True
            super().on_headers_complete()

        def on_message_complete(self) -> None:
            self._disarm()
            super().on_message_complete()

        def handle_websocket_upgrade(self) -> None:
            self._disarm()  # the websocket protocol has its own pings and limits
            super().handle_websocket_upgrade()

        def _arm(self) -> None:
            if self.read_deadline is None:
                self.read_deadline = self.loop.call_later(self.read_timeout_s, self._too_slow)

        def _disarm(self) -> None:
            if self.read_deadline is not None:
                self.read_deadline.cancel()
                self.read_deadline = None

        def _too_slow(self) -> None:
            self.read_deadline = None
            if self.transport.is_closing():
                return
            if not self.head_received:  # no response can have started: say why
                self.transport.write(_TIMEOUT_RESPONSE)
            self.transport.close()


def read_timeout_protocol() -> Any:
    """The protocol class uvicorn should use (its default where httptools is missing)."""
    if HttpToolsProtocol is None:  # pragma: no cover
        log.warning("httptools is not installed: no read timeout for slow clients")
        return "auto"
    return ReadTimeoutProtocol


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
            forwarded_allow_ips=settings.forwarded_allow_ips,
            http=read_timeout_protocol(),
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
    config = TimeoutConfig(
        app,
        client_read_timeout_s=settings.client_read_timeout_s,
        host=host,
        port=port,
        log_level=level,
        log_config=None,
        ws_per_message_deflate=False,
        timeout_graceful_shutdown=math.ceil(settings.shutdown_timeout_s),
        forwarded_allow_ips=settings.forwarded_allow_ips,
    )
    api = uvicorn.Server(config)
    servers = [api]
    if settings.osmand_port:
        osm_config = TimeoutConfig(
            create_osmand_app(app),
            client_read_timeout_s=settings.client_read_timeout_s,
            host=host,
            port=settings.osmand_port,
            log_level=level,
            log_config=None,
            timeout_graceful_shutdown=math.ceil(settings.shutdown_timeout_s),
            forwarded_allow_ips=settings.forwarded_allow_ips,
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
