"""Real ``dispatch serve`` processes for the simulator's tests.

The simulator reaches a server only through its public HTTP and websocket API, so its
tests start one as a separate process, configured by environment variables alone, as an
operator would: nothing of ``dispatch`` is imported here either."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def clean_env(**values: str) -> dict[str, str]:
    """This process's environment without any ``DISPATCH_*`` setting, plus ``values``: a
    developer's own settings must not leak into the server under test."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DISPATCH_")}
    env.update(values)
    return env


def dispatch_cli(args: list[str], env: dict[str, str]) -> None:
    """Run ``python -m dispatch.cli …`` (database, organisations, users) and require success."""
    done = subprocess.run(
        [sys.executable, "-m", "dispatch.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]


def start_server(env: dict[str, str], log_path: Path) -> tuple[subprocess.Popen[bytes], str]:
    """``dispatch serve`` on a free port, its output in ``log_path``; returns once
    ``/readyz`` answers 200 (the log's tail is the error when it never does)."""
    port = free_port()
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "dispatch.cli", "serve", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + READY_TIMEOUT_S
    while True:
        if proc.poll() is not None:
            raise AssertionError(log_path.read_text()[-3000:])
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return proc, url
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError("the server did not become ready")
        time.sleep(0.1)


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    """A graceful stop, and a kill when it takes longer than ``STOP_TIMEOUT_S``."""
    proc.terminate()
    try:
        proc.wait(STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
