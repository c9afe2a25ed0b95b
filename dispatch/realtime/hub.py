"""Each worker's hub: it follows the shared bus (events and positions) and fans them out
to this worker's websocket clients.

Every client has its own writer task and its own bounded queue, so a slow or stalled
screen never delays the others: events wait in the client's queue (never dropped; if the
queue overflows the client is disconnected with a resync code and resumes from its last
sequence number), positions are coalesced per vehicle (latest wins) and flushed at most
every ``positions_interval_s``.

Sessions end here too: a revoked device token or a user whose sessions ended (deactivated,
password reset, signed out everywhere) is a committed event on the bus, so every worker's
hub closes the matching sockets with 4401 ("log in again") and drops the matching entries
of its token cache, in log order: nothing published after the revocation reaches them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from typing import Any

from starlette.websockets import WebSocket

from dispatch.auth.cache import PrincipalCache
from dispatch.clock import SYSTEM_CLOCK, Clock
from dispatch.db.reactions import Reactions
from dispatch.events import DeviceTokenRevoked, DomainEvent, UserSessionsEnded, VehicleUpdated
from dispatch.realtime.broker import Bus, Position
from dispatch.realtime.devices import DeviceDirectory
from dispatch.realtime.protocol import (
    CLOSE_RESYNC,
    CLOSE_UNAUTHORIZED,
    DriverMsg,
    LogEntry,
    driver_message,
    event_frame,
    heartbeat_frame,
)
from dispatch.realtime.scope import CentreMap, Scope

log = logging.getLogger(__name__)


def _ms(clock: Clock) -> int:
    return int(clock.now().timestamp() * 1000)


def _encode(position: Position, *, stale: bool) -> str:
    return json.dumps({**position.to_json(), "stale": stale}, separators=(",", ":"))


class ControlClient:
    def __init__(
        self,
        ws: WebSocket,
        *,
        max_events: int,
        positions_interval_s: float,
        clock: Clock = SYSTEM_CLOCK,
        user_id: int | None = None,
        scope: Scope | None = None,
    ) -> None:
        self.ws = ws
        self.user_id = user_id  # whose session this is (closed when it ends)
        #: The area this screen sees (None: everything).
        self.scope = scope
        self.max_events = max_events
        self.positions_interval_s = positions_interval_s
        self.clock = clock
        self.events: deque[LogEntry] = deque()
        #: vehicle id -> that vehicle's position, already encoded as JSON (encoded once in the
        #: hub for every screen, not once per screen).
        self.positions: dict[int, str] = {}
        self.skip_through = 0  # events up to this seq are already in the client's snapshot
        self.wake = asyncio.Event()
        self.overflowed = False
        self.sent_events = 0
        self.sent_position_frames = 0
        self.coalesced = 0

    def push_event(self, message: LogEntry) -> bool:
        if self.scope is not None and not self.scope.sees_event(message):
            return True  # another area's: not this screen's to see
        if len(self.events) >= self.max_events:
            self.overflowed = True
            return False
        self.events.append(message)
        self.wake.set()
        return True

    def push_positions(self, positions: list[tuple[int, str]]) -> int:
        """Queue positions (latest wins); returns how many replaced an unsent one."""
        replaced = 0
        scope = self.scope
        for vehicle_id, encoded in positions:
            if scope is not None and not scope.sees_vehicle(vehicle_id):
                continue
            if vehicle_id in self.positions:
                replaced += 1
            self.positions[vehicle_id] = encoded
        self.coalesced += replaced
        self.wake.set()
        return replaced

    async def run(self, heartbeat_s: float, last_seq: Callable[[], int]) -> None:
        """The writer: the only task that sends on this websocket."""
        loop = asyncio.get_running_loop()
        next_positions = 0.0
        while True:
            timeout = heartbeat_s
            if self.positions and not self.events:
                timeout = max(0.0, min(timeout, next_positions - loop.time()))
            try:
                await asyncio.wait_for(self.wake.wait(), timeout)
            except TimeoutError:
                if not self.positions:
                    await self.ws.send_json(heartbeat_frame(last_seq(), _ms(self.clock)))
                    continue
            self.wake.clear()
            while self.events:
                message = self.events.popleft()
                if message["seq"] <= self.skip_through:
                    continue
                await self.ws.send_json(event_frame(message))
                self.skip_through = message["seq"]
                self.sent_events += 1
            if self.positions and loop.time() >= next_positions:
                batch, self.positions = list(self.positions.values()), {}
                await self.ws.send_text(
                    '{"type":"positions","positions":[' + ",".join(batch) + "]}"
                )
                self.sent_position_frames += 1
                next_positions = loop.time() + self.positions_interval_s


class DriverSession:
    """A crew phone's websocket: one writer task drains an outbox."""

    def __init__(self, ws: WebSocket, vehicle_id: int, user_id: int | None = None) -> None:
        self.ws = ws
        self.vehicle_id = vehicle_id
        #: The driver logged in, or None: the vehicle's phone with its device token.
        self.user_id = user_id
        self.outbox: asyncio.Queue[DriverMsg] = asyncio.Queue(maxsize=1000)

    def send(self, message: DriverMsg) -> bool:
        try:
            self.outbox.put_nowait(message)
        except asyncio.QueueFull:
            return False
        return True

    async def run(self) -> None:
        while True:
            await self.ws.send_json(await self.outbox.get())


class Hub:
    def __init__(
        self,
        bus: Bus,
        *,
        stale_after_s: float,
        positions_interval_s: float = 0.025,
        heartbeat_s: float = 15.0,
        max_client_events: int = 5000,
        clock: Clock = SYSTEM_CLOCK,
        principals: PrincipalCache | None = None,
        devices: DeviceDirectory | None = None,
    ) -> None:
        self.bus = bus
        self.clock = clock
        #: This worker's cache of resolved tokens (the GPS door's), purged as sessions end.
        self.principals = principals
        #: This worker's cache of paired OsmAnd identifiers, purged when a pairing changes.
        self.devices = devices
        self.stale_after_ms = int(stale_after_s * 1000)
        self.positions_interval_s = positions_interval_s
        self.heartbeat_s = heartbeat_s
        self.max_client_events = max_client_events
        self.positions: dict[int, Position] = {}
        self.stale: set[int] = set()
        self.control: set[ControlClient] = set()
        self.drivers: dict[int, set[DriverSession]] = {}
        #: Each call's and unit's centre, for screens that see one area (``scope``).
        self.centres = CentreMap()
        self.last_seq = 0
        self.resync_disconnects = 0
        self.sessions_ended_total = 0  # sockets closed because their credentials ended
        # Totals for /metrics, counted per batch (the sessions' own counts go with them).
        self.coalesced_total = 0
        self.out_of_order_total = 0
        self.driver_dropped_total = 0
        self._tasks: list[asyncio.Task[None]] = []
        self._background: set[asyncio.Task[None]] = set()
        self._followed = False
        #: A screen resuming from before this sequence number gets a fresh snapshot.
        self.resync_floor = 0

    async def start(self) -> None:
        with contextlib.suppress(Exception):
            self.positions = await self.bus.positions()
            self.last_seq = await self.bus.last_seq()
        self._tasks = [
            asyncio.create_task(self._follow(self._events), name="hub-events"),
            asyncio.create_task(self._follow(self._positions), name="hub-positions"),
            asyncio.create_task(self._follow(self._watch_stale), name="hub-stale"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _follow(self, loop: Callable[[], Awaitable[None]]) -> None:
        """Keep a feed running: if Redis drops, retry with back-off."""
        delay = 0.2
        while True:
            try:
                await loop()
                delay = 0.2
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("hub feed %s failed: %s; retrying in %.1f s", loop.__name__, exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    # --- events --------------------------------------------------------------------------

    async def _events(self) -> None:
        async with self.bus.subscribe() as messages:
            await self.bus.refresh_epoch()  # a Redis that lost its log has a new one
            if self._followed:
                # The feed broke (Redis unreachable): events published meanwhile may never
                # have reached the log, so a screen cannot resume across the gap; it reloads
                # its snapshot, which the database holds complete.
                self.last_seq = await self.bus.last_seq()
                self.resync_floor = self.last_seq
                log.warning("event feed restored; %d screens resync", len(self.control))
                for client in list(self.control):
                    self._spawn(self.disconnect(client, CLOSE_RESYNC, "event feed restored"))
            self._followed = True
            async for message in messages:
                self.last_seq = max(self.last_seq, message["seq"])
                self.deliver(message)

    def _spawn(self, job: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(job)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def deliver(self, message: LogEntry) -> None:
        self.centres.learn(message)
        if message["type"] == VehicleUpdated.NAME:
            self._pairing_changed(message["data"].get("changes"))
        if message["type"] in _SESSION_EVENTS:
            data = message["data"]
            if message["type"] == DeviceTokenRevoked.NAME:
                self.end_sessions(device_of=data.get("vehicle_id"))
            else:
                self.end_sessions(user_id=data.get("user_id"))
        for client in list(self.control):
            if not client.push_event(message):
                self._spawn(self.disconnect(client, CLOSE_RESYNC, "fell behind"))
        vehicle_id = message["data"].get("vehicle_id")
        if isinstance(vehicle_id, int) and vehicle_id in self.drivers:
            outgoing = driver_message(message)
            if outgoing is not None:
                for session in list(self.drivers[vehicle_id]):
                    if not session.send(outgoing):
                        self.driver_dropped_total += 1

    async def disconnect(self, client: ControlClient, code: int, reason: str) -> None:
        if client not in self.control:
            return
        self.control.discard(client)
        self.resync_disconnects += code == CLOSE_RESYNC
        with contextlib.suppress(Exception):
            await asyncio.wait_for(client.ws.close(code=code, reason=reason), 2.0)

    # --- sessions that end -------------------------------------------------------------

    def end_sessions(self, *, device_of: Any = None, user_id: Any = None) -> int:
        """Close (4401) the phone sockets of vehicle ``device_of``'s device token and every
        socket of ``user_id``, and forget their cached tokens. They leave the registries at
        once, so nothing delivered after this reaches them. Idempotent; how many closed."""
        device_of = device_of if isinstance(device_of, int) else None
        user_id = user_id if isinstance(user_id, int) else None
        if self.principals is not None:
            self.principals.forget(device_of=device_of, user_id=user_id)
        ended: list[WebSocket] = []
        for group in list(self.drivers.values()):
            for session in list(group):
                device = session.user_id is None and session.vehicle_id == device_of
                if device or (user_id is not None and session.user_id == user_id):
                    self.detach_driver(session)
                    ended.append(session.ws)
        if user_id is not None:
            for client in [c for c in self.control if c.user_id == user_id]:
                self.control.discard(client)
                ended.append(client.ws)
        for ws in ended:
            self._spawn(_close(ws, CLOSE_UNAUTHORIZED, "session ended; log in again"))
        self.sessions_ended_total += len(ended)
        return len(ended)

    def _pairing_changed(self, changes: Any) -> None:
        """A phone paired, re-paired or unpaired: the old identifier is refused (and the new
        one recognised) from the commit on, not when the cached lookup expires."""
        phone = isinstance(changes, Mapping) and bool({"device_id", "speed_unit"} & set(changes))
        if self.devices is not None and phone:
            self.devices.forget()

    def subscribe(self, reactions: Reactions) -> None:
        """Also act on this worker's own commits directly, so its sockets close (and its
        paired phones are looked up again) even while the shared bus is unreachable (the bus
        brings the news to the other workers)."""
        reactions.subscribe("end-sessions", (DeviceTokenRevoked, UserSessionsEnded), self._react)
        reactions.subscribe_at_once(
            "forget-pairings",
            (VehicleUpdated,),
            lambda event: self._pairing_changed(event.changes),
        )

    async def _react(self, events: Sequence[DomainEvent]) -> None:
        for event in events:
            if isinstance(event, DeviceTokenRevoked):
                self.end_sessions(device_of=event.vehicle_id)
            elif isinstance(event, UserSessionsEnded):
                self.end_sessions(user_id=event.user_id)

    async def drain(self, code: int, reason: str) -> None:
        """Close every screen and phone with ``code`` (this worker is going away); they
        reconnect elsewhere and resume."""
        sessions = [s for group in self.drivers.values() for s in group]
        await asyncio.gather(
            *(self.disconnect(client, code, reason) for client in list(self.control)),
            *(_close(session.ws, code, reason) for session in sessions),
        )

    # --- positions -----------------------------------------------------------------------

    async def _positions(self) -> None:
        async with self.bus.subscribe_positions() as batches:
            async for batch in batches:
                self.apply_positions(batch)

    def apply_positions(self, batch: list[Position]) -> None:
        fresh: list[tuple[int, str]] = []
        for p in batch:
            current = self.positions.get(p.vehicle_id)
            if current is not None and current.t >= p.t:
                continue
            self.positions[p.vehicle_id] = p
            self.stale.discard(p.vehicle_id)
            fresh.append((p.vehicle_id, _encode(p, stale=False)))
        self.out_of_order_total += len(batch) - len(fresh)
        if fresh:
            for client in self.control:
                self.coalesced_total += client.push_positions(fresh)

    async def _watch_stale(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            self.flag_stale(_ms(self.clock))

    def flag_stale(self, now_ms: int) -> list[int]:
        """Mark vehicles whose last fix is older than the threshold (once each)."""
        newly = [
            vid
            for vid, p in self.positions.items()
            if vid not in self.stale and now_ms - p.t > self.stale_after_ms
        ]
        if newly:
            self.stale.update(newly)
            flagged = [(v, _encode(self.positions[v], stale=True)) for v in newly]
            for client in self.control:
                self.coalesced_total += client.push_positions(flagged)
        return newly

    def position_list(self, scope: Scope | None = None) -> list[dict[str, Any]]:
        return [
            {**p.to_json(), "stale": vid in self.stale}
            for vid, p in self.positions.items()
            if scope is None or scope.sees_vehicle(vid)
        ]

    # --- clients -------------------------------------------------------------------------

    def attach_control(
        self, ws: WebSocket, user_id: int | None = None, scope: Scope | None = None
    ) -> ControlClient:
        client = ControlClient(
            ws,
            max_events=self.max_client_events,
            positions_interval_s=self.positions_interval_s,
            clock=self.clock,
            user_id=user_id,
            scope=scope,
        )
        self.control.add(client)
        return client

    def detach_control(self, client: ControlClient) -> None:
        self.control.discard(client)

    def attach_driver(
        self, ws: WebSocket, vehicle_id: int, user_id: int | None = None
    ) -> DriverSession:
        """``user_id``: the driver logged in; None for the vehicle's device token."""
        session = DriverSession(ws, vehicle_id, user_id)
        self.drivers.setdefault(vehicle_id, set()).add(session)
        return session

    def detach_driver(self, session: DriverSession) -> None:
        sessions = self.drivers.get(session.vehicle_id)
        if sessions is not None:
            sessions.discard(session)
            if not sessions:
                del self.drivers[session.vehicle_id]

    def stats(self) -> dict[str, Any]:
        sessions = [s for group in self.drivers.values() for s in group]
        return {
            "control_clients": len(self.control),
            "driver_sessions": len(sessions),
            "queued_events": sum(len(c.events) for c in self.control),
            "max_queued_events": max((len(c.events) for c in self.control), default=0),
            "queued_positions": sum(len(c.positions) for c in self.control),
            "queued_driver": sum(s.outbox.qsize() for s in sessions),
            "coalesced_positions": self.coalesced_total,
            "out_of_order_positions": self.out_of_order_total,
            "driver_dropped": self.driver_dropped_total,
            "resync_disconnects": self.resync_disconnects,
            "sessions_ended": self.sessions_ended_total,
            "last_seq": self.last_seq,
            "tracked_vehicles": len(self.positions),
            "stale_vehicles": len(self.stale),
        }


_SESSION_EVENTS = frozenset({DeviceTokenRevoked.NAME, UserSessionsEnded.NAME})


async def _close(ws: WebSocket, code: int, reason: str) -> None:
    with contextlib.suppress(Exception):
        await asyncio.wait_for(ws.close(code=code, reason=reason), 2.0)
