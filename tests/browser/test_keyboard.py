"""Call-taking with the keyboard alone on the control screen, in a real Chromium on both
stacks: N opens a new call, Tab walks the form, Enter creates the call, and the number
key of a rank sends that unit; digits typed into a field stay text."""

from __future__ import annotations

import pytest

from tests.helpers.browser import OpenPage, Screens, live_control, screenshot

try:
    from playwright.async_api import expect
except ImportError:  # the browser fixture reports it: a skip, or a failure in CI
    expect = None

pytestmark = pytest.mark.slow


async def test_a_call_is_taken_and_a_unit_sent_with_the_keyboard_alone(
    open_page: OpenPage, screens: Screens
) -> None:
    tab = await live_control(open_page)
    page, keys = tab.page, tab.page.keyboard
    form = page.locator("#call-form")
    await page.locator("body").focus()
    await keys.press("n")
    await expect(form.locator("input[name=lat]")).to_be_focused()
    await keys.type("13.7466")
    await keys.press("Tab")
    await keys.type("100.5347")
    await keys.press("Tab")
    await expect(form.locator("input[name=address_text]")).to_be_focused()
    await keys.type("Siam Square Soi 3")
    for name in ("caller_phone", "patient_count", "chief_complaint"):
        await keys.press("Tab")
        await expect(form.locator(f"[name={name}]")).to_be_focused()
    await keys.type("Stroke")  # a focused list picks the option typed
    await expect(form.locator("select[name=chief_complaint]")).to_have_value("stroke")
    for name in ("triage", "triage_override_reason", "notes"):
        await keys.press("Tab")
        await expect(form.locator(f"[name={name}]")).to_be_focused()
    await keys.press("Enter")

    head = page.locator("#detail-body .detail-head")
    await expect(head).to_contain_text("Stroke")
    incident_id = int(await head.get_attribute("data-incident") or "0")
    rows = page.locator("[data-testid=recommendations] tbody tr")
    await expect(rows.first).to_be_visible()
    await expect(page.get_by_test_id("keys-hint")).to_contain_text("1–9")
    second = await rows.nth(1).get_attribute("data-candidate")
    assert second is not None
    await screenshot(page, "control-keyboard", screens.stack)

    await keys.press("2")  # the unit ranked second
    await expect(page.locator(f'#units tr[data-unit="{second}"]')).to_have_attribute(
        "data-state", "dispatched"
    )
    sent = (await screens.api("GET", f"/incidents/{incident_id}/assignments")).json()
    assert [(a["vehicle_id"], a["recommended_rank"]) for a in sent] == [
        (screens.vehicle_ids[second], 2)
    ]

    # Back to a new call: a digit typed there is text, not an order.
    await keys.press("n")
    await expect(form.locator("input[name=lat]")).to_be_focused()
    await keys.type("1")
    await expect(form.locator("input[name=lat]")).to_have_value("1")
    await keys.press("Escape")
    await expect(form.locator("input[name=lat]")).not_to_be_focused()
    again = (await screens.api("GET", f"/incidents/{incident_id}/assignments")).json()
    assert len(again) == 1
    assert tab.errors == []
