"""The offline map a fresh clone's demo shows, in a real Chromium on both stacks: the demo's
own road extract (shipped in the package, no ../shared needed) drawn with its street names
in the screen's language, never two names on top of each other, names under the pins, a
metric scale and the OpenStreetMap credit."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest

from dispatch.demo import DEMO_MAP
from tests.helpers.browser import OpenPage, Screens, demo_screens, live_control, screenshot
from tests.helpers.stacks import Stack

try:
    from playwright.async_api import expect
except ImportError:  # the browser fixture reports it: a skip, or a failure in CI
    expect = None

pytestmark = pytest.mark.slow
THAI = re.compile(r"[\u0E00-\u0E7F]")


@pytest.fixture(scope="module")
async def screens(
    migrated_stack: Stack, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Screens]:
    """The demo as ``dispatch demo`` runs it on a fresh clone: the shipped road map."""
    cache = tmp_path_factory.mktemp("graph-cache")
    async with demo_screens(
        migrated_stack, tmp_path_factory, osm_path=DEMO_MAP, cache_dir=cache
    ) as screens:
        yield screens


async def _name_boxes(page: Any) -> list[dict[str, Any]]:
    boxes: list[dict[str, Any]] = await page.eval_on_selector_all(
        "[data-testid=street-name]",
        """nodes => nodes.map(n => {
          const r = n.getBoundingClientRect();
          return {text: n.textContent, left: r.left, right: r.right, top: r.top,
                  bottom: r.bottom};
        })""",
    )
    return boxes


def _overlapping(boxes: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [
        (a["text"], b["text"])
        for i, a in enumerate(boxes)
        for b in boxes[i + 1 :]
        if a["left"] < b["right"]
        and b["left"] < a["right"]
        and a["top"] < b["bottom"]
        and b["top"] < a["bottom"]
    ]


async def test_the_offline_map_names_its_streets_in_the_screens_language(
    open_page: OpenPage, screens: Screens
) -> None:
    tab = await live_control(open_page)
    page = tab.page
    the_map = page.locator("#map")
    await expect(the_map).to_have_attribute("data-map-mode", "offline")
    await expect(the_map).to_have_attribute("data-roads", re.compile(r"^[1-9]\d{2,}$"))
    await expect(the_map).to_have_attribute("data-street-names", re.compile(r"^([5-9]|\d{2,})$"))
    labels = (await screens.api("GET", "/map/roads")).json()["labels"]
    in_english = {label["names"].get("en") or label["names"]["local"] for label in labels}
    in_thai = {label["names"].get("th") or label["names"]["local"] for label in labels}
    names = page.get_by_test_id("street-name")
    english = await names.all_text_contents()
    assert set(english) <= in_english
    # (A road with no English name keeps its Thai one; most have one.)
    assert sum(1 for text in english if not THAI.search(text)) > len(english) / 2
    boxes = await _name_boxes(page)
    assert len(boxes) >= 5 and _overlapping(boxes) == []
    # A metric scale, and the credit the extract's licence asks for on every map.
    await expect(page.locator(".leaflet-control-scale-line")).to_have_text(re.compile(r"^\d+ k?m$"))
    await expect(page.locator(".leaflet-control-attribution")).to_contain_text(
        "© OpenStreetMap contributors"
    )
    # Street names lie under the pins: a pin is never hidden by a name.
    names_z, pins_z = await page.evaluate(
        """() => [getComputedStyle(document.querySelector('.leaflet-streetNames-pane')).zIndex,
                 getComputedStyle(document.querySelector('.leaflet-marker-pane')).zIndex]"""
    )
    assert int(names_z) < int(pins_z)
    # Hospitals are named on the map, in the screen's language.
    hospitals = (await screens.api("GET", "/hospitals")).json()
    chula = next(h for h in hospitals if h["name"].startswith("King Chulalongkorn"))
    chula_pin = page.locator(f'.pin-hospital[data-hospital="{chula["id"]}"]')
    await expect(chula_pin).to_contain_text("King Chulalongkorn Memorial")
    await screenshot(page, "offline-map-en", screens.stack)

    await page.select_option("#lang", "th")
    await expect(names.first).to_have_text(THAI)
    thai = await names.all_text_contents()
    assert set(thai) <= in_thai and len(thai) >= 5
    assert sum(1 for text in thai if THAI.search(text)) > len(thai) / 2
    assert _overlapping(await _name_boxes(page)) == []
    await expect(chula_pin).to_contain_text(chula["name_local"])
    await screenshot(page, "offline-map-th", screens.stack)

    # The view the demo opens at on a 1600x900 wall screen (zoom 13) is named too.
    small = await live_control(open_page, viewport={"width": 1600, "height": 900})
    small_map = small.page.locator("#map")
    await expect(small_map).to_have_attribute("data-street-names", re.compile(r"^([5-9]|\d{2,})$"))
    assert _overlapping(await _name_boxes(small.page)) == []

    # Zoomed out to the city the names would hide the roads: none are written.
    await page.evaluate("() => window.dispatchScreens.control.map.map.setZoom(12)")
    await expect(the_map).to_have_attribute("data-street-names", "0")
    await expect(names).to_have_count(0)
    assert tab.errors == []
