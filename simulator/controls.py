"""Control-room screens on ``/ws/control``: healthy ones that read everything and measure
latency, and stalled ones that stop reading after the snapshot.

A healthy screen takes each ``positions`` frame's arrival time and subtracts every SIM
entry's fix time ``t`` (epoch ms, which the simulator set to the moment it sent the fix):
that is GPS-sent → screen-received latency, through ingest, the bus and the hub. It is
only meaningful when the simulator and the server's clients share a clock, i.e. on one
machine (or NTP-synchronised ones). Entries flagged ``stale`` carry an old ``t`` on
purpose and are not latency samples.

A stalled screen keeps its socket open and never calls ``recv``: the websockets client then
stops reading from TCP once its small queue fills, so the server's writes back up into the
kernel buffers and finally into its own per-client queue. That is what a frozen browser
tab does, and it must not delay anyone else.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from simulator.driver_socket import ws_url
from simulator.stats import Histogram, error_kind
from simulator.timetable import Clock


@dataclass
class ControlStats:
    frames: Counter[str] = field(default_factory=Counter)
    positions: int = 0  # SIM entries received, whole run
    positions_measured: int = 0
    latency_ms: Histogram = field(default_factory=Histogram)
    snapshot_bytes: int = 0
    snapshot_ms: float = 0.0


class ControlClient:
    def __init__(
        self,
        number: int,
        url: str,
        token: str,
        *,
        stalled: bool,
        sim_ids: set[int],
        compression: str | None,
    ) -> None:
        self.number = number
        self.http_url = url
        self.url = ws_url(url, "/ws/control")
        self.token = token
        self.stalled = stalled
        self.sim_ids = sim_ids
        self.compression = compression
        self.stats = ControlStats()
        self.ws: ClientConnection | None = None
        self.error: str | None = None
        self.closed: tuple[int, str] | None = None  # (code, reason) when the server closed it
        self.fate: dict[str, Any] = {}
        self.opened = False
        self._task: asyncio.Task[None] | None = None

    async def open(self, timeout_s: float = 60.0) -> bool:
        """Connect, say hello and read the snapshot."""
        started = time.monotonic()
        try:
            async with asyncio.timeout(timeout_s):
                self.ws = await connect(
                    self.url,
                    compression=self.compression,
                    ping_interval=None,  # our own keepalive must not close a stalled screen
                    max_size=2**26,
                    open_timeout=timeout_s,
                )
                await self.ws.send(json.dumps({"type": "hello", "token": self.token}))
                raw = await self.ws.recv()
            snapshot = json.loads(raw)
        except Exception as exc:
            self.error = f"open: {error_kind(exc)}: {exc}"[:200]
            return False
        if snapshot.get("type") != "snapshot":
            self.error = f"expected a snapshot, got {snapshot.get('type')!r}"
            return False
        self.opened = True
        self.stats.snapshot_bytes = len(raw)
        self.stats.snapshot_ms = round((time.monotonic() - started) * 1000, 1)
        return True

    def start(self, clock: Clock) -> None:
        if self.ws is not None and not self.stalled:
            self._task = asyncio.create_task(self._read(self.ws, clock))

    async def _read(self, ws: ClientConnection, clock: Clock) -> None:
        stats = self.stats
        sim_ids = self.sim_ids
        try:
            async for raw in ws:
                now_ms = int(time.time() * 1000)
                message = json.loads(raw)
                kind = message.get("type")
                stats.frames[str(kind)] += 1
                if kind != "positions":
                    continue
                measuring = time.monotonic() >= clock.warm_end
                for p in message["positions"]:
                    if p["vehicle_id"] not in sim_ids:
                        continue
                    stats.positions += 1
                    if measuring and not p.get("stale") and p["t"] >= clock.warm_end_wall_ms:
                        stats.positions_measured += 1
                        stats.latency_ms.add(now_ms - p["t"])
        except ConnectionClosed as exc:
            code = exc.rcvd.code if exc.rcvd is not None else 1006
            self.closed = (code, exc.rcvd.reason if exc.rcvd is not None else "")
        except Exception as exc:
            self.error = f"read: {error_kind(exc)}: {exc}"[:200]

    async def stop(self) -> None:
        """Stop a healthy screen's reader (the socket stays open until ``close``)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task

    async def stalled_fate(self, idle_s: float = 2.0, limit_s: float = 15.0) -> dict[str, Any]:
        """What became of a stalled screen: read what the server queued for it until the
        line goes quiet (still open) or a close arrives (closed, with code and reason)."""
        fate: dict[str, Any] = {"client": self.number, "url": self.http_url}
        if self.ws is None:
            fate.update(state="never_opened", error=self.error)
            return fate
        frames = 0
        size = 0
        deadline = time.monotonic() + limit_s
        try:
            while time.monotonic() < deadline:
                try:
                    raw = await asyncio.wait_for(self.ws.recv(), idle_s)
                except TimeoutError:
                    fate["state"] = "open"
                    break
                frames += 1
                size += len(raw)
            else:
                fate["state"] = "open_still_draining"
        except ConnectionClosed as exc:
            fate["state"] = "closed"
            fate["code"] = exc.rcvd.code if exc.rcvd is not None else 1006
            fate["reason"] = exc.rcvd.reason if exc.rcvd is not None else ""
        fate["backlog_frames"] = frames
        fate["backlog_bytes"] = size
        self.fate = fate
        return fate

    async def close(self) -> None:
        if self.ws is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(5):
                    await self.ws.close()

    def summary(self) -> dict[str, Any]:
        s = self.stats
        out: dict[str, Any] = {
            "client": self.number,
            "url": self.http_url,
            "stalled": self.stalled,
            "opened": self.opened,
            "snapshot_bytes": s.snapshot_bytes,
            "snapshot_ms": s.snapshot_ms,
        }
        if not self.stalled:
            out.update(
                frames=dict(s.frames),
                positions=s.positions,
                positions_measured=s.positions_measured,
                latency_ms=s.latency_ms.summary(),
                closed_by_server=None
                if self.closed is None
                else {"code": self.closed[0], "reason": self.closed[1]},
            )
        if self.error:
            out["error"] = self.error
        return out
