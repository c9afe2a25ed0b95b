"""A call from intake to closing, through the HTTP API as a control room uses it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from dispatch.db.session import Database
from dispatch.models.enums import VehicleState
from tests.helpers.world import World, place

SCENE = {"lat": 13.7460, "lon": 100.5340}


async def call(client: httpx.AsyncClient, world: World, **body: Any) -> dict[str, Any]:
    response = await client.post(
        "/incidents",
        json={**SCENE, "chief_complaint": "cardiac_arrest", **body},
        headers=world.headers("dispatcher"),
    )
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def audit_actions(client: httpx.AsyncClient, world: World) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = (
        await client.get("/audit?limit=1000", headers=world.headers("admin"))
    ).json()
    return entries


# --- intake ------------------------------------------------------------------------------


async def test_complaint_suggests_triage_capability_and_stretcher(
    client: httpx.AsyncClient, world: World
) -> None:
    incident = await call(client, world)
    assert incident["triage"] == "red" and incident["triage_suggested"] == "red"
    assert incident["required_capability"] == "als" and incident["needs_stretcher"] is True
    assert incident["complaint_label"] == "Cardiac / respiratory arrest"
    minor = await call(client, world, chief_complaint="minor_injury", lat=13.80)
    assert (minor["triage"], minor["required_capability"]) == ("green", "bls")
    table = (await client.get("/complaints", headers=world.headers("dispatcher"))).json()
    assert {"cardiac_arrest", "stroke", "other"} <= {c["code"] for c in table}


async def test_triage_override_is_kept_and_audited(client: httpx.AsyncClient, world: World) -> None:
    incident = await call(
        client,
        world,
        chief_complaint="fall",
        triage="red",
        triage_override_reason="elderly, head injury, on anticoagulants",
    )
    assert incident["triage"] == "red" and incident["triage_suggested"] == "green"
    overrides = [
        e for e in await audit_actions(client, world) if e["action"] == "incident.triage_overridden"
    ]
    assert overrides[0]["before"] == {"triage": "green"}
    assert overrides[0]["after"]["triage"] == "red"
    assert overrides[0]["actor"] == "user:dispatcher"
    # Later re-triage by PATCH is audited too.
    patched = await client.patch(
        f"/incidents/{incident['id']}",
        json={"triage": "yellow"},
        headers=world.headers("dispatcher"),
    )
    assert patched.json()["triage"] == "yellow"
    overrides = [
        e for e in await audit_actions(client, world) if e["action"] == "incident.triage_overridden"
    ]
    assert len(overrides) == 2


async def test_unknown_complaint_lists_the_codes(client: httpx.AsyncClient, world: World) -> None:
    response = await client.post(
        "/incidents",
        json={**SCENE, "chief_complaint": "dragon_bite"},
        headers=world.headers("dispatcher"),
    )
    assert response.status_code == 422
    error = response.json()["detail"][0]
    assert error["loc"] == ["body", "chief_complaint"]
    assert "cardiac_arrest" in error["msg"]


async def test_possible_duplicates_are_hinted(client: httpx.AsyncClient, world: World) -> None:
    first = await call(client, world, chief_complaint="road_traffic_accident")
    near = await call(client, world, chief_complaint="road_traffic_accident", lat=13.7461)
    far = await call(client, world, chief_complaint="road_traffic_accident", lat=13.7600)
    assert [d["incident_id"] for d in near["possible_duplicates"]] == [first["id"]]
    assert 0 < near["possible_duplicates"][0]["distance_m"] < 20
    assert far["possible_duplicates"] == []


async def test_location_outside_the_service_area(stack: Any, world: World) -> None:
    from dispatch.app import create_app

    app = create_app(stack.settings(service_area="13.60,100.40,13.90,100.70"))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            inside = await http.post(
                "/incidents",
                json={**SCENE, "chief_complaint": "fever"},
                headers=world.headers("dispatcher"),
            )
            outside = await http.post(
                "/incidents",
                json={"lat": 10.77, "lon": 106.70, "chief_complaint": "fever"},
                headers=world.headers("dispatcher"),
            )
    assert inside.status_code == 201
    assert outside.status_code == 422
    assert outside.json()["detail"][0]["loc"] == ["body", "lat"]
    assert "outside the service area" in outside.json()["detail"][0]["msg"]


# --- recommendation ----------------------------------------------------------------------


async def test_recommendation_ranks_by_eta_with_reasons_and_is_audited(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    await place(db, world.vehicle_ids["A1"], 13.7600, 100.5340)  # ~1.5 km
    await place(db, world.vehicle_ids["B1"], 13.7480, 100.5340)  # ~0.2 km
    incident = await call(client, world)
    response = await client.post(
        f"/incidents/{incident['id']}/recommendations", headers=world.headers("dispatcher")
    )
    assert response.status_code == 200
    rec = response.json()
    signs = [c["call_sign"] for c in rec["candidates"]]
    assert signs == ["B1", "A1"]  # nearest first (tiered response: the ALS unit follows)
    b1, a1 = rec["candidates"]
    assert b1["eta_s"] < a1["eta_s"]
    assert b1["score_s"] == b1["eta_s"]
    assert any("nearest first, an ALS unit follows" in r for r in b1["reasons"])
    assert rec["backup"]["call_sign"] == "A1"
    # Straight north of the call: 0.014° and 0.002° of latitude (111.2 km a degree).
    assert a1["distance_m"] == pytest.approx(1557, rel=0.01)
    assert b1["distance_m"] == pytest.approx(222, rel=0.01)
    assert {e["call_sign"]: e["reason"] for e in rec["excluded"]} == {}
    assert rec["off_duty"] == 1  # T1
    entry = next(
        e for e in await audit_actions(client, world) if e["action"] == "recommendation.made"
    )
    assert [c["call_sign"] for c in entry["after"]["candidates"]] == ["B1", "A1"]
    assert entry["after"]["candidates"][0]["eta_s"] == b1["eta_s"]
    # Same state, same answer.
    again = await client.post(
        f"/incidents/{incident['id']}/recommendations", headers=world.headers("dispatcher")
    )
    assert [c["eta_s"] for c in again.json()["candidates"]] == [
        c["eta_s"] for c in rec["candidates"]
    ]


async def test_recommendation_length_can_be_asked_for(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    await place(db, world.vehicle_ids["A1"], 13.7600, 100.5340)
    await place(db, world.vehicle_ids["B1"], 13.7480, 100.5340)
    incident = await call(client, world)
    path = f"/incidents/{incident['id']}/recommendations"
    one = await client.post(path, params={"limit": 1}, headers=world.headers("dispatcher"))
    assert [c["call_sign"] for c in one.json()["candidates"]] == ["B1"]
    for bad in ("0", "1001", "many"):
        refused = await client.post(
            path, params={"limit": bad}, headers=world.headers("dispatcher")
        )
        assert refused.status_code == 422 and refused.json()["detail"][0]["loc"] == [
            "query",
            "limit",
        ]


async def test_busy_units_are_excluded_and_stale_ones_flagged(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    await place(db, world.vehicle_ids["A1"], 13.7470, 100.5340, age_s=900)
    await place(db, world.vehicle_ids["B1"], 13.7480, 100.5340)
    first = await call(client, world)
    taken = await client.post(
        f"/incidents/{first['id']}/assignments",
        json={"vehicle_id": world.vehicle_ids["B1"]},
        headers=world.headers("dispatcher"),
    )
    assert taken.status_code == 201
    second = await call(client, world, lat=13.80)
    rec = (
        await client.post(
            f"/incidents/{second['id']}/recommendations", headers=world.headers("dispatcher")
        )
    ).json()
    assert [c["call_sign"] for c in rec["candidates"]] == ["A1"]
    assert rec["candidates"][0]["stale"] is True
    assert rec["excluded"] == [
        {
            "vehicle_id": world.vehicle_ids["B1"],
            "call_sign": "B1",
            "reason": f"busy with incident {first['id']}",
        }
    ]


async def test_a_quiet_phone_at_its_station_is_a_parked_unit_not_a_stale_one(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    """Central station is at (13.74, 100.53). A1 available 30 m from it with a 15-minute-old
    fix: parked, no penalty; so is A1 back in service there but still "returning" (crews
    seldom say they have arrived). The same fix 900 m away is stale, returning or not."""
    incident = await call(client, world)
    path = f"/incidents/{incident['id']}/recommendations"

    async def a1() -> dict[str, Any]:
        answer = await client.post(path, headers=world.headers("dispatcher"))
        assert answer.status_code == 200, answer.text
        found: dict[str, Any] = next(
            c for c in answer.json()["candidates"] if c["call_sign"] == "A1"
        )
        return found

    await place(db, world.vehicle_ids["A1"], 13.7402, 100.5301, age_s=900)
    parked = await a1()
    assert parked["stale"] is False and parked["score_s"] == parked["eta_s"]
    assert any("parked at its base, last fix 15.0 min ago" in r for r in parked["reasons"])
    await place(db, world.vehicle_ids["A1"], 13.7480, 100.5340, age_s=900)
    away = await a1()
    assert away["stale"] is True and away["score_s"] == away["eta_s"] + 60
    await place(db, world.vehicle_ids["A1"], 13.7402, 100.5301, age_s=900,
                state=VehicleState.RETURNING)  # fmt: skip
    assert (await a1())["stale"] is False
    await place(db, world.vehicle_ids["A1"], 13.7480, 100.5340, age_s=900,
                state=VehicleState.RETURNING)  # fmt: skip
    assert (await a1())["stale"] is True


async def test_returning_units_are_candidates(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    await place(db, world.vehicle_ids["A1"], 13.7470, 100.5340, state=VehicleState.RETURNING)
    incident = await call(client, world)
    rec = (
        await client.post(
            f"/incidents/{incident['id']}/recommendations", headers=world.headers("dispatcher")
        )
    ).json()
    a1 = next(c for c in rec["candidates"] if c["call_sign"] == "A1")
    assert a1["state"] == "returning" and "returning to station" in a1["reasons"]


# --- lifecycle ---------------------------------------------------------------------------


async def _assigned(client: httpx.AsyncClient, world: World, unit: str = "A1") -> tuple[int, int]:
    incident = await call(client, world)
    response = await client.post(
        f"/incidents/{incident['id']}/assignments",
        json={"vehicle_id": world.vehicle_ids[unit], "recommended_rank": 1},
        headers=world.headers("dispatcher"),
    )
    assert response.status_code == 201, response.text
    assert response.json()["recommended_rank"] == 1
    return incident["id"], response.json()["id"]


async def status(
    client: httpx.AsyncClient,
    world: World,
    assignment_id: int,
    new: str,
    who: str = "device:A1",
    **extra: Any,
) -> httpx.Response:
    return await client.post(
        f"/assignments/{assignment_id}/status",
        json={"status": new, **extra},
        headers=world.headers(who),
    )


FULL_RUN = [
    ("acknowledged", "dispatched", "dispatched"),
    ("en_route", "en_route", "dispatched"),
    ("on_scene", "on_scene", "on_scene"),
    ("at_patient", "on_scene", "on_scene"),
    ("left_scene", "transporting", "transporting"),
    ("at_destination", "at_destination", "transporting"),
    ("handed_over", "at_destination", "transporting"),
    ("back_in_service", "returning", "transporting"),  # until the dispatcher closes it
]


async def test_full_run_moves_unit_and_incident_and_keeps_both_times(
    client: httpx.AsyncClient, world: World
) -> None:
    incident_id, assignment_id = await _assigned(client, world)
    offline_at = datetime.now(UTC) - timedelta(minutes=1)
    for milestone, unit_state, incident_state in FULL_RUN:
        extra = {"at": offline_at.isoformat()} if milestone == "en_route" else {}
        sent = datetime.now(UTC)
        response = await status(client, world, assignment_id, milestone, **extra)
        answered = datetime.now(UTC)
        assert response.status_code == 200, (milestone, response.text)
        body = response.json()
        assert body["status"] == milestone
        # When it happened (the phone's time when it sends one) and when we heard of it.
        happened = datetime.fromisoformat(body[f"{milestone}_at"])
        heard = datetime.fromisoformat(body[f"{milestone}_received_at"])
        assert sent <= heard <= answered, milestone
        assert happened == (offline_at if milestone == "en_route" else heard), milestone
        vehicle = (
            await client.get(
                f"/vehicles/{world.vehicle_ids['A1']}", headers=world.headers("dispatcher")
            )
        ).json()
        assert vehicle["state"] == unit_state, milestone
        incident = (
            await client.get(f"/incidents/{incident_id}", headers=world.headers("dispatcher"))
        ).json()
        assert incident["status"] == incident_state, milestone
    final = (
        await client.get(f"/assignments/{assignment_id}", headers=world.headers("dispatcher"))
    ).json()
    assert final["is_active"] is False
    en_route_at = datetime.fromisoformat(final["en_route_at"])
    en_route_received = datetime.fromisoformat(final["en_route_received_at"])
    assert en_route_at == offline_at  # the phone's time is kept
    assert en_route_received - en_route_at > timedelta(seconds=50)  # and when we heard of it
    closed = await client.post(
        f"/incidents/{incident_id}/close", headers=world.headers("dispatcher")
    )
    assert closed.status_code == 200 and closed.json()["status"] == "closed"


@pytest.mark.parametrize(
    ("path", "bad"),
    [
        ([], "on_scene"),
        ([], "back_in_service"),
        (["acknowledged"], "acknowledged_twice_is_fine"),
        (["en_route"], "acknowledged"),
        (["en_route", "on_scene"], "en_route"),
        (["en_route", "on_scene", "left_scene"], "handed_over"),
        (["cancelled"], "en_route"),
    ],
)
async def test_invalid_transitions_are_409_with_allowed_states(
    client: httpx.AsyncClient, world: World, path: list[str], bad: str
) -> None:
    _, assignment_id = await _assigned(client, world)
    for milestone in path:
        who = "dispatcher" if milestone == "cancelled" else "device:A1"
        assert (await status(client, world, assignment_id, milestone, who=who)).status_code == 200
    if bad == "acknowledged_twice_is_fine":
        repeat = await status(client, world, assignment_id, "acknowledged")
        assert repeat.status_code == 200  # phones resend; a repeat is a no-op
        return
    response = await status(client, world, assignment_id, bad)
    assert response.status_code == 409
    body = response.json()
    assert f"cannot become {bad.replace('_', ' ')}" in body["detail"]
    assert isinstance(body["allowed_next"], list)


async def test_en_route_without_ack_implies_acknowledged(
    client: httpx.AsyncClient, world: World
) -> None:
    _, assignment_id = await _assigned(client, world)
    body = (await status(client, world, assignment_id, "en_route")).json()
    assert body["acknowledged_at"] == body["en_route_at"]


async def test_bad_milestone_input(client: httpx.AsyncClient, world: World) -> None:
    _, assignment_id = await _assigned(client, world)
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    response = await status(client, world, assignment_id, "acknowledged", at=future)
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["body", "at"]
    notified = await status(client, world, assignment_id, "notified")
    assert notified.status_code == 422
    someone_else = await status(client, world, assignment_id, "acknowledged", who="device:B1")
    assert someone_else.status_code == 403
    assert "another unit" in someone_else.json()["detail"]
    unchanged = (
        await client.get(f"/assignments/{assignment_id}", headers=world.headers("dispatcher"))
    ).json()
    assert unchanged["status"] == "notified" and unchanged["acknowledged_at"] is None


async def test_crew_sees_its_current_job(client: httpx.AsyncClient, world: World) -> None:
    empty = (await client.get("/assignments/current", headers=world.headers("device:A1"))).json()
    assert empty == {"assignment": None, "incident": None}
    incident_id, assignment_id = await _assigned(client, world)
    current = (await client.get("/assignments/current", headers=world.headers("driver"))).json()
    assert current["assignment"]["id"] == assignment_id
    assert current["incident"]["id"] == incident_id
    assert (
        await client.get("/assignments/current", headers=world.headers("dispatcher"))
    ).status_code == 422


async def test_close_needs_every_unit_finished_and_cancel_stands_them_down(
    client: httpx.AsyncClient, world: World
) -> None:
    incident_id, assignment_id = await _assigned(client, world)
    refused = await client.post(
        f"/incidents/{incident_id}/close", headers=world.headers("dispatcher")
    )
    assert refused.status_code == 409
    assert refused.json()["active_assignment_ids"] == [assignment_id]
    assert "must be back in service or cancelled" in refused.json()["detail"]
    await status(client, world, assignment_id, "en_route")
    cancelled = await client.post(
        f"/incidents/{incident_id}/cancel",
        json={"reason": "duplicate of an earlier call"},
        headers=world.headers("dispatcher"),
    )
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assignment = (
        await client.get(f"/assignments/{assignment_id}", headers=world.headers("dispatcher"))
    ).json()
    assert assignment["status"] == "cancelled" and assignment["is_active"] is False
    vehicle = (
        await client.get(
            f"/vehicles/{world.vehicle_ids['A1']}", headers=world.headers("dispatcher")
        )
    ).json()
    assert vehicle["state"] == "returning"  # it had left the station
    again = await client.post(
        f"/incidents/{incident_id}/assignments",
        json={"vehicle_id": world.vehicle_ids["B1"]},
        headers=world.headers("dispatcher"),
    )
    assert again.status_code == 409


async def test_several_units_on_one_incident(client: httpx.AsyncClient, world: World) -> None:
    incident_id, _ = await _assigned(client, world, "A1")
    second = await client.post(
        f"/incidents/{incident_id}/assignments",
        json={"vehicle_id": world.vehicle_ids["B1"]},
        headers=world.headers("dispatcher"),
    )
    assert second.status_code == 201
    units = (
        await client.get(
            f"/incidents/{incident_id}/assignments", headers=world.headers("dispatcher")
        )
    ).json()
    assert sorted(u["vehicle_id"] for u in units) == sorted(
        [world.vehicle_ids["A1"], world.vehicle_ids["B1"]]
    )
