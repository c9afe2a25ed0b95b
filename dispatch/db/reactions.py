"""In-process reactions to committed domain events.

Some facts call for more work in this process once they are durable: a unit taken off its
booked rides for an emergency means those rides must be planned again; a booking changed
on a planned day must be inserted into the plan. Routers used to remember to schedule
that work; now a domain registers a handler for the event classes it cares about and the
unit of work hands it every matching event of each commit, in a background task, after the
commit (a rolled-back transaction triggers nothing). The request's context (its request
id) goes with the task, so what a reaction writes is traceable to its cause.

Reactions run in the worker that committed, at most once: events replayed by the outbox
relay or arriving from other workers are not reacted to again. A reaction lost with its
process is repaired by the next one of its kind (the next re-plan of that day).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from dispatch.events import DomainEvent

log = logging.getLogger(__name__)

Handler = Callable[[Sequence[Any]], Awaitable[None]]


@dataclass(frozen=True)
class _Subscription:
    name: str
    kinds: tuple[type[DomainEvent], ...]
    handler: Handler
    accepts: Callable[[Any], bool]


class Reactions:
    def __init__(self) -> None:
        self._subscriptions: list[_Subscription] = []
        self._at_once: list[tuple[str, tuple[type[DomainEvent], ...], Callable[[Any], None]]] = []
        self._running: set[asyncio.Task[None]] = set()

    def subscribe(
        self,
        name: str,
        kinds: tuple[type[DomainEvent], ...],
        handler: Handler,
        *,
        when: Callable[[Any], bool] = lambda _event: True,
    ) -> None:
        """Call ``handler`` with the events of one commit that are instances of ``kinds``
        and pass ``when``; ``name`` labels its failures in the log."""
        self._subscriptions.append(_Subscription(name, kinds, handler, when))

    def subscribe_at_once(
        self, name: str, kinds: tuple[type[DomainEvent], ...], handler: Callable[[Any], None]
    ) -> None:
        """Call ``handler`` (quick, synchronous: a cache to drop) with each matching event
        as soon as its commit is done, before the request that committed it is answered:
        an answer then means this worker already acts on the change."""
        self._at_once.append((name, kinds, handler))

    def after_commit(self, events: Sequence[DomainEvent]) -> None:
        for name, kinds, handler in self._at_once:
            for event in events:
                if isinstance(event, kinds):
                    try:
                        handler(event)
                    except Exception:  # committed; a failed reaction must not hide it
                        log.exception("reaction %s to %s failed", name, type(event).__name__)
        for sub in self._subscriptions:
            matching = [e for e in events if isinstance(e, sub.kinds) and sub.accepts(e)]
            if matching:
                task = asyncio.create_task(self._react(sub, matching), name=sub.name)
                self._running.add(task)
                task.add_done_callback(self._running.discard)

    @staticmethod
    async def _react(sub: _Subscription, events: list[DomainEvent]) -> None:
        try:
            await sub.handler(events)
        except Exception:  # the change is committed; a failed reaction must not hide it
            log.exception("reaction %s to %d event(s) failed", sub.name, len(events))

    @property
    def running(self) -> int:
        return len(self._running)

    async def settle(self) -> None:
        """Wait until every reaction started so far (and those they started) is done."""
        while self._running:
            await asyncio.gather(*list(self._running), return_exceptions=True)

    async def close(self) -> None:
        """Stop what is still running (a stopping worker does not finish a re-plan)."""
        for task in list(self._running):
            task.cancel()
        for task in list(self._running):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
