from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from dispatch.models.base import Base
from dispatch.models.enums import BookingOutcome, BookingStatus, Mobility
from dispatch.models.privacy import NOT_PERSONAL, PERSONAL
from dispatch.models.types import JSONType, UTCDateTime, str_enum, utcnow


class Patient(Base):
    """A person a care centre books rides for. Owned by exactly one care centre."""

    __tablename__ = "patients"

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    full_name: Mapped[str] = mapped_column(String(200), info=PERSONAL)
    phone: Mapped[str | None] = mapped_column(String(32), info=PERSONAL)
    date_of_birth: Mapped[date | None] = mapped_column(Date, info=PERSONAL)
    mobility: Mapped[Mobility] = mapped_column(str_enum(Mobility, "mobility"))
    needs_escort: Mapped[bool] = mapped_column(Boolean, default=False)
    home_lat: Mapped[float | None] = mapped_column(info=PERSONAL)
    home_lon: Mapped[float | None] = mapped_column(info=PERSONAL)
    home_address: Mapped[str | None] = mapped_column(String(500), info=PERSONAL)
    notes: Mapped[str | None] = mapped_column(Text, info=PERSONAL)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class TransportBooking(Base):
    """A booked ride: either *arrive by* an appointment or *pick up within* a window."""

    __tablename__ = "transport_bookings"
    __table_args__ = (
        CheckConstraint(
            "appointment_at IS NOT NULL OR "
            "(pickup_window_start IS NOT NULL AND pickup_window_end IS NOT NULL)",
            name="has_time",
        ),
        CheckConstraint(
            "pickup_window_end IS NULL OR pickup_window_start IS NULL "
            "OR pickup_window_end >= pickup_window_start",
            name="window_ordered",
        ),
        CheckConstraint("companions >= 0", name="companions_non_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    #: Where the patient is picked up and taken (home, a clinic): personal.
    pickup_lat: Mapped[float] = mapped_column(info=PERSONAL)
    pickup_lon: Mapped[float] = mapped_column(info=PERSONAL)
    pickup_address: Mapped[str | None] = mapped_column(String(500), info=PERSONAL)
    destination_hospital_id: Mapped[int | None] = mapped_column(ForeignKey("hospitals.id"))
    destination_lat: Mapped[float] = mapped_column(info=PERSONAL)
    destination_lon: Mapped[float] = mapped_column(info=PERSONAL)
    destination_address: Mapped[str | None] = mapped_column(String(500), info=PERSONAL)
    appointment_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    pickup_window_start: Mapped[datetime | None] = mapped_column(UTCDateTime())
    pickup_window_end: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: The outbound booking this ride brings the patient back from.
    return_of_id: Mapped[int | None] = mapped_column(
        ForeignKey("transport_bookings.id", ondelete="SET NULL"), index=True
    )
    #: iCalendar-style rule, e.g. ``FREQ=WEEKLY;BYDAY=MO,WE,FR;UNTIL=20270131``.
    recurrence_rule: Mapped[str | None] = mapped_column(String(200), info=NOT_PERSONAL)
    companions: Mapped[int] = mapped_column(Integer, default=0)
    notes: Mapped[str | None] = mapped_column(Text, info=PERSONAL)
    status: Mapped[BookingStatus] = mapped_column(
        str_enum(BookingStatus, "booking_status"), default=BookingStatus.REQUESTED
    )
    outcome: Mapped[BookingOutcome | None] = mapped_column(
        str_enum(BookingOutcome, "booking_outcome")
    )
    planned_pickup_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: The vehicle the plan put this ride on.
    vehicle_id: Mapped[int | None] = mapped_column(
        ForeignKey("vehicles.id", ondelete="SET NULL"), index=True
    )
    #: Why the ride lost its vehicle (e.g. the unit was taken for a red call).
    release_reason: Mapped[str | None] = mapped_column(String(500), info=NOT_PERSONAL)
    #: A recurring booking is a *series*: never planned itself, it generates one concrete
    #: ride per matching day (``series_id`` points back to it).
    is_series: Mapped[bool] = mapped_column(Boolean, default=False)
    series_id: Mapped[int | None] = mapped_column(
        ForeignKey("transport_bookings.id", ondelete="SET NULL"), index=True
    )
    #: The local day the ride happens on (what a day's plan is built from).
    service_date: Mapped[date | None] = mapped_column(Date, index=True)
    #: Why the planner could not serve it (the plan reports, never silently drops).
    unserved_reason: Mapped[str | None] = mapped_column(String(500), info=NOT_PERSONAL)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012


class TransportShift(Base):
    """A vehicle serving booked transports on one day: when, from and to which depot, and
    its crew's breaks (each ``{"earliest", "latest", "minutes"}``, times ISO-8601)."""

    __tablename__ = "transport_shifts"
    __table_args__ = (
        UniqueConstraint("vehicle_id", "service_date"),
        CheckConstraint("ends_at > starts_at", name="ends_after_start"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    vehicle_id: Mapped[int] = mapped_column(ForeignKey("vehicles.id", ondelete="CASCADE"))
    service_date: Mapped[date] = mapped_column(Date, index=True)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    depot_lat: Mapped[float] = mapped_column(info=NOT_PERSONAL)
    depot_lon: Mapped[float] = mapped_column(info=NOT_PERSONAL)
    breaks: Mapped[list[Any]] = mapped_column(JSONType, default=list, info=NOT_PERSONAL)


class PlanStop(Base):
    """One stop of a vehicle's planned day, in order: what the manifest shows."""

    __tablename__ = "plan_stops"
    __table_args__ = (
        Index("ix_plan_stops_day_vehicle", "service_date", "vehicle_id", "seq"),
        # Ids are never handed out again (SQLite would reuse a re-plan's deleted ones, and a
        # crew's report on a removed stop would land on another): migration 0010.
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    service_date: Mapped[date] = mapped_column(Date)
    vehicle_id: Mapped[int] = mapped_column(ForeignKey("vehicles.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))  # pickup | dropoff | break
    booking_id: Mapped[int | None] = mapped_column(
        ForeignKey("transport_bookings.id", ondelete="CASCADE"), index=True
    )
    #: A pickup or drop-off is where a patient lives or is treated: personal.
    lat: Mapped[float | None] = mapped_column(info=PERSONAL)
    lon: Mapped[float | None] = mapped_column(info=PERSONAL)
    planned_arrival: Mapped[datetime] = mapped_column(UTCDateTime())
    planned_start: Mapped[datetime] = mapped_column(UTCDateTime())
    planned_departure: Mapped[datetime] = mapped_column(UTCDateTime())
    #: planned | under_way | done
    status: Mapped[str] = mapped_column(String(16), default="planned")
