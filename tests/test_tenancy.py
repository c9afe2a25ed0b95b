"""A care centre sees and changes only its own patients and bookings; another centre's
ids answer 404, exactly like ids that do not exist."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI

from tests.helpers.world import World

LATER = datetime.now(UTC) + timedelta(days=2)


def _booking(patient_id: int, **extra: object) -> dict[str, object]:
    return {
        "patient_id": patient_id,
        "pickup_lat": 13.73,
        "pickup_lon": 100.55,
        "destination_lat": 13.7327,
        "destination_lon": 100.5354,
        "appointment_at": LATER.isoformat(),
        **extra,
    }


async def _book(client: httpx.AsyncClient, world: World, who: str, patient_id: int) -> int:
    response = await client.post("/bookings", json=_booking(patient_id), headers=world.headers(who))
    assert response.status_code == 201, response.text
    booking_id: int = response.json()["id"]
    return booking_id


async def test_lists_show_only_own_records(client: httpx.AsyncClient, world: World) -> None:
    await _book(client, world, "care_a", world.patient_a_id)
    await _book(client, world, "care_b", world.patient_b_id)
    patients_a = (await client.get("/patients", headers=world.headers("care_a"))).json()
    assert [p["id"] for p in patients_a] == [world.patient_a_id]
    bookings_a = (await client.get("/bookings", headers=world.headers("care_a"))).json()
    assert {b["patient_id"] for b in bookings_a} == {world.patient_a_id}
    filtered = await client.get(
        f"/bookings?patient_id={world.patient_b_id}", headers=world.headers("care_a")
    )
    assert filtered.json() == []
    everything = (await client.get("/bookings", headers=world.headers("dispatcher"))).json()
    assert {b["patient_id"] for b in everything} == {world.patient_a_id, world.patient_b_id}


async def test_other_centres_records_are_404_on_every_endpoint(
    client: httpx.AsyncClient, world: World
) -> None:
    booking_b = await _book(client, world, "care_b", world.patient_b_id)
    headers = world.headers("care_a")
    missing_patient = await client.get("/patients/999999", headers=headers)
    attempts = [
        await client.get(f"/patients/{world.patient_b_id}", headers=headers),
        await client.patch(f"/patients/{world.patient_b_id}", json={"notes": "x"}, headers=headers),
        await client.get(f"/bookings/{booking_b}", headers=headers),
        await client.patch(f"/bookings/{booking_b}", json={"companions": 1}, headers=headers),
        await client.post(f"/bookings/{booking_b}/cancel", headers=headers),
    ]
    for response in attempts:
        assert response.status_code == 404, response.text
    # Indistinguishable from a missing id, apart from the number itself.
    assert missing_patient.status_code == 404
    assert attempts[0].json()["code"] == missing_patient.json()["code"]
    # And nothing changed.
    untouched = await client.get(f"/bookings/{booking_b}", headers=world.headers("care_b"))
    assert untouched.json()["status"] == "requested"
    assert untouched.json()["companions"] == 0


async def test_cannot_book_for_another_centres_patient(
    client: httpx.AsyncClient, world: World
) -> None:
    response = await client.post(
        "/bookings", json=_booking(world.patient_b_id), headers=world.headers("care_a")
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "patient_id"]
    booking_b = await _book(client, world, "care_b", world.patient_b_id)
    linked = await client.post(
        "/bookings",
        json=_booking(world.patient_a_id, return_of_id=booking_b),
        headers=world.headers("care_a"),
    )
    assert linked.status_code == 422
    assert linked.json()["detail"][0]["loc"] == ["body", "return_of_id"]


async def test_care_centre_cannot_create_patients_for_another_centre(
    client: httpx.AsyncClient, world: World
) -> None:
    response = await client.post(
        "/patients",
        json={"full_name": "Someone", "mobility": "ambulatory", "organisation_id": world.care_b_id},
        headers=world.headers("care_a"),
    )
    assert response.status_code == 422
    own = await client.post(
        "/patients",
        json={"full_name": "Someone", "mobility": "ambulatory"},
        headers=world.headers("care_a"),
    )
    assert own.status_code == 201
    assert own.json()["organisation_id"] == world.care_a_id


@pytest.mark.parametrize("who", ["driver", "device:A1"])
async def test_crews_do_not_browse_patients(
    client: httpx.AsyncClient, world: World, who: str
) -> None:
    assert (
        await client.get(f"/patients/{world.patient_a_id}", headers=world.headers(who))
    ).status_code == 403


async def test_cancel_close_to_pickup_is_a_late_cancel(
    client: httpx.AsyncClient, world: World
) -> None:
    soon = (datetime.now(UTC) + timedelta(minutes=30)).isoformat()
    created = await client.post(
        "/bookings",
        json=_booking(world.patient_a_id, appointment_at=soon),
        headers=world.headers("care_a"),
    )
    early = await _book(client, world, "care_a", world.patient_a_id)
    late = await client.post(
        f"/bookings/{created.json()['id']}/cancel", headers=world.headers("care_a")
    )
    assert late.json()["outcome"] == "late_cancel"
    assert late.json()["status"] == "cancelled"
    on_time = await client.post(f"/bookings/{early}/cancel", headers=world.headers("care_a"))
    assert on_time.json()["outcome"] == "cancelled"
    again = await client.post(f"/bookings/{early}/cancel", headers=world.headers("care_a"))
    assert again.status_code == 409


async def test_stale_booking_edit_is_409(client: httpx.AsyncClient, world: World) -> None:
    booking = await _book(client, world, "care_a", world.patient_a_id)
    first = await client.patch(
        f"/bookings/{booking}",
        json={"companions": 1, "version": 1},
        headers=world.headers("care_a"),
    )
    assert first.status_code == 200 and first.json()["version"] == 2
    stale = await client.patch(
        f"/bookings/{booking}",
        json={"companions": 2, "version": 1},
        headers=world.headers("care_a"),
    )
    assert stale.status_code == 409


async def test_no_endpoint_tells_another_centres_record_from_a_missing_one(
    app: FastAPI, client: httpx.AsyncClient, world: World
) -> None:
    """Every operation that takes a patient or booking id, found in the OpenAPI schema (so
    a new endpoint is covered the day it is added): another centre's record must answer
    exactly as a record that does not exist, and must not change."""
    booking_b = await _book(client, world, "care_b", world.patient_b_id)
    before = (await client.get(f"/bookings/{booking_b}", headers=world.headers("care_b"))).json()
    ids = {"patient_id": (world.patient_b_id, 999_999), "booking_id": (booking_b, 999_998)}
    headers = world.headers("care_a")
    checked = []
    for path, operations in app.openapi()["paths"].items():
        params = [name for name in ids if "{" + name + "}" in path]
        if not params:
            continue
        for method in operations:
            theirs = path.format(**{n: ids[n][0] for n in params})
            missing = path.format(**{n: ids[n][1] for n in params})
            body = {} if method in ("post", "patch", "put") else None
            a = await client.request(method, theirs, json=body, headers=headers)
            b = await client.request(method, missing, json=body, headers=headers)
            scrub = [(str(ids[n][0]), "ID") for n in params] + [
                (str(ids[n][1]), "ID") for n in params
            ]
            text_a, text_b = a.text, b.text
            for old, new in scrub:
                text_a, text_b = text_a.replace(old, new), text_b.replace(old, new)
            assert a.status_code == b.status_code and a.status_code >= 400, (method, path, a.text)
            assert text_a == text_b, (method, path)
            checked.append(f"{method.upper()} {path}")
    assert {
        "GET /patients/{patient_id}",
        "PATCH /patients/{patient_id}",
        "GET /bookings/{booking_id}",
        "PATCH /bookings/{booking_id}",
        "POST /bookings/{booking_id}/cancel",
        "GET /bookings/{booking_id}/eta",
    } <= set(checked), checked
    after = (await client.get(f"/bookings/{booking_b}", headers=world.headers("care_b"))).json()
    assert after == before
