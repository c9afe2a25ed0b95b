"""A day plan times each leg at its hour: a ride in the morning rush is planned at rush
speed, a ride at midday at the day's free speed (before, every leg of the day was timed at
08:00's rush)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from dispatch.db.session import Database
from dispatch.models import PlanStop
from dispatch.models.enums import Mobility
from dispatch.routing.base import LatLon
from dispatch.routing.straight import StraightLineProvider
from dispatch.routing.timeofday import TimeOfDayProfile
from dispatch.transports import planning
from tests.helpers.rides import BANGKOK, CFG, DAY, book_ride, give_shifts, local
from tests.helpers.world import World

pytestmark = pytest.mark.slow
RUSH = StraightLineProvider(TimeOfDayProfile(timezone="Asia/Bangkok"))
PICKUP_LAT, DEST = 13.75, LatLon(13.7327, 100.5354)


async def _ride_legs(db: Database) -> dict[int, timedelta]:
    """Per booking, from leaving the pickup to reaching the drop-off."""
    async with db.unit_of_work(read_only=True) as uow:
        stops = (await uow.session.scalars(select(PlanStop).order_by(PlanStop.seq))).all()
    left: dict[int, datetime] = {}
    legs: dict[int, timedelta] = {}
    for stop in stops:
        if stop.booking_id is None:
            continue
        if stop.kind == "pickup":
            left[stop.booking_id] = stop.planned_departure
        elif stop.kind == "dropoff":
            legs[stop.booking_id] = stop.planned_arrival - left[stop.booking_id]
    return legs


async def test_rides_are_timed_at_their_hour(db: Database, world: World) -> None:
    await give_shifts(db, world, units=("T1",))
    morning = await book_ride(db, world, Mobility.AMBULATORY, 9, PICKUP_LAT)
    midday = await book_ride(db, world, Mobility.AMBULATORY, 14, PICKUP_LAT)
    async with db.unit_of_work() as uow:
        result = await planning.plan(uow, None, DAY, BANGKOK, RUSH, CFG)
    assert sorted(result.served) == sorted([morning, midday])
    legs = await _ride_legs(db)
    pickup = LatLon(PICKUP_LAT, 100.55)
    rush = float(RUSH.one_to_many(pickup, [DEST], local(7, 30))[0])
    free = float(RUSH.one_to_many(pickup, [DEST], local(13, 30))[0])
    assert rush == pytest.approx(free * 1.5, rel=0.01)
    assert legs[morning].total_seconds() == pytest.approx(rush, abs=2)
    assert legs[midday].total_seconds() == pytest.approx(free, abs=2)
