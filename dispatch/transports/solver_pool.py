"""The dial-a-ride solver runs in a separate process.

Why: the search is mostly Python (OR-Tools calls back into Python for every arc it
prices, the insertion search is Python around a few compiled loops), so in a thread it
holds the GIL nearly all the time. Measured in tests/test_planning.py: while a 2-second
plan solved in a thread, taking one emergency call went from ~15 ms to ~1.5 s, in the
same worker. In a child process the serving event loop keeps its own interpreter to
itself.

One child per serving process (plans of one worker queue up behind each other), started
with ``spawn`` on first use (never ``fork`` a process that runs threads and an event
loop); a child that dies is replaced and the solve retried once.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TypeVar

T = TypeVar("T")

_lock = threading.Lock()
_pool: ProcessPoolExecutor | None = None


def _executor() -> ProcessPoolExecutor:
    global _pool
    with _lock:
        if _pool is None:
            _pool = ProcessPoolExecutor(
                max_workers=1, mp_context=multiprocessing.get_context("spawn")
            )
        return _pool


def _discard(broken: ProcessPoolExecutor) -> None:
    global _pool
    with _lock:
        if _pool is broken:
            _pool = None
    broken.shutdown(wait=False, cancel_futures=True)


async def run(fn: Callable[..., T], *args: object) -> T:
    """``fn(*args)`` in the solver process (``fn`` and its arguments must pickle)."""
    loop = asyncio.get_running_loop()
    for attempt in (1, 2):
        pool = _executor()
        try:
            return await loop.run_in_executor(pool, fn, *args)
        except BrokenProcessPool:
            _discard(pool)
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def shutdown() -> None:
    """Stop the child (at the end of the serving process's lifespan)."""
    global _pool
    with _lock:
        pool, _pool = _pool, None
    if pool is not None:
        pool.shutdown(wait=True, cancel_futures=True)
