"""A second *Book* of the same ride moments after the first is almost always a mistake (a
clerk unsure the first went through, two clerks on one request): the server asks before
creating it. Resending with ``allow_duplicate: true`` books it anyway; a resend of the
same request with the same Idempotency-Key never gets here (it replays the first answer).
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from dispatch.db.session import UnitOfWork
from dispatch.errors import Conflict
from dispatch.models import TransportBooking
from dispatch.models.enums import BookingStatus

#: How recent the first booking must be for a second identical one to be questioned.
WINDOW = timedelta(seconds=60)
#: Pickup and destination points closer than this are the same place.
SAME_PLACE_M = 100.0


class PossibleDuplicate(Conflict):
    code = "duplicate_booking"


async def refuse_recent_twin(uow: UnitOfWork, values: dict[str, Any], now: datetime) -> None:
    """409 naming the booking made in the last minute for the same patient, times and
    places (``values``: the new booking's columns)."""
    recent = (
        await uow.session.scalars(
            select(TransportBooking)
            .where(
                TransportBooking.patient_id == values["patient_id"],
                TransportBooking.created_at >= now - WINDOW,
                TransportBooking.status != BookingStatus.CANCELLED,
                TransportBooking.return_of_id.is_(None)
                if values.get("return_of_id") is None
                else TransportBooking.return_of_id == values["return_of_id"],
            )
            .order_by(TransportBooking.id)
        )
    ).all()
    for twin in recent:
        if same_ride(twin, values):
            raise PossibleDuplicate(
                f"Booking {twin.id} for this patient, with the same times and places, was "
                "made moments ago. Book again only if a second ride is really needed "
                "(send allow_duplicate: true).",
                duplicate_of=twin.id,
            )


def same_ride(twin: TransportBooking, values: dict[str, Any]) -> bool:
    if (
        twin.appointment_at != values.get("appointment_at")
        or twin.pickup_window_start != values.get("pickup_window_start")
        or twin.pickup_window_end != values.get("pickup_window_end")
        or twin.destination_hospital_id != values.get("destination_hospital_id")
        or twin.recurrence_rule != values.get("recurrence_rule")
    ):
        return False
    pickup = _metres(twin.pickup_lat, twin.pickup_lon, values["pickup_lat"], values["pickup_lon"])
    destination = _metres(
        twin.destination_lat,
        twin.destination_lon,
        values["destination_lat"],
        values["destination_lon"],
    )
    return pickup <= SAME_PLACE_M and destination <= SAME_PLACE_M


def _metres(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Equirectangular distance: exact enough at a hundred metres."""
    dy = (lat2 - lat1) * 111_320.0
    dx = (lon2 - lon1) * 111_320.0 * math.cos(math.radians((lat1 + lat2) / 2))
    return math.hypot(dx, dy)
