"""Move-up in a real (headless) Chromium, on both stacks, with coverage-aware dispatch on:
Din Daeng's units go to calls, the control screen shows the suggestion with its gain, a
dispatcher accepts it with one click, and the moved unit's crew page shows "go to standby
post" with the post on its map, then "arrived" once the crew reports it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from dispatch.state import AppState
from tests.helpers.browser import PHONE, OpenPage, Screens, demo_screens, login, screenshot
from tests.helpers.stacks import Stack

try:
    from playwright.async_api import expect
except ImportError:  # the browser fixture reports it: a skip, or a failure in CI
    expect = None

pytestmark = pytest.mark.slow

DIN_DAENG = {"lat": 13.7652, "lon": 100.5532, "chief_complaint": "chest_pain", "triage": "red"}


@pytest.fixture(scope="module")
async def screens(
    migrated_stack: Stack, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Screens]:
    async with demo_screens(migrated_stack, tmp_path_factory, coverage_dispatch=True) as found:
        state: AppState = found.server.app.state.dispatch
        assert state.emergency.coverage is not None
        async with state.db.unit_of_work(read_only=True) as uow:
            assert await state.emergency.coverage.wait_built(uow, datetime.now(UTC)) is not None
        yield found


async def _send(screens: Screens, call_sign: str) -> None:
    created = await screens.api("POST", "/incidents", json=DIN_DAENG)
    assert created.status_code == 201, created.text
    sent = await screens.api(
        "POST",
        f"/incidents/{created.json()['id']}/assignments",
        json={"vehicle_id": screens.vehicle_ids[call_sign]},
    )
    assert sent.status_code == 201, sent.text


async def test_a_dispatcher_accepts_a_move_up_and_the_crew_is_sent_to_the_post(
    open_page: OpenPage, screens: Screens
) -> None:
    control = await open_page("/control")
    wall = control.page
    await login(wall, "dispatcher")
    await expect(wall.locator("body")).to_have_attribute("data-feed", "live")
    panel = wall.get_by_test_id("moveup-panel")
    await expect(panel).to_be_visible()
    await expect(wall.get_by_test_id("coverage-share")).to_contain_text("Red calls reachable")

    for call_sign in ("A3", "B3"):  # Din Daeng's two units leave
        await _send(screens, call_sign)
    item = panel.locator("[data-moveup][data-status=suggested]").first
    await expect(item).to_contain_text("Din Daeng Station")
    await expect(item).to_contain_text("% of red calls reached within 10 min")
    [move] = [
        m
        for m in (await screens.api("GET", "/moveups")).json()
        if m["status"] == "suggested" and m["site_name"] == "Din Daeng Station"
    ][:1]
    unit = {v: k for k, v in screens.vehicle_ids.items()}[move["vehicle_id"]]
    await wall.get_by_test_id("coverage-layer").check()
    assert await wall.locator(".coverage-zone").count() > 10
    await screenshot(wall, "control-moveup", screens.stack)

    await panel.locator(f'[data-moveup="{move["id"]}"] [data-moveup-action=accept]').click()
    accepted = panel.locator(f'[data-moveup="{move["id"]}"]')
    await expect(accepted).to_have_attribute("data-status", "accepted")

    crew = await open_page("/crew", viewport=PHONE, is_mobile=True, has_touch=True)
    phone = crew.page
    if unit == "A1":
        await login(phone, "driver")
    else:
        issued = await screens.api(
            "POST", f"/vehicles/{move['vehicle_id']}/device-token", who="supervisor"
        )
        token: Any = issued.json()["device_token"]
        await phone.locator("#token-form input[name=token]").fill(token)
        await phone.locator("#token-form button[type=submit]").click()
    await expect(phone.locator("body")).to_have_attribute("data-feed", "live")
    task = phone.get_by_test_id("post-task")
    await expect(task).to_contain_text("Go to standby post: Din Daeng Station")
    await expect(phone.locator(".pin-post")).to_contain_text("Din Daeng Station")
    await screenshot(phone, "crew-moveup", screens.stack)
    await phone.get_by_test_id("post-arrived").click()
    await expect(task).to_have_attribute("data-status", "arrived")
    await expect(task).to_contain_text("Standing by at post: Din Daeng Station")
    await expect(accepted).to_have_attribute("data-status", "arrived")
    assert not control.errors and not crew.errors
