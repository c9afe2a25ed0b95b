"""The demo's living city: ``python -m simulator live`` started beside the server once it
answers, and stopped with it.

Why a separate process: the simulator is a client like any other and talks to the server
only over HTTP (it imports nothing from ``dispatch``, nor ``dispatch`` from it), so the
demo shows exactly what a real day's traffic does to the server and the screens.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

from dispatch.demo import demo_password

#: How long the city waits for the server to answer before giving up (first start:
#: migrations and the road graph).
UP_WITHIN_S = 180.0


class LivingCity:
    def __init__(self, host: str, port: int) -> None:
        here = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
        self.base = f"http://{here}:{port}"
        self.process: subprocess.Popen[bytes] | None = None
        self._stopped = threading.Event()
        self._lock = threading.Lock()

    def start_when_up(self) -> None:
        threading.Thread(target=self._start, name="living-city", daemon=True).start()

    def _start(self) -> None:
        deadline = time.monotonic() + UP_WITHIN_S
        while not self._stopped.is_set():
            try:
                with urllib.request.urlopen(f"{self.base}/healthz", timeout=2) as reply:
                    if reply.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                print("living city: the server did not answer; not started", file=sys.stderr)
                return
            time.sleep(0.2)
        env = dict(os.environ)
        env["DISPATCH_LIVE_PASSWORD"] = demo_password("supervisor")
        env["DISPATCH_LIVE_DRIVER"] = f"driver:{demo_password('driver')}"
        env["DISPATCH_LIVE_CARE"] = f"carecentre:{demo_password('carecentre')}"
        command = [sys.executable, "-m", "simulator", "live", "--url", self.base, "--with-parent"]
        with self._lock:
            if self._stopped.is_set():
                return
            self.process = subprocess.Popen(command, env=env)
        # The server closes its port first when it shuts down, then waits for requests in
        # flight: the city stops at once rather than keep sending them.
        while not self._stopped.wait(1.0):
            if self.process.poll() is not None:
                return
            if self._refused():
                self.stop()
                return

    def _refused(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.base}/healthz", timeout=5):
                return False
        except urllib.error.URLError as exc:
            return isinstance(exc.reason, ConnectionRefusedError)
        except OSError:
            return False

    def stop(self) -> None:
        with self._lock:
            self._stopped.set()
            process = self.process
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
