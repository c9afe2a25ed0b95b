"""Watching sessions end: the close code a socket ends with, and what it was sent before."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from tests.helpers.ws import recv


async def close_code(ws: ClientConnection, seen: list[dict[str, Any]] | None = None) -> int:
    """Read until the server closes ``ws``; its close code. Every message read on the way
    goes into ``seen``. Fails (times out) if the server keeps the socket open."""
    try:
        while True:
            message = await recv(ws, timeout=15)
            if seen is not None:
                seen.append(message)
    except ConnectionClosed as closed:
        assert closed.rcvd is not None, "closed without a close frame"
        return closed.rcvd.code


def fixes_message(msg_id: str, seconds_ago: float = 5, lat: float = 13.745) -> str:
    """A crew phone's ``fixes`` message with one fix."""
    at = (datetime.now(UTC) - timedelta(seconds=seconds_ago)).isoformat()
    return json.dumps(
        {"type": "fixes", "id": msg_id, "fixes": [{"lat": lat, "lon": 100.534, "recorded_at": at}]}
    )


def fix_body(seconds_ago: float = 5) -> dict[str, Any]:
    """The JSON batch (``POST /vehicles/{id}/fixes``) with one fix."""
    at = (datetime.now(UTC) - timedelta(seconds=seconds_ago)).isoformat()
    return {"fixes": [{"lat": 13.746, "lon": 100.535, "recorded_at": at}]}
