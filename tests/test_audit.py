from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from fastapi import FastAPI

from dispatch.audit import service as audit
from tests.helpers.bus import BusRecorder
from tests.helpers.world import World

#: What a control room and a care centre type, each recognisable in the log if it leaked.
CALLER = {
    "caller_phone": "+66811112222",
    "address_text": "99/1 Soi Sukhumvit 11",
    "notes": "Patient HIV positive, on ART",
    "lat": 13.745123,
    "lon": 100.534567,
}
PATIENT = {
    "full_name": "Somchai Jaidee",
    "phone": "+66833334444",
    "date_of_birth": "1941-03-07",
    "home_address": "7 Thanon Phahonyothin",
    "home_lat": 13.801234,
    "home_lon": 100.553456,
    "notes": "dialysis Mon/Wed/Fri, hepatitis B",
}
# Whole values: a fragment such as a birth year can turn up inside a timestamp's microseconds.
LEAKS = [
    "66811112222",
    "Sukhumvit",
    "HIV",
    "13.745123",
    "100.534567",
    "Somchai",
    "66833334444",
    "1941-03-07",
    "Phahonyothin",
    "13.801234",
    "dialysis",
    "warfarin",
    "Ari",
    "insulin",
    "Jaidee",
    "Duplicate of",
]


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
    assert patient_update["before"] == {"notes": None}  # it was empty: no one's data
    assert patient_update["after"] == {"notes": audit.REDACTED}


def test_audit_api_is_read_only(app: FastAPI) -> None:
    methods = {
        method
        for path, ops in app.openapi()["paths"].items()
        if path.startswith("/audit")
        for method in ops
    }
    assert methods == {"get"}


async def test_the_log_names_personal_fields_and_keeps_operational_values(
    app: FastAPI, client: httpx.AsyncClient, world: World
) -> None:
    """A call with a caller's phone, address and a diagnosis, re-triaged with a reason,
    edited and cancelled; a patient and a ride with addresses and notes, edited: the log
    keeps ids, statuses, triage and the names of the personal fields, never their values.
    The control room is still told the new address (events are not the log)."""
    dispatcher, care = world.headers("dispatcher"), world.headers("care_a")
    incident = (
        await client.post(
            "/incidents",
            json={
                **CALLER,
                "chief_complaint": "fall",
                "triage": "red",
                "triage_override_reason": "on warfarin, head injury",
            },
            headers=dispatcher,
        )
    ).json()
    async with BusRecorder(app.state.dispatch.broker) as bus:
        patched = await client.patch(
            f"/incidents/{incident['id']}",
            json={"address_text": "101 Soi Ari", "notes": "HIV positive, bleeding"},
            headers=dispatcher,
        )
        assert patched.status_code == 200, patched.text
        published = await bus.settle()
    cancelled = await client.post(
        f"/incidents/{incident['id']}/cancel",
        json={"reason": "Duplicate of the call from Somchai"},
        headers=dispatcher,
    )
    assert cancelled.status_code == 200, cancelled.text
    patient = (
        await client.post("/patients", json={**PATIENT, "mobility": "wheelchair"}, headers=care)
    ).json()
    changed = await client.patch(
        f"/patients/{patient['id']}",
        json={"notes": "insulin at 8", "mobility": "stretcher"},
        headers=care,
    )
    assert changed.status_code == 200, changed.text
    day = datetime.now(ZoneInfo("Asia/Bangkok")).date() + timedelta(days=2)
    booked = await client.post(
        "/bookings",
        json={
            "patient_id": patient["id"],
            "pickup_lat": 13.801234,
            "pickup_lon": 100.553456,
            "pickup_address": "7 Thanon Phahonyothin",
            "destination_lat": 13.7327,
            "destination_lon": 100.5354,
            "appointment_at": f"{day.isoformat()}T10:00:00+07:00",
            "notes": "dialysis, bring fistula card",
        },
        headers=care,
    )
    assert booked.status_code == 201, booked.text
    booking = booked.json()
    edited = await client.patch(
        f"/bookings/{booking['id']}",
        json={"notes": "hepatitis B", "companions": 1, "version": booking["version"]},
        headers=care,
    )
    assert edited.status_code == 200, edited.text

    entries: list[dict[str, Any]] = (
        await client.get("/audit?limit=1000", headers=world.headers("admin"))
    ).json()
    logged = str([(e["before"], e["after"]) for e in entries])
    assert [leak for leak in LEAKS if leak in logged] == []

    def entry(action: str) -> dict[str, Any]:
        return next(e for e in entries if e["action"] == action)

    created = entry("incident.created")["after"]
    assert created["triage"] == "red" and created["status"] == "pending"
    assert created["chief_complaint"] == "fall" and created["id"] == incident["id"]
    for name in ("caller_phone", "address_text", "notes", "lat", "lon", "triage_override_reason"):
        assert created[name] == audit.REDACTED, name
    override = entry("incident.triage_overridden")["after"]
    assert override == {"triage": "red", "triage_override_reason": audit.REDACTED}
    update = entry("incident.updated")
    assert update["after"] == {"address_text": audit.REDACTED, "notes": audit.REDACTED}
    assert entry("incident.cancelled")["after"]["status"] == "cancelled"
    assert entry("incident.cancelled")["after"]["cancel_reason"] == audit.REDACTED
    assert entry("patient.updated")["after"] == {
        "notes": audit.REDACTED,
        "mobility": "stretcher",
    }
    assert entry("patient.created")["after"]["full_name"] == audit.REDACTED
    assert entry("booking.updated")["after"] == {
        "notes": audit.REDACTED,
        "companions": 1,
        "version": booking["version"] + 1,
    }
    told = [m for m in published if m["type"] == "incident.updated"]
    assert told and told[0]["data"]["address_text"] == "101 Soi Ari"
