"""A committed change is always announced: events go to the outbox in the change's own
transaction, and the relay publishes whatever a dead worker or a bus outage left behind."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from websockets.asyncio.client import connect

from dispatch.db.session import Database
from dispatch.events import Event
from dispatch.models import OutboxEvent, Station
from dispatch.realtime.outbox import relay_once
from tests.helpers.events import Probe
from tests.helpers.server import LiveServer
from tests.helpers.world import World
from tests.helpers.ws import hello, recv, token


def later() -> datetime:
    """A moment past the grace period of every row written so far."""
    return datetime.now(UTC) + timedelta(minutes=1)


class Recorder:
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.published: list[Event] = []

    async def __call__(self, events: Sequence[Event]) -> None:
        if self.fail:
            raise ConnectionError("bus unreachable")
        self.published.extend(events)


async def _outbox(db: Database) -> list[OutboxEvent]:
    async with db.unit_of_work(read_only=True) as uow:
        return list(await uow.session.scalars(select(OutboxEvent).order_by(OutboxEvent.id)))


async def _change(db: Database, publish: Recorder, name: str) -> None:
    async with db.unit_of_work(publish=publish) as uow:
        uow.session.add(Station(organisation_id=1, name=name, lat=13.7, lon=100.5))
        uow.emit(Probe("station.created", {"name": name}))
        uow.emit(Probe("station.checked", {"name": name}))


async def test_published_events_leave_nothing_behind(db: Database, world: World) -> None:
    bus = Recorder()
    await _change(db, bus, "North")
    assert [e.type for e in bus.published] == ["station.created", "station.checked"]
    await db.settle()  # the published rows are deleted in the background, in batches
    assert await _outbox(db) == []
    assert await relay_once(db, bus, now=later()) == 0


async def test_events_a_failed_publish_left_are_relayed_exactly_once(
    db: Database, world: World
) -> None:
    await _change(db, Recorder(fail=True), "South")  # committed, but the bus was down
    left = await _outbox(db)
    assert [(r.event_type, r.data) for r in left] == [
        ("station.created", {"name": "South"}),
        ("station.checked", {"name": "South"}),
    ]
    assert await relay_once(db, Recorder(), now=datetime.now(UTC)) == 0  # still in grace
    with pytest.raises(ConnectionError):  # bus still down: the rows stay
        await relay_once(db, Recorder(fail=True), now=later())
    assert len(await _outbox(db)) == 2
    bus = Recorder()
    assert await relay_once(db, bus, now=later()) == 2
    assert bus.published == [
        Event("station.created", {"name": "South"}),
        Event("station.checked", {"name": "South"}),
    ]
    assert await _outbox(db) == [] and await relay_once(db, bus, now=later()) == 0


async def test_a_rolled_back_change_announces_nothing(db: Database, world: World) -> None:
    bus = Recorder()
    with pytest.raises(RuntimeError):
        async with db.unit_of_work(publish=bus) as uow:
            uow.emit(Probe("station.created", {"name": "Ghost"}))
            raise RuntimeError("the service failed")
    assert bus.published == [] and await _outbox(db) == []
    async with db.unit_of_work(read_only=True) as uow:
        assert await uow.session.scalar(select(func.count()).select_from(OutboxEvent)) == 0


async def test_what_a_dead_worker_left_reaches_the_screens(
    live: LiveServer, db: Database, world: World
) -> None:
    """The crash window: committed with its outbox row, the worker gone before publishing.
    Another worker's relay announces it; the screen sees an ordinary sequenced event."""
    async with db.unit_of_work() as uow:  # exactly what the dead worker's commit left
        uow.session.add(
            OutboxEvent(
                event_type="assignment.created",
                data={"assignment_id": 77, "incident_id": 5, "vehicle_id": 999},
                created_at=datetime.now(UTC) - timedelta(seconds=30),
            )
        )
    async with connect(f"{live.ws_url}/ws/control") as screen:
        await hello(screen, token(world, "dispatcher"))
        snapshot = await recv(screen, "snapshot")
        state = live.app.state.dispatch
        assert await relay_once(state.db, state.broker.publish) == 1
        event = await recv(screen, "event")
    assert event["seq"] == snapshot["seq"] + 1
    assert event["event"] == {
        "type": "assignment.created",
        "data": {"assignment_id": 77, "incident_id": 5, "vehicle_id": 999},
    }
    assert await _outbox(db) == []
