"""Virtual time for the city day: it moves on only when every simulated actor is waiting
for a later moment, so the server's latency never turns into simulated minutes.

Why not a fixed mapping of virtual onto real time (``real0 + v / speed``), as the first
version did: at 360x a 100 ms reply is 36 virtual seconds of dispatch delay, and a loaded
machine turned a seeded day into hours of waiting that no policy caused (measured: red
calls reached within 8 minutes 30 % on a quiet machine, 10 % on a busy one, same seed).
Here each actor (a call being handled, a crew) runs until it sleeps until a later
virtual moment or waits for another actor; when all of them do, the clock jumps to the
earliest wake-up. Requests sent at virtual moment ``v`` are all answered while the clock
stands at ``v``, so the figures depend on the seed and the system's decisions, not on
how fast the machine is. ``speed`` only caps the pace (for watching a day on the control
screen); the clock never catches up on time lost to a slow reply.

The server stamps calls and assignments with its own clock and checks the crews' times
against it, so every moment the clock reaches is tied to the real instant it was reached
(an *anchor*): crews report that instant, and a server stamp maps back to the latest
anchor not after it, which is the moment its request was sent.

Actors are tasks started with :meth:`Clock.spawn`; they wait only through
:meth:`Clock.sleep_until` and :meth:`Clock.wait` (or on requests and locks that another
running actor will release). Fire-and-forget work (a GPS fix) is not an actor.
"""

from __future__ import annotations

import asyncio
import bisect
import heapq
import itertools
import time
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from simulator.city.errors import CityError

T = TypeVar("T")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Stalled(CityError):
    """Every actor waits for another and none sleeps: nothing can ever happen again."""


class Clock:
    """Virtual seconds since local midnight of the simulated day, advanced by the actors."""

    def __init__(
        self,
        v0: float,
        day_start: datetime,
        speed: float | None = None,
        *,
        tell_server: Callable[[datetime], Awaitable[None]] | None = None,
    ) -> None:
        if speed is not None and speed <= 0:
            raise ValueError("speed must be positive (or None: as fast as the server answers)")
        #: With a server on a simulated clock (``--server-clock``): called with each new
        #: moment before anyone acts at it, and stamps are the simulated moments themselves.
        self.tell_server = tell_server
        self.now = v0
        self.speed = speed
        self.day_start = day_start
        self._anchor_v = [v0]
        # real instants in whole microseconds, the resolution of the server's timestamps:
        # two anchors must never round to the same stamp
        self._anchor_us = [time.time_ns() // 1000]
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._active = 0
        self._blocked: set[asyncio.Future[Any]] = set()
        self._quiet = asyncio.Event()
        self._driver: asyncio.Task[None] | None = None
        self.instants = 0  # virtual moments at which something happened
        self.busy_s = 0.0  # real seconds the clock stood still while actors worked
        self.paced_s = 0.0  # real seconds the clock waited only to keep to ``speed``

    # --- running -------------------------------------------------------------------------

    def start(self) -> None:
        """Start advancing (the actors spawned so far begin at ``now``)."""
        if self._driver is None:
            self._anchor_us[-1] = time.time_ns() // 1000
            self._driver = asyncio.create_task(self._drive())
            if self._active == 0:
                self._quiet.set()

    async def stop(self) -> None:
        if self._driver is not None:
            self._driver.cancel()
            await asyncio.gather(self._driver, return_exceptions=True)
            self._driver = None

    def spawn(self, coro: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        """Run ``coro`` as an actor: the clock waits for it whenever it is not sleeping."""
        self._active += 1
        self._quiet.clear()
        task = asyncio.create_task(coro)
        # A callback, not try/finally: a task cancelled before its first step never runs
        # its body, yet must stop counting.
        task.add_done_callback(lambda _t: self._leave())
        return task

    async def sleep_until(self, v: float) -> None:
        """Let the clock move on until virtual moment ``v`` (at once if it has passed)."""
        if v <= self.now:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (v, next(self._order), future))
        await self._block(future)

    async def wait(self, future: asyncio.Future[T]) -> T:
        """Wait for another actor to :meth:`resolve` (or :meth:`fail`) ``future``."""
        self._blocked.add(future)
        try:
            return await self._block(future)
        finally:
            self._blocked.discard(future)

    def resolve(self, future: asyncio.Future[T], result: T) -> None:
        if not future.done():
            self._active += 1  # counted now: it must not be missed before it runs
            self._quiet.clear()
            future.set_result(result)

    def fail(self, future: asyncio.Future[Any], exc: BaseException) -> None:
        if not future.done():
            self._active += 1
            self._quiet.clear()
            future.set_exception(exc)

    async def _block(self, future: asyncio.Future[T]) -> T:
        self._leave()
        try:
            return await future
        except asyncio.CancelledError:
            if future.cancelled():  # cancelled while waiting: nobody counted it back in
                self._active += 1
                self._quiet.clear()
            raise

    def _leave(self) -> None:
        self._active -= 1
        if self._active == 0:
            self._quiet.set()

    async def _drive(self) -> None:
        reached = time.monotonic()
        while True:
            await self._quiet.wait()
            if self._active:
                self._quiet.clear()
                continue
            while self._sleepers and self._sleepers[0][2].done():
                heapq.heappop(self._sleepers)  # cancelled sleepers
            if not self._sleepers:
                for future in list(self._blocked):
                    self.fail(future, Stalled("every actor waits for another"))
                self._quiet.clear()  # idle until an actor is spawned
                continue
            v = self._sleepers[0][0]
            if self.speed is not None:
                wait = self._anchor_us[-1] / 1e6 + (v - self.now) / self.speed - time.time()
                if wait > 0:
                    self.busy_s += time.monotonic() - reached
                    await asyncio.sleep(wait)
                    self.paced_s += wait
                    reached = time.monotonic()
                    continue  # look again: an actor may have started meanwhile
            if self.tell_server is not None:
                await self.tell_server(self.local(v))
            self.busy_s += time.monotonic() - reached
            reached = time.monotonic()
            self.now = v
            self._anchor_v.append(v)
            self._anchor_us.append(max(time.time_ns() // 1000, self._anchor_us[-1] + 1))
            self.instants += 1
            while self._sleepers and self._sleepers[0][0] == v:
                _v, _n, future = heapq.heappop(self._sleepers)
                self.resolve(future, None)

    # --- virtual ↔ real ----------------------------------------------------------------------

    def now_v(self) -> float:
        return self.now

    def stamp(self) -> str:
        """The current moment as the timestamp the server expects (crews' ``at``, fixes'
        ``recorded_at``): the real instant it was reached, or the simulated moment itself
        when the server keeps the simulated time."""
        if self.tell_server is not None:
            return self.local(self.now).isoformat()
        return (EPOCH + timedelta(microseconds=self._anchor_us[-1])).isoformat()

    def virtual(self, stamp: str | datetime) -> float:
        """The virtual moment at which the server took the timestamp ``stamp``: the
        latest moment the clock had reached by then (on a simulated server clock, the
        stamp is that moment)."""
        at = datetime.fromisoformat(stamp) if isinstance(stamp, str) else stamp
        if self.tell_server is not None:
            return (at - self.day_start).total_seconds()
        us = (at - EPOCH) // timedelta(microseconds=1)
        i = bisect.bisect_right(self._anchor_us, us) - 1
        return self._anchor_v[max(i, 0)]

    def local(self, v: float) -> datetime:
        return self.day_start + timedelta(seconds=v)

    def summary(self, wall_s: float) -> dict[str, Any]:
        span = self.now - self._anchor_v[0]
        return {
            "speed_cap": self.speed,
            "instants": self.instants,
            "virtual_per_real": round(span / wall_s, 1) if wall_s > 0 else None,
            "busy_s": round(self.busy_s, 1),
            "paced_s": round(self.paced_s, 1),
        }
