"""Transport shifts, each vehicle's manifest (its planned stops for a day), the crew's
progress through it, and the live ETA a care centre sees once the vehicle is on its way."""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta

from sqlalchemy import select

from dispatch import clock
from dispatch.audit import service as audit
from dispatch.auth.principal import MANAGER_ROLES, Principal
from dispatch.db.session import UnitOfWork
from dispatch.errors import Conflict, Forbidden, InvalidInput, NotFound
from dispatch.events import BookingUpdated, ManifestStopProgressed
from dispatch.models import Patient, PlanStop, Station, TransportBooking, TransportShift, Vehicle
from dispatch.models.enums import BookingOutcome, BookingStatus
from dispatch.routing.base import LatLon, TravelTimeProvider
from dispatch.transports.schemas import ManifestStopOut, ShiftCreate
from dispatch.transports.service import centre_timezone, get_booking

_STOP_MOVES = {"planned": {"under_way", "done", "no_show"}, "under_way": {"done", "no_show"}}


async def create_shift(uow: UnitOfWork, actor: Principal, data: ShiftCreate) -> TransportShift:
    if actor.role not in MANAGER_ROLES:
        raise Forbidden("Only supervisors plan shifts.")
    vehicle = await uow.session.get(Vehicle, data.vehicle_id)
    if vehicle is None:
        raise InvalidInput("vehicle_id", f"Vehicle {data.vehicle_id} does not exist.")
    lat, lon = data.depot_lat, data.depot_lon
    if lat is None or lon is None:
        station = await uow.session.get(Station, vehicle.station_id) if vehicle.station_id else None
        if station is None:
            raise InvalidInput("depot_lat", "The unit has no station; give the depot.")
        lat, lon = station.lat, station.lon
    tz = await centre_timezone(uow, vehicle.organisation_id)
    day = data.starts_at.astimezone(tz).date()
    taken = await uow.session.scalar(
        select(TransportShift.id).where(
            TransportShift.vehicle_id == vehicle.id, TransportShift.service_date == day
        )
    )
    if taken is not None:
        raise Conflict(f"{vehicle.call_sign} already has a transport shift on {day}.")
    for n, brk in enumerate(data.breaks):
        if (
            brk.earliest < data.starts_at
            or brk.latest + timedelta(minutes=brk.minutes) > data.ends_at
        ):
            raise InvalidInput(f"breaks.{n}", "The break must lie within the shift.")
    shift = TransportShift(
        vehicle_id=vehicle.id,
        service_date=day,
        starts_at=data.starts_at,
        ends_at=data.ends_at,
        depot_lat=lat,
        depot_lon=lon,
        breaks=[b.model_dump(mode="json") for b in data.breaks],
    )
    uow.session.add(shift)
    await uow.session.flush()
    audit.record(uow, actor, "shift.created", shift)
    return shift


async def list_shifts(uow: UnitOfWork, day: date) -> list[TransportShift]:
    stmt = select(TransportShift).where(TransportShift.service_date == day)
    return list((await uow.session.scalars(stmt.order_by(TransportShift.vehicle_id))).all())


def _may_see(actor: Principal, vehicle_id: int) -> None:
    if not actor.is_operational and actor.vehicle_id != vehicle_id:
        raise Forbidden("A crew sees only its own vehicle's manifest.")


async def manifest(
    uow: UnitOfWork, actor: Principal, vehicle_id: int, day: date
) -> list[ManifestStopOut]:
    _may_see(actor, vehicle_id)
    rows = (
        await uow.session.execute(
            select(PlanStop, TransportBooking, Patient)
            .outerjoin(TransportBooking, TransportBooking.id == PlanStop.booking_id)
            .outerjoin(Patient, Patient.id == TransportBooking.patient_id)
            .where(PlanStop.vehicle_id == vehicle_id, PlanStop.service_date == day)
            .order_by(PlanStop.seq)
        )
    ).all()
    out = []
    for stop, booking, patient in rows:
        address = None
        if booking is not None:
            address = (
                booking.pickup_address if stop.kind == "pickup" else booking.destination_address
            )
        out.append(
            ManifestStopOut(
                id=stop.id,
                seq=stop.seq,
                kind=stop.kind,
                status=stop.status,
                booking_id=stop.booking_id,
                lat=stop.lat,
                lon=stop.lon,
                planned_arrival=stop.planned_arrival,
                planned_start=stop.planned_start,
                planned_departure=stop.planned_departure,
                patient_name=patient.full_name if patient else None,
                mobility=patient.mobility if patient else None,
                companions=booking.companions if booking else None,
                address=address,
            )
        )
    return out


async def update_stop(uow: UnitOfWork, actor: Principal, stop_id: int, status: str) -> PlanStop:
    """The crew's progress: on the way to a stop, done, or the patient did not come."""
    stop = await uow.session.scalar(
        uow.strategy.lock_for_update(select(PlanStop).where(PlanStop.id == stop_id))
    )
    if stop is None:
        raise NotFound(f"Stop {stop_id} does not exist.")
    _may_see(actor, stop.vehicle_id)
    if status == stop.status:
        return stop  # a resent report
    if status not in _STOP_MOVES.get(stop.status, set()):
        raise Conflict(
            f"Stop {stop_id} is {stop.status.replace('_', ' ')}; it cannot become {status}."
        )
    if status == "no_show" and stop.kind != "pickup":
        raise InvalidInput("status", "Only a pickup can be a no-show.")
    stop.status = status
    booking = await uow.session.get(TransportBooking, stop.booking_id) if stop.booking_id else None
    if booking is not None:
        before = audit.snapshot(booking)
        if status == "under_way" and stop.kind == "pickup":
            booking.status = BookingStatus.VEHICLE_EN_ROUTE
        elif status == "done" and stop.kind == "pickup":
            booking.status = BookingStatus.ON_BOARD
        elif status == "done" and stop.kind == "dropoff":
            booking.status, booking.outcome = BookingStatus.COMPLETED, BookingOutcome.COMPLETED
        elif status == "no_show":
            booking.status, booking.outcome = BookingStatus.NO_SHOW, BookingOutcome.NO_SHOW
            dropoff = await uow.session.scalar(
                select(PlanStop).where(
                    PlanStop.booking_id == booking.id, PlanStop.kind == "dropoff"
                )
            )
            if dropoff is not None:
                dropoff.status = "done"
        await uow.session.flush()
        old, new = audit.changed(before, audit.snapshot(booking))
        if new:
            audit.record(uow, actor, "booking.progress", booking, before=old, after=new)
            uow.emit(
                BookingUpdated(
                    booking_id=booking.id,
                    organisation_id=booking.organisation_id,
                    status=booking.status.value,
                )
            )
    await uow.session.flush()
    uow.emit(
        ManifestStopProgressed(vehicle_id=stop.vehicle_id, stop_id=stop.id, status=stop.status)
    )
    return stop


async def live_eta(
    uow: UnitOfWork,
    actor: Principal,
    booking_id: int,
    travel: TravelTimeProvider,
    position: tuple[float, float, datetime | None] | None,
) -> tuple[TransportBooking, int, datetime, float | None]:
    """When the vehicle is on its way to the pickup: seconds to arrival from its live
    position (``position`` = lat, lon, fix time; None = use its last stored fix)."""
    booking = await get_booking(uow, actor, booking_id)
    if booking.status != BookingStatus.VEHICLE_EN_ROUTE or booking.vehicle_id is None:
        raise Conflict("The vehicle is not on its way yet; see planned_pickup_at.")
    if position is None:
        vehicle = await uow.session.get(Vehicle, booking.vehicle_id)
        if vehicle is None or vehicle.last_lat is None or vehicle.last_lon is None:
            raise Conflict("The vehicle's position is not known yet.")
        position = (vehicle.last_lat, vehicle.last_lon, vehicle.last_fix_at)
    lat, lon, fix_at = position
    now = clock.now()
    seconds = await asyncio.to_thread(
        travel.many_to_one, [LatLon(lat, lon)], LatLon(booking.pickup_lat, booking.pickup_lon), now
    )
    eta = int(seconds[0])
    age = (now - fix_at).total_seconds() if fix_at else None
    return booking, eta, now + timedelta(seconds=eta), age
