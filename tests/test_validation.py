"""Bad input is a 422 that names the field; never a 500, never stored."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.helpers.world import World

INCIDENT = {"lat": 13.74, "lon": 100.53, "chief_complaint": "chest_pain", "triage": "red"}
START = datetime.now(UTC) + timedelta(days=1)


def _loc(response: httpx.Response) -> list[list[Any]]:
    assert response.status_code == 422, response.text
    return [error["loc"] for error in response.json()["detail"]]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"lat": 91}, "lat"),
        ({"lon": -180.5}, "lon"),
        ({"lat": "NaN"}, "lat"),
        ({"triage": "purple"}, "triage"),
        ({"patient_count": -1}, "patient_count"),
        ({"caller_phone": "call me"}, "caller_phone"),
        ({"notes": "bad\x00byte"}, "notes"),
        ({"address_text": "esc\x1b[2J"}, "address_text"),
        ({"chief_complaint": ""}, "chief_complaint"),
        ({"surprise": 1}, "surprise"),
    ],
)
async def test_bad_incident_fields_are_named(
    client: httpx.AsyncClient, world: World, change: dict[str, Any], field: str
) -> None:
    response = await client.post(
        "/incidents", json={**INCIDENT, **change}, headers=world.headers("dispatcher")
    )
    assert _loc(response) == [["body", field]]
    listing = await client.get("/incidents", headers=world.headers("dispatcher"))
    assert listing.json() == []


async def test_unknown_triage_lists_allowed_values(client: httpx.AsyncClient, world: World) -> None:
    response = await client.post(
        "/incidents", json={**INCIDENT, "triage": "purple"}, headers=world.headers("dispatcher")
    )
    assert "'red'" in response.json()["detail"][0]["msg"]


async def test_booking_window_ending_before_it_starts(
    client: httpx.AsyncClient, world: World
) -> None:
    body = {
        "patient_id": world.patient_a_id,
        "pickup_lat": 13.73,
        "pickup_lon": 100.55,
        "destination_lat": 13.73,
        "destination_lon": 100.53,
        "pickup_window_start": START.isoformat(),
        "pickup_window_end": (START - timedelta(minutes=30)).isoformat(),
    }
    response = await client.post("/bookings", json=body, headers=world.headers("care_a"))
    assert _loc(response) == [["body", "pickup_window_end"]]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"appointment_at": "2026-12-01T09:00:00"}, "appointment_at"),  # no time zone
        ({"recurrence_rule": "FREQ=DAILY"}, "recurrence_rule"),
        ({"recurrence_rule": "FREQ=WEEKLY;BYDAY=XX"}, "recurrence_rule"),
        # Year 1 printed back as "10101": the stored rule could not be read again (500).
        ({"recurrence_rule": "FREQ=WEEKLY;BYDAY=MO;UNTIL=00010101"}, "recurrence_rule"),
        ({"recurrence_rule": "FREQ=WEEKLY;BYDAY=MO;UNTIL=99991231"}, "recurrence_rule"),
        ({"appointment_at": "9999-12-31T23:59:59-14:00"}, "appointment_at"),
        ({"companions": 2**63}, "companions"),
        ({"notes": "a\ud800b"}, "notes"),
        ({"companions": 9}, "companions"),
        (
            {"destination_hospital_id": 424242, "destination_lat": None, "destination_lon": None},
            "destination_hospital_id",
        ),
    ],
)
async def test_bad_booking_fields_are_named(
    client: httpx.AsyncClient, world: World, change: dict[str, Any], field: str
) -> None:
    body = {
        "patient_id": world.patient_a_id,
        "pickup_lat": 13.73,
        "pickup_lon": 100.55,
        "destination_lat": 13.73,
        "destination_lon": 100.53,
        "appointment_at": START.isoformat(),
        **change,
    }
    # Written as ASCII JSON so a lone surrogate travels as its escape, as a hostile client sends it.
    response = await client.post(
        "/bookings",
        content=json.dumps(body),
        headers={**world.headers("care_a"), "Content-Type": "application/json"},
    )
    assert _loc(response) == [["body", field]]


async def test_recurrence_rule_is_normalised(client: httpx.AsyncClient, world: World) -> None:
    body = {
        "patient_id": world.patient_a_id,
        "pickup_lat": 13.73,
        "pickup_lon": 100.55,
        "destination_lat": 13.73,
        "destination_lon": 100.53,
        "appointment_at": START.isoformat(),
        "recurrence_rule": "freq=weekly;byday=fr,mo,we;until=20270131",
    }
    response = await client.post("/bookings", json=body, headers=world.headers("care_a"))
    assert response.status_code == 201, response.text
    assert response.json()["recurrence_rule"] == "FREQ=WEEKLY;BYDAY=MO,WE,FR;UNTIL=20270131"


@pytest.mark.parametrize("path", ["/vehicles/0", "/vehicles/99999999999999999999", "/vehicles/abc"])
async def test_out_of_range_path_ids(client: httpx.AsyncClient, world: World, path: str) -> None:
    response = await client.get(path, headers=world.headers("dispatcher"))
    assert _loc(response) == [["path", "vehicle_id"]]


async def test_unknown_reference_names_the_field(client: httpx.AsyncClient, world: World) -> None:
    response = await client.post(
        "/vehicles",
        json={"call_sign": "X9", "kind": "bls", "station_id": 31337},
        headers=world.headers("supervisor"),
    )
    assert _loc(response) == [["body", "station_id"]]


async def test_duplicate_call_sign_is_a_conflict(client: httpx.AsyncClient, world: World) -> None:
    response = await client.post(
        "/vehicles", json={"call_sign": "A1", "kind": "bls"}, headers=world.headers("supervisor")
    )
    assert response.status_code == 409
    assert "A1" in response.json()["detail"]


async def test_malformed_json_is_422_not_500(client: httpx.AsyncClient, world: World) -> None:
    response = await client.post(
        "/incidents",
        content=b"{not json",
        headers={**world.headers("dispatcher"), "Content-Type": "application/json"},
    )
    assert response.status_code == 422


async def test_stale_vehicle_edit_is_409_with_a_sentence(
    client: httpx.AsyncClient, world: World
) -> None:
    vehicle_id = world.vehicle_ids["B1"]
    headers = world.headers("dispatcher")
    current = (await client.get(f"/vehicles/{vehicle_id}", headers=headers)).json()
    ok = await client.patch(
        f"/vehicles/{vehicle_id}",
        json={"state": "off_duty", "version": current["version"]},
        headers=headers,
    )
    assert ok.status_code == 200
    stale = await client.patch(
        f"/vehicles/{vehicle_id}",
        json={"state": "available", "version": current["version"]},
        headers=headers,
    )
    assert stale.status_code == 409
    assert "changed by someone else" in stale.json()["detail"]


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity", "1e309"])
async def test_non_finite_number_is_named_and_the_answer_is_valid_json(
    client: httpx.AsyncClient, world: World, token: str
) -> None:
    """The 422 once echoed the input back, and NaN cannot be written as JSON (a 500)."""
    raw = json.dumps({**INCIDENT, "lat": "__x__"}).replace('"__x__"', token)
    response = await client.post(
        "/incidents",
        content=raw,
        headers={**world.headers("dispatcher"), "Content-Type": "application/json"},
    )
    assert _loc(response) == [["body", "lat"]]
    json.loads(response.text, parse_constant=lambda c: pytest.fail(f"{c} in the answer"))


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"since": "0001-01-01T00:00:00+14:00"}, "since"),
        ({"until": "9999-12-31T23:59:59-14:00"}, "until"),
        ({"since": "2026-11-23T00:00:00"}, "since"),  # no time zone
    ],
)
async def test_kpi_window_at_the_edges_is_named(
    client: httpx.AsyncClient, world: World, params: dict[str, str], field: str
) -> None:
    response = await client.get("/kpis", params=params, headers=world.headers("dispatcher"))
    assert _loc(response) == [["query", field]]


async def test_audit_cursor_beyond_the_database_is_named(
    client: httpx.AsyncClient, world: World
) -> None:
    response = await client.get(
        "/audit", params={"before_id": 9223372036854775808}, headers=world.headers("supervisor")
    )
    assert _loc(response) == [["query", "before_id"]]


async def test_hospital_capabilities_cannot_be_emptied_to_null(
    client: httpx.AsyncClient, world: World
) -> None:
    """``{"capabilities": null}`` was stored, and every read of the hospitals failed after."""
    created = await client.post(
        "/hospitals",
        json={"name": "Null General", "lat": 13.75, "lon": 100.53, "capabilities": ["stroke"]},
        headers=world.headers("supervisor"),
    )
    hospital_id = created.json()["id"]
    response = await client.patch(
        f"/hospitals/{hospital_id}",
        json={"capabilities": None},
        headers=world.headers("dispatcher"),
    )
    assert _loc(response) == [["body", "capabilities"]]
    listing = await client.get("/hospitals", headers=world.headers("dispatcher"))
    assert listing.status_code == 200 and listing.json()[0]["capabilities"] == ["stroke"]


@pytest.mark.parametrize("raw", [b"\xa5", b'{"lat": "\xff"}', b"\x84\xc0YZ'"])
async def test_a_body_that_is_not_utf8_json_is_a_422_naming_the_body(
    client: httpx.AsyncClient, world: World, raw: bytes
) -> None:
    """FastAPI answered such bytes with a 400 the schema does not declare (found by
    ``dispatch bench fuzz``)."""
    response = await client.post(
        "/incidents",
        content=raw,
        headers={**world.headers("dispatcher"), "Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert _loc(response) == [["body"]]
    listing = await client.get("/incidents", headers=world.headers("dispatcher"))
    assert listing.json() == []


async def test_statuses_the_fuzzer_met_are_declared(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    assert "401" in schema["paths"]["/auth/token"]["post"]["responses"]
    assert "409" in schema["paths"]["/bookings/{booking_id}/eta"]["get"]["responses"]
