"""The three ways a phone sends fixes, driven on a fixed timetable.

Every vehicle records fixes at ``rate`` Hz and uploads every ``batch_size`` fixes, so each
vehicle has a send slot every ``batch_size / rate`` seconds; slots are staggered over the
interval so the fleet does not fire in lockstep. A sender that falls more than one slot
behind (the server or the generator is saturated) skips the missed slots and counts them,
rather than bursting to catch up: the offered load never exceeds the configured one and
the number of requests is bounded by ``vehicles × duration × rate / batch_size``. (With
retry, a phone catching up after an outage uploads its backlog with its slots, and the
flush after the sending period is bounded by its own timeout.)

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
from array import array
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
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
        now_ms = int(time.time() * 1000)
        self.start_wall_ms = now_ms
        self.warm_end_wall_ms = now_ms + round(warmup_s * 1000)
        self.end_wall_ms = now_ms + round(duration_s * 1000)

    def measuring(self, at: float) -> bool:
        return self.warm_end <= at < self.end

    @property
    def window_s(self) -> float:
        return self.end - self.warm_end


class Ledger:
    """Totals for the whole run and for the measured window, plus, per vehicle, the time of
    every fix sent and of every fix the server acknowledged: the storage check compares
    them with what the server returns, fix by fix. Times are kept in ``array('q')`` (8
    bytes a fix) so a long run of thousands of vehicles does not need gigabytes."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.total = Counters()
        self.window = Counters()
        self.last_acked_ms: dict[int, int] = {}
        self.sent_ms: dict[int, array[int]] = {}
        self.acked_ms: dict[int, array[int]] = {}
        self.failovers = 0

    def _targets(self, started: float) -> tuple[Counters, ...]:
        return (self.total, self.window) if self.clock.measuring(started) else (self.total,)

    def sent(self, started: float, vehicle_id: int, new: Sequence[int], resent: int = 0) -> None:
        """One request or message: ``new`` holds the times of fixes never sent before,
        ``resent`` counts those sent again after a failure."""
        self.sent_ms.setdefault(vehicle_id, array("q")).extend(new)
        for c in self._targets(started):
            c.requests += 1
            c.fixes_sent += len(new) + resent
            c.fixes_resent += resent

    def ok(
        self,
        started: float,
        vehicle_id: int,
        times: Sequence[int],
        accepted: int | None,
        duplicates: int | None,
    ) -> None:
        """The server acknowledged the fixes at ``times`` (so it promises they are stored)."""
        ack_ms = round((time.monotonic() - started) * 1000)
        for c in self._targets(started):
            c.requests_ok += 1
            c.fixes_ok += len(times)
            if accepted is not None and duplicates is not None:
                c.counted_replies += 1
                c.accepted += accepted
                c.duplicates += duplicates
            c.ack_ms.add(ack_ms)
        self.acked_ms.setdefault(vehicle_id, array("q")).extend(times)
        newest = max(times, default=0)
        if newest > self.last_acked_ms.get(vehicle_id, 0):
            self.last_acked_ms[vehicle_id] = newest

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


#: Replies after which a phone keeps the fixes and sends them again (the server was busy,
#: down or restarting); any other refusal (4xx) would be refused again, so they are dropped.
RETRY_STATUSES = frozenset({408, 429})
#: Pause after a pass of the flush in which every upload failed, so a dead server is not
#: hammered in a tight loop.
FLUSH_BACKOFF_S = 0.5


@dataclass(eq=False)
class Phone:
    """One vehicle as its sender sees it. With retry, ``backlog`` holds the fixes not yet
    acknowledged, oldest first; every request is a prefix of it, so a fix at or before
    ``sent_upto`` (the newest time ever put on the wire) is being resent."""

    vehicle: SimVehicle
    track: Track
    target: int  # index into the sender's URLs
    backlog: deque[FixPoint] = field(default_factory=deque)
    sent_upto: int = 0


class HttpSender:
    """One keep-alive connection per server, serving a share of the fleet in turn (a pool
    of senders), or one vehicle when there are as many senders as vehicles (a phone each).

    Without ``retry`` a failed request's fixes are lost (counted as errors). With it each
    phone behaves like the real app: failed fixes stay in its backlog and go out again,
    oldest first, with its next upload (at most ``MAX_BATCH`` a request; OsmAnd sends one
    fix per request, oldest first, until one fails). After a transport failure the phone
    moves on to the next URL and stays there, as a proxy fails over to the next upstream.
    When the sending period ends, backlogs are flushed until ``flush_s`` has passed."""

    def __init__(
        self,
        plan: Plan,
        phones: list[Phone],
        urls: list[str],
        *,
        osmand: bool,
        timeout_s: float = 10.0,
        retry: bool = False,
        flush_s: float = 30.0,
    ) -> None:
        self.plan = plan
        self.phones = phones
        self.urls = urls
        self.osmand = osmand
        self.timeout_s = timeout_s
        self.retry = retry
        self.flush_s = flush_s
        self.connections: dict[str, Http1Connection] = {}

    @property
    def backlog(self) -> int:
        """Fixes still waiting for an acknowledgement."""
        return sum(len(p.backlog) for p in self.phones)

    def _connection(self, url: str) -> Http1Connection:
        parts = urlsplit(url)
        base = f"{parts.scheme}://{parts.netloc}"
        if base not in self.connections:
            self.connections[base] = Http1Connection(base, timeout_s=self.timeout_s)
        return self.connections[base]

    async def run(self) -> None:
        slots = [(self.plan.phase(p.vehicle.index), i) for i, p in enumerate(self.phones)]
        try:
            await timetable(self.plan, slots, self._slot)
            if self.retry:
                await self.flush(self.plan.clock.end + self.flush_s)
        finally:
            for conn in self.connections.values():
                conn.close()

    async def _slot(self, i: int) -> None:
        phone = self.phones[i]
        points = phone.track.take(
            int(time.time() * 1000), self.plan.batch_size, self.plan.period_ms
        )
        if self.retry:
            phone.backlog.extend(points)
            await self.upload(phone, self.plan.clock.end)
        else:
            await self._request(phone, points)

    async def flush(self, deadline: float) -> None:
        """Upload the backlogs until they are empty or ``deadline`` (monotonic) passes."""
        while time.monotonic() < deadline:
            waiting = [p for p in self.phones if p.backlog]
            if not waiting:
                return
            progress = False
            for phone in waiting:
                if time.monotonic() >= deadline:
                    return
                progress |= await self.upload(phone, deadline)
            if not progress:
                await asyncio.sleep(max(0.0, min(FLUSH_BACKOFF_S, deadline - time.monotonic())))

    async def upload(self, phone: Phone, deadline: float) -> bool:
        """Send the oldest pending fixes; False when the server did not take them (they
        stay queued). No new request starts after ``deadline``."""
        if not phone.backlog:
            return True
        if not self.osmand:
            chunk = list(itertools.islice(phone.backlog, MAX_BATCH))
            if await self._request(phone, chunk) == "retry":
                return False
            for _ in chunk:
                phone.backlog.popleft()
            return True
        for _ in range(MAX_BATCH):
            if await self._request(phone, [phone.backlog[0]]) == "retry":
                return False
            phone.backlog.popleft()
            if not phone.backlog or time.monotonic() >= deadline:
                break
        return True

    async def _request(self, phone: Phone, points: list[FixPoint]) -> str:
        """One request: ``ok``, ``retry`` (transport failure, timeout, 5xx, 408, 429) or
        ``drop`` (refused for good)."""
        vehicle = phone.vehicle
        ledger = self.plan.ledger
        url = self.urls[phone.target]
        conn = self._connection(url)
        new = [p.t_ms for p in points if p.t_ms > phone.sent_upto]
        phone.sent_upto = max(phone.sent_upto, points[-1].t_ms)
        started = time.monotonic()
        ledger.sent(started, vehicle.vehicle_id, new, len(points) - len(new))
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
            if self.retry and len(self.urls) > 1:
                phone.target = (phone.target + 1) % len(self.urls)
                ledger.failovers += 1
            return "retry"
        if not 200 <= status < 300:
            ledger.failed(started, f"http_{status}")
            return "retry" if status >= 500 or status in RETRY_STATUSES else "drop"
        accepted = duplicates = None
        if not self.osmand:
            with contextlib.suppress(ValueError, KeyError, TypeError):
                reply = json.loads(body)
                accepted, duplicates = int(reply["accepted"]), int(reply["duplicates"])
        ledger.ok(started, vehicle.vehicle_id, [p.t_ms for p in points], accepted, duplicates)
        return "ok"


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
