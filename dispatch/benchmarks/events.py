"""When the crew's ``assignment.created`` events arrive: a subscription to the app's bus
(Redis when configured) standing in for the crew's phone."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from dispatch.state import AppState

EventKey = tuple[int, int, int]  # assignment, incident, vehicle


@dataclass
class EventClock:
    """When each ``assignment.created`` event reached the subscriber (``perf_counter``).

    Keyed by (assignment, incident, vehicle): the bus's Redis keys are shared by every
    process using that Redis, so an id alone could match someone else's event.
    """

    _arrivals: dict[EventKey, asyncio.Future[float]] = field(default_factory=dict)
    _error: BaseException | None = None

    def _future(self, key: EventKey) -> asyncio.Future[float]:
        future = self._arrivals.get(key)
        if future is None:
            future = self._arrivals[key] = asyncio.get_running_loop().create_future()
            if self._error is not None:
                future.set_exception(self._broken())
        return future

    def _broken(self) -> RuntimeError:
        error = RuntimeError(f"the broker subscription failed: {self._error!r}")
        error.__cause__ = self._error
        return error

    def arrived(self, message: dict[str, Any], at: float) -> None:
        if message.get("type") != "assignment.created":
            return
        data = message.get("data") or {}
        try:
            key = (int(data["assignment_id"]), int(data["incident_id"]), int(data["vehicle_id"]))
        except (KeyError, TypeError, ValueError):
            return
        future = self._future(key)
        if not future.done():
            future.set_result(at)

    def failed(self, error: BaseException) -> None:
        """The subscription is gone: every wait fails now instead of timing out."""
        self._error = error
        for future in self._arrivals.values():
            if not future.done():
                future.set_exception(self._broken())

    def seen(self, key: EventKey) -> bool:
        future = self._arrivals.get(key)
        return future is not None and future.done() and future.exception() is None

    async def wait(self, key: EventKey, timeout_s: float) -> float:
        """The arrival time of the event for ``key`` (possibly before this call)."""
        try:
            return await asyncio.wait_for(asyncio.shield(self._future(key)), timeout_s)
        except TimeoutError:
            raise RuntimeError(
                f"no assignment.created event for assignment {key[0]} within {timeout_s:.0f} s"
                " (with Redis: did another process sharing it reset the dispatch:* keys?)"
            ) from None


@contextlib.asynccontextmanager
async def subscribed(state: AppState) -> AsyncIterator[EventClock]:
    """A subscription to the app's broker, open for the duration, timing every arrival."""
    clock = EventClock()
    ready = asyncio.Event()

    async def listen() -> None:
        try:
            async with state.broker.subscribe() as messages, contextlib.aclosing(messages):
                ready.set()
                async for message in messages:
                    clock.arrived(message, time.perf_counter())
            raise RuntimeError("the subscription ended")
        except Exception as exc:
            clock.failed(exc)
            raise

    task = asyncio.create_task(listen(), name="bench-subscriber")
    waiting = asyncio.create_task(ready.wait())
    try:
        await asyncio.wait({task, waiting}, return_when=asyncio.FIRST_COMPLETED)
        if not ready.is_set():
            await task  # raises why the subscription failed
        yield clock
    finally:
        waiting.cancel()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
