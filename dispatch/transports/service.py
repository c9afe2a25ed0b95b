"""Patients and bookings, always seen through the caller's tenancy: a care centre sees
only its own, and another centre's id answers 404 exactly as a missing one would, so
ids reveal nothing."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import Select, delete, or_, select

from dispatch import clock
from dispatch.audit import service as audit
from dispatch.auth.principal import Principal
from dispatch.db.session import UnitOfWork
from dispatch.errors import Conflict, Forbidden, InvalidInput, NotFound
from dispatch.events import (
    BookingCancelled,
    BookingCreated,
    BookingReleased,
    BookingUpdated,
)
from dispatch.models import Hospital, Organisation, Patient, PlanStop, TransportBooking
from dispatch.models.enums import BookingOutcome, BookingStatus, OrganisationKind, Role
from dispatch.transports import series
from dispatch.transports.config import TransportConfig
from dispatch.transports.duplicates import refuse_recent_twin
from dispatch.transports.schemas import BookingCreate, BookingUpdate, PatientCreate, PatientUpdate

_FINAL_STATUSES = frozenset(
    {BookingStatus.COMPLETED, BookingStatus.CANCELLED, BookingStatus.NO_SHOW}
)

M = TypeVar("M", Patient, TransportBooking)


def _require_access(actor: Principal) -> None:
    if actor.role not in (Role.CARE_CENTRE, Role.DISPATCHER, Role.SUPERVISOR, Role.ADMIN):
        raise Forbidden("Patient transport is for care centres and dispatch staff.")


def _scoped(stmt: Select[M], model: type[M], actor: Principal) -> Select[M]:
    _require_access(actor)
    if actor.role == Role.CARE_CENTRE:
        return stmt.where(model.organisation_id == actor.organisation_id)
    return stmt


async def owner_organisation(uow: UnitOfWork, actor: Principal, requested: int | None) -> int:
    """The care centre a new record belongs to."""
    _require_access(actor)
    if actor.role == Role.CARE_CENTRE:
        if requested is not None and requested != actor.organisation_id:
            raise InvalidInput("organisation_id", "A care centre books only for itself.")
        return actor.organisation_id
    if requested is None:
        raise InvalidInput("organisation_id", "Say which care centre this is for.")
    organisation = await uow.session.get(Organisation, requested)
    if organisation is None or organisation.kind != OrganisationKind.CARE_CENTRE:
        raise InvalidInput("organisation_id", f"Organisation {requested} is not a care centre.")
    return requested


async def _get(uow: UnitOfWork, actor: Principal, model: type[M], obj_id: int, what: str) -> M:
    stmt = _scoped(select(model).where(model.id == obj_id), model, actor)
    obj = await uow.session.scalar(stmt)
    if obj is None:
        raise NotFound(f"{what} {obj_id} does not exist.")
    return obj


# --- patients ---------------------------------------------------------------------------


async def list_patients(uow: UnitOfWork, actor: Principal) -> list[Patient]:
    stmt = _scoped(select(Patient).order_by(Patient.full_name, Patient.id), Patient, actor)
    return list((await uow.session.scalars(stmt)).all())


async def get_patient(uow: UnitOfWork, actor: Principal, patient_id: int) -> Patient:
    return await _get(uow, actor, Patient, patient_id, "Patient")


async def create_patient(uow: UnitOfWork, actor: Principal, data: PatientCreate) -> Patient:
    organisation_id = await owner_organisation(uow, actor, data.organisation_id)
    patient = Patient(
        organisation_id=organisation_id, **data.model_dump(exclude={"organisation_id"})
    )
    uow.session.add(patient)
    await uow.session.flush()
    audit.record(uow, actor, "patient.created", patient)
    return patient


async def update_patient(
    uow: UnitOfWork, actor: Principal, patient_id: int, data: PatientUpdate
) -> Patient:
    patient = await get_patient(uow, actor, patient_id)
    before = audit.snapshot(patient)
    for key, value in data.model_dump(exclude_unset=True).items():
        setattr(patient, key, value)
    await uow.session.flush()
    old, new = audit.changed(before, audit.snapshot(patient))
    if new:  # personal fields are logged by name only (dispatch.models.privacy)
        audit.record(uow, actor, "patient.updated", patient, before=old, after=new)
    return patient


# --- bookings ---------------------------------------------------------------------------


async def list_bookings(
    uow: UnitOfWork,
    actor: Principal,
    *,
    patient_id: int | None = None,
    service_date: date | None = None,
    limit: int = 500,
    before_id: int | None = None,
) -> list[TransportBooking]:
    """Newest first; ``before_id``: the rows after that one (the next page)."""
    stmt = select(TransportBooking).order_by(TransportBooking.id.desc()).limit(limit)
    if before_id is not None:
        stmt = stmt.where(TransportBooking.id < before_id)
    if patient_id is not None:
        stmt = stmt.where(TransportBooking.patient_id == patient_id)
    if service_date is not None:
        stmt = stmt.where(TransportBooking.service_date == service_date)
    stmt = _scoped(stmt, TransportBooking, actor)
    return list((await uow.session.scalars(stmt)).all())


async def get_booking(uow: UnitOfWork, actor: Principal, booking_id: int) -> TransportBooking:
    return await _get(uow, actor, TransportBooking, booking_id, "Booking")


@dataclass(frozen=True)
class Created:
    booking: TransportBooking
    return_booking: TransportBooking | None
    generated: list[TransportBooking]


async def centre_timezone(uow: UnitOfWork, organisation_id: int) -> ZoneInfo:
    organisation = await uow.session.get(Organisation, organisation_id)
    return ZoneInfo(organisation.timezone if organisation else "Asia/Bangkok")


def check_future(data: BookingCreate, now: datetime) -> None:
    if data.appointment_at is not None and data.appointment_at <= now:
        raise InvalidInput("appointment_at", "The appointment is in the past.")
    if data.pickup_window_end is not None and data.pickup_window_end <= now:
        raise InvalidInput("pickup_window_end", "The pickup window has already closed.")
    outbound_done = data.appointment_at or data.pickup_window_start
    if (
        data.return_pickup_window_start is not None
        and outbound_done is not None
        and data.return_pickup_window_start < outbound_done
    ):
        raise InvalidInput(
            "return_pickup_window_start", "The return pickup must be after the appointment."
        )


async def create_booking(
    uow: UnitOfWork,
    actor: Principal,
    data: BookingCreate,
    cfg: TransportConfig,
    *,
    now: datetime | None = None,
) -> Created:
    """Book a ride, optionally with its return and as a weekly series whose rides are
    generated ``cfg.horizon_days`` ahead."""
    now = now or clock.now()
    patient = await uow.session.scalar(
        _scoped(select(Patient).where(Patient.id == data.patient_id), Patient, actor)
    )
    if patient is None:
        raise InvalidInput("patient_id", f"Patient {data.patient_id} does not exist.")
    check_future(data, now)
    values: dict[str, Any] = data.model_dump(
        exclude={"return_pickup_window_start", "return_pickup_window_end", "allow_duplicate"}
    )
    if data.destination_hospital_id is not None:
        hospital = await uow.session.get(Hospital, data.destination_hospital_id)
        if hospital is None:
            raise InvalidInput(
                "destination_hospital_id",
                f"Hospital {data.destination_hospital_id} does not exist.",
            )
        if data.destination_lat is None:
            values.update(destination_lat=hospital.lat, destination_lon=hospital.lon)
        values["destination_address"] = data.destination_address or hospital.name
    if data.return_of_id is not None:
        outbound = await uow.session.scalar(
            _scoped(
                select(TransportBooking).where(TransportBooking.id == data.return_of_id),
                TransportBooking,
                actor,
            )
        )
        if outbound is None or outbound.patient_id != patient.id:
            raise InvalidInput(
                "return_of_id", f"Booking {data.return_of_id} is not this patient's."
            )
    if not data.allow_duplicate:
        await refuse_recent_twin(uow, values, now)
    tz = await centre_timezone(uow, patient.organisation_id)
    booking = TransportBooking(
        organisation_id=patient.organisation_id, created_by_id=actor.user_id, **values
    )
    booking.is_series = data.recurrence_rule is not None
    booking.service_date = None if booking.is_series else series.first_day(booking, tz)
    uow.session.add(booking)
    await uow.session.flush()
    back = None
    if data.return_pickup_window_start is not None:
        back = TransportBooking(
            organisation_id=booking.organisation_id,
            created_by_id=actor.user_id,
            patient_id=booking.patient_id,
            pickup_lat=booking.destination_lat,
            pickup_lon=booking.destination_lon,
            pickup_address=booking.destination_address,
            destination_lat=booking.pickup_lat,
            destination_lon=booking.pickup_lon,
            destination_address=booking.pickup_address,
            pickup_window_start=data.return_pickup_window_start,
            pickup_window_end=data.return_pickup_window_end,
            companions=booking.companions,
            return_of_id=booking.id,
            recurrence_rule=booking.recurrence_rule,
            is_series=booking.is_series,
        )
        back.service_date = None if back.is_series else series.first_day(back, tz)
        uow.session.add(back)
        await uow.session.flush()
    generated: list[TransportBooking] = []
    if booking.is_series:
        until = (now.astimezone(tz) + cfg.horizon_days * timedelta(days=1)).date()
        generated = await series.expand(uow, booking, until, tz, return_series=back)
    for ride in [booking, *([back] if back else []), *generated]:
        audit.record(
            uow, actor, "booking.created", ride, after={"id": ride.id, "series_id": ride.series_id}
        )
        uow.emit(
            BookingCreated(
                booking_id=ride.id,
                organisation_id=ride.organisation_id,
                service_date=ride.service_date,
            )
        )
    return Created(booking, back, generated)


def _ensure_changeable(booking: TransportBooking) -> None:
    if booking.status in _FINAL_STATUSES or booking.status == BookingStatus.ON_BOARD:
        raise Conflict(
            f"Booking {booking.id} is {booking.status.value.replace('_', ' ')}; it cannot change."
        )


async def update_booking(
    uow: UnitOfWork, actor: Principal, booking_id: int, data: BookingUpdate
) -> TransportBooking:
    booking = await get_booking(uow, actor, booking_id)
    _ensure_changeable(booking)
    if data.version is not None and data.version != booking.version:
        raise Conflict(f"Booking {booking_id} was changed meanwhile; reload and try again.")
    changes = data.model_dump(exclude_unset=True, exclude={"version"})
    if "appointment_at" in changes or "pickup_window_start" in changes:
        # A new time replaces the old kind of time entirely.
        booking.appointment_at = None
        booking.pickup_window_start = booking.pickup_window_end = None
    before = audit.snapshot(booking)
    day_before = booking.service_date
    for key, value in changes.items():
        setattr(booking, key, value)
    if booking.appointment_at is None and booking.pickup_window_start is None:
        raise InvalidInput("appointment_at", "Give appointment_at (arrive by) or a pickup window.")
    if not booking.is_series:  # a ride moved to another day is planned on that day
        tz = await centre_timezone(uow, booking.organisation_id)
        booking.service_date = series.first_day(booking, tz)
    if booking.status == BookingStatus.PLANNED:
        booking.status = BookingStatus.REQUESTED  # must be planned again
        booking.planned_pickup_at = None
    await uow.session.flush()
    old, new = audit.changed(before, audit.snapshot(booking))
    if new:
        audit.record(uow, actor, "booking.updated", booking, before=old, after=new)
        uow.emit(
            BookingUpdated(
                booking_id=booking.id,
                organisation_id=booking.organisation_id,
                service_dates=tuple(
                    sorted({d for d in (day_before, booking.service_date) if d is not None})
                ),
            )
        )
    return booking


async def cancel_booking(
    uow: UnitOfWork,
    actor: Principal,
    booking_id: int,
    *,
    now: datetime | None = None,
    late_cancel: timedelta = timedelta(hours=2),
) -> TransportBooking:
    """Cancel a ride and its way home (a series: also its rides still to come)."""
    booking = await get_booking(uow, actor, booking_id)
    _ensure_changeable(booking)
    now = now or clock.now()
    dependent = (
        await uow.session.scalars(
            select(TransportBooking).where(
                or_(
                    TransportBooking.series_id == booking.id,
                    TransportBooking.return_of_id == booking.id,
                ),
                TransportBooking.status.in_((BookingStatus.REQUESTED, BookingStatus.PLANNED)),
            )
        )
    ).all()
    for ride in dependent:
        await cancel_booking(uow, actor, ride.id, now=now, late_cancel=late_cancel)
    pickup = booking.planned_pickup_at or booking.pickup_window_start or booking.appointment_at
    late = not booking.is_series and pickup is not None and pickup - now < late_cancel
    before = audit.snapshot(booking)
    booking.status = BookingStatus.CANCELLED
    booking.outcome = BookingOutcome.LATE_CANCEL if late else BookingOutcome.CANCELLED
    await uow.session.flush()
    old, new = audit.changed(before, audit.snapshot(booking))
    audit.record(uow, actor, "booking.cancelled", booking, before=old, after=new)
    uow.emit(
        BookingCancelled(
            booking_id=booking.id,
            organisation_id=booking.organisation_id,
            service_date=booking.service_date,
        )
    )
    return booking


# --- vehicles on booked rides (emergency preemption) ------------------------------------

#: Rides that hold a vehicle: planned on it, it is on its way, or the patient is aboard.
_HELD = (BookingStatus.PLANNED, BookingStatus.VEHICLE_EN_ROUTE, BookingStatus.ON_BOARD)


@dataclass(frozen=True, slots=True)
class TransportLoad:
    """A vehicle's booked rides: ``on_board`` patients make it untouchable; ``underway``
    means it is out on a run with nobody aboard; ``remaining`` is every ride that taking the
    vehicle away would disrupt."""

    on_board: tuple[int, ...]
    underway: tuple[int, ...]
    remaining: tuple[int, ...]

    @property
    def busy(self) -> bool:
        return bool(self.on_board or self.underway)


async def transport_loads(
    uow: UnitOfWork, vehicle_ids: Sequence[int] | None = None
) -> dict[int, TransportLoad]:
    """Booked rides per vehicle (only vehicles that have any)."""
    stmt = select(TransportBooking.vehicle_id, TransportBooking.id, TransportBooking.status).where(
        TransportBooking.vehicle_id.is_not(None), TransportBooking.status.in_(_HELD)
    )
    if vehicle_ids is not None:
        stmt = stmt.where(TransportBooking.vehicle_id.in_(vehicle_ids))
    grouped: dict[int, list[tuple[int, BookingStatus]]] = {}
    for vehicle_id, booking_id, status in (
        await uow.session.execute(stmt.order_by(TransportBooking.id))
    ).all():
        if vehicle_id is not None:
            grouped.setdefault(vehicle_id, []).append((booking_id, status))
    return {
        vehicle_id: TransportLoad(
            on_board=tuple(b for b, s in rides if s == BookingStatus.ON_BOARD),
            underway=tuple(b for b, s in rides if s == BookingStatus.VEHICLE_EN_ROUTE),
            remaining=tuple(b for b, s in rides if s != BookingStatus.ON_BOARD),
        )
        for vehicle_id, rides in grouped.items()
    }


async def release_rides(
    uow: UnitOfWork, actor: Principal, booking_ids: Sequence[int], reason: str
) -> list[TransportBooking]:
    """Take rides off their vehicle so they can be planned again, and tell the care centres.

    Until the scheduler re-plans them they are *requested* again, with the reason kept.
    Their stops that are not done leave the old vehicle's manifest (the stop it was under
    way to included), so the re-plan can list them on the vehicle that takes them over.
    """
    if not booking_ids:
        return []
    await uow.session.execute(
        delete(PlanStop).where(PlanStop.booking_id.in_(booking_ids), PlanStop.status != "done")
    )
    bookings = (
        await uow.session.scalars(
            select(TransportBooking).where(TransportBooking.id.in_(booking_ids))
        )
    ).all()
    for booking in bookings:
        before = audit.snapshot(booking)
        booking.vehicle_id = None
        booking.planned_pickup_at = None
        booking.status = BookingStatus.REQUESTED
        booking.release_reason = reason
        await uow.session.flush()
        old, new = audit.changed(before, audit.snapshot(booking))
        audit.record(uow, actor, "booking.released", booking, before=old, after=new)
        uow.emit(
            BookingReleased(
                booking_id=booking.id,
                organisation_id=booking.organisation_id,
                reason=reason,
                service_date=booking.service_date,
            )
        )
    return list(bookings)
