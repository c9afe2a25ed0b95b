"""What the browser tests share besides their fixtures (tests/browser/conftest.py): the
served app with its demo data, the browser's settings, logging in through a screen's own
form and screenshots for a reviewer.

Chromium is never downloaded: it is the system's ``/usr/bin/chromium`` (or
``DISPATCH_TEST_CHROMIUM``). Screenshots go to ``.artifacts/screenshots`` (or
``DISPATCH_TEST_SCREENSHOTS``); they are not committed."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from dispatch import demo
from dispatch.db.session import Database
from dispatch.models import Vehicle
from tests.helpers.server import LiveServer, free_port, serve
from tests.helpers.stacks import Stack, empty_stack

CHROMIUM = Path(os.environ.get("DISPATCH_TEST_CHROMIUM") or "/usr/bin/chromium")
SCREENSHOTS = Path(
    os.environ.get("DISPATCH_TEST_SCREENSHOTS")
    or Path(__file__).resolve().parents[2] / ".artifacts" / "screenshots"
)
WALL = {"width": 1920, "height": 1080}
PHONE = {"width": 390, "height": 844}
#: The browser runs in another zone than the organisation, so local-time display is tested.
BROWSER_ZONE = "Europe/London"


@dataclass
class Screens:
    """The served app, its demo data and helpers to talk to it directly."""

    server: LiveServer
    stack: Stack
    info: demo.DemoInfo
    vehicle_ids: dict[str, int]
    tile_origin: str

    @property
    def base_url(self) -> str:
        return self.server.base_url

    async def token(self, username: str) -> str:
        async with httpx.AsyncClient(base_url=self.base_url) as http:
            response = await http.post(
                "/auth/token",
                data={"username": username, "password": demo.demo_password(username)},
            )
            response.raise_for_status()
            token: str = response.json()["access_token"]
            return token

    async def api(
        self, method: str, path: str, who: str = "dispatcher", **kwargs: Any
    ) -> httpx.Response:
        """Call the API as a demo login, or as unit A1's phone with ``who="device"``."""
        token = self.info.device_token if who == "device" else await self.token(who)
        async with httpx.AsyncClient(base_url=self.base_url) as http:
            return await http.request(
                method, path, headers={"Authorization": f"Bearer {token}"}, **kwargs
            )


@dataclass
class Page:
    """A browser tab plus what it tried to fetch from other origins."""

    page: Any
    context: Any
    foreign: list[str]
    errors: list[str]


#: The ``open_page`` fixture: ``await open_page("/control", viewport=PHONE, ...)``.
OpenPage = Callable[..., Awaitable[Page]]


async def login(page: Any, username: str) -> None:
    """Log in through the screen's own form with the demo password."""
    form = page.locator("#login-form")
    await form.locator("input[name=username]").fill(username)
    await form.locator("input[name=password]").fill(demo.demo_password(username))
    await form.locator("button[type=submit]").click()


async def live_control(open_page: OpenPage, **options: Any) -> Page:
    """The control screen (``open_page`` options, e.g. ``viewport``), logged in as the demo
    dispatcher, its feed live and its alerts loaded."""
    from playwright.async_api import expect

    tab = await open_page("/control", **options)
    await login(tab.page, "dispatcher")
    await expect(tab.page.locator("body")).to_have_attribute("data-feed", "live")
    await expect(tab.page.get_by_test_id("alerts")).to_have_attribute("data-loaded", "1")
    return tab


async def screenshot(page: Any, name: str, stack: Stack) -> Path:
    await asyncio.to_thread(SCREENSHOTS.mkdir, parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}-{stack.name}.png"
    image: bytes = await page.screenshot(path=str(path))
    assert len(image) > 10_000  # a real rendering, not a blank page
    return path


@asynccontextmanager
async def demo_screens(
    migrated_stack: Stack, tmp_path_factory: pytest.TempPathFactory, **overrides: Any
) -> AsyncIterator[Screens]:
    """The app on a free port with the central-Bangkok demo (``overrides``: settings). Its
    tile server is a port nobody listens on, so the screens must fall back to the offline
    map (as a control room without internet would)."""
    stack = await empty_stack(migrated_stack, tmp_path_factory.mktemp("screens"))
    db = Database(stack.database_url)
    try:
        async with db.unit_of_work() as uow:
            info = await demo.seed(uow)
        async with db.unit_of_work(read_only=True) as uow:
            rows = (await uow.session.execute(select(Vehicle.call_sign, Vehicle.id))).all()
    finally:
        await db.dispose()
    tile_origin = f"http://127.0.0.1:{free_port()}"
    values: dict[str, Any] = {
        "tile_url": tile_origin + "/{z}/{x}/{y}.png",
        "positions_interval_ms": 10,
        "alert_interval_s": 3600,
        "ack_timeout_s": 1,  # so an unacknowledged assignment is an alert within the test
        **overrides,
    }
    async with serve(stack.settings(**values)) as server:
        yield Screens(server, stack, info, dict(rows), tile_origin)
