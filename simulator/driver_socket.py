"""The crew phone's channel: fixes sent over ``/ws/driver`` on the run's timetable
(``simulator.timetable``), acknowledged by id.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from urllib.parse import urlsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from simulator.fixes import Track, fix_json
from simulator.fleet import SimVehicle
from simulator.stats import error_kind
from simulator.timetable import Ledger, Plan, timetable


def ws_url(http_url: str, path: str) -> str:
    parts = urlsplit(http_url)
    scheme = "wss" if parts.scheme == "https" else "ws"
    return f"{scheme}://{parts.netloc}{parts.path.rstrip('/')}{path}"


class DriverSocket:
    """One ``/ws/driver`` connection per vehicle. Fixes are sent without waiting for the
    previous ack (a reader task matches acks by id), but at most ``max_outstanding``
    messages may be unacknowledged: beyond that the slot is skipped (back-pressure)."""

    def __init__(
        self,
        vehicle: SimVehicle,
        track: Track,
        url: str,
        *,
        compression: str | None,
        max_outstanding: int = 8,
    ) -> None:
        self.plan: Plan | None = None
        self.vehicle = vehicle
        self.track = track
        self.url = ws_url(url, "/ws/driver")
        self.compression = compression
        self.max_outstanding = max_outstanding
        self.ws: ClientConnection | None = None
        self.pending: dict[str, tuple[float, list[int]]] = {}  # id → (sent at, fix times)
        self.ids = itertools.count(1)
        self.connect_error: str | None = None
        self.close_code: int | None = None
        self._reader: asyncio.Task[None] | None = None
        self._all_acked = asyncio.Event()

    async def open(self, timeout_s: float = 30.0) -> bool:
        """Connect and greet; False (with the reason kept) when that fails."""
        try:
            async with asyncio.timeout(timeout_s):
                self.ws = await connect(
                    self.url,
                    compression=self.compression,
                    ping_interval=None,
                    max_size=2**24,
                    open_timeout=timeout_s,
                )
                await self.ws.send(json.dumps({"type": "hello", "token": self.vehicle.token}))
                welcome = json.loads(await self.ws.recv())
            if welcome.get("type") != "welcome":
                self.connect_error = f"unexpected first message {welcome.get('type')!r}"
                return False
        except Exception as exc:
            self.connect_error = error_kind(exc)
            return False
        return True

    async def run(self, plan: Plan) -> None:
        """Send on the timetable until the end of the run (the socket stays open)."""
        if self.ws is None:
            return
        self.plan = plan
        self._reader = asyncio.create_task(self._read(self.ws, plan.ledger))
        slot = [(plan.phase(self.vehicle.index), 0)]
        with contextlib.suppress(ConnectionClosed):
            await timetable(
                plan,
                slot,
                lambda _i: self._send(),
                lambda _i: len(self.pending) < self.max_outstanding and self.close_code is None,
            )

    async def _send(self) -> None:
        assert self.ws is not None and self.plan is not None
        plan = self.plan
        points = self.track.take(int(time.time() * 1000), plan.batch_size, plan.period_ms)
        msg_id = f"m{next(self.ids)}"
        started = time.monotonic()
        times = [p.t_ms for p in points]
        plan.ledger.sent(started, self.vehicle.vehicle_id, times)
        self.pending[msg_id] = (started, times)
        self._all_acked.clear()
        try:
            await self.ws.send(
                json.dumps(
                    {"type": "fixes", "id": msg_id, "fixes": [fix_json(p) for p in points]},
                    separators=(",", ":"),
                )
            )
        except Exception as exc:
            self.pending.pop(msg_id, None)
            plan.ledger.failed(started, error_kind(exc))

    async def _read(self, ws: ClientConnection, ledger: Ledger) -> None:
        try:
            async for raw in ws:
                try:
                    message = json.loads(raw)
                except ValueError:
                    continue
                kind = message.get("type")
                if kind not in ("ack", "error"):
                    continue  # assignments and status changes: not part of this load
                entry = self.pending.pop(str(message.get("id")), None)
                if entry is None:
                    continue
                if not self.pending:
                    self._all_acked.set()
                started, times = entry
                if kind == "ack":
                    ledger.ok(
                        started,
                        self.vehicle.vehicle_id,
                        times,
                        message.get("accepted"),
                        message.get("duplicates"),
                    )
                else:
                    ledger.failed(started, f"ws_{message.get('code')}")
        except ConnectionClosed as exc:
            self.close_code = exc.rcvd.code if exc.rcvd is not None else 1006
        finally:
            for started, _times in self.pending.values():
                ledger.failed(started, "ws_no_ack")
            self.pending.clear()
            self._all_acked.set()

    async def finish(self, timeout_s: float) -> None:
        """Wait (bounded) for outstanding acks, then close."""
        if self.pending and self._reader is not None and not self._reader.done():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._all_acked.wait(), timeout_s)
        if self.ws is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(5):
                    await self.ws.close()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(BaseException):
                await self._reader
