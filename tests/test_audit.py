from __future__ import annotations

import httpx
from fastapi import FastAPI

from tests.helpers.world import World


async def test_changes_are_audited_with_who_and_before_after(
    client: httpx.AsyncClient, world: World
) -> None:
    vehicle_id = world.vehicle_ids["B1"]
    response = await client.patch(
        f"/vehicles/{vehicle_id}",
        json={"state": "off_duty"},
        headers={**world.headers("dispatcher"), "X-Request-ID": "req-42"},
    )
    assert response.status_code == 200
    entries = (
        await client.get(
            f"/audit?entity_type=vehicles&entity_id={vehicle_id}",
            headers=world.headers("supervisor"),
        )
    ).json()
    update = next(e for e in entries if e["action"] == "vehicle.updated")
    assert update["actor"] == "user:dispatcher"
    assert update["before"]["state"] == "available"
    assert update["after"]["state"] == "off_duty"
    assert update["request_id"] == "req-42"


async def test_audit_never_holds_secrets_or_patient_details(
    client: httpx.AsyncClient, world: World
) -> None:
    await client.post(
        f"/vehicles/{world.vehicle_ids['A1']}/device-token", headers=world.headers("supervisor")
    )
    await client.patch(
        f"/patients/{world.patient_a_id}",
        json={"notes": "diabetic, insulin at 8"},
        headers=world.headers("care_a"),
    )
    entries = (await client.get("/audit?limit=1000", headers=world.headers("admin"))).json()
    text = str(entries)
    assert "device_token_hash" not in text and "dvt_" not in text
    assert "insulin" not in text
    patient_update = next(e for e in entries if e["action"] == "patient.updated")
    assert patient_update["after"] == {"fields": ["notes"]}


def test_audit_api_is_read_only(app: FastAPI) -> None:
    methods = {
        method
        for path, ops in app.openapi()["paths"].items()
        if path.startswith("/audit")
        for method in ops
    }
    assert methods == {"get"}
