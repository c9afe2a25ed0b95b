"""Tiered response, on both stacks: a red call whose first unit is BLS also gets the
nearest ALS unit proposed (``backup``), until an ALS unit is on the call; other levels
and the setting turned off get none. World: A1 (ALS) 1.5 km north of the call, B1 (BLS)
0.2 km."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI

from dispatch.app import create_app
from dispatch.db.session import Database
from dispatch.routing.base import LatLon
from dispatch.routing.ranking import CallNeeds, RankedUnit, UnitCandidate, needs_advanced_backup
from tests.helpers.stacks import Stack
from tests.helpers.world import World, place

SCENE = {"lat": 13.7460, "lon": 100.5340}


async def _recommend(http: httpx.AsyncClient, world: World, incident_id: int) -> dict[str, Any]:
    answer = await http.post(
        f"/incidents/{incident_id}/recommendations", headers=world.headers("dispatcher")
    )
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


async def _call(http: httpx.AsyncClient, world: World, complaint: str, triage: str) -> int:
    body = {**SCENE, "chief_complaint": complaint, "triage": triage}
    made = await http.post("/incidents", json=body, headers=world.headers("dispatcher"))
    assert made.status_code == 201, made.text
    return int(made.json()["id"])


async def _send(http: httpx.AsyncClient, world: World, incident_id: int, sign: str) -> None:
    sent = await http.post(
        f"/incidents/{incident_id}/assignments",
        json={"vehicle_id": world.vehicle_ids[sign]},
        headers=world.headers("dispatcher"),
    )
    assert sent.status_code == 201, sent.text


async def _placed(db: Database, world: World) -> None:
    await place(db, world.vehicle_ids["A1"], 13.7600, 100.5340)
    await place(db, world.vehicle_ids["B1"], 13.7480, 100.5340)


async def test_a_red_call_sent_bls_first_gets_the_nearest_als_too(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    await _placed(db, world)
    incident = await _call(client, world, "fever", "red")
    rec = await _recommend(client, world, incident)
    assert rec["candidates"][0]["call_sign"] == "B1"
    assert rec["backup"]["call_sign"] == "A1" and rec["backup"]["kind"] == "als"
    await _send(client, world, incident, "B1")
    again = await _recommend(client, world, incident)  # B1 is on it: still no ALS
    assert again["backup"]["call_sign"] == "A1"
    await _send(client, world, incident, "A1")
    assert (await _recommend(client, world, incident))["backup"] is None


async def test_other_levels_and_an_als_first_get_no_backup(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    await _placed(db, world)
    yellow = await _call(client, world, "fever", "yellow")
    assert (await _recommend(client, world, yellow))["backup"] is None
    await place(db, world.vehicle_ids["A1"], 13.7462, 100.5340)  # A1 now nearest
    red = await _call(client, world, "fever", "red")
    rec = await _recommend(client, world, red)
    assert rec["candidates"][0]["call_sign"] == "A1" and rec["backup"] is None


async def test_the_setting_turns_it_off(stack: Stack, db: Database, world: World) -> None:
    await _placed(db, world)
    app: FastAPI = create_app(stack.settings(tiered_als_levels=[]))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            incident = await _call(http, world, "fever", "red")
            rec = await _recommend(http, world, incident)
    assert rec["candidates"][0]["call_sign"] == "B1" and rec["backup"] is None


async def test_a_red_call_gets_the_nearest_unit_first_and_without_tiering_the_als(
    stack: Stack, db: Database, world: World
) -> None:
    """A1 (ALS) 0.4 km and B1 (BLS) 0.2 km from the scene: a few seconds apart. Tiered,
    B1 goes first with no penalty and A1 follows as backup; not tiered, B1 pays the BLS
    penalty (+180 s) and A1 goes first."""
    await place(db, world.vehicle_ids["A1"], 13.7500, 100.5340)
    await place(db, world.vehicle_ids["B1"], 13.7480, 100.5340)
    firsts = {}
    for levels in (["red"], []):
        app: FastAPI = create_app(stack.settings(tiered_als_levels=levels))
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
                arrest = await _call(http, world, "cardiac_arrest", "red")
                rec = await _recommend(http, world, arrest)
        by_sign = {c["call_sign"]: c for c in rec["candidates"]}
        assert by_sign["B1"]["eta_s"] < by_sign["A1"]["eta_s"] < by_sign["B1"]["eta_s"] + 180
        firsts[bool(levels)] = (rec["candidates"][0]["call_sign"], by_sign["B1"])
    sign, b1 = firsts[True]
    assert sign == "B1" and b1["score_s"] == b1["eta_s"]
    sign, b1 = firsts[False]
    assert sign == "A1" and b1["score_s"] == b1["eta_s"] + 180
    assert any("BLS unit for an ALS call (+180 s)" in r for r in b1["reasons"])


def _ranked(kind: str) -> RankedUnit:
    unit = UnitCandidate(
        vehicle_id=1,
        call_sign="X",
        kind=kind,
        state="available",
        position=LatLon(0, 0),
        position_source="gps",
        gps_age_s=5.0,
        seats_stretcher=1,
    )
    return RankedUnit(candidate=unit, rank=1, eta_s=60, score_s=60, distance_m=0, stale=False)


def test_when_a_backup_is_needed() -> None:
    red = CallNeeds(LatLon(0, 0), "red", "als", needs_stretcher=False)
    green = CallNeeds(LatLon(0, 0), "green", "any", needs_stretcher=False)
    levels = frozenset({"red"})
    assert needs_advanced_backup(red, _ranked("bls"), levels)
    assert needs_advanced_backup(red, _ranked("motorbike"), levels)
    assert not needs_advanced_backup(red, _ranked("als"), levels)
    assert not needs_advanced_backup(red, None, levels)
    assert not needs_advanced_backup(green, _ranked("bls"), levels)
    assert not needs_advanced_backup(red, _ranked("bls"), frozenset())
    assert needs_advanced_backup(red, _ranked("als"), levels, ["bls"])  # BLS sent, no ALS
    assert not needs_advanced_backup(red, _ranked("bls"), levels, ["bls", "als"])
