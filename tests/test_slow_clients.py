"""Slow clients cannot hold a worker: a real ``dispatch serve`` closes connections whose
request has not fully arrived within ``DISPATCH_CLIENT_READ_TIMEOUT_S`` (a silent
connection, half a head, a head with half a body) and answers everyone else meanwhile."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.helpers.server import free_port
from tests.helpers.stacks import Stack
from tests.helpers.waiting import DEADLINE_S
from tests.helpers.workers import start_worker, stop_worker

pytestmark = pytest.mark.slow

Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]
HALF_HEAD = b"GET /healthz HTTP/1.1\r\nHost: dispatch\r\nX-Slow: "
HEAD_WITHOUT_BODY = (
    b"POST /incidents HTTP/1.1\r\nHost: dispatch\r\nContent-Type: application/json\r\n"
    b"Content-Length: 1000\r\n\r\n"
    b'{"lat": 13.74, '
)


@pytest.fixture
async def worker(stack: Stack) -> AsyncIterator[int]:
    port = free_port()
    proc = await start_worker(stack, port, client_read_timeout_s="2")
    try:
        yield port
    finally:
        await stop_worker(proc, port)


async def _connect(port: int, sent: bytes) -> Connection:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    if sent:
        writer.write(sent)
        await writer.drain()
    return reader, writer


async def _until_closed(connection: Connection) -> bytes:
    """Everything the server sends until it closes the connection (waits for that state)."""
    reader, writer = connection
    try:
        return await asyncio.wait_for(reader.read(), DEADLINE_S)
    finally:
        writer.close()


async def test_half_sent_requests_are_closed_while_others_are_answered(worker: int) -> None:
    silent = [await _connect(worker, b"") for _ in range(200)]
    half_heads = [await _connect(worker, HALF_HEAD) for _ in range(500)]
    half_bodies = [await _connect(worker, HEAD_WITHOUT_BODY) for _ in range(300)]
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{worker}") as http:
        # A thousand half-open connections: others are still answered, on new connections.
        for _ in range(5):
            assert (await http.get("/healthz")).status_code == 200
        waiting = await asyncio.gather(*(_until_closed(c) for c in silent + half_heads))
        assert all(reply.startswith(b"HTTP/1.1 408 ") for reply in waiting), {
            reply[:40] for reply in waiting
        }
        # The head arrived, the app is reading the body: the connection is dropped.
        cut = await asyncio.gather(*(_until_closed(c) for c in half_bodies))
        assert all(not reply.startswith(b"HTTP/1.1 2") for reply in cut)
        assert (await http.get("/healthz")).status_code == 200


async def test_a_request_sent_in_pieces_within_the_time_is_answered(worker: int) -> None:
    reader, writer = await _connect(worker, b"GET /healthz HTTP/1.1\r\n")
    for piece in (b"Host: dispatch\r\n", b"Connection: close\r\n", b"\r\n"):
        writer.write(piece)
        await writer.drain()
    reply = await _until_closed((reader, writer))
    assert reply.startswith(b"HTTP/1.1 200 "), reply[:80]
