"""Listening to the event bus, and proving that something was *not* published.

Waiting a while and seeing nothing proves nothing (the event may be slow). The bus is
ordered: publish a sentinel after the action, through the same bus, and once it arrives
anything published before it (wrongly or not) has arrived too."""

from __future__ import annotations

import asyncio
import secrets
from types import TracebackType
from typing import Any

from dispatch.events import Event
from dispatch.realtime.broker import Bus
from tests.helpers.waiting import DEADLINE_S

SENTINEL = "test.sentinel"


class BusRecorder:
    """Everything ``bus`` delivers from the moment the ``async with`` is entered until
    :meth:`settle`.

    The recording ends by itself when its sentinel comes back, not by cancelling the
    listener: a task blocked in a Redis XREAD does not always stop when cancelled while
    other subscribers share the client (it retries the read until the client closes)."""

    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        self.messages: list[dict[str, Any]] = []
        self._marker: str | None = None
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> BusRecorder:
        subscribed = asyncio.Event()

        async def listen() -> None:
            async with self.bus.subscribe() as messages:
                subscribed.set()
                async for message in messages:
                    self.messages.append(message)
                    if message["type"] == SENTINEL and message["data"] == {"marker": self._marker}:
                        return

        self._task = asyncio.create_task(listen(), name="bus-recorder")
        self._task.add_done_callback(lambda t: t.cancelled() or t.exception())  # seen
        waiting = asyncio.create_task(subscribed.wait())
        await asyncio.wait({waiting, self._task}, return_when=asyncio.FIRST_COMPLETED)
        if self._task.done():
            waiting.cancel()
            self._task.result()  # the subscription failed: raise why
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._task is not None
        if not self._task.done():  # left early (the test failed): stop as well as it can
            self._task.cancel()

    async def settle(self) -> list[dict[str, Any]]:
        """Publish a sentinel and wait for it: the messages delivered before it (every
        one published before this call). Ends the recording."""
        assert self._task is not None and self._marker is None, "settle() once"
        self._marker = secrets.token_hex(8)
        await self.bus.publish([Event(SENTINEL, {"marker": self._marker})])
        done, _ = await asyncio.wait({self._task}, timeout=DEADLINE_S)  # a deadline only
        assert done, f"the sentinel did not come back from the bus within {DEADLINE_S:g} s"
        self._task.result()  # the listener failed: raise why
        assert self.messages[-1]["type"] == SENTINEL
        return self.messages[:-1]
