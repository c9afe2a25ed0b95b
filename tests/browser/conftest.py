"""Browser tests: the real app served on a free port once per module and stack (SQLite +
in-process bus, and PostgreSQL + Redis when configured, exactly like the rest of the
suite), seeded with the demo, and Debian's Chromium driven headless by Playwright
(tests/helpers/browser.py: which Chromium, where screenshots go)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.helpers.browser import (
    BROWSER_ZONE,
    CHROMIUM,
    WALL,
    OpenPage,
    Page,
    Screens,
    demo_screens,
)
from tests.helpers.stacks import Stack, unavailable

#: The longest a screen may take to reach a state a test waits for.
STATE_TIMEOUT_MS = 30_000


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Any]:
    """One headless Chromium for the whole session."""
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        unavailable("playwright is not installed (pip install -e '.[dev]')")
    if not await asyncio.to_thread(CHROMIUM.exists):
        unavailable(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    from playwright.async_api import expect

    # Tests wait for states; this only bounds how long a state may take to come before the
    # test fails. Playwright's 5 s default is too short for a 2-core machine under load
    # (ReDoc laying out the whole API took longer there).
    expect.set_options(timeout=STATE_TIMEOUT_MS)
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


@pytest.fixture(scope="module")
async def screens(
    migrated_stack: Stack, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Screens]:
    async with demo_screens(migrated_stack, tmp_path_factory) as screens:
        yield screens


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
        context.set_default_timeout(STATE_TIMEOUT_MS)
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
