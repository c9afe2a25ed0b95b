"""Recurring rides (dialysis Mon/Wed/Fri): a *series* booking holds the rule and the
first ride's times; concrete rides are generated ahead of time, one per matching day,
keeping the same local wall-clock times (so a 07:30 pickup stays 07:30 across DST)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from dispatch.db.session import UnitOfWork
from dispatch.models import TransportBooking
from dispatch.transports import recurrence

#: Columns a generated ride copies from its series.
_COPIED = (
    "organisation_id",
    "patient_id",
    "pickup_lat",
    "pickup_lon",
    "pickup_address",
    "destination_hospital_id",
    "destination_lat",
    "destination_lon",
    "destination_address",
    "companions",
    "notes",
    "created_by_id",
)
_TIMES = ("appointment_at", "pickup_window_start", "pickup_window_end")


def local_day(at: datetime, tz: ZoneInfo) -> date:
    return at.astimezone(tz).date()


def _moved(at: datetime | None, days: int, tz: ZoneInfo) -> datetime | None:
    """The same local wall-clock time ``days`` later."""
    if at is None:
        return None
    local = at.astimezone(tz)
    return datetime.combine(
        local.date() + timedelta(days=days), local.timetz().replace(tzinfo=None), tz
    )


def first_day(booking: TransportBooking, tz: ZoneInfo) -> date:
    at = booking.appointment_at or booking.pickup_window_start
    assert at is not None
    return local_day(at, tz)


def matching_days(rule_text: str, start: date, until: date) -> list[date]:
    rule = recurrence.parse(rule_text)
    last = min(until, rule.until) if rule.until else until
    days = []
    day = start
    while day <= last:
        if day.weekday() in rule.weekdays:
            days.append(day)
        day += timedelta(days=1)
    return days


async def expand(
    uow: UnitOfWork,
    series: TransportBooking,
    until: date,
    tz: ZoneInfo,
    *,
    return_series: TransportBooking | None = None,
) -> list[TransportBooking]:
    """Generate the series' rides up to ``until`` (idempotent: existing days are kept).
    With ``return_series``, each ride gets its linked return ride."""
    assert series.recurrence_rule is not None
    start = first_day(series, tz)
    existing = set(
        (
            await uow.session.scalars(
                select(TransportBooking.service_date).where(TransportBooking.series_id == series.id)
            )
        ).all()
    )
    created = []
    for day in matching_days(series.recurrence_rule, start, until):
        if day in existing:
            continue
        offset = (day - start).days
        ride = _occurrence(series, day, offset, tz)
        uow.session.add(ride)
        await uow.session.flush()
        created.append(ride)
        if return_series is not None:
            back = _occurrence(return_series, day, offset, tz)
            back.return_of_id = ride.id
            uow.session.add(back)
            await uow.session.flush()
            created.append(back)
    return created


def _occurrence(series: TransportBooking, day: date, offset: int, tz: ZoneInfo) -> TransportBooking:
    ride = TransportBooking(**{c: getattr(series, c) for c in _COPIED})
    for column in _TIMES:
        setattr(ride, column, _moved(getattr(series, column), offset, tz))
    ride.series_id = series.id
    ride.service_date = day
    return ride
