"""Draining a worker before it stops.

On SIGTERM (or Ctrl+C) a served worker first *drains*: ``/readyz`` answers 503, new
websocket handshakes are refused with 503 (a proxy passes them to another worker), and
every open websocket is closed with 1012 "service restart" so screens and phones reconnect
elsewhere and resume from their last sequence number. HTTP keeps being served for
``DISPATCH_DRAIN_S`` so a load balancer can notice; then uvicorn's own shutdown stops
accepting, lets in-flight requests finish within ``DISPATCH_SHUTDOWN_TIMEOUT_S`` and runs
the lifespan shutdown, which writes every buffered fix before the process exits.

A second signal skips the rest of the wait.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

from dispatch.realtime.hub import Hub
from dispatch.realtime.protocol import CLOSE_SERVICE_RESTART

log = logging.getLogger(__name__)

_SIGNALS = (signal.SIGINT, signal.SIGTERM)
Handler = Callable[[int, FrameType | None], Any]


class Lifecycle:
    def __init__(self, hub: Hub, *, drain_s: float = 0.0) -> None:
        self.hub = hub
        self.drain_s = drain_s
        self.draining = False
        self._stopping: asyncio.Task[None] | None = None
        self._signalled = False
        self._proceeded = False
        self._restore: dict[int, Handler] = {}

    async def drain(self) -> None:
        """Turn unready and send every websocket client elsewhere (idempotent)."""
        if self.draining:
            return
        self.draining = True
        log.info("draining: /readyz answers 503, websocket clients are told to reconnect")
        await self.hub.drain(CLOSE_SERVICE_RESTART, "server restarting: reconnect")

    async def _drain_then(self, proceed: Callable[[], None]) -> None:
        try:
            await self.drain()
            await asyncio.sleep(self.drain_s)
        finally:
            proceed()

    def trap_signals(self) -> None:
        """Put a drain in front of the server's own SIGINT/SIGTERM handling (uvicorn's,
        installed before the application starts). Only in the main thread, and only when
        there is a handler to hand over to."""
        if threading.current_thread() is not threading.main_thread():
            return
        loop = asyncio.get_running_loop()
        for sig in _SIGNALS:
            previous = signal.getsignal(sig)
            if not callable(previous):
                continue
            self._restore[sig] = previous

            def on_signal(
                signum: int, frame: FrameType | None, previous: Handler = previous
            ) -> None:
                if self._signalled:  # second signal: stop waiting
                    self._proceed(previous, signum)
                    return
                self._signalled = True
                loop.call_soon_threadsafe(self._start_stopping, previous, signum)

            signal.signal(sig, on_signal)

    def _start_stopping(self, previous: Handler, signum: int) -> None:
        if self._stopping is None:
            self._stopping = asyncio.create_task(
                self._drain_then(lambda: self._proceed(previous, signum)), name="drain"
            )

    def _proceed(self, previous: Handler, signum: int) -> None:
        """Hand the signal to the server once (twice would mean "force quit" to uvicorn,
        which skips the shutdown that writes buffered fixes)."""
        if not self._proceeded:
            self._proceeded = True
            previous(signum, None)

    async def close(self) -> None:
        """At the end of the lifespan: hand the signals back, stop a pending drain."""
        for sig, handler in self._restore.items():
            signal.signal(sig, handler)
        self._restore.clear()
        if self._stopping is not None and not self._stopping.done():
            self._stopping.cancel()
