"""The care screen shows every ride: also those of patients added elsewhere (by another
clerk, a file import, the demo's living city) after the screen was opened (it reads the
patients again when a booking names one it does not know), and all of them when there
are more than one page of ``GET /bookings``."""

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
PAST_ONE_PAGE = 520


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


async def test_the_screen_shows_every_booking_past_one_page(
    open_page: OpenPage, screens: Screens
) -> None:
    """More bookings than one page of ``GET /bookings`` (500): the screen reads them all."""
    from sqlalchemy import select

    from dispatch.db.session import Database
    from dispatch.models import Patient, TransportBooking

    day = (datetime.now(BANGKOK) + timedelta(days=3)).date()
    db = Database(screens.stack.database_url)
    try:
        async with db.unit_of_work() as uow:
            patient = await uow.session.scalar(select(Patient).order_by(Patient.id))
            assert patient is not None
            for n in range(PAST_ONE_PAGE):
                uow.session.add(
                    TransportBooking(
                        organisation_id=patient.organisation_id,
                        patient_id=patient.id,
                        pickup_lat=13.74,
                        pickup_lon=100.55,
                        destination_lat=13.7327,
                        destination_lon=100.5354,
                        appointment_at=datetime(day.year, day.month, day.day, 8, tzinfo=BANGKOK)
                        + timedelta(minutes=n),
                        service_date=day,
                    )
                )
        async with db.unit_of_work(read_only=True) as uow:
            total = len((await uow.session.scalars(select(TransportBooking.id))).all())
    finally:
        await db.dispose()
    assert total > 500
    tab = await open_page("/care")
    await login(tab.page, "carecentre")
    rows = tab.page.locator("#bookings tbody tr[data-booking]")
    await expect(rows).to_have_count(total, timeout=NEXT_READING_MS)
    assert tab.errors == []
