"""The double-booking guard on the care screen, in a real Chromium on both stacks: the
same ride booked again moments later asks before creating it; the clerk may decline
(nothing booked) or confirm (a second ride)."""

from __future__ import annotations

import asyncio
import re
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.helpers.browser import OpenPage, Screens, login, screenshot

try:
    from playwright.async_api import expect
except ImportError:  # the browser fixture reports it: a skip, or a failure in CI
    expect = None

pytestmark = pytest.mark.slow
BANGKOK = ZoneInfo("Asia/Bangkok")


async def test_booking_the_same_ride_again_asks_first(
    open_page: OpenPage, screens: Screens
) -> None:
    tab = await open_page("/care")
    page = tab.page
    await login(page, "carecentre")
    patients = (await screens.api("GET", "/patients", who="carecentre")).json()
    malee = next(p for p in patients if p["full_name"] == "Malee Srisuk")
    hospitals = (await screens.api("GET", "/hospitals", who="carecentre")).json()
    chula = next(h for h in hospitals if h["name"].startswith("King Chulalongkorn"))
    before = len((await screens.api("GET", "/bookings", who="carecentre")).json())
    day = (datetime.now(BANGKOK) + timedelta(days=4)).date().isoformat()
    form = page.get_by_test_id("book-form")
    flash = form.locator(".flash")
    await form.locator("select[name=patient_id]").select_option(str(malee["id"]))
    await form.locator("select[name=destination_hospital_id]").select_option(str(chula["id"]))
    await form.locator("input[name=appointment_at]").fill(f"{day}T09:30")
    await form.locator("button[type=submit]").click()
    await expect(flash).to_have_text(re.compile(r"Ride #\d+ booked\."))
    first = int(re.findall(r"\d+", await flash.inner_text())[0])

    questions: list[str] = []

    def answer(accept: bool) -> Any:
        def on_dialog(dialog: Any) -> None:
            questions.append(dialog.message)
            asyncio.get_running_loop().create_task(dialog.accept() if accept else dialog.dismiss())

        return on_dialog

    # The clerk adds a note and presses Book again: a new action, the same ride.
    await form.locator("input[name=notes]").fill("wheelchair at the door")
    page.once("dialog", answer(False))
    await form.locator("button[type=submit]").click()
    await expect(flash).to_have_text(f"Not booked again: ride #{first} stands.")
    assert questions == [
        f"Ride #{first} was booked for this patient with the same times and places moments "
        "ago. Book a second ride anyway?"
    ]
    assert len((await screens.api("GET", "/bookings", who="carecentre")).json()) == before + 1

    await form.locator("input[name=notes]").fill("second ride: the carer comes too")
    page.once("dialog", answer(True))
    await form.locator("button[type=submit]").click()
    await expect(flash).to_have_text(re.compile(r"Ride #\d+ booked\."))
    second = int(re.findall(r"\d+", await flash.inner_text())[0])
    assert second != first and len(questions) == 2
    assert len((await screens.api("GET", "/bookings", who="carecentre")).json()) == before + 2
    await screenshot(page, "care-duplicate-booking", screens.stack)
    assert tab.errors == []
    assert all(url.startswith(screens.tile_origin) for url in tab.foreign)  # map tiles only
