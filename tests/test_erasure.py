"""``dispatch patient erase``: a patient's personal data goes (PDPA / Decree 13/2023), the
rides stay countable, and the audit log says who erased, never what."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from dispatch.audit import service as audit
from dispatch.db.session import Database
from dispatch.errors import Conflict, InvalidInput, NotFound
from dispatch.models import AuditEntry, Patient, PlanStop, TransportBooking
from dispatch.models.enums import BookingOutcome, BookingStatus, Mobility
from dispatch.privacy import erasure
from tests.helpers.cli import cli_env, dispatch_cli
from tests.helpers.stacks import Stack
from tests.helpers.world import World

PAST = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)


async def _patient_with_history(db: Database, world: World) -> tuple[int, list[int]]:
    """A patient of care centre A with every personal field filled, a completed ride (with
    its planned stops) and a cancelled one."""
    async with db.unit_of_work() as uow:
        patient = Patient(
            organisation_id=world.care_a_id,
            full_name="Somchai Jaidee",
            phone="+66833334444",
            date_of_birth=date(1941, 3, 7),
            mobility=Mobility.WHEELCHAIR,
            needs_escort=True,
            home_lat=13.801234,
            home_lon=100.553456,
            home_address="7 Thanon Phahonyothin",
            notes="dialysis Mon/Wed/Fri",
        )
        uow.session.add(patient)
        await uow.session.flush()
        rides = []
        for status, outcome in (
            (BookingStatus.COMPLETED, BookingOutcome.COMPLETED),
            (BookingStatus.CANCELLED, BookingOutcome.LATE_CANCEL),
        ):
            ride = TransportBooking(
                organisation_id=world.care_a_id,
                patient_id=patient.id,
                pickup_lat=13.801234,
                pickup_lon=100.553456,
                pickup_address="7 Thanon Phahonyothin",
                destination_lat=13.7327,
                destination_lon=100.5354,
                destination_address="Dialysis unit, 3rd floor",
                appointment_at=PAST,
                service_date=PAST.date(),
                notes="bring fistula card",
                status=status,
                outcome=outcome,
                vehicle_id=world.vehicle_ids["T1"],
            )
            uow.session.add(ride)
            await uow.session.flush()
            rides.append(ride.id)
        for seq, (kind, lat, lon) in enumerate(
            (("pickup", 13.801234, 100.553456), ("dropoff", 13.7327, 100.5354))
        ):
            uow.session.add(
                PlanStop(
                    service_date=PAST.date(),
                    vehicle_id=world.vehicle_ids["T1"],
                    seq=seq,
                    kind=kind,
                    booking_id=rides[0],
                    lat=lat,
                    lon=lon,
                    planned_arrival=PAST,
                    planned_start=PAST,
                    planned_departure=PAST + timedelta(minutes=5),
                    status="done",
                )
            )
        return patient.id, rides


async def _entries(db: Database) -> list[AuditEntry]:
    async with db.unit_of_work(read_only=True) as uow:
        return list(await uow.session.scalars(select(AuditEntry).order_by(AuditEntry.id)))


async def test_erase_clears_the_patient_and_keeps_the_rides_countable(
    stack: Stack, db: Database, world: World, client: httpx.AsyncClient
) -> None:
    patient_id, rides = await _patient_with_history(db, world)
    env = cli_env(DISPATCH_DATABASE_URL=stack.database_url)
    done = await dispatch_cli(
        ["patient", "erase", str(patient_id), "--by", "dpo-anan", "--reference", "PDPA-2026-17"],
        env,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["erased"] is True and report["booking_ids"] == rides
    assert report["plan_stops"] == 2

    async with db.unit_of_work(read_only=True) as uow:
        patient = await uow.session.get(Patient, patient_id)
        bookings = list(
            await uow.session.scalars(select(TransportBooking).order_by(TransportBooking.id))
        )
        stops = list(await uow.session.scalars(select(PlanStop).order_by(PlanStop.seq)))
    assert patient is not None
    assert (patient.full_name, patient.phone, patient.date_of_birth) == (erasure.ERASED, None, None)
    assert (patient.home_address, patient.notes, patient.home_lat) == (None, None, None)
    # what is not personal stays: the centre, mobility, escort
    assert (patient.organisation_id, patient.mobility, patient.needs_escort) == (
        world.care_a_id,
        Mobility.WHEELCHAIR,
        True,
    )
    for ride in bookings:
        assert ride.pickup_address is None and ride.destination_address is None
        assert ride.notes is None
        assert (ride.pickup_lat, ride.pickup_lon) == (13.80, 100.55)  # about 1 km
        assert (ride.destination_lat, ride.destination_lon) == (13.73, 100.54)
        assert ride.appointment_at == PAST and ride.vehicle_id == world.vehicle_ids["T1"]
    assert [(b.status, b.outcome) for b in bookings] == [
        (BookingStatus.COMPLETED, BookingOutcome.COMPLETED),
        (BookingStatus.CANCELLED, BookingOutcome.LATE_CANCEL),
    ]
    assert [(s.kind, s.lat, s.lon, s.status) for s in stops] == [
        ("pickup", None, None, "done"),
        ("dropoff", None, None, "done"),
    ]

    # The centre still sees its patient, erased; the API answers as for any patient.
    seen = await client.get(f"/patients/{patient_id}", headers=world.headers("care_a"))
    assert seen.status_code == 200 and seen.json()["full_name"] == erasure.ERASED

    entries = await _entries(db)
    logged = json.dumps([(e.before, e.after) for e in entries])
    for value in (
        "Somchai",
        "66833334444",
        "1941",
        "Phahonyothin",
        "dialysis",
        "Dialysis",
        "fistula",
    ):
        assert value not in logged
    erased = next(e for e in entries if e.action == "patient.erased")
    assert (erased.actor, erased.entity_type, erased.entity_id) == (
        "cli:dpo-anan",
        "patients",
        patient_id,
    )
    assert erased.after is not None and erased.after["reference"] == "PDPA-2026-17"
    assert "full_name" in erased.after["fields"]["patients"]
    assert "pickup_address" in erased.after["fields"]["transport_bookings"]
    per_ride = [e for e in entries if e.action == "booking.erased"]
    assert sorted(e.entity_id for e in per_ride) == rides

    again = await dispatch_cli(["patient", "erase", str(patient_id), "--by", "dpo-anan"], env)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["already_erased"] is True
    assert len(await _entries(db)) == len(entries)  # nothing more to log


async def test_erase_waits_for_open_rides_and_names_them(db: Database, world: World) -> None:
    patient_id, _ = await _patient_with_history(db, world)
    async with db.unit_of_work() as uow:
        open_ride = TransportBooking(
            organisation_id=world.care_a_id,
            patient_id=patient_id,
            pickup_lat=13.8,
            pickup_lon=100.55,
            destination_lat=13.73,
            destination_lon=100.53,
            appointment_at=datetime.now(UTC) + timedelta(days=1),
        )
        uow.session.add(open_ride)
        await uow.session.flush()
        open_id = open_ride.id
    operator = erasure.Operator("dpo")
    with pytest.raises(Conflict, match=f"open rides \\({open_id}\\)"):
        async with db.unit_of_work() as uow:
            await erasure.erase_patient(uow, operator, patient_id)
    async with db.unit_of_work(read_only=True) as uow:
        patient = await uow.session.get(Patient, patient_id)
    assert patient is not None and patient.full_name == "Somchai Jaidee"  # untouched
    with pytest.raises(NotFound):
        async with db.unit_of_work() as uow:
            await erasure.erase_patient(uow, operator, 999_999)
    with pytest.raises(InvalidInput):
        async with db.unit_of_work() as uow:
            await erasure.erase_patient(uow, operator, patient_id, reference="Mr Somchai's son")


async def test_the_command_explains_a_refusal(stack: Stack, db: Database, world: World) -> None:
    done = await dispatch_cli(
        ["patient", "erase", "999999"], cli_env(DISPATCH_DATABASE_URL=stack.database_url)
    )
    assert done.returncode == 2
    assert "Patient 999999 does not exist" in done.stderr


def test_erased_values_follow_the_declarations() -> None:
    columns: dict[str, Any] = {c.name: c for c in TransportBooking.__table__.columns}
    assert erasure.erased_value(columns["pickup_lat"], 13.745678) == 13.75
    assert erasure.erased_value(columns["pickup_address"], "7 Soi Ari") is None
    assert erasure.erased_value(columns["notes"], None) is None
    name = Patient.__table__.columns["full_name"]
    assert erasure.erased_value(name, "Somchai") == erasure.ERASED
    assert audit.REDACTED != erasure.ERASED  # "not logged" and "erased" read differently


async def test_answers_kept_for_a_resend_are_erased_too(
    db: Database, world: World, client: httpx.AsyncClient
) -> None:
    """A resent write still creates nothing, and its answer no longer holds the patient."""
    headers = {**world.headers("care_a"), "Idempotency-Key": "erase-me-patient"}
    person = {
        "full_name": "Malee Sukjai",
        "phone": "+66812223333",
        "date_of_birth": "1938-05-01",
        "mobility": "ambulatory",
        "home_lat": 13.812345,
        "home_lon": 100.561234,
        "home_address": "9 Soi Ari 4",
        "notes": "hard of hearing",
    }
    created = await client.post("/patients", json=person, headers=headers)
    assert created.status_code == 201, created.text
    patient_id = created.json()["id"]
    ride = {
        "patient_id": patient_id,
        "pickup_lat": 13.812345,
        "pickup_lon": 100.561234,
        "pickup_address": "9 Soi Ari 4",
        "destination_lat": 13.7327,
        "destination_lon": 100.5354,
        "appointment_at": (datetime.now(UTC) + timedelta(days=2)).isoformat(),
        "notes": "ring twice",
    }
    ride_headers = {**world.headers("care_a"), "Idempotency-Key": "erase-me-ride"}
    booked = await client.post("/bookings", json=ride, headers=ride_headers)
    assert booked.status_code == 201, booked.text
    cancelled = await client.post(
        f"/bookings/{booked.json()['id']}/cancel", headers=world.headers("care_a")
    )
    assert cancelled.status_code == 200, cancelled.text

    async with db.unit_of_work() as uow:
        done = await erasure.erase_patient(uow, erasure.Operator("dpo"), patient_id)
    assert done.stored_answers == 2 and done.fields["idempotency_keys"] == ["body"]

    again = await client.post("/patients", json=person, headers=headers)
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    shown = again.json()
    assert shown["id"] == patient_id and shown["full_name"] == erasure.ERASED
    assert (shown["phone"], shown["date_of_birth"], shown["home_address"]) == (None, None, None)
    assert (shown["home_lat"], shown["notes"], shown["mobility"]) == (None, None, "ambulatory")
    rebooked = await client.post("/bookings", json=ride, headers=ride_headers)
    assert rebooked.status_code == 201 and rebooked.headers["Idempotent-Replayed"] == "true"
    trip = rebooked.json()
    assert trip["id"] == booked.json()["id"]
    assert (trip["pickup_address"], trip["notes"]) == (None, None)
    assert (trip["pickup_lat"], trip["pickup_lon"]) == (13.81, 100.56)
    everything = json.dumps([shown, trip])
    for value in ("Malee", "66812223333", "1938", "Ari", "hearing", "twice"):
        assert value not in everything
    async with db.unit_of_work(read_only=True) as uow:
        mine = await uow.session.scalars(
            select(TransportBooking.id).where(TransportBooking.patient_id == patient_id)
        )
        assert list(mine) == [booked.json()["id"]]  # nothing booked twice
