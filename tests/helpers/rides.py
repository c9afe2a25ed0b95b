"""Booked rides for the planning tests: a day to plan (tomorrow in Bangkok), units on
transport shifts that day, rides booked straight into the database, and the scheduler's
settings (straight-line travel, short solver limits)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TypeVar
from zoneinfo import ZoneInfo

from dispatch.db.session import Database
from dispatch.models import Patient, TransportBooking, TransportShift, Vehicle
from dispatch.models.enums import Mobility, VehicleState
from dispatch.routing.straight import StraightLineProvider
from dispatch.routing.timeofday import FLAT_PROFILE
from dispatch.transports.config import TransportConfig
from tests.helpers.world import World

BANGKOK = ZoneInfo("Asia/Bangkok")
DAY = datetime.now(BANGKOK).date() + timedelta(days=1)
TRAVEL = StraightLineProvider(FLAT_PROFILE)
CFG = TransportConfig(plan_time_limit_s=3.0, insert_time_limit_s=1.5)

T = TypeVar("T")


def local(hour: int, minute: int = 0, day: date = DAY) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=BANGKOK)


async def give_shifts(db: Database, world: World, units: tuple[str, ...] = ("T1", "B1")) -> None:
    """Put ``units`` on duty and on a 06:00-18:00 transport shift on DAY (with a break)."""
    async with db.unit_of_work() as uow:
        for call_sign in units:
            vehicle = await uow.session.get(Vehicle, world.vehicle_ids[call_sign])
            assert vehicle is not None
            vehicle.state = VehicleState.AVAILABLE
            vehicle.seats_seated = max(vehicle.seats_seated, 2)  # an ambulance seats two too
            uow.session.add(
                TransportShift(
                    vehicle_id=vehicle.id,
                    service_date=DAY,
                    starts_at=local(6),
                    ends_at=local(18),
                    depot_lat=13.74,
                    depot_lon=100.53,
                    breaks=[
                        {
                            "earliest": local(11).isoformat(),
                            "latest": local(13).isoformat(),
                            "minutes": 30,
                        }
                    ],
                )
            )


async def book_ride(db: Database, world: World, mobility: Mobility, hour: int, lat: float) -> int:
    """A new patient of care centre A and a ride for them to an appointment at ``hour``
    on DAY, picked up at ``lat``: the booking's id."""
    async with db.unit_of_work() as uow:
        patient = Patient(
            organisation_id=world.care_a_id, full_name=f"{mobility} {hour}", mobility=mobility
        )
        uow.session.add(patient)
        await uow.session.flush()
        booking = TransportBooking(
            organisation_id=world.care_a_id,
            patient_id=patient.id,
            pickup_lat=lat,
            pickup_lon=100.55,
            destination_lat=13.7327,
            destination_lon=100.5354,
            appointment_at=local(hour),
            service_date=DAY,
        )
        uow.session.add(booking)
        await uow.session.flush()
        return booking.id


def solve_and_mark(marker: str, fn: Callable[..., T], *args: object) -> T:
    """Run in the solver process instead of ``fn(*args)``: first create the file
    ``marker``, so a test can wait for the state "the solve is under way" (a module-level
    function, so the solver process can unpickle it)."""
    Path(marker).touch()
    return fn(*args)
