"""What a day plan costs: each leg is timed at its hour (a ride in the morning rush at rush
speed, a ride at midday at the day's free speed; before, every leg of the day was timed at
08:00's rush), and a van more is used only when the rides need it."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from dispatch.config import Settings
from dispatch.db.session import Database
from dispatch.models import PlanStop
from dispatch.models.enums import Mobility
from dispatch.routing.base import LatLon
from dispatch.routing.straight import StraightLineProvider
from dispatch.routing.timeofday import TimeOfDayProfile
from dispatch.transports import planbuild, planning
from dispatch.transports.config import TransportConfig
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


async def test_rides_one_van_can_do_take_one_van_and_the_reply_says_what_it_costs(
    db: Database, world: World
) -> None:
    """Two vans on shift, three rides hours apart: one van does them all, and the reply
    says what the plan costs. A van costs ``DISPATCH_PLAN_VEHICLE_COST_MINUTES`` of
    driving, except one already out today."""
    await give_shifts(db, world, units=("T1", "B1"))
    rides = [await book_ride(db, world, Mobility.AMBULATORY, h, PICKUP_LAT) for h in (9, 12, 15)]
    async with db.unit_of_work() as uow:
        result = await planning.plan(uow, None, DAY, BANGKOK, RUSH, CFG)
    assert sorted(result.served) == sorted(rides)
    assert len(result.vehicles) == 1
    figures = result.figures
    assert (figures["vehicles_used"], figures["served"]) == (1, 3)
    assert 0 < figures["deadhead_h"] < figures["driving_h"] < figures["revenue_h"]
    assert figures["trips_per_vehicle_hour"] == pytest.approx(3 / figures["revenue_h"], rel=0.01)
    # the cost reaches the scheduler; a van already out today costs nothing more
    async with db.unit_of_work() as uow:
        stop = await uow.session.scalar(select(PlanStop).where(PlanStop.kind == "pickup"))
        assert stop is not None
        stop.status = "done"
    async with db.unit_of_work(read_only=True) as uow:
        day = await planbuild.build(
            uow, DAY, BANGKOK, RUSH, CFG, now=local(6), started=False, positions={},
            exclude_vehicle_ids=(),
        )  # fmt: skip
        out = await planbuild.build(
            uow, DAY, BANGKOK, RUSH, CFG, now=local(6), started=True, positions={},
            exclude_vehicle_ids=(),
        )  # fmt: skip
    cost = CFG.vehicle_cost.total_seconds()
    assert cost > 0 and {v.fixed_cost for v in day.problem.vehicles} == {cost}
    fixed = {int(v.id): v.fixed_cost for v in out.problem.vehicles}
    assert fixed[stop.vehicle_id] == 0 and sorted(fixed.values()) == [0, cost]


async def test_an_hour_cost_reaches_the_scheduler_as_a_rate_per_second(
    db: Database, world: World
) -> None:
    """``DISPATCH_PLAN_HOUR_COST_MINUTES`` = 30: every van pays half a second of driving per
    second out, and a plan still serves every ride."""
    cfg = TransportConfig.from_settings(Settings(plan_hour_cost_minutes=30))
    assert cfg.hour_cost == timedelta(minutes=30)
    await give_shifts(db, world, units=("T1", "B1"))
    rides = [await book_ride(db, world, Mobility.AMBULATORY, h, PICKUP_LAT) for h in (9, 15)]
    async with db.unit_of_work(read_only=True) as uow:
        built = await planbuild.build(
            uow, DAY, BANGKOK, RUSH, cfg, now=local(6), started=False, positions={},
            exclude_vehicle_ids=(),
        )  # fmt: skip
    assert {v.time_cost for v in built.problem.vehicles} == {0.5}
    async with db.unit_of_work() as uow:
        result = await planning.plan(uow, None, DAY, BANGKOK, RUSH, cfg)
    assert sorted(result.served) == sorted(rides)
