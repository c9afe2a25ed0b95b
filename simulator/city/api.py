"""The city simulator's HTTP client: every request of a run goes through :class:`Api`,
which also counts the requests, their failures and their latency for the report."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any
from urllib.parse import urlencode

from simulator.city.errors import CityError, HttpStatusError
from simulator.http1 import Http1Connection, HttpError
from simulator.stats import Histogram

IDLE_CLOSE_S = 3.0


class Reply:
    """A response: status, body and, for a page of a paged list, the next page's cursor."""

    def __init__(self, status_code: int, content: bytes, next_cursor: str | None = None) -> None:
        self.status_code = status_code
        self.content = content
        self.next_cursor = next_cursor

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.content)


class Api:
    """The simulator's HTTP calls over a small pool of keep-alive connections.

    Why not httpx here: a day sends tens of thousands of small requests, many at once, and
    httpx's pool spends CPU per queued request on every connection (measured: over half
    of the simulator's CPU at 360x), which made the simulator run late. The project's
    one-request-at-a-time ``Http1Connection``, handed out from a queue, costs O(1)."""

    def __init__(self, base_url: str, token: str, *, size: int = 48, timeout_s: float = 30) -> None:
        """``base_url`` may list several workers, comma-separated: the pool holds
        connections to each in turn, so requests spread over them."""
        self.token = token
        self.pool: asyncio.LifoQueue[tuple[Http1Connection, float]] = asyncio.LifoQueue()
        urls = split_urls(base_url)
        for i in range(size * len(urls)):
            url = urls[i % len(urls)]
            self.pool.put_nowait((Http1Connection(url, timeout_s=timeout_s), 0.0))
        self.requests = 0
        self.failures: dict[str, int] = {}
        self.latency_ms: dict[str, Histogram] = {}

    async def send(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        ok: tuple[int, ...] = (200, 201),
        body: Any = None,
        params: dict[str, Any] | None = None,
        key: str | None = None,
    ) -> Reply:
        """One request; ``key`` is sent as its ``Idempotency-Key`` (a write that may be
        repeated: the server then answers the first reply again and does nothing)."""
        target = f"{path}?{urlencode(params)}" if params else path
        headers = b"Authorization: Bearer %s\r\n" % (token or self.token).encode()
        if key is not None:
            headers += b"Idempotency-Key: %s\r\n" % key.encode("ascii")
        raw: bytes | None = None
        if body is not None:
            raw = json.dumps(body, separators=(",", ":")).encode()
            headers += b"Content-Type: application/json\r\n"
        self.requests += 1
        conn, last_used = await self.pool.get()
        if time.monotonic() - last_used > IDLE_CLOSE_S:
            conn.close()  # the server drops idle keep-alive connections (uvicorn: 5 s)
        sent = time.monotonic()
        try:
            status, content = await conn.request(method, target, body=raw, headers=headers)
            next_cursor = conn.next_cursor
            kind = _kind(method, path)
            self.latency_ms.setdefault(kind, Histogram()).add(
                round((time.monotonic() - sent) * 1000)
            )
        except (OSError, TimeoutError, asyncio.IncompleteReadError, HttpError) as exc:
            key = f"{method} {path} {type(exc).__name__}"
            self.failures[key] = self.failures.get(key, 0) + 1
            raise CityError(f"{method} {path}: {type(exc).__name__}: {exc}") from exc
        finally:
            self.pool.put_nowait((conn, time.monotonic()))
        if status not in ok:
            key = f"{method} {path} {status}"
            self.failures[key] = self.failures.get(key, 0) + 1
            raise HttpStatusError(f"{method} {path}: HTTP {status}: {content[:300]!r}", status)
        return Reply(status, content, next_cursor)

    async def get_all(
        self, path: str, *, params: dict[str, Any] | None = None, token: str | None = None
    ) -> list[Any]:
        """Every row of a paged list (``GET /bookings``, ``GET /incidents``), page by page."""
        rows: list[Any] = []
        query = dict(params or {})
        while True:
            reply = await self.send("GET", path, params=query, token=token)
            rows.extend(reply.json())
            if reply.next_cursor is None:
                return rows
            query["cursor"] = reply.next_cursor

    def close(self) -> None:
        while not self.pool.empty():
            self.pool.get_nowait()[0].close()


def split_urls(url: str) -> list[str]:
    """``http://a:8001,http://b:8002`` → both, without trailing slashes."""
    urls = [u.strip().rstrip("/") for u in url.split(",") if u.strip()]
    if not urls:
        raise ValueError("--url: give at least one server address")
    return urls


def _kind(method: str, path: str) -> str:
    """``POST /incidents/{id}/assignments`` for ``POST /incidents/17/assignments``."""
    parts = ["{id}" if p.isdigit() else p for p in path.split("/")]
    return f"{method} {'/'.join(parts)}"
