"""The history writer: group commit, per-request duplicate flags, failure without loss."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from dispatch.db.session import Database
from dispatch.models import PositionFix
from dispatch.realtime.fixes import Fix
from dispatch.realtime.history import HistoryBusy, HistoryWriter
from tests.helpers.waiting import eventually
from tests.helpers.world import World

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)


def fixes(vehicle_id: int, seconds: range) -> list[Fix]:
    now = datetime.now(UTC)
    return [
        Fix(vehicle_id, T0 + timedelta(seconds=s), now, 13.7 + s * 1e-5, 100.5) for s in seconds
    ]


async def count(db: Database) -> int:
    async with db.unit_of_work(read_only=True) as uow:
        return int(await uow.session.scalar(select(func.count()).select_from(PositionFix)) or 0)


async def test_concurrent_requests_share_commits_and_learn_which_fixes_were_new(
    db: Database, world: World
) -> None:
    writer = HistoryWriter(db, linger_s=0.05)
    await writer.start()
    a1, b1 = world.vehicle_ids["A1"], world.vehicle_ids["B1"]
    try:
        results = await asyncio.gather(
            writer.write(fixes(a1, range(0, 100))),
            writer.write(fixes(a1, range(50, 150))),  # overlaps the first by 50
            writer.write(fixes(b1, range(0, 100))),
        )
    finally:
        await writer.stop()
    assert [sum(r) for r in results] == [100, 50, 100]
    assert results[1][:50] == [False] * 50
    assert await count(db) == 250
    assert writer.stats.batches == 1  # three requests, one transaction


async def test_stop_flushes_everything_accepted(db: Database, world: World) -> None:
    writer = HistoryWriter(db, linger_s=0.5)
    await writer.start()
    pending = asyncio.create_task(writer.write(fixes(world.vehicle_ids["A1"], range(30))))
    await eventually(lambda: writer.pending == 30, what="the 30 fixes accepted")
    await writer.stop()  # long before the half-second linger is over
    assert sum(await pending) == 30
    assert await count(db) == 30
    with pytest.raises(HistoryBusy):
        await writer.write(fixes(world.vehicle_ids["A1"], range(30, 31)))


async def test_a_failing_database_refuses_instead_of_losing(db: Database, world: World) -> None:
    writer = HistoryWriter(db, linger_s=0.0)
    await writer.start()
    try:
        bad = [Fix(999_999, T0, datetime.now(UTC), 13.7, 100.5)]  # no such vehicle: FK fails
        with pytest.raises(HistoryBusy):
            await writer.write(bad)
        assert sum(await writer.write(fixes(world.vehicle_ids["A1"], range(3)))) == 3
    finally:
        await writer.stop()
    assert writer.stats.failures == 1


async def test_back_pressure(db: Database, world: World) -> None:
    writer = HistoryWriter(db, linger_s=0.2, max_pending=10)
    await writer.start()
    try:
        first = asyncio.create_task(writer.write(fixes(world.vehicle_ids["A1"], range(8))))
        await eventually(lambda: writer.pending == 8, what="the first 8 fixes waiting")
        with pytest.raises(HistoryBusy, match="waiting"):
            await writer.write(fixes(world.vehicle_ids["A1"], range(8, 16)))
        assert sum(await first) == 8
    finally:
        await writer.stop()
