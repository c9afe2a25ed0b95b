"""The real app served by uvicorn on a free port, in the test's own event loop."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import uvicorn
from fastapi import FastAPI

from dispatch.app import create_app
from dispatch.clock import SYSTEM_CLOCK, Clock
from dispatch.config import Settings
from tests.helpers.waiting import eventually


@dataclass
class LiveServer:
    app: FastAPI
    base_url: str
    ws_url: str


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@asynccontextmanager
async def serve(settings: Settings, *, clock: Clock = SYSTEM_CLOCK) -> AsyncIterator[LiveServer]:
    app = create_app(settings, clock=clock)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    task = asyncio.create_task(server.serve())

    def started() -> bool:
        if task.done():
            task.result()  # it failed to start: raise why
        return server.started

    await eventually(started, what=f"uvicorn listening on port {port}")
    try:
        yield LiveServer(app, f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}")
    finally:
        server.should_exit = True
        await task
