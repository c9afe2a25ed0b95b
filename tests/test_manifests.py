"""Shifts, manifests and the crew's progress through them, and the live ETA."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from dispatch.db.session import Database
from dispatch.models import PlanStop, TransportBooking
from dispatch.models.enums import BookingStatus
from tests.helpers.world import World, place

BANGKOK = ZoneInfo("Asia/Bangkok")
DAY = datetime.now(BANGKOK).date() + timedelta(days=1)


def local(hour: int, minute: int = 0, day: date = DAY) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=BANGKOK)


async def test_shift_rules(client: httpx.AsyncClient, world: World) -> None:
    t1 = world.vehicle_ids["T1"]
    body: dict[str, Any] = {
        "vehicle_id": t1,
        "starts_at": local(7).isoformat(),
        "ends_at": local(15).isoformat(),
        "breaks": [
            {"earliest": local(11).isoformat(), "latest": local(12).isoformat(), "minutes": 30}
        ],
    }
    created = await client.post("/transport-shifts", json=body, headers=world.headers("supervisor"))
    assert created.status_code == 201, created.text
    shift = created.json()
    assert shift["service_date"] == DAY.isoformat()
    assert (shift["depot_lat"], shift["depot_lon"]) == (13.74, 100.53)  # its station
    again = await client.post("/transport-shifts", json=body, headers=world.headers("supervisor"))
    assert again.status_code == 409
    backwards = await client.post(
        "/transport-shifts",
        json={**body, "ends_at": local(6).isoformat()},
        headers=world.headers("supervisor"),
    )
    assert [e["loc"] for e in backwards.json()["detail"]] == [["body", "ends_at"]]
    outside = await client.post(
        "/transport-shifts",
        json={
            **body,
            "vehicle_id": world.vehicle_ids["B1"],
            "breaks": [
                {
                    "earliest": local(14, 45).isoformat(),
                    "latest": local(14, 50).isoformat(),
                    "minutes": 30,
                }
            ],
        },
        headers=world.headers("supervisor"),
    )
    assert outside.status_code == 422 and outside.json()["detail"][0]["loc"] == ["body", "breaks.0"]
    assert (
        await client.post("/transport-shifts", json=body, headers=world.headers("dispatcher"))
    ).status_code == 403
    listed = await client.get(
        f"/transport-shifts?service_date={DAY}", headers=world.headers("dispatcher")
    )
    assert [s["vehicle_id"] for s in listed.json()] == [t1]


async def _planned_ride(db: Database, world: World) -> tuple[int, list[int]]:
    async with db.unit_of_work() as uow:
        booking = TransportBooking(
            organisation_id=world.care_a_id,
            patient_id=world.patient_a_id,
            pickup_lat=13.73,
            pickup_lon=100.55,
            pickup_address="Home",
            destination_lat=13.7327,
            destination_lon=100.5354,
            destination_address="Dialysis unit",
            appointment_at=local(9),
            service_date=DAY,
            status=BookingStatus.PLANNED,
            vehicle_id=world.vehicle_ids["B1"],
            planned_pickup_at=local(8, 20),
        )
        uow.session.add(booking)
        await uow.session.flush()
        stops = [
            PlanStop(
                service_date=DAY,
                vehicle_id=world.vehicle_ids["B1"],
                seq=seq,
                kind=kind,
                booking_id=booking.id,
                lat=lat,
                lon=lon,
                planned_arrival=t,
                planned_start=t,
                planned_departure=t + timedelta(minutes=5),
            )
            for seq, kind, lat, lon, t in [
                (1, "pickup", 13.73, 100.55, local(8, 20)),
                (2, "dropoff", 13.7327, 100.5354, local(8, 45)),
            ]
        ]
        uow.session.add_all(stops)
        await uow.session.flush()
        return booking.id, [s.id for s in stops]


async def test_manifest_progress_and_live_eta(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    booking_id, (pickup, dropoff) = await _planned_ride(db, world)
    b1 = world.vehicle_ids["B1"]
    manifest = (
        await client.get(
            f"/vehicles/{b1}/manifest?service_date={DAY}", headers=world.headers("device:B1")
        )
    ).json()
    assert [(s["seq"], s["kind"], s["patient_name"], s["address"]) for s in manifest["stops"]] == [
        (1, "pickup", "Patient A", "Home"),
        (2, "dropoff", "Patient A", "Dialysis unit"),
    ]
    assert (
        await client.get(
            f"/vehicles/{b1}/manifest?service_date={DAY}", headers=world.headers("device:A1")
        )
    ).status_code == 403
    not_yet = await client.get(f"/bookings/{booking_id}/eta", headers=world.headers("care_a"))
    assert not_yet.status_code == 409
    go = await client.post(
        f"/plan-stops/{pickup}/status",
        json={"status": "under_way"},
        headers=world.headers("device:B1"),
    )
    assert go.status_code == 200 and go.json()["status"] == "under_way"
    await place(db, b1, 13.7400, 100.5500)
    eta = await client.get(f"/bookings/{booking_id}/eta", headers=world.headers("care_a"))
    assert eta.status_code == 200, eta.text
    assert eta.json()["eta_s"] > 0 and eta.json()["vehicle_id"] == b1
    assert (
        await client.get(f"/bookings/{booking_id}/eta", headers=world.headers("care_b"))
    ).status_code == 404
    for stop, status in [(pickup, "done"), (pickup, "done"), (dropoff, "done")]:
        response = await client.post(
            f"/plan-stops/{stop}/status",
            json={"status": status},
            headers=world.headers("device:B1"),
        )
        assert response.status_code == 200
    booking = (await client.get(f"/bookings/{booking_id}", headers=world.headers("care_a"))).json()
    assert (booking["status"], booking["outcome"]) == ("completed", "completed")
    back = await client.post(
        f"/plan-stops/{dropoff}/status",
        json={"status": "under_way"},
        headers=world.headers("device:B1"),
    )
    assert back.status_code == 409


async def test_no_show(client: httpx.AsyncClient, db: Database, world: World) -> None:
    booking_id, (pickup, dropoff) = await _planned_ride(db, world)
    wrong = await client.post(
        f"/plan-stops/{dropoff}/status",
        json={"status": "no_show"},
        headers=world.headers("device:B1"),
    )
    assert wrong.status_code == 422
    response = await client.post(
        f"/plan-stops/{pickup}/status",
        json={"status": "no_show"},
        headers=world.headers("dispatcher"),
    )
    assert response.status_code == 200
    booking = (await client.get(f"/bookings/{booking_id}", headers=world.headers("care_a"))).json()
    assert (booking["status"], booking["outcome"]) == ("no_show", "no_show")
    stops = (
        await client.get(
            f"/vehicles/{world.vehicle_ids['B1']}/manifest?service_date={DAY}",
            headers=world.headers("dispatcher"),
        )
    ).json()["stops"]
    assert [s["status"] for s in stops] == ["no_show", "done"]


async def test_a_stop_a_replan_removed_never_comes_back_under_its_id(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    """A re-plan deletes a day's planned stops and writes new ones. SQLite used to hand
    the deleted ids out again, so a crew's report on a removed stop (a 404 before) could
    land on another stop of another vehicle (a 403) or of its own (the wrong ride)."""
    at = local(11)

    def brk(vehicle: str, seq: int) -> PlanStop:
        return PlanStop(
            service_date=DAY,
            vehicle_id=world.vehicle_ids[vehicle],
            seq=seq,
            kind="break",
            planned_arrival=at,
            planned_start=at,
            planned_departure=at + timedelta(minutes=30),
        )

    async with db.unit_of_work() as uow:
        stops = [brk("T1", 1), brk("T1", 2)]
        uow.session.add_all(stops)
        await uow.session.flush()
        removed = stops[-1].id
    async with db.unit_of_work() as uow:  # the re-plan: out with the last stop ...
        gone = await uow.session.get(PlanStop, removed)
        assert gone is not None
        await uow.session.delete(gone)
    async with db.unit_of_work() as uow:  # ... and in with another vehicle's
        fresh = brk("B1", 1)
        uow.session.add(fresh)
        await uow.session.flush()
        assert fresh.id > removed
    report = await client.post(
        f"/plan-stops/{removed}/status",
        json={"status": "under_way"},
        headers=world.headers("driver"),
    )
    assert report.status_code == 404
