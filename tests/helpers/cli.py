"""Running the ``dispatch`` command as an operator does: a real process, its own
environment (none of the test process's ``DISPATCH_*`` settings leak into it)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys


def cli_env(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DISPATCH_")}
    env.update(values)
    return env


async def dispatch_cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``dispatch <args>`` in a child process, awaited without blocking the event loop."""

    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "dispatch.cli", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    return await asyncio.to_thread(run)
