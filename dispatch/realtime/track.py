"""Reading GPS history back: a unit's track for case review and for checking, from outside,
that every acknowledged fix was stored exactly once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from dispatch.db.session import UnitOfWork
from dispatch.errors import InvalidInput, NotFound
from dispatch.models import PositionFix, Vehicle

#: The longest span one request may cover; a week of 1 Hz fixes is ~600k rows.
MAX_SPAN = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class Track:
    vehicle_id: int
    since: datetime
    until: datetime
    fixes: list[PositionFix]
    truncated: bool


async def read_track(
    uow: UnitOfWork, vehicle_id: int, since: datetime, until: datetime, limit: int
) -> Track:
    """Fixes with ``since <= recorded_at < until`` in fix-time order, at most ``limit``;
    ``truncated`` tells the caller to continue from the last fix's time."""
    if until <= since:
        raise InvalidInput("until", "must be later than 'since'.")
    if until - since > MAX_SPAN:
        raise InvalidInput("until", f"a track covers at most {MAX_SPAN.days} days per request.")
    if await uow.session.get(Vehicle, vehicle_id) is None:
        raise NotFound(f"Vehicle {vehicle_id} does not exist.")
    rows = list(
        await uow.session.scalars(
            select(PositionFix)
            .where(
                PositionFix.vehicle_id == vehicle_id,
                PositionFix.recorded_at >= since,
                PositionFix.recorded_at < until,
            )
            .order_by(PositionFix.recorded_at)
            .limit(limit + 1)
        )
    )
    return Track(vehicle_id, since, until, rows[:limit], truncated=len(rows) > limit)
