"""A minimal keep-alive HTTP/1.1 client for the hot path of the load generator.

Why not httpx for every request: on this project's 2-core machines the load generator
shares the CPU with the server it measures, and a general-purpose client spends a few
hundred microseconds of CPU per request; at thousands of one-fix OsmAnd requests per
second the generator would end up measuring itself. This client does one request at a
time on one connection (like a phone), sends pre-built bytes and reads a response with a
``Content-Length`` or chunked body. Setup and the occasional incident use httpx.
"""

from __future__ import annotations

import asyncio
import ssl
from urllib.parse import urlsplit


class HttpError(Exception):
    """The server's reply could not be read as HTTP/1.1."""


class Http1Connection:
    """One persistent connection to ``base_url``'s host; reconnects after any failure."""

    def __init__(self, base_url: str, *, timeout_s: float = 10.0) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {base_url!r}")
        self.host = parts.hostname
        self.tls = parts.scheme == "https"
        self.port = parts.port or (443 if self.tls else 80)
        self.prefix = parts.path.rstrip("/")
        self.host_header = parts.netloc.encode()
        self.timeout_s = timeout_s
        #: The last response's X-Next-Cursor (a paged list's next page), if it had one.
        self.next_cursor: str | None = None
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self._reader is None or self._writer is None or self._writer.is_closing():
            context = ssl.create_default_context() if self.tls else None
            self._reader, self._writer = await asyncio.open_connection(
                self.host, self.port, ssl=context
            )
        return self._reader, self._writer

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: bytes | None = None,
        headers: bytes = b"",
    ) -> tuple[int, bytes]:
        """Send one request and return (status, body). ``headers`` are complete header
        lines (``b"Name: value\\r\\n"`` each). Raises on transport errors and timeouts,
        after closing the connection so the next request starts afresh."""
        try:
            async with asyncio.timeout(self.timeout_s):
                reader, writer = await self._connect()
                head = b"%s %s%s HTTP/1.1\r\nHost: %s\r\n" % (
                    method.encode(),
                    self.prefix.encode(),
                    path.encode(),
                    self.host_header,
                )
                if body is not None:
                    head += b"Content-Length: %d\r\n" % len(body)
                writer.write(head + headers + b"\r\n" + (body or b""))
                return await self._response(reader)
        except BaseException:
            self.close()
            raise

    async def _response(self, reader: asyncio.StreamReader) -> tuple[int, bytes]:
        raw = await reader.readuntil(b"\r\n\r\n")
        lines = raw.split(b"\r\n")
        try:
            status = int(lines[0].split(b" ", 2)[1])
        except (IndexError, ValueError):
            raise HttpError(f"bad status line {lines[0][:80]!r}") from None
        length: int | None = None
        chunked = False
        keep_alive = True
        self.next_cursor = None
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            key = name.strip().lower()
            if key == b"content-length":
                length = int(value.strip())
            elif key == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
            elif key == b"connection" and b"close" in value.lower():
                keep_alive = False
            elif key == b"x-next-cursor":
                self.next_cursor = value.strip().decode("ascii", "replace")
        if chunked:
            body = await self._chunked(reader)
        elif length is not None:
            body = await reader.readexactly(length)
        else:
            body = await reader.read()
            keep_alive = False
        if not keep_alive:
            self.close()
        return status, body

    @staticmethod
    async def _chunked(reader: asyncio.StreamReader) -> bytes:
        parts: list[bytes] = []
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";")[0].strip(), 16)
            if size == 0:
                await reader.readuntil(b"\r\n")  # no trailers expected
                return b"".join(parts)
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None
