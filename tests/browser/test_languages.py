"""Every screen in Thai, Vietnamese and English, in a real Chromium on both stacks: after
switching language, no visible text is still an English phrase of the dictionary (a text
drawn by a script that forgot to translate it), the page says its language, and a
screenshot of each screen in each language is kept as a test artifact
(``.artifacts/screenshots/<screen>-<lang>-<stack>.png``)."""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from dispatch.web import STATIC_DIR
from tests.helpers.browser import PHONE, OpenPage, Screens, live_control, login, screenshot

try:
    from playwright.async_api import expect
except ImportError:  # the browser fixture reports it: a skip, or a failure in CI
    expect = None

pytestmark = pytest.mark.slow
I18N = STATIC_DIR / "i18n"
ENGLISH: dict[str, str] = json.loads((I18N / "en.json").read_text(encoding="utf-8"))

#: Every visible text node of the page, trimmed (hidden panels and closed lists excluded).
VISIBLE_TEXTS = """() => {
  const out = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const text = node.textContent.trim();
    const parent = node.parentElement;
    if (!text || !parent || parent.closest("[hidden], script, style, option")) continue;
    if (!parent.checkVisibility()) continue;
    out.push(text);
  }
  return out;
}"""


def _untranslated(lang: str) -> set[str]:
    """English phrases that have another text in ``lang`` (technical terms excluded)."""
    other: dict[str, str] = json.loads((I18N / f"{lang}.json").read_text(encoding="utf-8"))
    return {
        text
        for key, text in ENGLISH.items()
        if other.get(key) != text and re.search(r"[a-z]{4}", text) and "{" not in text
    }


async def _control(open_page: OpenPage, _screens: Screens) -> Any:
    return await live_control(open_page)


async def _crew(open_page: OpenPage, _screens: Screens) -> Any:
    tab = await open_page("/crew", viewport=PHONE, is_mobile=True, has_touch=True)
    await login(tab.page, "driver")
    await expect(tab.page.get_by_test_id("job")).to_be_visible()
    return tab


async def _care(open_page: OpenPage, _screens: Screens) -> Any:
    tab = await open_page("/care")
    await login(tab.page, "carecentre")
    await expect(tab.page.get_by_test_id("files")).to_be_visible()
    await expect(tab.page.locator("#book-form select[name=patient_id] option")).not_to_have_count(0)
    return tab


async def _station(open_page: OpenPage, screens: Screens) -> Any:
    """Pathumwan Station's screen with an offer waiting (to its unit A1) and its units."""
    made = await screens.api(
        "POST", "/incidents", json={"lat": 13.7446, "lon": 100.5296, "chief_complaint": "fall"}
    )
    assert made.status_code == 201, made.text
    body = {"vehicle_id": screens.vehicle_ids["A1"]}
    offered = await screens.api("POST", f"/incidents/{made.json()['id']}/offers", json=body)
    assert offered.status_code == 201, offered.text
    tab = await open_page("/station", viewport=PHONE, is_mobile=True, has_touch=True)
    await login(tab.page, "station1")
    await expect(tab.page.locator(".offer-card")).to_have_count(1)
    await expect(tab.page.get_by_test_id("station-units").locator("li")).not_to_have_count(0)
    return tab


SCREENS: dict[str, Callable[[OpenPage, Screens], Awaitable[Any]]] = {
    "control": _control,
    "crew": _crew,
    "care": _care,
    "station": _station,
}


@pytest.mark.parametrize("screen", sorted(SCREENS))
async def test_every_screen_speaks_thai_vietnamese_and_english(
    open_page: OpenPage, screens: Screens, screen: str
) -> None:
    tab = await SCREENS[screen](open_page, screens)
    page = tab.page
    for lang in ("th", "vi", "en"):
        await page.select_option("#lang", lang)
        await expect(page.locator("html")).to_have_attribute("lang", lang)
        title = json.loads((I18N / f"{lang}.json").read_text(encoding="utf-8"))[f"{screen}.title"]
        await expect(page).to_have_title(title)
        if lang != "en":
            english = _untranslated(lang)
            shown = await page.evaluate(VISIBLE_TEXTS)
            assert len(shown) > 15, shown  # the screen's content, not an empty page
            assert [text for text in shown if text in english] == [], (screen, lang)
        await screenshot(page, f"{screen}-{lang}", screens.stack)
    assert tab.errors == []
