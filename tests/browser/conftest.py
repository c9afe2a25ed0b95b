"""Browser tests: the real app served on a free port once per module and stack (SQLite +
in-process bus, and PostgreSQL + Redis when configured, exactly like the rest of the
suite), seeded with the demo, and Debian's Chromium driven headless by Playwright.

Chromium is never downloaded: it is the system's ``/usr/bin/chromium`` (or
``DISPATCH_TEST_CHROMIUM``). Screenshots go to ``.artifacts/screenshots`` (or
``DISPATCH_TEST_SCREENSHOTS``) for a reviewer to look at; they are not committed.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import select

from dispatch import demo
from dispatch.db.session import Database
from dispatch.models import Vehicle
from tests.conftest import REDIS_PREFIX, REQUIRE_ALL, LiveServer, Stack, free_port, serve

CHROMIUM = Path(os.environ.get("DISPATCH_TEST_CHROMIUM") or "/usr/bin/chromium")
SCREENSHOTS = Path(
    os.environ.get("DISPATCH_TEST_SCREENSHOTS")
    or Path(__file__).resolve().parents[2] / ".artifacts" / "screenshots"
)
WALL = {"width": 1920, "height": 1080}
PHONE = {"width": 390, "height": 844}
#: The browser runs in another zone than the organisation, so local-time display is tested.
BROWSER_ZONE = "Europe/London"


def _unavailable(message: str) -> None:
    if REQUIRE_ALL:
        pytest.fail(message + " (DISPATCH_TEST_REQUIRE_ALL=1 forbids skipping)")
    pytest.skip(message)


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Any]:
    """One headless Chromium for the whole session."""
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        _unavailable("playwright is not installed (pip install -e '.[dev]')")
    if not await asyncio.to_thread(CHROMIUM.exists):
        _unavailable(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    playwright = await async_playwright().start()
    chromium = await playwright.chromium.launch(
        executable_path=str(CHROMIUM),
        headless=True,
        args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
    )
    try:
        yield chromium
    finally:
        await chromium.close()
        await playwright.stop()


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


async def _fresh_stack(migrated: Stack, tmp: Path) -> Stack:
    """An empty migrated database for this module (the suite's own recipe, module-wide)."""
    if migrated.name == "sqlite":
        template = Path(migrated.database_url.removeprefix("sqlite+aiosqlite:///"))
        copy = tmp / "screens.sqlite3"
        shutil.copyfile(template, copy)
        return Stack("sqlite", f"sqlite+aiosqlite:///{copy}", None)
    db = Database(migrated.database_url)
    async with db.engine.begin() as conn:
        await db.strategy.truncate_all(conn)
    await db.dispose()
    if migrated.redis_url:
        import redis.asyncio as aioredis

        r = aioredis.from_url(migrated.redis_url)
        keys = [k async for k in r.scan_iter(match=REDIS_PREFIX + "*")]
        if keys:
            await r.delete(*keys)
        await r.aclose()
    return migrated


@pytest.fixture(scope="module")
async def screens(
    migrated_stack: Stack, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Screens]:
    """The app on a free port with the central-Bangkok demo. Its tile server is a port
    nobody listens on, so the screens must fall back to the offline map (as a control
    room without internet would)."""
    stack = await _fresh_stack(migrated_stack, tmp_path_factory.mktemp("screens"))
    db = Database(stack.database_url)
    try:
        async with db.unit_of_work() as uow:
            info = await demo.seed(uow)
        async with db.unit_of_work(read_only=True) as uow:
            rows = (await uow.session.execute(select(Vehicle.call_sign, Vehicle.id))).all()
    finally:
        await db.dispose()
    tile_origin = f"http://127.0.0.1:{free_port()}"
    settings = stack.settings(
        tile_url=tile_origin + "/{z}/{x}/{y}.png",
        positions_interval_ms=10,
        alert_interval_s=3600,
        ack_timeout_s=1,  # so an unacknowledged assignment is an alert within the test
    )
    async with serve(settings) as server:
        yield Screens(server, stack, info, dict(rows), tile_origin)


@dataclass
class Page:
    """A browser tab plus what it tried to fetch from other origins."""

    page: Any
    context: Any
    foreign: list[str]
    errors: list[str]


OpenPage = Callable[..., Awaitable[Page]]


@pytest.fixture
async def open_page(browser: Any, screens: Screens) -> AsyncIterator[OpenPage]:
    """Open a screen in a fresh browser context (own storage, own time zone). Every
    request to another origin is refused and recorded: the screens must work with no
    internet, and the only foreign requests allowed are map tiles."""
    contexts: list[Any] = []

    async def open_(path: str, *, viewport: dict[str, int] = WALL, **options: Any) -> Page:
        context = await browser.new_context(
            viewport=viewport, timezone_id=BROWSER_ZONE, locale="en-GB", **options
        )
        contexts.append(context)
        foreign: list[str] = []
        own = urlsplit(screens.base_url).netloc

        async def guard(route: Any) -> None:
            if urlsplit(route.request.url).netloc in (own, ""):
                await route.continue_()
            else:
                foreign.append(route.request.url)
                await route.abort("connectionrefused")

        await context.route("**/*", guard)
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        await page.goto(screens.base_url + path)
        return Page(page, context, foreign, errors)

    yield open_
    for context in contexts:
        await context.close()


async def login(page: Any, username: str) -> None:
    """Log in through the screen's own form with the demo password."""
    form = page.locator("#login-form")
    await form.locator("input[name=username]").fill(username)
    await form.locator("input[name=password]").fill(demo.demo_password(username))
    await form.locator("button[type=submit]").click()


async def screenshot(page: Any, name: str, stack: Stack) -> Path:
    await asyncio.to_thread(SCREENSHOTS.mkdir, parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}-{stack.name}.png"
    image: bytes = await page.screenshot(path=str(path))
    assert len(image) > 10_000  # a real rendering, not a blank page
    return path
