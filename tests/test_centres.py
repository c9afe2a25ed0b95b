"""Centres in a hierarchy (issue 19), on both stacks: a district centre sees and dispatches
only its own area; the province above sees both districts; another district's call
answers 404 like a missing one; a call is handed over (it moves, with its pending offer
withdrawn and the hand-over in its history), and mutual aid lets a neighbour's units go.

The world's centre is the province; District 1 and District 2 below it each have one
station with one BLS unit (X1, X2)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from dispatch.db.session import Database
from tests.helpers.stations import DISTRICT_PLACES, add_districts
from tests.helpers.world import World

CALL = {"chief_complaint": "seizure"}
D1_PLACE, D2_PLACE = DISTRICT_PLACES[1], DISTRICT_PLACES[2]


@pytest.fixture
async def districts(db: Database, world: World) -> dict[str, int]:
    return await add_districts(db, world)


async def _json(client: httpx.AsyncClient, world: World, who: str, method: str, path: str,
                **body: Any) -> Any:  # fmt: skip
    answer = await client.request(method, path, json=body or None, headers=world.headers(who))
    assert answer.status_code in (200, 201), answer.text
    return answer.json()


async def test_a_district_sees_and_takes_only_its_own_calls(
    client: httpx.AsyncClient, world: World, districts: dict[str, int]
) -> None:
    mine = await _json(client, world, "disp1", "POST", "/incidents", **CALL, **D1_PLACE)
    theirs = await _json(client, world, "disp2", "POST", "/incidents", **CALL, **D2_PLACE)
    assert mine["organisation_id"] == districts["d1"]
    listed = await _json(client, world, "disp1", "GET", "/incidents")
    assert [i["id"] for i in listed] == [mine["id"]]
    for method, path, body in (
        ("GET", f"/incidents/{theirs['id']}", None),
        ("PATCH", f"/incidents/{theirs['id']}", {"notes": "x"}),
        ("POST", f"/incidents/{theirs['id']}/recommendations", None),
        ("POST", f"/incidents/{theirs['id']}/assignments", {"vehicle_id": districts["X1"]}),
        ("POST", f"/incidents/{theirs['id']}/offers", None),
        ("GET", f"/incidents/{theirs['id']}/offers", None),
        ("POST", f"/incidents/{theirs['id']}/cancel", {"reason": "x"}),
        ("POST", f"/incidents/{theirs['id']}/handover", {"centre_id": districts["d1"],
                                                         "reason": "other"}),
    ):  # fmt: skip
        answer = await client.request(method, path, json=body, headers=world.headers("disp1"))
        assert answer.status_code == 404, (method, path, answer.text)
    # Only its own units are recommended, listed, and may be sent.
    ranked = await _json(client, world, "disp1", "POST", f"/incidents/{mine['id']}/recommendations")
    assert [c["call_sign"] for c in ranked["candidates"]] == ["X1"]
    units = await _json(client, world, "disp1", "GET", "/vehicles")
    assert [v["call_sign"] for v in units] == ["X1"]
    refused = await client.post(
        f"/incidents/{mine['id']}/assignments",
        json={"vehicle_id": districts["X2"]},
        headers=world.headers("disp1"),
    )
    assert refused.status_code == 409 and "mutual aid" in refused.text
    # The province sees both districts' calls and units.
    everything = await _json(client, world, "dispatcher", "GET", "/incidents")
    assert {i["id"] for i in everything} == {mine["id"], theirs["id"]}
    fleet = {v["call_sign"] for v in await _json(client, world, "dispatcher", "GET", "/vehicles")}
    assert {"X1", "X2", "A1"} <= fleet
    await _json(client, world, "dispatcher", "GET", f"/incidents/{theirs['id']}")


async def test_a_call_is_handed_over_to_the_neighbouring_district(
    client: httpx.AsyncClient, world: World, districts: dict[str, int]
) -> None:
    call = await _json(client, world, "disp1", "POST", "/incidents", **CALL, **D2_PLACE)
    offer = await _json(client, world, "disp1", "POST", f"/incidents/{call['id']}/offers")
    assert offer["vehicle_id"] == districts["X1"]
    bad = await client.post(
        f"/incidents/{call['id']}/handover",
        json={"centre_id": world.care_a_id, "reason": "outside_area"},
        headers=world.headers("disp1"),
    )
    assert bad.status_code == 422 and "centre_id" in bad.text
    moved = await _json(
        client,
        world,
        "disp1",
        "POST",
        f"/incidents/{call['id']}/handover",
        centre_id=districts["d2"],
        reason="outside_area",
    )
    assert moved["organisation_id"] == districts["d2"]
    gone = await client.get(f"/incidents/{call['id']}", headers=world.headers("disp1"))
    assert gone.status_code == 404
    withdrawn = await _json(client, world, "dispatcher", "GET", f"/offers/{offer['id']}")
    assert withdrawn["status"] == "withdrawn" and "District 2" in withdrawn["note"]
    # District 2 now has it and sends its own unit.
    ranked = await _json(client, world, "disp2", "POST", f"/incidents/{call['id']}/recommendations")
    assert [c["call_sign"] for c in ranked["candidates"]] == ["X2"]
    history = await _json(
        client, world, "admin", "GET", f"/audit?entity_type=incidents&entity_id={call['id']}"
    )
    handed = [e for e in history if e["action"] == "incident.handed_over"]
    assert len(handed) == 1
    assert handed[0]["before"] == {"organisation_id": districts["d1"]}
    assert handed[0]["after"]["organisation_id"] == districts["d2"]


async def test_mutual_aid_lets_a_neighbour_s_unit_go(
    client: httpx.AsyncClient, world: World, districts: dict[str, int]
) -> None:
    call = await _json(client, world, "disp1", "POST", "/incidents", **CALL, **D2_PLACE)
    aid = await _json(
        client, world, "disp1", "PUT", f"/incidents/{call['id']}/mutual-aid", enabled=True
    )
    assert aid["mutual_aid"] is True
    ranked = await _json(client, world, "disp1", "POST", f"/incidents/{call['id']}/recommendations")
    assert ranked["candidates"][0]["call_sign"] == "X2"  # the neighbour's unit is nearer
    sent = await client.post(
        f"/incidents/{call['id']}/assignments",
        json={"vehicle_id": districts["X2"]},
        headers=world.headers("disp1"),
    )
    assert sent.status_code == 201, sent.text


async def test_the_hierarchy_refuses_loops_and_other_kinds(
    client: httpx.AsyncClient, world: World, districts: dict[str, int]
) -> None:
    loop = await client.patch(
        f"/organisations/{world.centre_id}",
        json={"parent_id": districts["d1"]},
        headers=world.headers("admin"),
    )
    assert loop.status_code == 422 and "parent_id" in loop.text
    care = await client.post(
        "/organisations",
        json={"name": "Care C", "kind": "care_centre", "parent_id": world.centre_id},
        headers=world.headers("admin"),
    )
    assert care.status_code == 422
    by_dispatcher = await client.patch(
        f"/organisations/{districts['d1']}",
        json={"level": "district"},
        headers=world.headers("dispatcher"),
    )
    assert by_dispatcher.status_code == 403
    sub = await client.post(
        "/organisations",
        json={
            "name": "Sub-district 1a",
            "kind": "dispatch_centre",
            "parent_id": districts["d1"],
            "level": "subdistrict",
        },
        headers=world.headers("admin"),
    )
    assert sub.status_code == 201, sub.text
    assert sub.json()["parent_id"] == districts["d1"]
