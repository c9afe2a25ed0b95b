"""The API documentation renders in a real Chromium with no internet: Swagger UI and ReDoc
come from the server's own files (FastAPI's defaults load them from a CDN)."""

from __future__ import annotations

import pytest

from tests.helpers.browser import OpenPage, Screens, screenshot

try:
    from playwright.async_api import expect
except ImportError:  # the browser fixture reports it: a skip, or a failure in CI
    expect = None

pytestmark = pytest.mark.slow


async def test_swagger_ui_renders_offline(open_page: OpenPage, screens: Screens) -> None:
    tab = await open_page("/docs")
    operations = tab.page.locator(".swagger-ui .opblock")
    await expect(operations.first).to_be_visible()
    assert await operations.count() > 50  # every operation of the schema
    await expect(
        tab.page.get_by_text("/incidents/{incident_id}/recommendations").first
    ).to_be_visible()
    await screenshot(tab.page, "api-docs-swagger", screens.stack)
    assert tab.foreign == [] and tab.errors == []


async def test_redoc_renders_offline(open_page: OpenPage, screens: Screens) -> None:
    tab = await open_page("/redoc")
    heading = tab.page.get_by_role("heading", name="Dispatch").first
    await expect(heading).to_be_visible()
    operation = tab.page.locator("h2", has_text="Rank the units that could go").first
    await expect(operation).to_be_visible()
    await screenshot(tab.page, "api-docs-redoc", screens.stack)
    assert tab.foreign == [] and tab.errors == []
