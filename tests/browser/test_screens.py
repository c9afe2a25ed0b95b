"""The three screens in a real (headless) Chromium against the real app, on both stacks:
the dispatcher takes a call by clicking the map, assigns the recommended unit and watches
it move; the crew acknowledges and advances on the phone page while the dispatcher sees
it; the live feed resumes after a resync close without a reload; a care centre books and
cancels rides; and the language switch shows Thai and Vietnamese."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from dispatch import demo
from dispatch.models.enums import VehicleState
from dispatch.realtime.protocol import CLOSE_RESYNC
from tests.helpers.browser import PHONE, OpenPage, Screens, live_control, login, screenshot
from tests.helpers.waiting import eventually

try:
    from playwright.async_api import expect
except ImportError:  # the browser fixture reports it: a skip, or a failure in CI
    expect = None

pytestmark = pytest.mark.slow
BANGKOK = ZoneInfo("Asia/Bangkok")


async def _expect_data(locator: Any, name: str, values: list[str]) -> None:
    """The elements ``locator`` finds carry ``data-<name>`` = ``values``, in order (each
    expectation retries until the screen shows it)."""
    await expect(locator).to_have_count(len(values))
    for n, value in enumerate(values):
        await expect(locator.nth(n)).to_have_attribute(f"data-{name}", value)


def _minutes(seconds: int) -> str:
    """An ETA as the screens show it: whole minutes, never a clock-like 9:12."""
    minutes = round(seconds / 60)
    return "< 1 min" if minutes < 1 else f"{minutes} min"


async def test_dispatcher_takes_a_call_on_the_map_assigns_and_sees_the_unit_move(
    open_page: OpenPage, screens: Screens
) -> None:
    tab = await live_control(open_page)
    page = tab.page
    # No tile server is reachable: the offline map still shows what matters, credited.
    the_map = page.locator("#map")
    await expect(the_map).to_have_attribute("data-map-mode", "offline")
    await expect(page.get_by_test_id("offline-banner")).to_be_visible()
    await expect(page.locator(".leaflet-control-attribution")).to_contain_text(
        "© OpenStreetMap contributors"
    )
    await expect(page.locator(".pin-hospital")).to_have_count(len(demo.HOSPITALS))
    await expect(page.locator(".pin-station")).to_have_count(len(demo.STATIONS))
    await expect(page.locator(".pin-vehicle")).to_have_count(len(demo.VEHICLES))
    # The demo units have never sent GPS: flagged on the map and on the board, in words.
    a2 = page.locator('.pin-vehicle[data-vehicle="A2"]')
    await expect(a2).to_have_attribute("data-gps", "none")
    await expect(a2).to_contain_text("NO GPS")
    await expect(page.locator('#units tr[data-unit="A4"]')).to_contain_text("off duty")
    # One line for all of them, opened for the list (not ten standing warnings).
    on_duty = sum(1 for v in demo.VEHICLES if v[4] != VehicleState.OFF_DUTY)
    group = page.locator('#alerts [data-group="no_gps"]')
    await expect(group).to_have_count(1)
    await expect(group.locator("summary")).to_contain_text(
        f"{on_duty} units on duty have sent no GPS fix"
    )
    await expect(page.locator('#alerts [data-kind="stale_unit"]')).to_have_count(1)
    member = group.locator('[data-unit="A2"]')
    await expect(member).to_be_hidden()
    await group.locator("summary").click()
    await expect(member).to_have_text("A2 is on duty but has sent no GPS fix.")

    # Clicking the map sets the call's location.
    box = await the_map.bounding_box()
    assert box is not None
    await page.mouse.click(box["x"] + box["width"] * 0.55, box["y"] + box["height"] * 0.4)
    await expect(page.locator(".pin-pick")).to_be_visible()
    lat_input, lon_input = (page.locator(f"#call-form input[name={n}]") for n in ("lat", "lon"))
    await expect(lat_input).to_have_value(re.compile(r"^13\.[6-8]\d*$"))
    await expect(lon_input).to_have_value(re.compile(r"^100\.[4-6]\d*$"))
    lat, lon = float(await lat_input.input_value()), float(await lon_input.input_value())
    await page.select_option("#call-form select[name=chief_complaint]", "stroke")
    await page.fill("#call-form input[name=address_text]", "Siam Paragon, Rama I Rd")
    await page.click("#call-form button[type=submit]")

    head = page.locator("#detail-body .detail-head")
    await expect(head).to_contain_text("Stroke")
    await expect(head).to_have_attribute("data-incident", re.compile(r"^\d+$"))
    incident_id = int(await head.get_attribute("data-incident"))
    incident = (await screens.api("GET", f"/incidents/{incident_id}")).json()
    assert incident["lat"] == pytest.approx(lat, abs=1e-6)
    assert incident["lon"] == pytest.approx(lon, abs=1e-6)
    assert incident["address_text"] == "Siam Paragon, Rama I Rd"
    row = page.locator(f'#queue tr[data-incident="{incident_id}"]')
    await expect(row.locator("[data-triage]")).to_have_text("RED · critical")
    await expect(page.locator(f'.pin-incident[data-incident="{incident_id}"]')).to_contain_text(
        "RED"
    )

    # The recommendation list is the server's ranking, with ETAs and reasons.
    rows = page.locator("[data-testid=recommendations] tbody tr")
    await expect(rows.first).to_be_visible()
    ranked = (await screens.api("POST", f"/incidents/{incident_id}/recommendations")).json()[
        "candidates"
    ]
    await _expect_data(rows, "candidate", [c["call_sign"] for c in ranked])
    best = ranked[0]
    await expect(rows.first.locator(".eta")).to_have_text(_minutes(best["eta_s"]))
    await expect(rows.first.locator(".reasons")).to_contain_text(best["reasons"][0])

    # One click assigns it.
    await rows.first.locator("button[data-assign]").click()
    unit = best["call_sign"]
    await expect(page.locator(f'#units tr[data-unit="{unit}"]')).to_have_attribute(
        "data-state", "dispatched"
    )
    await expect(row).to_contain_text(unit)
    assigned = (await screens.api("GET", f"/incidents/{incident_id}/assignments")).json()
    assert [(a["vehicle_id"], a["recommended_rank"]) for a in assigned] == [(best["vehicle_id"], 1)]
    # The timeline shows the NEMSIS times on the organisation's clock (the browser is in
    # London; the control room is in Bangkok).
    timeline = page.get_by_test_id("timeline")
    created = datetime.fromisoformat(incident["created_at"]).astimezone(BANGKOK)
    await expect(timeline.locator('tr[data-milestone="call"]')).to_contain_text(
        created.strftime("%H:%M:%S")
    )
    await expect(timeline.locator('tr[data-milestone="notified"]')).to_contain_text("eTimes.03")
    await expect(timeline.locator('tr[data-milestone="notified"]')).to_contain_text(unit)

    # A GPS fix from unit A1's phone moves its marker.
    a1 = page.locator('.pin-vehicle[data-vehicle="A1"]')
    # (None while the marker is being redrawn: wait for it to be on the map)
    before = await eventually(a1.bounding_box, what="A1's marker on the map")
    sent = await screens.api(
        "POST",
        f"/vehicles/{screens.vehicle_ids['A1']}/fixes",
        who="device",
        json={
            "fixes": [
                {"lat": 13.73890, "lon": 100.54120, "recorded_at": datetime.now(UTC).isoformat()}
            ]
        },
    )
    assert sent.status_code == 200, sent.text
    await expect(a1).to_have_attribute("data-lat", "13.73890")
    await expect(a1).to_have_attribute("data-lon", "100.54120")
    await expect(a1).to_have_attribute("data-gps", "fresh")
    assert before is not None

    async def moved() -> bool:  # the marker may glide to its new place
        after = await a1.bounding_box()
        return after is not None and (round(after["x"]), round(after["y"])) != (
            round(before["x"]),
            round(before["y"]),
        )

    await eventually(moved, what="A1's marker moved on the map")
    await screenshot(page, "control", screens.stack)
    assert all(url.startswith(screens.tile_origin) for url in tab.foreign), tab.foreign
    assert tab.errors == []


async def test_the_control_feed_resumes_after_a_resync_close_without_a_reload(
    open_page: OpenPage, screens: Screens
) -> None:
    tab = await live_control(open_page)
    page = tab.page
    await page.evaluate("window.notReloaded = true")
    stats = "() => ({...window.dispatchScreens.control.feed.stats})"
    before = await page.evaluate(stats)
    hub = screens.server.app.state.dispatch.hub
    assert hub.control
    for client in list(hub.control):  # as if the screen had fallen behind
        await hub.disconnect(client, CLOSE_RESYNC, "test: fell behind")
    created = (
        await screens.api(
            "POST",
            "/incidents",
            json={"lat": 13.7512, "lon": 100.5389, "chief_complaint": "seizure"},
        )
    ).json()
    await expect(page.locator(f'#queue tr[data-incident="{created["id"]}"]')).to_be_visible()
    await expect(page.locator("body")).to_have_attribute("data-feed", "live")

    async def resumed() -> dict[str, int] | None:
        now: dict[str, int] = await page.evaluate(stats)
        return now if now["resumes"] > before["resumes"] else None

    after = await eventually(resumed, what="the feed resumed")
    assert after["resyncs"] == before["resyncs"] + 1  # told once to resync ...
    assert after["resumes"] == before["resumes"] + 1  # ... and resumed once
    assert after["snapshots"] == before["snapshots"]  # from the log, no reload
    assert await page.evaluate("window.notReloaded") is True
    assert tab.errors == []


async def _fresh_job_for_a1(screens: Screens) -> tuple[int, int]:
    """Give unit A1 a job of its own (standing down whatever it was doing)."""
    current = (await screens.api("GET", "/assignments/current", who="device")).json()
    if current["assignment"] is not None:
        stood_down = await screens.api(
            "POST",
            f"/assignments/{current['assignment']['id']}/status",
            json={"status": "cancelled"},
        )
        assert stood_down.status_code == 200, stood_down.text
    incident = (
        await screens.api(
            "POST",
            "/incidents",
            json={
                "lat": 13.7446,
                "lon": 100.5300,
                "chief_complaint": "fall",
                "address_text": "MBK Center, Phaya Thai Rd",
            },
        )
    ).json()
    assignment = await screens.api(
        "POST",
        f"/incidents/{incident['id']}/assignments",
        json={"vehicle_id": screens.vehicle_ids["A1"]},
    )
    assert assignment.status_code == 201, assignment.text
    return incident["id"], assignment.json()["id"]


async def test_crew_acknowledges_and_advances_and_the_dispatcher_sees_it(
    open_page: OpenPage, screens: Screens
) -> None:
    incident_id, assignment_id = await _fresh_job_for_a1(screens)

    async def late() -> bool:  # past the (test's one-second) acknowledgement limit
        alerts = (await screens.api("GET", "/alerts")).json()
        return any(
            a["kind"] == "unacknowledged_assignment" and a.get("incident_id") == incident_id
            for a in alerts
        )

    await eventually(late, what=f"call #{incident_id} late to be acknowledged")
    control = await live_control(open_page)
    await control.page.click(f'#queue tr[data-incident="{incident_id}"]')
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
    await expect(phone.get_by_test_id("job-address")).to_have_text("MBK Center, Phaya Thai Rd")
    await expect(phone.locator("#crew-map .pin-incident")).to_contain_text(f"#{incident_id}")
    await expect(phone.locator("#crew-title")).to_have_text("Unit A1")

    # Not acknowledged within the (test's one-second) limit: the control room is alerted.
    late = control.page.locator(
        f'#alerts [data-kind="unacknowledged_assignment"][data-incident="{incident_id}"]'
    )
    await expect(late).to_contain_text(f"A1 has not acknowledged call #{incident_id}")
    status = phone.locator("[data-testid=job] [data-status]")
    a1_row = control.page.locator('#units tr[data-unit="A1"]')
    timeline = control.page.get_by_test_id("timeline")
    await phone.click("[data-next=acknowledged]")
    await expect(status).to_have_attribute("data-status", "acknowledged")
    await expect(timeline.locator('tr[data-milestone="acknowledged"]')).to_contain_text("A1")
    await expect(late).to_have_count(0)
    await phone.click("[data-next=en_route]")
    await expect(status).to_have_attribute("data-status", "en_route")
    await expect(a1_row).to_have_attribute("data-state", "en_route")
    await expect(timeline.locator('tr[data-milestone="en_route"]')).to_contain_text("eTimes.05")
    await phone.click("[data-next=on_scene]")
    await expect(a1_row).to_have_attribute("data-state", "on_scene")
    await expect(control.page.locator(f'#queue tr[data-incident="{incident_id}"]')).to_contain_text(
        "on scene"
    )
    # The phone offers only what may come next from on scene (once it has redrawn after
    # its own report and the reload that follows).
    await expect(status).to_have_attribute("data-status", "on_scene")
    await _expect_data(
        phone.locator("[data-next]"), "next", ["at_patient", "left_scene", "back_in_service"]
    )
    stored = (await screens.api("GET", f"/assignments/{assignment_id}")).json()
    assert stored["status"] == "on_scene"
    times = [datetime.fromisoformat(stored[f"{m}_at"]) for m in ("acknowledged", "en_route")]
    assert times == sorted(times) and times[-1] <= datetime.fromisoformat(stored["on_scene_at"])

    # The phone shares its location; the dispatcher's map follows.
    await phone.click("#gps-toggle")
    await expect(phone.get_by_test_id("gps-status")).to_have_attribute("data-sent", "1")
    a1_pin = control.page.locator('.pin-vehicle[data-vehicle="A1"]')
    await expect(a1_pin).to_have_attribute("data-lat", "13.74520")
    await expect(a1_pin).to_have_attribute("data-lon", "100.53010")
    await expect(phone.get_by_test_id("manifest")).to_contain_text("No booked rides today")
    await screenshot(phone, "crew", screens.stack)
    await screenshot(control.page, "control-after-crew", screens.stack)
    assert crew.errors == [] and control.errors == []
    assert all(url.startswith(screens.tile_origin) for url in crew.foreign)


async def test_care_centre_books_rides_sees_them_and_cancels(
    open_page: OpenPage, screens: Screens
) -> None:
    tab = await open_page("/care")
    page = tab.page
    page.on("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
    await login(page, "carecentre")
    await expect(page.locator("#patients tbody tr")).to_have_count(len(demo.PATIENTS))
    patients = (await screens.api("GET", "/patients", who="carecentre")).json()
    malee = next(p for p in patients if p["full_name"] == "Malee Srisuk")
    hospitals = (await screens.api("GET", "/hospitals", who="carecentre")).json()
    chula = next(h for h in hospitals if h["name"].startswith("King Chulalongkorn"))
    day = (datetime.now(BANGKOK) + timedelta(days=2)).date().isoformat()

    # A ride to an appointment with the way home.
    form = page.get_by_test_id("book-form")
    await form.locator("select[name=patient_id]").select_option(str(malee["id"]))
    await expect(form.locator("input[name=pickup_lat]")).to_have_value(str(malee["home_lat"]))
    await form.locator("select[name=destination_hospital_id]").select_option(str(chula["id"]))
    await form.locator("input[name=appointment_at]").fill(f"{day}T09:30")
    await form.locator("input[name=return_trip]").check()
    await form.locator("input[name=return_pickup_window_start]").fill(f"{day}T12:00")
    await form.locator("input[name=return_pickup_window_end]").fill(f"{day}T13:00")
    await form.locator("button[type=submit]").click()
    await expect(form.locator(".flash")).to_contain_text("with the way home")
    bookings = (await screens.api("GET", "/bookings", who="carecentre")).json()
    [outbound] = [b for b in bookings if b["appointment_at"] and not b["is_series"]]
    [back] = [b for b in bookings if b["return_of_id"] == outbound["id"]]
    # Entered and shown on the organisation's clock, whatever the browser's zone.
    appointment = datetime.fromisoformat(outbound["appointment_at"]).astimezone(BANGKOK)
    assert appointment.strftime("%Y-%m-%d %H:%M") == f"{day} 09:30"
    out_row = page.locator(f'#bookings tr[data-booking="{outbound["id"]}"]')
    await expect(out_row).to_contain_text("Malee Srisuk")
    await expect(out_row).to_contain_text("09:30")
    await expect(out_row).to_contain_text("King Chulalongkorn")
    await expect(out_row).to_have_attribute("data-status", "requested")
    back_row = page.locator(f'#bookings tr[data-booking="{back["id"]}"]')
    await expect(back_row).to_contain_text(f"way home of #{outbound['id']}")

    # A weekly series (Mondays and Thursdays for three weeks).
    await form.locator("input[name=return_trip]").uncheck()
    await form.locator("input[name=recurring]").check()
    await form.locator("input[name=byday][value=MO]").check()
    await form.locator("input[name=byday][value=TH]").check()
    until = (datetime.now(BANGKOK) + timedelta(days=21)).date()
    await form.locator("input[name=until]").fill(until.isoformat())
    await form.locator("button[type=submit]").click()
    await expect(form.locator(".flash")).to_contain_text("Weekly series")
    bookings = (await screens.api("GET", "/bookings", who="carecentre")).json()
    [series] = [b for b in bookings if b["is_series"]]
    assert series["recurrence_rule"] == f"FREQ=WEEKLY;BYDAY=MO,TH;UNTIL={until:%Y%m%d}"
    rides = [b for b in bookings if b["series_id"] == series["id"]]
    assert rides and all(
        datetime.fromisoformat(r["appointment_at"]).astimezone(BANGKOK).weekday() in (0, 3)
        for r in rides
    )
    await expect(page.locator("#bookings tbody tr[data-booking]")).to_have_count(len(bookings))
    await screenshot(page, "care", screens.stack)

    # Cancelling the outbound ride cancels its way home too.
    await out_row.locator("button[data-cancel]").click()
    await expect(out_row).to_have_count(0)  # finished rides are hidden by default
    await expect(back_row).to_have_count(0)
    stored = {
        b["id"]: b["status"]
        for b in (await screens.api("GET", "/bookings", who="carecentre")).json()
    }
    assert stored[outbound["id"]] == stored[back["id"]] == "cancelled"
    await page.locator("#show-past").check()
    await expect(out_row.locator(".status-badge")).to_have_text("cancelled")
    assert tab.errors == []


async def test_language_switch_shows_thai_and_vietnamese(
    open_page: OpenPage, screens: Screens
) -> None:
    created = await screens.api(
        "POST", "/incidents", json={"lat": 13.7301, "lon": 100.5231, "chief_complaint": "burns"}
    )
    assert created.status_code == 201
    tab = await live_control(open_page)
    page = tab.page
    badge = page.locator(f'#queue tr[data-incident="{created.json()["id"]}"] [data-triage]')
    await expect(badge).to_have_text("YELLOW · urgent")

    await page.select_option("#lang", "th")
    await expect(page.locator("html")).to_have_attribute("lang", "th")
    await expect(page.locator("header h1")).to_have_text("ห้องสั่งการ")
    await expect(page.locator(".panel-queue h2")).to_contain_text("คิวรับแจ้งเหตุ")
    await expect(badge).to_have_text("เหลือง · เร่งด่วน")
    await expect(page.locator('#units tr[data-unit="A4"]')).to_contain_text("นอกเวร")
    await expect(page.get_by_test_id("offline-banner")).to_contain_text("แผนที่ออฟไลน์")
    await screenshot(page, "control-th", screens.stack)

    await page.select_option("#lang", "vi")
    await expect(page.locator("html")).to_have_attribute("lang", "vi")
    await expect(page.locator("header h1")).to_have_text("Phòng điều phối")
    await expect(badge).to_have_text("VÀNG · khẩn cấp")
    await expect(page.locator('#units tr[data-unit="A4"]')).to_contain_text("nghỉ ca")
    await screenshot(page, "control-vi", screens.stack)

    # The choice is remembered, on this screen and the others.
    await page.reload()
    await expect(page.locator("header h1")).to_have_text("Phòng điều phối")
    await page.goto(screens.base_url + "/care")
    await expect(page.locator("#login-form h2")).to_have_text("Đăng nhập")
    await page.select_option("#lang", "th")
    await expect(page.locator("#login-form h2")).to_have_text("เข้าสู่ระบบ")
    assert tab.errors == []
