"""The users panel in a real Chromium, on both stacks: only supervisors and administrators
see it; a supervisor deactivates a dispatcher whose open control screen then asks to log
in again, logs a driver out everywhere (the crew page asks to log in again), sets a new
password and reactivates; administrators' rows are out of a supervisor's reach."""

from __future__ import annotations

from typing import Any

import pytest

from dispatch import demo
from tests.helpers.browser import PHONE, OpenPage, Screens, login, screenshot

try:
    from playwright.async_api import expect
except ImportError:  # the browser fixture reports it: a skip, or a failure in CI
    expect = None

pytestmark = pytest.mark.slow
NEW_PASSWORD = "a brand new password"


async def _control(open_page: OpenPage, username: str) -> Any:
    tab = await open_page("/control")
    await login(tab.page, username)
    await expect(tab.page.locator("body")).to_have_attribute("data-feed", "live")
    return tab


async def test_a_supervisor_ends_sessions_from_the_users_panel(
    open_page: OpenPage, screens: Screens
) -> None:
    dispatcher = await _control(open_page, "dispatcher")
    await expect(dispatcher.page.get_by_test_id("users-open")).to_be_hidden()
    crew = await open_page("/crew", viewport=PHONE, is_mobile=True, has_touch=True)
    await login(crew.page, "driver")
    await expect(crew.page.locator("body")).to_have_attribute("data-feed", "live")

    supervisor = await _control(open_page, "supervisor")
    page = supervisor.page
    await page.get_by_test_id("users-open").click()
    panel = page.get_by_test_id("users-panel")
    await expect(panel).to_be_visible()
    rows = panel.locator("tbody tr")
    await expect(rows).to_have_count(len(demo.LOGINS))
    for button in await panel.locator('tr[data-user="admin"] button').all():
        await expect(button).to_be_disabled()  # the server would refuse a supervisor

    # Deactivate the dispatcher: their open screen is sent back to the login form.
    await panel.locator('tr[data-user="dispatcher"] [data-action="deactivate"]').click()
    await expect(panel.locator('tr[data-user="dispatcher"]')).to_have_attribute(
        "data-active", "false"
    )
    await expect(dispatcher.page.locator("#login-view")).to_be_visible()
    await expect(dispatcher.page.locator("body")).to_have_attribute("data-feed", "unauthorized")

    # Log the driver out everywhere: the phone asks to log in again.
    await panel.locator('tr[data-user="driver"] [data-action="revoke-sessions"]').click()
    await expect(crew.page.locator("#login-view")).to_be_visible()
    await expect(crew.page.locator("#login-form .flash")).to_have_text(
        "Your session has ended: log in again."
    )

    # A new password for the dispatcher, then reactivation: they log in with it.
    await panel.locator('tr[data-user="dispatcher"] [data-action="reset-password"]').click()
    form = page.locator("#users-reset")
    await expect(form).to_be_visible()
    await form.locator("input[name=password]").fill(NEW_PASSWORD)
    await form.locator("button[type=submit]").click()
    await expect(page.locator("#users-flash")).to_have_text("Done: dispatcher.")
    await panel.locator('tr[data-user="dispatcher"] [data-action="activate"]').click()
    await expect(panel.locator('tr[data-user="dispatcher"]')).to_have_attribute(
        "data-active", "true"
    )
    await screenshot(page, "users-panel", screens.stack)
    form = dispatcher.page.locator("#login-form")
    await form.locator("input[name=username]").fill("Dispatcher")  # any case
    await form.locator("input[name=password]").fill(NEW_PASSWORD)
    await form.locator("button[type=submit]").click()
    await expect(dispatcher.page.locator("body")).to_have_attribute("data-feed", "live")

    trail = (await screens.api("GET", "/audit?limit=50", who="admin")).json()
    actions = [(e["actor"], e["action"]) for e in trail if e["action"].startswith("user.")]
    assert actions[:4] == [
        ("user:supervisor", "user.activated"),
        ("user:supervisor", "user.password_reset"),
        ("user:supervisor", "user.sessions_revoked"),
        ("user:supervisor", "user.deactivated"),
    ]
    assert dispatcher.errors == [] and supervisor.errors == [] and crew.errors == []
