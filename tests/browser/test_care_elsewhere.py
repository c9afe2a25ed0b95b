"""The care screen names every ride, also those of patients added elsewhere (by another
clerk, a file import, the demo's living city) after the screen was opened: it reads the
patients again when a booking names one it does not know."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from dispatch import demo
from tests.helpers.browser import OpenPage, Screens, login

try:
    from playwright.async_api import expect
except ImportError:  # the browser fixture reports it: a skip, or a failure in CI
    expect = None

pytestmark = pytest.mark.slow
BANGKOK = ZoneInfo("Asia/Bangkok")
#: The screen reads its bookings every 20 s; this is the wait for the next reading.
NEXT_READING_MS = 60_000


async def test_a_ride_of_a_patient_added_elsewhere_shows_the_patients_name(
    open_page: OpenPage, screens: Screens
) -> None:
    tab = await open_page("/care")
    page = tab.page
    await login(page, "carecentre")
    await expect(page.locator("#patients tbody tr")).to_have_count(len(demo.PATIENTS))
    body = {"full_name": "Kanya Thongdee", "mobility": "wheelchair", "home_lat": 13.7401}
    body["home_lon"] = 100.5651
    patient = (await screens.api("POST", "/patients", who="carecentre", json=body)).json()
    hospitals = (await screens.api("GET", "/hospitals", who="carecentre")).json()
    day = (datetime.now(BANGKOK) + timedelta(days=2)).date().isoformat()
    booking = {
        "patient_id": patient["id"],
        "pickup_lat": 13.7401,
        "pickup_lon": 100.5651,
        "destination_hospital_id": hospitals[0]["id"],
        "appointment_at": f"{day}T10:00:00+07:00",
    }
    made = await screens.api("POST", "/bookings", who="carecentre", json=booking)
    assert made.status_code == 201, made.text
    row = page.locator(f'#bookings tr[data-booking="{made.json()["id"]}"]')
    await expect(row).to_contain_text("Kanya Thongdee", timeout=NEXT_READING_MS)
    await expect(page.locator("#patients tbody tr")).to_have_count(len(demo.PATIENTS) + 1)
    assert tab.errors == []
