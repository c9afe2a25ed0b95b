"""The bus between API workers: committed events and live vehicle positions.

*Events* (incident created, unit assigned, …) are facts published after a commit. They
go into a log with a global, gap-free sequence number, so a control screen that
reconnects, to any worker, can ask for everything after the last number it saw and
either get exactly the missing events or learn that it must reload (a gap). With Redis
the log is a stream (``XADD`` with ids ``<seq>-1`` from an ``INCR`` counter, done
atomically in a script); without Redis it is an in-process ring buffer.

*Positions* are latest-value state: each vehicle's newest fix is kept (a late, older fix
never moves it back), the changes are fanned out to every worker (pub/sub), and
available vehicles are kept in a GEO set for "nearest unit" lookups. Losing a position
message is harmless: the next fix or a snapshot repairs it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections import deque
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import redis.asyncio as aioredis

from dispatch.events import Event, VehicleUpdated
from dispatch.realtime.protocol import LogEntry

log = logging.getLogger(__name__)

PREFIX = "dispatch:"
EVENT_LOG_SIZE = 10_000


@dataclass(frozen=True, slots=True)
class Position:
    """A vehicle's newest fix as the control room sees it. ``t`` and ``rx`` are epoch
    milliseconds of the fix and of its arrival at the server."""

    vehicle_id: int
    lat: float
    lon: float
    t: int
    rx: int
    speed: float | None = None
    heading: float | None = None
    accuracy: float | None = None
    battery: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "vehicle_id": self.vehicle_id,
            "lat": self.lat,
            "lon": self.lon,
            "t": self.t,
            "rx": self.rx,
            "speed": self.speed,
            "heading": self.heading,
            "accuracy": self.accuracy,
            "battery": self.battery,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Position:
        return cls(**data)


def _available_change(event: Event) -> tuple[int, bool] | None:
    """(vehicle, now available?) when an event changes a unit's state."""
    state = event.data.get("vehicle_state") or (
        event.data.get("state") if event.type == VehicleUpdated.NAME else None
    )
    vehicle_id = event.data.get("vehicle_id")
    if not isinstance(state, str) or not isinstance(vehicle_id, int):
        return None
    return vehicle_id, state in ("available", "returning")


class Bus(Protocol):
    epoch: str

    async def publish(self, events: Sequence[Event]) -> list[int]: ...
    async def last_seq(self) -> int: ...
    async def events_after(self, seq: int, limit: int = 5000) -> list[LogEntry] | None: ...
    def subscribe(self) -> Any:
        """Async context manager yielding an async iterator of ``{seq, type, data}``."""

    async def apply_positions(self, positions: Sequence[Position]) -> int: ...
    def subscribe_positions(self) -> Any:
        """Async context manager yielding an async iterator of lists of positions."""

    async def positions(self) -> dict[int, Position]: ...
    async def set_available(self, vehicle_ids: Iterable[int]) -> None: ...
    async def nearest_available(
        self, lat: float, lon: float, radius_m: float, count: int
    ) -> list[tuple[int, float]]: ...
    async def ping(self) -> None: ...
    async def close(self) -> None: ...
    async def refresh_epoch(self) -> bool:
        """Re-read the stream's epoch; True when it changed (the log was lost)."""
        ...


class InProcessBus:
    """One process: the same semantics as Redis, in memory."""

    def __init__(self, log_size: int = EVENT_LOG_SIZE) -> None:
        self.epoch = secrets.token_hex(8)
        self._log: deque[LogEntry] = deque(maxlen=log_size)
        self._seq = 0
        self._changed = asyncio.Condition()
        self._positions: dict[int, Position] = {}
        self._available: set[int] = set()
        self._position_subscribers: set[asyncio.Queue[list[Position]]] = set()

    async def publish(self, events: Sequence[Event]) -> list[int]:
        seqs = []
        for event in events:
            self._seq += 1
            self._log.append({"seq": self._seq, "type": event.type, "data": event.data})
            seqs.append(self._seq)
            change = _available_change(event)
            if change is not None:
                vehicle_id, available = change
                (self._available.add if available else self._available.discard)(vehicle_id)
        async with self._changed:
            self._changed.notify_all()
        return seqs

    async def last_seq(self) -> int:
        return self._seq

    async def events_after(self, seq: int, limit: int = 5000) -> list[LogEntry] | None:
        if seq > self._seq or (self._log and self._log[0]["seq"] > seq + 1):
            return None  # unknown future (another epoch) or already forgotten: reload
        if seq == self._seq:
            return []
        start = seq + 1 - self._log[0]["seq"]
        return list(self._log)[start : start + limit]

    @asynccontextmanager
    async def subscribe(self) -> AsyncIterator[AsyncIterator[LogEntry]]:
        start = self._seq

        async def messages() -> AsyncIterator[LogEntry]:
            seen = start
            while True:
                async with self._changed:
                    while self._seq <= seen:
                        await self._changed.wait()
                batch = await self.events_after(seen)
                if batch is None:  # fell behind the ring buffer
                    raise OverflowError("subscriber fell behind the event log")
                for message in batch:
                    seen = message["seq"]
                    yield message

        yield messages()

    async def apply_positions(self, positions: Sequence[Position]) -> int:
        accepted = []
        for position in positions:
            current = self._positions.get(position.vehicle_id)
            if current is None or current.t < position.t:
                self._positions[position.vehicle_id] = position
                accepted.append(position)
        if accepted:
            for queue in self._position_subscribers:
                if queue.full():  # a slow reader only ever needs the latest
                    queue.get_nowait()
                queue.put_nowait(accepted)
        return len(accepted)

    @asynccontextmanager
    async def subscribe_positions(self) -> AsyncIterator[AsyncIterator[list[Position]]]:
        queue: asyncio.Queue[list[Position]] = asyncio.Queue(maxsize=1000)
        self._position_subscribers.add(queue)

        async def batches() -> AsyncIterator[list[Position]]:
            while True:
                yield await queue.get()

        try:
            yield batches()
        finally:
            self._position_subscribers.discard(queue)

    async def positions(self) -> dict[int, Position]:
        return dict(self._positions)

    async def set_available(self, vehicle_ids: Iterable[int]) -> None:
        self._available = set(vehicle_ids)

    async def nearest_available(
        self, lat: float, lon: float, radius_m: float, count: int
    ) -> list[tuple[int, float]]:
        import numpy as np

        from dispatch.routing.geo import haversine_m

        found = [p for vid, p in self._positions.items() if vid in self._available]
        if not found:
            return []
        d = haversine_m(
            np.array([p.lat for p in found]),
            np.array([p.lon for p in found]),
            np.full(len(found), lat),
            np.full(len(found), lon),
        )
        ranked = sorted(
            ((p.vehicle_id, float(m)) for p, m in zip(found, d, strict=True) if m <= radius_m),
            key=lambda x: (x[1], x[0]),
        )
        return ranked[:count]

    async def refresh_epoch(self) -> bool:
        return False  # the log lives as long as the process

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        self._position_subscribers.clear()


_PUBLISH = """
local out = {}
for i = 2, #ARGV do
  local n = redis.call('INCR', KEYS[1])
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[1], n .. '-1', 'e', ARGV[i])
  out[#out + 1] = n
end
return out
"""

#: Redis GEO covers the Web-Mercator band only; a unit beyond it (nowhere an ambulance
#: drives) keeps its live position but is left out of "nearest" searches.
GEO_MAX_LAT = 85.05112878

_POSITIONS = """
local out = {}
for i = 2, #ARGV, 5 do
  local vid = ARGV[i]
  local t = tonumber(ARGV[i + 1])
  local cur = redis.call('HGET', KEYS[2], vid)
  if (not cur) or tonumber(cur) < t then
    redis.call('HSET', KEYS[2], vid, ARGV[i + 1])
    redis.call('HSET', KEYS[1], vid, ARGV[i + 4])
    local lat = tonumber(ARGV[i + 3])
    if lat >= -85.05112878 and lat <= 85.05112878
        and redis.call('SISMEMBER', KEYS[4], vid) == 1 then
      redis.call('GEOADD', KEYS[3], ARGV[i + 2], ARGV[i + 3], vid)
    end
    out[#out + 1] = ARGV[i + 4]
  end
end
if #out > 0 then
  redis.call('PUBLISH', ARGV[1], '[' .. table.concat(out, ',') .. ']')
end
return #out
"""


class RedisBus:
    """Every worker shares one event stream and one live-position table in Redis."""

    def __init__(self, url: str, prefix: str = PREFIX, log_size: int = EVENT_LOG_SIZE) -> None:
        self._redis = aioredis.from_url(
            url, socket_connect_timeout=2, socket_timeout=10, health_check_interval=30
        )
        self.prefix = prefix
        self.log_size = log_size
        self.epoch = ""
        self._publish = self._redis.register_script(_PUBLISH)
        self._apply = self._redis.register_script(_POSITIONS)
        k = prefix
        self.keys = {
            "seq": k + "seq",
            "stream": k + "events",
            "epoch": k + "epoch",
            "live": k + "live",
            "live_t": k + "live_t",
            "geo": k + "available_geo",
            "available": k + "available",
            "positions": k + "positions",
        }

    async def connect(self) -> None:
        """Learn (or set) the stream's epoch; a Redis that lost its data gets a new one."""
        await self.refresh_epoch()

    async def refresh_epoch(self) -> bool:
        """A Redis restarted without its data restarts the sequence at 1 too: the new epoch
        tells screens (and this worker's hub) that old sequence numbers mean nothing now."""
        await self._redis.set(self.keys["epoch"], secrets.token_hex(8), nx=True)
        raw: Any = await self._redis.get(self.keys["epoch"])
        epoch = raw.decode() if isinstance(raw, bytes) else str(raw or "")
        changed = bool(self.epoch) and epoch != self.epoch
        self.epoch = epoch
        return changed

    async def publish(self, events: Sequence[Event]) -> list[int]:
        if not events:
            return []
        payloads = [json.dumps(e.to_json(), separators=(",", ":")) for e in events]
        seqs = await self._publish(
            keys=[self.keys["seq"], self.keys["stream"]], args=[self.log_size, *payloads]
        )
        changes = [c for e in events if (c := _available_change(e)) is not None]
        if changes:
            await self._update_available(changes)
        return [int(s) for s in seqs]

    async def _update_available(self, changes: list[tuple[int, bool]]) -> None:
        live = await self._redis.hmget(self.keys["live"], [str(v) for v, _ in changes])
        async with self._redis.pipeline(transaction=False) as pipe:
            for (vehicle_id, available), raw in zip(changes, live, strict=True):
                if available:
                    pipe.sadd(self.keys["available"], vehicle_id)
                    if raw and abs((p := json.loads(raw))["lat"]) <= GEO_MAX_LAT:
                        pipe.geoadd(self.keys["geo"], (p["lon"], p["lat"], vehicle_id))
                else:
                    pipe.srem(self.keys["available"], vehicle_id)
                    pipe.zrem(self.keys["geo"], vehicle_id)
            await pipe.execute()

    async def last_seq(self) -> int:
        raw = await self._redis.get(self.keys["seq"])
        return int(raw) if raw else 0

    @staticmethod
    def _decode(entries: list[Any]) -> list[LogEntry]:
        out: list[LogEntry] = []
        for entry_id, fields in entries:
            seq = int(entry_id.split(b"-")[0])
            event = json.loads(fields[b"e"])
            out.append({"seq": seq, "type": event["type"], "data": event["data"]})
        return out

    async def events_after(self, seq: int, limit: int = 5000) -> list[LogEntry] | None:
        last = await self.last_seq()
        if seq > last:
            return None
        if seq == last:
            return []
        entries: Any = await self._redis.xrange(
            self.keys["stream"], min=f"{seq + 1}-1", count=limit
        )
        events = self._decode(entries)
        if not events or events[0]["seq"] != seq + 1:
            return None  # trimmed away: the client must reload
        return events

    @asynccontextmanager
    async def subscribe(self) -> AsyncIterator[AsyncIterator[LogEntry]]:
        start = await self.last_seq()

        async def messages() -> AsyncIterator[LogEntry]:
            last_id = f"{start}-1" if start else "0-0"
            while True:
                reply: Any = await self._redis.xread(
                    {self.keys["stream"]: last_id}, count=500, block=5000
                )
                for _stream, entries in reply:
                    for message in self._decode(entries):
                        last_id = f"{message['seq']}-1"
                        yield message

        yield messages()

    async def apply_positions(self, positions: Sequence[Position]) -> int:
        if not positions:
            return 0
        args: list[Any] = [self.keys["positions"]]
        for p in positions:
            args += [
                p.vehicle_id,
                p.t,
                p.lon,
                p.lat,
                json.dumps(p.to_json(), separators=(",", ":")),
            ]
        keys = [self.keys["live"], self.keys["live_t"], self.keys["geo"], self.keys["available"]]
        return int(await self._apply(keys=keys, args=args))

    @asynccontextmanager
    async def subscribe_positions(self) -> AsyncIterator[AsyncIterator[list[Position]]]:
        pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        await pubsub.subscribe(self.keys["positions"])

        async def batches() -> AsyncIterator[list[Position]]:
            async for raw in pubsub.listen():
                if raw.get("type") == "message":
                    yield [Position.from_json(p) for p in json.loads(raw["data"])]

        try:
            yield batches()
        finally:
            await pubsub.unsubscribe(self.keys["positions"])
            await pubsub.aclose()

    async def positions(self) -> dict[int, Position]:
        raw = await self._redis.hgetall(self.keys["live"])
        return {int(k): Position.from_json(json.loads(v)) for k, v in raw.items()}

    async def set_available(self, vehicle_ids: Iterable[int]) -> None:
        ids = list(vehicle_ids)
        live = await self.positions()
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(self.keys["available"], self.keys["geo"])
            if ids:
                pipe.sadd(self.keys["available"], *ids)
                located = [
                    (live[v].lon, live[v].lat, v)
                    for v in ids
                    if v in live and abs(live[v].lat) <= GEO_MAX_LAT
                ]
                for entry in located:
                    pipe.geoadd(self.keys["geo"], entry)
            await pipe.execute()

    async def nearest_available(
        self, lat: float, lon: float, radius_m: float, count: int
    ) -> list[tuple[int, float]]:
        found: Any = await self._redis.geosearch(
            self.keys["geo"],
            longitude=lon,
            latitude=lat,
            radius=radius_m,
            unit="m",
            sort="ASC",
            count=count,
            withdist=True,
        )
        return [(int(member), float(dist)) for member, dist in found]

    async def ping(self) -> None:
        await self._redis.ping()

    async def close(self) -> None:
        await self._redis.aclose()


async def create_bus(redis_url: str | None, prefix: str = PREFIX) -> InProcessBus | RedisBus:
    if not redis_url:
        return InProcessBus()
    bus = RedisBus(redis_url, prefix=prefix)
    try:
        await bus.connect()
    except Exception:
        log.warning("Redis unreachable at start-up; it will be retried on use", exc_info=True)
    return bus
