"""Waiting for a state, never for time: a test that sleeps and hopes something has
happened fails under load, or passes without having seen it happen.

``eventually`` polls a condition until it holds and fails with a clear message after a
generous deadline; the deadline is only there so a broken server fails the test instead
of hanging it, so it is far longer than the state ever takes when things work."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from fastapi import FastAPI

T = TypeVar("T")

#: Seconds before a wait gives up: ample on a loaded two-core CI machine.
DEADLINE_S = 30.0
#: Seconds between two looks (the loop runs the server's tasks meanwhile).
INTERVAL_S = 0.02


def _describe(probe: Callable[..., object], what: str | None) -> str:
    return what or getattr(probe, "__qualname__", repr(probe))


async def eventually(
    probe: Callable[[], T | Awaitable[T]],
    *,
    what: str | None = None,
    timeout: float = DEADLINE_S,  # noqa: ASYNC109 (a deadline for the state, not a sleep)
    interval: float = INTERVAL_S,
    ignoring: tuple[type[BaseException], ...] = (),
) -> T:
    """The first truthy value ``probe()`` returns (awaited if it is a coroutine).

    Exceptions of the ``ignoring`` types count as "not yet" (a server still starting);
    any other exception fails at once. After ``timeout`` seconds without the state,
    AssertionError names ``what`` and the last value or exception seen."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last: object = None
    while True:
        try:
            value = probe()
            if inspect.isawaitable(value):
                value = await value
        except ignoring as exc:
            last = exc
        else:
            if value:
                return value  # type: ignore[return-value]
            last = value
        if loop.time() >= deadline:
            raise AssertionError(
                f"{_describe(probe, what)}: not reached within {timeout:g} s (last seen: {last!r})"
            )
        await asyncio.sleep(interval)


def eventually_blocking(
    probe: Callable[[], T],
    *,
    what: str | None = None,
    timeout: float = DEADLINE_S,
    interval: float = INTERVAL_S,
    ignoring: tuple[type[BaseException], ...] = (),
) -> T:
    """``eventually`` for synchronous tests and fixtures (no event loop running)."""
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            value = probe()
        except ignoring as exc:
            last = exc
        else:
            if value:
                return value
            last = value
        if time.monotonic() >= deadline:
            raise AssertionError(
                f"{_describe(probe, what)}: not reached within {timeout:g} s (last seen: {last!r})"
            )
        time.sleep(interval)


async def reactions_settled(app: FastAPI) -> None:
    """Wait until the app's reactions to committed events (re-plans …) have all finished:
    after this, what a reaction would have changed has been changed, so an assertion that
    something did *not* happen is meaningful."""
    await app.state.dispatch.db.reactions.settle()
