"""The command line as an operator uses it: real processes, real ports."""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from dispatch import demo
from tests.helpers.server import free_port
from tests.helpers.stacks import Stack
from tests.helpers.waiting import eventually_blocking

pytestmark = pytest.mark.slow


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dispatch.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _env(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DISPATCH_")}
    env.update(values)
    return env


def test_demo_serves_docs_and_accepts_a_printed_login(tmp_path: Path) -> None:
    port = free_port()
    env = _env(
        DISPATCH_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'demo.sqlite3'}",
        DISPATCH_CACHE_DIR=str(tmp_path / "cache"),
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "dispatch.cli", "demo", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        lines: list[str] = []
        assert proc.stdout is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            lines.append(line)
            if "Map data" in line:
                break
        output = "".join(lines)
        match = re.search(r"^\s+dispatcher\s+(\S+)\s+dispatcher$", output, re.MULTILINE)
        assert match, output
        password = match.group(1)
        base = f"http://127.0.0.1:{port}"
        eventually_blocking(
            lambda: httpx.get(f"{base}/healthz", timeout=1).status_code == 200,
            what="the demo server healthy",
            ignoring=(httpx.TransportError,),
        )
        docs = httpx.get(f"{base}/docs", timeout=5)
        assert docs.status_code == 200 and "swagger" in docs.text.lower()
        assert httpx.get(f"{base}/openapi.json", timeout=5).json()["info"]["title"] == "Dispatch"
        token = httpx.post(
            f"{base}/auth/token", data={"username": "dispatcher", "password": password}, timeout=5
        ).json()["access_token"]
        vehicles = httpx.get(
            f"{base}/vehicles", headers={"Authorization": f"Bearer {token}"}, timeout=5
        )
        assert vehicles.status_code == 200
        assert len(vehicles.json()) == len(demo.VEHICLES)
        hospitals = httpx.get(
            f"{base}/hospitals", headers={"Authorization": f"Bearer {token}"}, timeout=5
        )
        assert "King Chulalongkorn Memorial Hospital" in {h["name"] for h in hospitals.json()}
        device = re.search(r"phone token: (\S+)", output)
        assert device
        me = httpx.get(
            f"{base}/auth/me", headers={"Authorization": f"Bearer {device.group(1)}"}, timeout=5
        )
        assert me.json()["kind"] == "device"
        # the living city plays on the demo: a process of its own, a client like any other
        eventually_blocking(lambda: _living_city(base), what="the living city started")
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    # stopped with the demo
    eventually_blocking(lambda: _living_city(base) == [], what="the living city stopped")


def _living_city(base: str) -> list[str]:
    """Command lines of running ``simulator live`` processes playing on ``base``."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        with contextlib.suppress(OSError):
            args = cmdline.read_bytes().split(b"\0")
            if b"live" in args and base.encode() in args:
                found.append(b" ".join(args).decode(errors="replace"))
    return found


DEMO_ROWS = {
    "organisations": 2 + len(demo.OPERATORS),
    "users": len(demo.LOGINS),
    "stations": len(demo.STATIONS),
    "vehicles": len(demo.VEHICLES),
    "hospitals": len(demo.HOSPITALS),
    "patients": len(demo.PATIENTS),
    "incidents": 0,
    "transport_bookings": 0,
}


def _rows(database: Path) -> dict[str, int]:
    with contextlib.closing(sqlite3.connect(database)) as conn:
        return {
            table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in DEMO_ROWS
        }


def test_demo_seeding_twice_changes_nothing(tmp_path: Path) -> None:
    database = tmp_path / "demo.sqlite3"
    env = _env(DISPATCH_DATABASE_URL=f"sqlite+aiosqlite:///{database}")
    first = _run(["demo", "--no-serve"], env)
    assert first.returncode == 0, first.stderr
    assert _rows(database) == DEMO_ROWS
    second = _run(["demo", "--no-serve"], env)
    assert second.returncode == 0, second.stderr
    assert _rows(database) == DEMO_ROWS  # nothing seeded twice
    # The phone's token is issued anew each time (only its hash is stored): the new one
    # works, so the printed instructions are right after every run.
    tokens = [re.search(r"phone token: (dvt_\S+)", r.stdout) for r in (first, second)]
    assert tokens[0] and tokens[1] and tokens[0].group(1) != tokens[1].group(1)


async def test_db_upgrade_org_and_user_create(stack: Stack, client: httpx.AsyncClient) -> None:
    env = _env(DISPATCH_DATABASE_URL=stack.database_url)
    upgraded = _run(["db", "upgrade"], env)
    assert upgraded.returncode == 0, upgraded.stderr
    assert "database at revision" in upgraded.stdout
    org = _run(
        [
            "org",
            "create",
            "--name",
            "HCMC 115",
            "--kind",
            "dispatch_centre",
            "--timezone",
            "Asia/Ho_Chi_Minh",
        ],
        env,
    )
    assert org.returncode == 0, org.stderr
    org_id = re.search(r"organisation (\d+) created \(time zone Asia/Ho_Chi_Minh\)", org.stdout)
    assert org_id, org.stdout
    # No --timezone: the deployment's DISPATCH_TIMEZONE, said out loud.
    ny = _run(
        ["org", "create", "--name", "NYC care", "--kind", "care_centre"],
        {**env, "DISPATCH_TIMEZONE": "America/New_York"},
    )
    assert ny.returncode == 0, ny.stderr
    assert "(time zone America/New_York)" in ny.stdout
    user = _run(
        [
            "user",
            "create",
            "--username",
            "lan",
            "--role",
            "dispatcher",
            "--organisation-id",
            org_id.group(1),
        ],
        {**env, "DISPATCH_NEW_USER_PASSWORD": "a good long password"},
    )
    assert user.returncode == 0, user.stderr
    short = _run(
        [
            "user",
            "create",
            "--username",
            "minh",
            "--role",
            "dispatcher",
            "--organisation-id",
            org_id.group(1),
        ],
        {**env, "DISPATCH_NEW_USER_PASSWORD": "short"},
    )
    assert short.returncode == 2 and "password" in short.stderr
    login = await client.post(
        "/auth/token", data={"username": "lan", "password": "a good long password"}
    )
    assert login.status_code == 200
