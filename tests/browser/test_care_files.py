"""A care centre's day from a spreadsheet on the care screen, in a real Chromium on both
stacks: a 250-ride CSV (plus two rows with mistakes) is checked row by row before anything
is booked, the good rows are booked in one go, the same file again books nothing twice, and
the day comes back out as CSV. The time the 250 rides took is printed, not asserted (the
figure goes to the README with the command that measured it)."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
import time
from datetime import datetime, timedelta
from pathlib import Path
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
RIDES = 250


def day_file(patients: list[str], hospitals: list[str], day: str) -> bytes:
    """250 rides in a day (each patient's at distinct minutes) and two rows with mistakes."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["patient", "hospital", "appointment_at", "notes"])
    for i in range(RIDES):
        minute = 7 * 60 + (i * 7) % (10 * 60)
        at = f"{day} {minute // 60:02d}:{minute % 60:02d}"
        writer.writerow([patients[i % len(patients)], hospitals[i % len(hospitals)], at, f"r{i}"])
    writer.writerow([patients[0], "Hospital of Nowhere", f"{day} 10:00", "bad hospital"])
    writer.writerow([patients[1], hospitals[0], "half past nine", "bad time"])
    return out.getvalue().encode("utf-8")


async def test_a_day_of_250_rides_is_checked_then_booked_once_then_exported(
    open_page: OpenPage, screens: Screens
) -> None:
    tab = await open_page("/care")
    page = tab.page
    await login(page, "carecentre")
    panel = page.get_by_test_id("files")
    await expect(panel).to_be_visible()
    patients = [
        p["full_name"] for p in (await screens.api("GET", "/patients", who="carecentre")).json()
    ]
    hospitals = [
        h["name"] for h in (await screens.api("GET", "/hospitals", who="carecentre")).json()
    ]
    day = (datetime.now(BANGKOK) + timedelta(days=2)).date().isoformat()
    content = day_file(patients, hospitals, day)
    before = len((await screens.api("GET", "/bookings", who="carecentre")).json())

    await panel.locator("input[name=file]").set_input_files(
        {"name": "day.csv", "mimeType": "text/csv", "buffer": content}
    )
    await panel.get_by_role("button", name="Check file").click()
    message = page.get_by_test_id("import-flash")
    await expect(message).to_contain_text(f"{RIDES + 2} rows: {RIDES} ready to book")
    rows = page.get_by_test_id("import-rows").locator("tbody tr")
    await expect(rows).to_have_count(RIDES + 2)
    await expect(rows.nth(RIDES)).to_contain_text("hospital: No hospital is called")
    await expect(rows.nth(RIDES + 1)).to_contain_text(
        "appointment_at: 'half past nine' is not a time"
    )
    assert len((await screens.api("GET", "/bookings", who="carecentre")).json()) == before

    book = panel.get_by_role("button", name=f"Book {RIDES} rides")
    started = time.perf_counter()
    await book.click()
    await expect(message).to_contain_text(
        f"{RIDES} rides booked; 0 already booked, 2 with problems"
    )
    seconds = time.perf_counter() - started
    print(json.dumps({"import_rides": RIDES, "click_to_booked_s": round(seconds, 2)}))
    await expect(book).to_be_hidden()
    await expect(rows.first.get_by_test_id("import-status")).to_have_text(
        re.compile(r"booked #\d+")
    )
    after = (await screens.api("GET", "/bookings", who="carecentre")).json()
    assert len(after) == before + RIDES
    await panel.scroll_into_view_if_needed()
    await screenshot(page, "care-import", screens.stack)

    # The same file again: every ride is recognised, nothing is booked twice.
    await panel.get_by_role("button", name="Check file").click()
    await expect(message).to_contain_text(
        f"0 ready to book, {RIDES} already booked, 2 with problems"
    )
    await expect(panel.get_by_role("button", name=re.compile(r"^Book"))).to_be_hidden()

    await panel.locator("#export-form input[name=day]").fill(day)
    async with page.expect_download() as waiting:
        await panel.get_by_role("button", name="Export CSV").click()
    download = await waiting.value
    assert download.suggested_filename == f"bookings-{day}.csv"
    exported = list(csv.DictReader(io.StringIO(await download_text(download))))
    assert len(exported) == RIDES
    assert {row["notes"] for row in exported} == {f"r{i}" for i in range(RIDES)}
    assert tab.errors == []


async def download_text(download: Any) -> str:
    path = Path(await download.path())
    return await asyncio.to_thread(path.read_text, encoding="utf-8-sig")
