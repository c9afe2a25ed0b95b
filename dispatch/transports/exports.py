"""The day's bookings as a spreadsheet: the import's own columns (so a file exported,
corrected and imported again is understood; rides already booked are skipped) plus what the
plan decided, in the centre's local time."""

from __future__ import annotations

from datetime import date, datetime, tzinfo

from sqlalchemy import select

from dispatch.auth.principal import Principal
from dispatch.db.session import UnitOfWork
from dispatch.models import Hospital, Patient, TransportBooking, Vehicle
from dispatch.transports import service
from dispatch.transports.tables import write_csv

HEADER = (
    "booking_id",
    "status",
    "patient",
    "patient_id",
    "date_of_birth",
    "mobility",
    "pickup_address",
    "pickup_lat",
    "pickup_lon",
    "hospital",
    "destination_address",
    "destination_lat",
    "destination_lon",
    "appointment_at",
    "pickup_window_start",
    "pickup_window_end",
    "companions",
    "notes",
    "planned_pickup_at",
    "vehicle",
    "return_of_id",
)


async def day_csv(
    uow: UnitOfWork, actor: Principal, day: date, organisation_id: int | None = None
) -> bytes:
    """Every booking of ``day`` the caller may see, in pickup order."""
    bookings = await service.list_bookings(uow, actor, service_date=day, limit=10_000)
    if organisation_id is not None:
        bookings = [b for b in bookings if b.organisation_id == organisation_id]
    patient_ids = {b.patient_id for b in bookings}
    patients = {
        p.id: p
        for p in await uow.session.scalars(select(Patient).where(Patient.id.in_(patient_ids)))
    }
    hospitals = {h.id: h for h in await uow.session.scalars(select(Hospital))}
    vehicle_ids = {b.vehicle_id for b in bookings if b.vehicle_id is not None}
    vehicles = {
        v.id: v.call_sign
        for v in await uow.session.scalars(select(Vehicle).where(Vehicle.id.in_(vehicle_ids)))
    }
    zones: dict[int, tzinfo] = {}
    rows = []
    for b in sorted(bookings, key=_order):
        if b.organisation_id not in zones:
            zones[b.organisation_id] = await service.centre_timezone(uow, b.organisation_id)
        tz = zones[b.organisation_id]
        patient = patients[b.patient_id]
        hospital = hospitals.get(b.destination_hospital_id) if b.destination_hospital_id else None
        rows.append(
            (
                b.id,
                b.status.value,
                patient.full_name,
                patient.id,
                patient.date_of_birth.isoformat() if patient.date_of_birth else None,
                patient.mobility.value,
                b.pickup_address,
                b.pickup_lat,
                b.pickup_lon,
                hospital.name if hospital else None,
                b.destination_address,
                b.destination_lat,
                b.destination_lon,
                _local(b.appointment_at, tz),
                _local(b.pickup_window_start, tz),
                _local(b.pickup_window_end, tz),
                b.companions,
                b.notes,
                _local(b.planned_pickup_at, tz),
                vehicles.get(b.vehicle_id) if b.vehicle_id else None,
                b.return_of_id,
            )
        )
    return write_csv(HEADER, rows)


def _order(b: TransportBooking) -> tuple[float, int]:
    when = b.planned_pickup_at or b.pickup_window_start or b.appointment_at
    return (when.timestamp() if when else float("inf"), b.id)


def _local(when: datetime | None, tz: tzinfo) -> str | None:
    return when.astimezone(tz).strftime("%Y-%m-%d %H:%M") if when else None
