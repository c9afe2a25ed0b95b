"""A re-plan keeps its promises: rides planned before stay planned when newcomers compete
for the same van, and their pickups stay within the notified tolerance of the time the care
centre was told (or the reply says which moved and why)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from dispatch.db.session import Database
from dispatch.models import TransportBooking
from dispatch.models.enums import Mobility
from dispatch.transports import planning
from tests.helpers.rides import BANGKOK, CFG, DAY, TRAVEL, book_ride, give_shifts
from tests.helpers.world import World

pytestmark = pytest.mark.slow


async def _plan(db: Database, limit_s: float) -> planning.PlanResult:
    async with db.unit_of_work() as uow:
        return await planning.plan(uow, None, DAY, BANGKOK, TRAVEL, CFG, time_limit_s=limit_s)


async def _pickups(db: Database) -> dict[int, object]:
    async with db.unit_of_work(read_only=True) as uow:
        rows = await uow.session.scalars(select(TransportBooking))
        return {b.id: b.planned_pickup_at for b in rows if b.planned_pickup_at is not None}


async def test_a_longer_replan_keeps_every_planned_ride_and_its_pickup(
    db: Database, world: World
) -> None:
    """One van with two wheelchair places; wheelchair rides to the same 09:00 clinic from
    the far north are planned first. Newcomers from close by would be cheaper to serve
    instead; a longer re-plan keeps every ride that had a pickup, near its time."""
    await give_shifts(db, world, units=("T1",))
    far = [await book_ride(db, world, Mobility.WHEELCHAIR, 9, 13.80 - 0.01 * i) for i in range(6)]
    first = await _plan(db, 3.0)
    kept = set(first.served)
    assert kept and kept < set(far)  # the van cannot take them all
    told = await _pickups(db)
    newcomers = [
        await book_ride(db, world, Mobility.WHEELCHAIR, 9, 13.735 + 0.002 * i) for i in range(6)
    ]
    again = await _plan(db, 6.0)
    assert kept <= set(again.served), f"dropped {kept - set(again.served)}"
    assert set(newcomers) <= set(again.served) | set(again.unserved)
    now = await _pickups(db)
    for ride in kept:
        shift = abs(now[ride] - told[ride])  # type: ignore[operator]
        assert shift <= CFG.notify_change or ride in again.moved, (ride, shift)
    for ride, reason in again.moved.items():
        assert ride in kept and reason.startswith("the pickup told could not be kept")
    assert set(again.rescheduled) == set(again.moved)  # the care centre hears of each
