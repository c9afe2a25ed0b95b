"""The three ways a phone sends fixes, driven on a fixed timetable.

Every vehicle records fixes at ``rate`` Hz and uploads every ``batch_size`` fixes, so each
vehicle has a send slot every ``batch_size / rate`` seconds; slots are staggered over the
interval so the fleet does not fire in lockstep. A sender that falls more than one slot
behind (the server or the generator is saturated) skips the missed slots and counts them,
rather than bursting to catch up: the offered load never exceeds the configured one and
the number of requests is bounded by ``vehicles × duration × rate / batch_size``.

Each fix carries the moment it is sent as ``recorded_at`` (earlier fixes of a batch are
back-dated at the recording interval, as a phone that buffered them would), so a control
screen can measure GPS-sent→screen-received latency from the fix time ``t`` it receives.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from simulator.fleet import SimVehicle
from simulator.http1 import Http1Connection
from simulator.movement import Mover
from simulator.movement import Vehicle as Motion
from simulator.stats import Counters, error_kind

KNOTS_PER_MPS = 1 / 0.514444
MAX_BATCH = 500


@dataclass(frozen=True, slots=True)
class FixPoint:
    t_ms: int
    lat: float
    lon: float
    speed_mps: float
    heading: float


def iso_ms(t_ms: int) -> str:
    """ISO-8601 UTC with milliseconds, from integer milliseconds (no float rounding, so the
    server reads back exactly ``t_ms``)."""
    moment = datetime.fromtimestamp(t_ms // 1000, UTC).replace(microsecond=(t_ms % 1000) * 1000)
    return moment.isoformat(timespec="milliseconds")


class Track:
    """One vehicle's motion and the time of its last fix (kept strictly increasing, since
    the server treats a repeated (vehicle, time) as a duplicate)."""

    def __init__(self, mover: Mover, motion: Motion) -> None:
        self.mover = mover
        self.motion = motion
        self.last_ms = 0

    def take(self, now_ms: int, count: int, period_ms: float) -> list[FixPoint]:
        """``count`` fixes, the newest at ``now_ms``, earlier ones ``period_ms`` apart."""
        out: list[FixPoint] = []
        for j in range(count):
            t = max(now_ms - round((count - 1 - j) * period_ms), self.last_ms + 1)
            self.last_ms = t
            m = self.mover.advance(self.motion, t / 1000)
            out.append(FixPoint(t, round(m.lat, 6), round(m.lon, 6), m.speed_mps, m.heading))
        return out


def batch_body(points: list[FixPoint]) -> bytes:
    return json.dumps({"fixes": [fix_json(p) for p in points]}, separators=(",", ":")).encode()


def fix_json(p: FixPoint) -> dict[str, Any]:
    return {
        "lat": p.lat,
        "lon": p.lon,
        "recorded_at": iso_ms(p.t_ms),
        "speed_mps": round(p.speed_mps, 2),
        "heading": round(p.heading, 1),
        "accuracy_m": 5.0,
        "battery_pct": 80.0,
    }


def osmand_query(device: str, p: FixPoint) -> str:
    """Traccar Client's OsmAnd parameters; speed in knots, time in epoch milliseconds."""
    return (
        f"id={device}&lat={p.lat:.6f}&lon={p.lon:.6f}&timestamp={p.t_ms}"
        f"&speed={p.speed_mps * KNOTS_PER_MPS:.2f}&bearing={p.heading:.1f}&accuracy=5&batt=80"
    )


class Clock:
    """The run's timetable on the monotonic clock, plus the wall-clock start of the
    measured window (fix times are wall-clock milliseconds)."""

    def __init__(self, warmup_s: float, duration_s: float) -> None:
        self.start = time.monotonic()
        self.warm_end = self.start + warmup_s
        self.end = self.start + duration_s
        self.warm_end_wall_ms = int((time.time() + warmup_s) * 1000)

    def measuring(self, at: float) -> bool:
        return self.warm_end <= at < self.end

    @property
    def window_s(self) -> float:
        return self.end - self.warm_end


class Ledger:
    """Totals for the whole run and for the measured window, plus each vehicle's newest
    acknowledged fix time (to check later that it was stored)."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.total = Counters()
        self.window = Counters()
        self.last_acked_ms: dict[int, int] = {}

    def _targets(self, started: float) -> tuple[Counters, ...]:
        return (self.total, self.window) if self.clock.measuring(started) else (self.total,)

    def sent(self, started: float, fixes: int) -> None:
        for c in self._targets(started):
            c.requests += 1
            c.fixes_sent += fixes

    def ok(
        self,
        started: float,
        vehicle_id: int,
        newest_ms: int,
        fixes: int,
        accepted: int | None,
        duplicates: int | None,
    ) -> None:
        ack_ms = round((time.monotonic() - started) * 1000)
        for c in self._targets(started):
            c.requests_ok += 1
            c.fixes_ok += fixes
            if accepted is not None and duplicates is not None:
                c.counted_replies += 1
                c.accepted += accepted
                c.duplicates += duplicates
            c.ack_ms.add(ack_ms)
        if newest_ms > self.last_acked_ms.get(vehicle_id, 0):
            self.last_acked_ms[vehicle_id] = newest_ms

    def failed(self, started: float, kind: str) -> None:
        for c in self._targets(started):
            c.errors[kind] += 1

    def skipped(self, at: float, slots: int) -> None:
        for c in self._targets(at):
            c.skipped_slots += slots


@dataclass
class Plan:
    """What every sender needs to know."""

    clock: Clock
    ledger: Ledger
    rate_hz: float
    batch_size: int
    total_vehicles: int

    @property
    def interval_s(self) -> float:
        return self.batch_size / self.rate_hz

    @property
    def period_ms(self) -> float:
        return 1000.0 / self.rate_hz

    def phase(self, index: int) -> float:
        """Stagger vehicles evenly over one send interval."""
        return self.clock.start + (index % self.total_vehicles) / self.total_vehicles * (
            self.interval_s
        )


async def timetable(
    plan: Plan,
    slots: list[tuple[float, int]],
    send: Callable[[int], Any],
    may_send: Callable[[int], bool] = lambda _i: True,
) -> None:
    """Call ``await send(i)`` at each item's slots until the end of the run.
    ``slots`` holds (first slot time, item); items are served earliest slot first."""
    heap = list(slots)
    heapq.heapify(heap)
    interval = plan.interval_s
    end = plan.clock.end
    while heap:
        due, item = heapq.heappop(heap)
        if due >= end:
            continue
        now = time.monotonic()
        if due > now:
            await asyncio.sleep(due - now)
        elif now - due >= interval:  # fell behind: skip the missed slots, do not burst
            missed = int((now - due) / interval)
            plan.ledger.skipped(now, missed)
            due += missed * interval
            if due >= end:
                continue
        if may_send(item):
            await send(item)
        else:
            plan.ledger.skipped(time.monotonic(), 1)
        heapq.heappush(heap, (due + interval, item))


# --- HTTP: JSON batches and OsmAnd ---------------------------------------------------------


class HttpSender:
    """One keep-alive connection per server, serving a share of the fleet in turn (a pool
    of senders), or one vehicle when there are as many senders as vehicles (a phone each)."""

    def __init__(
        self,
        plan: Plan,
        vehicles: list[tuple[SimVehicle, Track, str]],
        *,
        osmand: bool,
        timeout_s: float = 10.0,
    ) -> None:
        self.plan = plan
        self.vehicles = vehicles  # (vehicle, track, target base URL)
        self.osmand = osmand
        self.timeout_s = timeout_s
        self.connections: dict[str, Http1Connection] = {}

    def _connection(self, url: str) -> Http1Connection:
        parts = urlsplit(url)
        base = f"{parts.scheme}://{parts.netloc}"
        if base not in self.connections:
            self.connections[base] = Http1Connection(base, timeout_s=self.timeout_s)
        return self.connections[base]

    async def run(self) -> None:
        slots = [(self.plan.phase(v.index), i) for i, (v, _t, _u) in enumerate(self.vehicles)]
        try:
            await timetable(self.plan, slots, self._send_one)
        finally:
            for conn in self.connections.values():
                conn.close()

    async def _send_one(self, i: int) -> None:
        vehicle, track, url = self.vehicles[i]
        ledger = self.plan.ledger
        points = track.take(int(time.time() * 1000), self.plan.batch_size, self.plan.period_ms)
        conn = self._connection(url)
        started = time.monotonic()
        ledger.sent(started, len(points))
        try:
            if self.osmand:
                path = urlsplit(url).path or "/"
                status, body = await conn.request(
                    "GET", f"{path}?{osmand_query(vehicle.device_id, points[0])}"
                )
            else:
                assert vehicle.token is not None
                status, body = await conn.request(
                    "POST",
                    f"/vehicles/{vehicle.vehicle_id}/fixes",
                    body=batch_body(points),
                    headers=b"Authorization: Bearer %s\r\nContent-Type: application/json\r\n"
                    % vehicle.token.encode(),
                )
        except Exception as exc:
            ledger.failed(started, error_kind(exc))
            return
        if not 200 <= status < 300:
            ledger.failed(started, f"http_{status}")
            return
        accepted = duplicates = None
        if not self.osmand:
            with contextlib.suppress(ValueError, KeyError, TypeError):
                reply = json.loads(body)
                accepted, duplicates = int(reply["accepted"]), int(reply["duplicates"])
        ledger.ok(started, vehicle.vehicle_id, points[-1].t_ms, len(points), accepted, duplicates)


# --- websocket: the crew phone's channel ---------------------------------------------------


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
        self.pending: dict[str, tuple[float, int, int]] = {}  # id → (sent at, fixes, newest)
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
        plan.ledger.sent(started, len(points))
        self.pending[msg_id] = (started, len(points), points[-1].t_ms)
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
                started, fixes, newest = entry
                if kind == "ack":
                    ledger.ok(
                        started,
                        self.vehicle.vehicle_id,
                        newest,
                        fixes,
                        message.get("accepted"),
                        message.get("duplicates"),
                    )
                else:
                    ledger.failed(started, f"ws_{message.get('code')}")
        except ConnectionClosed as exc:
            self.close_code = exc.rcvd.code if exc.rcvd is not None else 1006
        finally:
            for started, _fixes, _newest in self.pending.values():
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
