"""The demo as a new user meets it: ``dispatch demo`` started as a fresh clone would start
it (its own SQLite file, the shipped road map, no ../shared, no internet for tiles), and
within a minute of answering, the control room shows named streets, at least ten units
moving and at least three open calls: the living city plays on it."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers.browser import OpenPage, live_control, screenshot
from tests.helpers.server import free_port
from tests.helpers.stacks import Stack

try:
    from playwright.async_api import expect
except ImportError:  # the browser fixture reports it: a skip, or a failure in CI
    expect = None

pytestmark = pytest.mark.slow

#: What the issue asks of the first minute.
WITHIN_S = 60.0
MOVING_UNITS = 10
OPEN_CALLS = 3
#: Generous: a first start migrates the database and builds the road graph.
START_DEADLINE_S = 180.0


@dataclass
class DemoProcess:
    base_url: str
    process: asyncio.subprocess.Process
    answered_at: float  # time.monotonic() when /healthz first answered
    log: Path


@pytest.fixture(scope="module")
async def screens(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[DemoProcess]:
    home = tmp_path_factory.mktemp("fresh-clone")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DISPATCH_")}
    env["DISPATCH_DATABASE_URL"] = f"sqlite+aiosqlite:///{home / 'dispatch.sqlite3'}"
    env["DISPATCH_OSMAND_PORT"] = "0"  # the phones' port of a developer's own demo is taken
    log = home / "demo.log"
    out = await asyncio.to_thread(log.open, "wb")
    try:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            *("-m", "dispatch.cli", "demo", "--port", str(port)),
            cwd=home,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # the living city is its child: stopped with it
        )
    finally:
        out.close()
    base = f"http://127.0.0.1:{port}"
    try:
        answered = await _answering(base, process, log)
        yield DemoProcess(base, process, answered, log)
    finally:
        group = os.getpgid(process.pid)
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), 30)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, signal.SIGKILL)  # anything left of the group


async def _answering(base: str, process: asyncio.subprocess.Process, log: Path) -> float:
    deadline = time.monotonic() + START_DEADLINE_S
    async with httpx.AsyncClient(base_url=base, timeout=2) as http:
        while time.monotonic() < deadline:
            if process.returncode is not None:
                pytest.fail(f"dispatch demo exited: {(await _tail(log))}")
            try:
                if (await http.get("/healthz")).status_code == 200:
                    return time.monotonic()
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    pytest.fail(f"dispatch demo did not answer: {(await _tail(log))}")


async def _tail(log: Path) -> str:
    return (await asyncio.to_thread(log.read_text))[-3000:]


async def _pins(page: Any) -> dict[str, tuple[str, str]]:
    found: list[list[str]] = await page.eval_on_selector_all(
        ".pin-vehicle",
        "nodes => nodes.map(n => [n.dataset.vehicle, n.dataset.lat, n.dataset.lon])",
    )
    return {sign: (lat, lon) for sign, lat, lon in found if lat and lon}


async def test_the_demo_is_a_living_control_room_within_a_minute(
    open_page: OpenPage, screens: DemoProcess
) -> None:
    tab = await live_control(open_page)
    page = tab.page
    first: dict[str, tuple[str, str]] = {}
    moved: set[str] = set()
    calls = 0
    # A deadline is the requirement here (the first minute), so the test looks until it.
    while time.monotonic() - screens.answered_at < WITHIN_S:
        for sign, where in (await _pins(page)).items():
            if first.setdefault(sign, where) != where:
                moved.add(sign)
        calls = await page.locator("#queue tbody tr").count()
        if len(moved) >= MOVING_UNITS and calls >= OPEN_CALLS:
            break
        await page.wait_for_timeout(500)
    seconds = round(time.monotonic() - screens.answered_at, 1)
    print(f"living demo: {len(moved)} units moving, {calls} open calls after {seconds} s")
    assert len(moved) >= MOVING_UNITS, (sorted(moved), seconds)
    assert calls >= OPEN_CALLS, (calls, seconds)
    the_map = page.locator("#map")
    await expect(the_map).to_have_attribute("data-map-mode", "offline")
    assert int(await the_map.get_attribute("data-street-names") or 0) >= 5
    # no unit on duty without GPS: every phone of the living city has reported
    on_duty = "#units tr:not([data-state=off_duty]) td.gps-none"
    await expect(page.locator(on_duty)).to_have_count(0)
    assert tab.errors == []
    await screenshot(page, "control-living", Stack("sqlite", "", None))
