"""The crew-safety alarm in a real (headless) Chromium, on both stacks: the crew presses SOS
on the phone page (after a confirm step), the control room shows it at once with its siren,
a reloaded control screen still shows it, and a dispatcher acknowledges it, which the
phone is told."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers.browser import PHONE, OpenPage, Screens, login, screenshot

try:
    from playwright.async_api import expect
except ImportError:  # the browser fixture reports it: a skip, or a failure in CI
    expect = None

pytestmark = pytest.mark.slow


async def _siren(page: Any) -> dict[str, Any]:
    state: dict[str, Any] = await page.evaluate(
        "() => { const s = window.dispatchScreens.control.alarms.siren;"
        " return { playing: s.playing, audible: s.audible }; }"
    )
    return state


async def test_the_crew_presses_sos_and_a_dispatcher_acknowledges_it(
    open_page: OpenPage, screens: Screens
) -> None:
    control = await open_page("/control")
    wall = control.page
    await login(wall, "dispatcher")  # the click that lets the siren sound later
    await expect(wall.locator("body")).to_have_attribute("data-feed", "live")
    banner = wall.get_by_test_id("sos")
    await expect(banner).to_be_hidden()

    crew = await open_page(
        "/crew",
        viewport=PHONE,
        geolocation={"latitude": 13.74520, "longitude": 100.53010, "accuracy": 8},
        permissions=["geolocation"],
        is_mobile=True,
        has_touch=True,
    )
    phone = crew.page
    await login(phone, "driver")
    await expect(phone.locator("body")).to_have_attribute("data-feed", "live")

    # A press alone sends nothing: the crew confirms first (or cancels).
    await phone.get_by_test_id("sos-button").click()
    await expect(phone.get_by_test_id("sos-confirm")).to_be_visible()
    await phone.get_by_role("button", name="Cancel").click()
    await expect(phone.get_by_test_id("sos-confirm")).to_have_count(0)
    assert (await screens.api("GET", "/crew-alarms")).json() == []

    await phone.get_by_test_id("sos-button").click()
    await phone.get_by_test_id("sos-confirm").click()
    status = phone.get_by_test_id("sos-status")
    await expect(status).to_have_attribute("data-state", "sent")
    await expect(status).to_contain_text("the control room is alerted")

    # The control room sees and hears it at once.
    alarm = banner.locator('[data-unit="A1"]')
    await expect(alarm).to_contain_text("SOS — A1 crew needs help")
    await expect(banner).to_have_attribute("data-siren", "on")
    assert await _siren(wall) == {"playing": True, "audible": True}
    await expect(banner).not_to_contain_text("null")
    [stored] = (await screens.api("GET", "/crew-alarms")).json()
    assert (stored["source"], stored["vehicle_id"]) == ("crew", screens.vehicle_ids["A1"])
    await screenshot(wall, "control-sos", screens.stack)

    # Reloaded, the screen still shows it; sound needs a click again (browser rule).
    await wall.reload()
    await expect(wall.locator("body")).to_have_attribute("data-feed", "live")
    await expect(alarm).to_contain_text("SOS — A1 crew needs help")
    await expect(banner).to_have_attribute("data-siren", "on")
    await wall.locator("#clock").click()
    await expect(banner).to_have_attribute("data-audible", "1")

    await alarm.get_by_role("button", name="Acknowledge").click()
    await expect(banner).to_be_hidden()
    await expect(banner).to_have_attribute("data-siren", "off")
    await expect(status).to_have_attribute("data-state", "acknowledged")
    await expect(status).to_contain_text("dispatcher")
    acknowledged = (await screens.api("GET", "/crew-alarms?open=false")).json()
    assert [(a["id"], a["is_open"], a["acknowledged_by"]) for a in acknowledged] == [
        (stored["id"], False, "dispatcher")
    ]
    await screenshot(phone, "crew-sos", screens.stack)
    assert crew.errors == [] and control.errors == []
