"""Real ``dispatch serve`` processes, as production runs them: started on a port with
the test's stack, ready once ``/readyz`` answers, stopped the way an orchestrator does."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import httpx

from tests.helpers.stacks import REDIS_PREFIX, TEST_SECRET, Stack
from tests.helpers.waiting import eventually


def _output(proc: subprocess.Popen[bytes], log: Path | None) -> str:
    data = proc.stderr.read() if proc.stderr else (log.read_bytes() if log else b"")
    return data.decode()


async def start_worker(
    stack: Stack,
    port: int,
    log: Path | None = None,
    *,
    serve_args: Sequence[str] = (),
    **settings: str,
) -> subprocess.Popen[bytes]:
    """``dispatch serve`` on ``port`` (stderr to ``log`` when given); ``serve_args`` are
    more of its options (``--workers 2``), ``settings`` extra ``DISPATCH_*`` variables
    without the prefix. Returns once it is ready."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DISPATCH_")}
    env.update(
        DISPATCH_DATABASE_URL=stack.database_url,
        DISPATCH_REDIS_URL=stack.redis_url or "",
        DISPATCH_SECRET_KEY=TEST_SECRET,
        DISPATCH_OSMAND_PORT="0",
        DISPATCH_REDIS_PREFIX=REDIS_PREFIX,
        DISPATCH_POSITIONS_INTERVAL_MS="10",
        DISPATCH_ALERT_INTERVAL_S="3600",
    )
    env.update({f"DISPATCH_{k.upper()}": v for k, v in settings.items()})
    proc = subprocess.Popen(  # noqa: ASYNC220 (starts a server; nothing waits on it here)
        [sys.executable, "-m", "dispatch.cli", "serve", "--port", str(port), *serve_args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE if log is None else log.open("wb"),
    )
    async with httpx.AsyncClient() as http:

        async def ready() -> bool:
            if proc.poll() is not None:
                raise AssertionError(_output(proc, log) or "the worker died")
            return (await http.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200

        try:
            await eventually(
                ready, what=f"worker on port {port} ready", ignoring=(httpx.TransportError,)
            )
        except BaseException:
            proc.kill()
            await asyncio.to_thread(proc.wait)
            raise
    return proc


async def stop_worker(proc: subprocess.Popen[bytes], port: int) -> int:
    """SIGTERM (the worker drains), then, once it is seen draining, a second SIGTERM to
    skip the rest of the drain wait (two signals sent at once would arrive as one)."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        async with httpx.AsyncClient() as http:

            async def draining() -> bool:
                try:
                    response = await http.get(f"http://127.0.0.1:{port}/readyz")
                except httpx.TransportError:
                    return True  # already past the drain
                return response.status_code == 503

            try:
                await eventually(draining, what=f"worker on port {port} draining")
            finally:
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
    try:
        return await asyncio.to_thread(proc.wait, 30)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
