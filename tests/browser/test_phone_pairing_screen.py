"""Pairing a crew phone by QR code, end to end in a real Chromium on both stacks: a
supervisor opens *Phones*, pairs unit A2 and the screen shows a code; the code, read back
from the rendered page by a real QR decoder (zbarimg), is the Traccar Client link; a fix
sent to its server with its device id puts A2 on the map; the crew-page code opens the crew
page of A2 on a phone without a login; *Unpair* refuses the phone."""

from __future__ import annotations

import asyncio
import re
import shutil
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.helpers.browser import PHONE, OpenPage, Screens, login, screenshot
from tests.helpers.stacks import unavailable

try:
    from playwright.async_api import expect
except ImportError:  # the browser fixture reports it: a skip, or a failure in CI
    expect = None

pytestmark = pytest.mark.slow


async def decode_qr(element: Any, tmp_path: Path, name: str) -> str:
    """What a phone's camera would read: the rendered code, decoded by zbarimg."""
    zbarimg = shutil.which("zbarimg")
    if zbarimg is None:
        unavailable("zbarimg (Debian zbar-tools) decodes the QR codes")
    image = tmp_path / f"{name}.png"
    await element.screenshot(path=str(image))
    done = await asyncio.create_subprocess_exec(
        zbarimg, "--raw", "-q", str(image), stdout=asyncio.subprocess.PIPE
    )
    out, _ = await done.communicate()
    assert done.returncode == 0, f"no QR code found in {image}"
    return out.decode().strip()


async def test_a_phone_is_paired_by_its_qr_code_and_reports_as_its_unit(
    open_page: OpenPage, screens: Screens, tmp_path: Path
) -> None:
    tab = await open_page("/control")
    page = tab.page
    await login(page, "supervisor")
    await expect(page.locator("body")).to_have_attribute("data-feed", "live")
    a2_pin = page.locator('.pin-vehicle[data-vehicle="A2"]')
    await expect(a2_pin).to_have_attribute("data-gps", "none")
    await page.get_by_test_id("devices-open").click()
    panel = page.get_by_test_id("devices-panel")
    row = panel.locator('#devices-table tr[data-unit="A2"]')
    await expect(row.get_by_test_id("phone-state")).to_have_text("not paired")
    await row.get_by_role("button", name="Pair phone").click()
    code = page.get_by_test_id("devices-qr")
    await expect(code.locator("svg")).to_be_visible()
    await expect(row.get_by_test_id("phone-state")).to_contain_text("paired …")
    await screenshot(page, "control-phone-pairing", screens.stack)

    link = await decode_qr(code.locator(".qr-code svg"), tmp_path, "pair")
    assert link == await code.get_attribute("data-link")
    parts = urlsplit(link)
    assert (parts.scheme, parts.netloc) == ("org.traccar.client", "config")
    setup = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert setup["url"] == screens.base_url + "/osmand"
    # What Traccar Client then sends, with the identifier the code gave it.
    fix = {"id": setup["id"], "lat": "13.7462", "lon": "100.5348", "batt": "77"}
    fix["timestamp"] = str(int(time.time()))
    async with httpx.AsyncClient() as http:
        sent = await http.get(setup["url"], params=fix)
        assert sent.status_code == 200, sent.text
        await expect(a2_pin).not_to_have_attribute("data-gps", "none")

        await row.get_by_role("button", name="Crew page code").click()
        crew_link = re.compile("^" + re.escape(f"{screens.base_url}/crew#token="))
        await expect(code).to_have_attribute("data-link", crew_link)
        crew_url = await decode_qr(code.locator(".qr-code svg"), tmp_path, "crew")
        phone = await open_page("/crew", viewport=PHONE, is_mobile=True, has_touch=True)
        await phone.page.goto(crew_url)
        await expect(phone.page.locator("#crew-title")).to_have_text("Unit A2")
        assert "#token" not in phone.page.url  # the token left the address bar

        page.once("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
        await row.get_by_role("button", name="Unpair").click()
        await expect(row.get_by_test_id("phone-state")).to_have_text("not paired")
        refused = await http.get(
            setup["url"], params={**fix, "timestamp": str(int(time.time()) + 1)}
        )
        assert refused.status_code == 404
    assert tab.errors == [] and phone.errors == []
