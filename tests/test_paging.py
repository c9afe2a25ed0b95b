"""Lists that could grow past one answer page through everything: ``GET /bookings`` and
``GET /incidents`` give a page and the next page's cursor (``X-Next-Cursor`` and a
``Link`` header), never a list that silently stops at its limit; on both stacks."""

from __future__ import annotations

from typing import Any

import httpx

from dispatch.db.session import Database
from dispatch.models.enums import Mobility
from tests.helpers.rides import book_ride
from tests.helpers.world import World


async def _all_pages(
    client: httpx.AsyncClient, path: str, headers: dict[str, str], limit: int
) -> tuple[list[list[Any]], list[str]]:
    pages: list[list[Any]] = []
    links: list[str] = []
    params: dict[str, Any] = {"limit": limit}
    while True:
        reply = await client.get(path, params=params, headers=headers)
        assert reply.status_code == 200, reply.text
        pages.append(reply.json())
        cursor = reply.headers.get("X-Next-Cursor")
        if cursor is None:
            assert "Link" not in reply.headers
            return pages, links
        links.append(reply.headers["Link"])
        params = {"limit": limit, "cursor": cursor}


async def test_bookings_page_through_everything(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    made = [await book_ride(db, world, Mobility.AMBULATORY, 8 + i, 13.73) for i in range(7)]
    pages, links = await _all_pages(client, "/bookings", world.headers("care_a"), 3)
    assert [len(p) for p in pages] == [3, 3, 1]
    seen = [b["id"] for p in pages for b in p]
    assert seen == sorted(made, reverse=True)  # newest first, each once
    assert links[0].startswith("</bookings?") and links[0].endswith('>; rel="next"')
    # a booking made meanwhile does not shift the pages already given
    second = await client.get(
        "/bookings", params={"limit": 3, "cursor": str(seen[2])}, headers=world.headers("care_a")
    )
    await book_ride(db, world, Mobility.AMBULATORY, 16, 13.73)
    again = await client.get(
        "/bookings", params={"limit": 3, "cursor": str(seen[2])}, headers=world.headers("care_a")
    )
    assert again.json() == second.json()


async def test_incidents_page_through_everything(client: httpx.AsyncClient, world: World) -> None:
    made = []
    for i in range(5):
        body = {"lat": 13.74 + i / 1000, "lon": 100.53, "chief_complaint": "fall"}
        reply = await client.post("/incidents", json=body, headers=world.headers("dispatcher"))
        assert reply.status_code == 201, reply.text
        made.append(reply.json()["id"])
    pages, _links = await _all_pages(client, "/incidents", world.headers("dispatcher"), 2)
    assert [len(p) for p in pages] == [2, 2, 1]
    assert [i["id"] for p in pages for i in p] == sorted(made, reverse=True)
    default = await client.get("/incidents", headers=world.headers("dispatcher"))
    assert len(default.json()) == 5 and "X-Next-Cursor" not in default.headers


async def test_a_cursor_the_list_did_not_give_is_a_422_naming_it(
    client: httpx.AsyncClient, world: World
) -> None:
    for path, cursor in (("/bookings", "abc"), ("/incidents", "12"), ("/incidents", "x.1")):
        reply = await client.get(
            path, params={"cursor": cursor}, headers=world.headers("supervisor")
        )
        assert reply.status_code == 422, (path, cursor, reply.text)
        assert reply.json()["detail"][0]["loc"] == ["query", "cursor"]
    too_many = await client.get(
        "/bookings", params={"limit": 5000}, headers=world.headers("supervisor")
    )
    assert too_many.status_code == 422 and too_many.json()["detail"][0]["loc"] == ["query", "limit"]
