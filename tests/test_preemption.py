"""A red call may take a unit off a booked transport while nobody is aboard; its rides are
released for re-planning and the care centre is told."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from fastapi import FastAPI

from dispatch.db.session import Database
from dispatch.models import TransportBooking
from dispatch.models.enums import BookingStatus, VehicleState
from tests.helpers.bus import BusRecorder
from tests.helpers.world import World, place

SCENE = {"lat": 13.7460, "lon": 100.5340}


async def _rides(
    db: Database, world: World, vehicle_id: int, statuses: list[BookingStatus]
) -> list[int]:
    ids = []
    async with db.unit_of_work() as uow:
        for n, booking_status in enumerate(statuses):
            booking = TransportBooking(
                organisation_id=world.care_a_id,
                patient_id=world.patient_a_id,
                pickup_lat=13.73,
                pickup_lon=100.55,
                destination_lat=13.7327,
                destination_lon=100.5354,
                appointment_at=datetime.now(UTC) + timedelta(hours=1 + n),
                status=booking_status,
                vehicle_id=vehicle_id,
                planned_pickup_at=datetime.now(UTC) + timedelta(minutes=20 + 30 * n),
            )
            uow.session.add(booking)
            await uow.session.flush()
            ids.append(booking.id)
    return ids


async def _call(client: httpx.AsyncClient, world: World, complaint: str) -> int:
    response = await client.post(
        "/incidents",
        json={**SCENE, "chief_complaint": complaint},
        headers=world.headers("dispatcher"),
    )
    assert response.status_code == 201
    incident_id: int = response.json()["id"]
    return incident_id


async def test_red_call_preempts_unit_with_nobody_aboard(
    app: FastAPI, client: httpx.AsyncClient, db: Database, world: World
) -> None:
    b1 = world.vehicle_ids["B1"]
    await place(db, b1, 13.7470, 100.5340, state=VehicleState.EN_ROUTE)
    rides = await _rides(db, world, b1, [BookingStatus.VEHICLE_EN_ROUTE, BookingStatus.PLANNED])
    incident_id = await _call(client, world, "cardiac_arrest")
    rec = (
        await client.post(
            f"/incidents/{incident_id}/recommendations", headers=world.headers("dispatcher")
        )
    ).json()
    candidate = next(c for c in rec["candidates"] if c["call_sign"] == "B1")
    assert candidate["preemption"] == {"booking_ids": rides, "disrupted_rides": 2}

    async with BusRecorder(app.state.dispatch.broker) as bus:
        assigned = await client.post(
            f"/incidents/{incident_id}/assignments",
            json={"vehicle_id": b1},
            headers=world.headers("dispatcher"),
        )
        # Everything the request published, and its re-plan after the reply (the ASGI
        # client returns once the request's background tasks are done).
        received = await bus.settle()
    assert assigned.status_code == 201, assigned.text
    assert assigned.json()["preempted_booking_ids"] == rides
    bookings = (await client.get("/bookings", headers=world.headers("care_a"))).json()
    for booking in bookings:
        assert booking["status"] == "requested" and booking["vehicle_id"] is None
        assert booking["release_reason"] == f"B1 was taken for red emergency call {incident_id}"
    released = [m for m in received if m["type"] == "booking.released"]
    assert sorted(m["data"]["booking_id"] for m in released) == rides
    assert {m["data"]["organisation_id"] for m in released} == {world.care_a_id}


async def test_non_red_call_cannot_take_a_unit_on_a_transport(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    b1 = world.vehicle_ids["B1"]
    await place(db, b1, 13.7470, 100.5340, state=VehicleState.EN_ROUTE)
    await _rides(db, world, b1, [BookingStatus.VEHICLE_EN_ROUTE])
    incident_id = await _call(client, world, "fever")
    rec = (
        await client.post(
            f"/incidents/{incident_id}/recommendations", headers=world.headers("dispatcher")
        )
    ).json()
    assert "B1" not in [c["call_sign"] for c in rec["candidates"]]
    assert {e["call_sign"]: e["reason"] for e in rec["excluded"]}["B1"].startswith("on a booked")
    refused = await client.post(
        f"/incidents/{incident_id}/assignments",
        json={"vehicle_id": b1},
        headers=world.headers("dispatcher"),
    )
    assert refused.status_code == 409
    assert refused.json()["detail"] == "B1 is on a booked transport; only a red call may take it."


async def test_patient_aboard_blocks_even_a_red_call(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    b1 = world.vehicle_ids["B1"]
    await place(db, b1, 13.7470, 100.5340, state=VehicleState.TRANSPORTING)
    [aboard, later] = await _rides(db, world, b1, [BookingStatus.ON_BOARD, BookingStatus.PLANNED])
    incident_id = await _call(client, world, "cardiac_arrest")
    refused = await client.post(
        f"/incidents/{incident_id}/assignments",
        json={"vehicle_id": b1},
        headers=world.headers("dispatcher"),
    )
    assert refused.status_code == 409
    assert f"patient aboard (booking {aboard})" in refused.json()["detail"]
    bookings = {
        b["id"]: b for b in (await client.get("/bookings", headers=world.headers("care_a"))).json()
    }
    assert bookings[later]["vehicle_id"] == b1 and bookings[later]["status"] == "planned"
