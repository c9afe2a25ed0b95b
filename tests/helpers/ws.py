"""Talking to the live channels (/ws/control, /ws/driver) as a screen or a phone does."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from websockets.asyncio.client import ClientConnection

from tests.helpers.world import World

#: A call in central Bangkok (a red one: stroke).
SCENE = {"lat": 13.7460, "lon": 100.5340, "chief_complaint": "stroke"}


async def recv(ws: ClientConnection, kind: str | None = None, timeout: float = 5) -> dict[str, Any]:  # noqa: ASYNC109
    """The next message (of ``kind``), skipping heartbeats and other kinds; ``timeout`` is
    how long the next message may take (a deadline: fails a silent server, never a wait)."""
    while True:
        message: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), timeout))
        if (kind is None and message["type"] != "heartbeat") or message["type"] == kind:
            return message


async def hello(ws: ClientConnection, token: str, **extra: Any) -> None:
    await ws.send(json.dumps({"type": "hello", "token": token, **extra}))


def token(world: World, who: str) -> str:
    """The bare bearer token of a user ("dispatcher", …) or a device ("device:A1")."""
    return world.headers(who)["Authorization"].removeprefix("Bearer ")
