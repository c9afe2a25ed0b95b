"""What the screens stand on, without a browser: pages and shipped files, the client
configuration, the translations, and the road network for the offline map."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from pydantic import ValidationError

from dispatch.app import create_app
from dispatch.config import Settings
from dispatch.maps import graph_lines
from dispatch.routing.graph import build_graph
from dispatch.routing.speeds import SpeedTable
from dispatch.web import STATIC_DIR
from tests.helpers.stacks import Stack
from tests.helpers.world import World
from tests.routing.osmfixture import at, write_osm

I18N = STATIC_DIR / "i18n"


@pytest.mark.parametrize("path", ["/control", "/crew", "/care", "/station", "/screens"])
async def test_pages_load_only_their_own_scripts(client: httpx.AsyncClient, path: str) -> None:
    page = await client.get(path)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "connect-src 'self'" in policy
    sources = re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', page.text)
    assert sources and all(s.startswith(("/static/", "data:")) for s in sources), sources
    for source in sources:
        if source.startswith("/static/"):
            assert (await client.get(source)).status_code == 200, source


async def test_leaflet_is_shipped_with_its_licence(client: httpx.AsyncClient) -> None:
    script = await client.get("/static/vendor/leaflet/leaflet.js")
    assert script.status_code == 200 and "Leaflet 1.9.4" in script.text
    licence = await client.get("/static/vendor/leaflet/LICENSE")
    assert "BSD 2-Clause License" in licence.text
    assert (await client.get("/static/vendor/leaflet/images/marker-icon.png")).status_code == 200
    assert (await client.get("/")).headers["location"] == "/screens"


async def test_client_configuration_follows_the_settings(stack: Stack) -> None:
    app = create_app(
        stack.settings(
            tile_url="https://tiles.example.org/{z}/{x}/{y}.png",
            timezone="Asia/Ho_Chi_Minh",
            map_local_language="vi",
        )
    )
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http,
    ):
        config = (await http.get("/web/config.json")).json()
    assert config == {
        "tile_url": "https://tiles.example.org/{z}/{x}/{y}.png",
        "attribution": "© OpenStreetMap contributors",
        "timezone": "Asia/Ho_Chi_Minh",
        "stale_after_s": 120,
        "languages": ["en", "th", "vi"],
        "map_local_language": "vi",
    }


def test_tile_url_default_and_validation(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().tile_url == "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
    monkeypatch.setenv("DISPATCH_TILE_URL", "")
    assert Settings().tile_url == ""  # always the offline map
    for bad in ("https://tiles.example.org/tile.png", "ftp://x/{z}/{x}/{y}.png"):
        with pytest.raises(ValidationError, match="tile"):
            Settings(tile_url=bad)


def _keys_used_in_scripts() -> set[str]:
    used: set[str] = set()
    for script in (STATIC_DIR / "js").glob("*.js"):
        used.update(re.findall(r"\bt\(\"([a-z_]+\.[a-z_.]+)\"", script.read_text()))
    for page in STATIC_DIR.glob("*.html"):
        used.update(re.findall(r'data-i18n(?:-placeholder|-title)?="([^"]+)"', page.read_text()))
    return used


def test_every_language_has_every_text() -> None:
    english = json.loads((I18N / "en.json").read_text())
    missing = _keys_used_in_scripts() - set(english)
    assert not missing, f"texts used but not in en.json: {sorted(missing)}"
    for code in ("th", "vi"):
        other = json.loads((I18N / f"{code}.json").read_text())
        assert set(other) == set(english), code
        untranslated = [k for k, v in other.items() if v == english[k] and re.search("[a-z]{4}", v)]
        # Only technical terms (GPS, ALS, …) may stay as in English.
        assert len(untranslated) <= 2, (code, untranslated)
        placeholders = {k: set(re.findall(r"\{\w+\}", v)) for k, v in english.items()}
        assert all(set(re.findall(r"\{\w+\}", other[k])) == p for k, p in placeholders.items())


def test_road_lines_chain_streets_between_junctions(tmp_path: Path) -> None:
    # a - b - c - e along one street, b - d a side street: b is a junction.
    nodes = {
        "a": (0.0, 0.0),
        "b": (100.0, 0.0),
        "c": (200.0, 0.0),
        "e": (300.0, 0.0),
        "d": (100.0, 100.0),
    }
    osm = write_osm(
        tmp_path / "map.osm",
        nodes,
        [(["a", "b", "c", "e"], {"highway": "primary"}), (["b", "d"], {"highway": "residential"})],
    )
    graph = build_graph(osm, SpeedTable())
    lines = graph_lines(graph)
    assert lines.source == "road_graph"
    point = {n: (round(at(x, y).lat, 5), round(at(x, y).lon, 5)) for n, (x, y) in nodes.items()}
    # Lines end at junctions and dead ends only; c, with two neighbours, is passed through.
    ends = [frozenset((line[0], line[-1])) for line in lines.lines]
    assert len(ends) == 3
    assert set(ends) == {
        frozenset((point[u], point[v])) for u, v in (("a", "b"), ("b", "d"), ("b", "e"))
    }
    [street] = [line for line in lines.lines if len(line) == 3]
    assert street[1] == point["c"]
    assert lines.bbox is not None and lines.bbox[0] < lines.bbox[2]


async def test_map_roads_endpoint(stack: Stack, world: World, tmp_path: Path) -> None:
    osm = write_osm(
        tmp_path / "map.osm",
        {"a": (0, 0), "b": (500, 0), "c": (500, 500)},
        [
            (
                ["a", "b", "c"],
                {"highway": "primary", "name": "ถนนพญาไท", "name:en": "Phaya Thai Road"},
            )
        ],
    )
    plain: FastAPI = create_app(stack.settings())
    mapped: FastAPI = create_app(stack.settings(osm_path=osm, cache_dir=tmp_path / "cache"))
    results = []
    for app in (plain, mapped):
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http,
        ):
            assert (await http.get("/map/roads")).status_code == 401
            results.append((await http.get("/map/roads", headers=world.headers("driver"))).json())
    assert results[0] == {"source": "none", "bbox": None, "lines": [], "labels": []}
    assert results[1]["source"] == "road_graph"
    [line] = results[1]["lines"]
    assert len(line) == 3 and line[0][0] == pytest.approx(13.75, abs=1e-5)
    # The street's name, once (1 km is under two spacings), at its middle: the corner at b.
    [label] = results[1]["labels"]
    assert label["names"] == {"local": "ถนนพญาไท", "en": "Phaya Thai Road"}
    assert [label["lat"], label["lon"]] == pytest.approx(line[1], abs=1e-5)
