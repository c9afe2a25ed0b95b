"""Offers to stations in a real (headless) Chromium, on both stacks: a station's staff log
in on /station and accept a call the control room offered from its screen, and the
control room sees the offer accepted and the unit sent; a station declines (a reason is
required) and the control room sees the chain move on to the next station by itself,
whose own screen shows the offer, and flags the station that declined "no crew" while
its unit showed available; a station takes a unit out of service (a reason is required)
and back, and rides out a lost network showing what it had, said in its language; and a
phone whose clock is minutes off still counts the answer time down on the server's
clock."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest

from dispatch import demo
from dispatch.web import STATIC_DIR
from tests.helpers.browser import (
    PHONE,
    OpenPage,
    Page,
    Screens,
    demo_screens,
    live_control,
    login,
    screenshot,
)
from tests.helpers.stacks import Stack

try:
    from playwright.async_api import expect
except ImportError:  # the browser fixture reports it: a skip, or a failure in CI
    expect = None

pytestmark = pytest.mark.slow

#: Ten minutes to answer, whatever the triage: no offer runs out while a slow machine
#: renders (the server's timers are driven by the tests anyway, see tests/helpers/stacks).
TIMER_S = 600
#: Calls at three of the demo's stations (Pathumwan, Khlong Toei, Huai Khwang).
AT_PATHUMWAN = {"lat": 13.7446, "lon": 100.5296}
AT_KHLONG_TOEI = {"lat": 13.7151, "lon": 100.5631}
AT_HUAI_KHWANG = {"lat": 13.7731, "lon": 100.5751}


@pytest.fixture(scope="module")
async def screens(
    migrated_stack: Stack, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Screens]:
    timers = dict.fromkeys(("red", "yellow", "green", "white", "black"), TIMER_S)
    async with demo_screens(migrated_stack, tmp_path_factory, offer_timeouts_s=timers) as found:
        yield found


async def _call(screens: Screens, where: dict[str, float]) -> int:
    body = {**where, "chief_complaint": "road_traffic_accident", "address_text": "Soi test"}
    made = await screens.api("POST", "/incidents", json=body)
    assert made.status_code == 201, made.text
    incident_id: int = made.json()["id"]
    return incident_id


async def _staff_of(screens: Screens, station_id: int) -> str:
    """The demo login of a station's staff (``station1`` for the first demo station …)."""
    stations = (await screens.api("GET", "/stations")).json()
    [name] = [s["name"] for s in stations if s["id"] == station_id]
    index = [n for n, *_ in demo.STATIONS].index(name)
    return next(user for user, i in demo.STATION_LOGINS.items() if i == index)


def _call_sign(screens: Screens, vehicle_id: int) -> str:
    return next(sign for sign, id_ in screens.vehicle_ids.items() if id_ == vehicle_id)


async def _station_screen(open_page: OpenPage, username: str, **options: Any) -> Page:
    tab = await open_page("/station", viewport=PHONE, is_mobile=True, has_touch=True, **options)
    await login(tab.page, username)
    await expect(tab.page.locator("#app")).to_have_attribute("data-loaded", "1")
    await expect(tab.page.locator("body")).to_have_attribute("data-feed", "live")
    return tab


async def test_a_station_accepts_the_offer_and_the_control_room_sees_the_unit_sent(
    open_page: OpenPage, screens: Screens
) -> None:
    incident_id = await _call(screens, AT_PATHUMWAN)
    control = await live_control(open_page)
    wall = control.page
    await wall.click(f'#queue tr[data-incident="{incident_id}"]')
    await expect(wall.locator("#detail-body .detail-head")).to_have_attribute(
        "data-incident", str(incident_id)
    )
    await wall.locator('#detail-body [data-action="offer"]').click()
    await expect(wall.locator("#detail-flash")).to_contain_text(f"Call #{incident_id} offered to")
    [offer] = (await screens.api("GET", f"/incidents/{incident_id}/offers")).json()
    unit = _call_sign(screens, offer["vehicle_id"])
    chain = wall.locator(f'[data-testid=offers] li[data-offer="{offer["id"]}"]')
    await expect(chain).to_have_attribute("data-status", "pending")
    await expect(chain).to_contain_text(unit)
    await expect(chain.get_by_test_id("countdown")).to_have_text(re.compile(r"^\d+:\d\d$"))

    station = await _station_screen(open_page, await _staff_of(screens, offer["station_id"]))
    phone = station.page
    card = phone.locator(f'.offer-card[data-offer="{offer["id"]}"]')
    await expect(card).to_have_attribute("data-status", "pending")
    await expect(card).to_contain_text(f"Call #{incident_id}")
    await expect(card.get_by_test_id("offer-unit")).to_contain_text(unit)
    await expect(card.locator("[data-triage]")).to_have_attribute("data-triage", offer["triage"])
    await expect(card.get_by_test_id("countdown")).to_contain_text("left to answer")
    await screenshot(phone, "station-offer", screens.stack)

    await card.locator("[data-offer-action=accept]").click()
    await expect(card).to_have_attribute("data-status", "accepted")
    await expect(card.get_by_test_id("offer-outcome")).to_contain_text(
        f"{unit} assigned to call #{incident_id}"
    )
    await expect(phone.get_by_test_id("station-flash")).to_contain_text("Accepted")
    await expect(phone.locator(f'.station-unit[data-unit="{unit}"]')).to_contain_text(
        f"on call #{incident_id}"
    )

    # The control room: the offer accepted, the unit sent, the call no longer waiting.
    await expect(chain).to_have_attribute("data-status", "accepted")
    await expect(chain.get_by_test_id("offer-status")).to_have_text("accepted")
    await expect(wall.locator(f'#units tr[data-unit="{unit}"]')).to_have_attribute(
        "data-state", "dispatched"
    )
    await expect(wall.locator(f'#queue tr[data-incident="{incident_id}"]')).to_contain_text(unit)
    sent = (await screens.api("GET", f"/incidents/{incident_id}/assignments")).json()
    assert [a["vehicle_id"] for a in sent] == [offer["vehicle_id"]]
    stored = (await screens.api("GET", f"/offers/{offer['id']}")).json()
    assert stored["status"] == "accepted" and stored["assignment_id"] == sent[0]["id"]
    await screenshot(wall, "control-offer-accepted", screens.stack)
    assert control.errors == [] and station.errors == []


async def test_a_decline_passes_the_call_to_the_next_station_by_itself(
    open_page: OpenPage, screens: Screens
) -> None:
    incident_id = await _call(screens, AT_KHLONG_TOEI)
    control = await live_control(open_page)
    wall = control.page
    made = await screens.api("POST", f"/incidents/{incident_id}/offers", json={})
    assert made.status_code == 201, made.text
    first = made.json()
    first_staff = await _staff_of(screens, first["station_id"])
    chain = wall.locator(f'[data-testid=offers] li[data-chain="{first["chain_id"]}"]')
    await expect(chain).to_have_attribute("data-status", "pending")
    await expect(chain).to_have_attribute("data-step", "1")

    station = await _station_screen(open_page, first_staff)
    phone = station.page
    card = phone.locator(f'.offer-card[data-offer="{first["id"]}"]')
    await expect(card).to_have_attribute("data-status", "pending")
    await card.locator("[data-offer-action=decline]").click()
    form = card.get_by_test_id("decline-form")
    await expect(form).to_be_visible()
    await form.locator("[data-offer-action=decline-send]").click()  # no reason chosen yet
    await expect(form.locator(".flash")).to_have_text("Choose a reason first.")
    await expect(card).to_have_attribute("data-status", "pending")
    await form.locator('input[name=reason][value="no_crew"]').check()
    await form.locator("input[name=note]").fill("crew at lunch")
    await screenshot(phone, "station-decline", screens.stack)
    await form.locator("[data-offer-action=decline-send]").click()
    await expect(card).to_have_attribute("data-status", "declined")
    await expect(card.get_by_test_id("offer-status")).to_have_text("declined: No crew")
    await expect(card.get_by_test_id("offer-outcome")).to_contain_text("next station")

    # The chain moves on by itself: a new offer (step 2) at another station.
    await expect(chain).to_have_attribute("data-step", "2")
    await expect(chain).to_have_attribute("data-status", "pending")
    await expect(chain.get_by_test_id("offer-history")).to_contain_text("declined (No crew)")
    offers = (await screens.api("GET", f"/incidents/{incident_id}/offers")).json()
    assert [(o["step"], o["status"]) for o in offers] == [(1, "declined"), (2, "pending")]
    second = offers[1]
    assert second["station_id"] != first["station_id"]
    assert second["decline_reason"] is None and offers[0]["decline_reason"] == "no_crew"
    await expect(chain).to_have_attribute("data-station", str(second["station_id"]))
    await expect(chain).to_contain_text(_call_sign(screens, second["vehicle_id"]))

    # The station that declined "no crew" with a unit showing available is flagged.
    flagged = wall.locator(f'#board [data-station="{first["station_id"]}"]')
    await expect(flagged).to_have_attribute("data-flagged", "true")
    await expect(flagged.get_by_test_id("board-flag")).to_contain_text(
        "declines while showing available"
    )
    await expect(flagged).to_contain_text("No crew 1")
    await screenshot(wall, "control-offer-declined", screens.stack)

    # The next station's screen shows the offer; the control room withdraws it.
    other = await _station_screen(open_page, await _staff_of(screens, second["station_id"]))
    next_card = other.page.locator(f'.offer-card[data-offer="{second["id"]}"]')
    await expect(next_card).to_have_attribute("data-status", "pending")
    await expect(next_card).to_have_attribute("data-step", "2")
    await expect(next_card).to_contain_text(f"Call #{incident_id}")
    await chain.locator("[data-offer-action=withdraw]").click()
    await expect(chain).to_have_attribute("data-status", "withdrawn")
    await expect(next_card).to_have_attribute("data-status", "withdrawn")
    await expect(next_card.get_by_test_id("offer-outcome")).to_contain_text(
        "Withdrawn by the control room"
    )
    assert control.errors == [] and station.errors == [] and other.errors == []


async def test_a_unit_goes_out_of_service_and_a_lost_network_keeps_the_screen(
    open_page: OpenPage, screens: Screens
) -> None:
    control = await live_control(open_page)
    station = await _station_screen(open_page, "station2")  # Silom: A2, B2, B4, T2
    phone = station.page
    row = phone.locator('.station-unit[data-unit="B2"]')
    await expect(row).to_have_attribute("data-state", "available")
    await expect(row.get_by_test_id("crew-link")).to_have_attribute("href", "/crew")
    await row.locator("[data-unit-action=out]").click()
    form = row.get_by_test_id("service-form")
    await form.locator("[data-unit-action=out-send]").click()  # no reason: refused here
    await expect(form.locator(".flash")).to_have_text("Say why the unit goes out of service.")
    await form.locator("input[name=reason]").fill("brakes checked")
    await form.locator("[data-unit-action=out-send]").click()
    await expect(row).to_have_attribute("data-state", "off_duty")
    await expect(row).to_contain_text("Out of service: brakes checked")
    wall = control.page
    await expect(wall.locator('#units tr[data-unit="B2"]')).to_have_attribute(
        "data-state", "off_duty"
    )
    await expect(wall.locator('#board [data-unit="B2"]')).to_have_attribute(
        "data-state", "off_duty"
    )
    stored = (await screens.api("GET", f"/vehicles/{screens.vehicle_ids['B2']}")).json()
    assert (stored["state"], stored["out_of_service_reason"]) == ("off_duty", "brakes checked")
    await row.locator("[data-unit-action=in]").click()
    await expect(row).to_have_attribute("data-state", "available")
    await expect(wall.locator('#units tr[data-unit="B2"]')).to_have_attribute(
        "data-state", "available"
    )

    # The network goes away: the screen says so in its language and keeps what it had.
    await phone.select_option("#lang", "th")
    thai = json.loads((STATIC_DIR / "i18n" / "th.json").read_text(encoding="utf-8"))
    offline = re.compile(r"/offers\?")
    await station.context.route(offline, lambda route: route.abort("internetdisconnected"))
    problem = phone.get_by_test_id("poll-flash")
    await expect(problem).to_have_text(thai["error.network"])
    await expect(phone.locator("body")).to_have_attribute("data-feed", "reconnecting")
    await expect(row).to_contain_text(thai["state.available"])
    await station.context.unroute(offline)
    await expect(problem).to_be_hidden()
    await expect(phone.locator("body")).to_have_attribute("data-feed", "live")
    assert control.errors == [] and station.errors == []


#: Runs before the page's scripts: this phone's clock is seven minutes fast.
FAST_CLOCK = """(() => {
  const skew = 7 * 60 * 1000;
  const Real = Date;
  class Fast extends Real {
    constructor(...args) { if (args.length) super(...args); else super(Real.now() + skew); }
    static now() { return Real.now() + skew; }
  }
  globalThis.Date = Fast;
})();"""


async def test_the_time_left_is_counted_on_the_servers_clock(
    open_page: OpenPage, screens: Screens
) -> None:
    incident_id = await _call(screens, AT_HUAI_KHWANG)
    made = await screens.api("POST", f"/incidents/{incident_id}/offers", json={})
    assert made.status_code == 201, made.text
    offer = made.json()
    tab = await open_page("/station", viewport=PHONE, is_mobile=True, has_touch=True)
    await tab.context.add_init_script(FAST_CLOCK)
    await tab.page.reload()
    page = tab.page
    assert await page.evaluate("Date.now() - performance.timeOrigin") > 6 * 60 * 1000
    await login(page, await _staff_of(screens, offer["station_id"]))
    card = page.locator(f'.offer-card[data-offer="{offer["id"]}"]')
    await expect(card).to_have_attribute("data-status", "pending")
    left = int(await card.get_by_test_id("countdown").get_attribute("data-left") or "0")
    # By the phone's own clock only 3 of the 10 minutes would be left.
    assert TIMER_S - 120 <= left <= TIMER_S, left
    await expect(card.locator("[data-offer-action=accept]")).to_be_visible()
    assert tab.errors == []
