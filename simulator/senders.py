"""The phones that send fixes over HTTP: JSON batches (``POST /vehicles/{id}/fixes``) or
one fix a request as Traccar Client's OsmAnd protocol, on the run's timetable
(``simulator.timetable``). The crews' websocket is ``simulator.driver_socket``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections import deque
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from simulator.fixes import MAX_BATCH, FixPoint, Track, batch_body, osmand_query
from simulator.fleet import SimVehicle
from simulator.http1 import Http1Connection
from simulator.stats import error_kind
from simulator.timetable import Plan, timetable

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
