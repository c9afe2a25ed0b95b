"""An offer is accepted once, whoever races for it (issue 19), on both stacks: twenty
accepts at once from the station, the crew and dispatchers make one assignment; accepts
racing declines and the timer end in exactly one outcome; two calls offered at once never
get the same unit."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from dispatch.app import create_app
from dispatch.clock import ManualClock
from dispatch.db.session import Database
from dispatch.incidents import offers
from dispatch.models import Assignment, AuditEntry, Offer
from dispatch.models.enums import OfferStatus
from dispatch.state import AppState
from tests.helpers.stacks import Stack
from tests.helpers.stations import add_station_staff
from tests.helpers.world import World, add_north

CALL = {"lat": 13.741, "lon": 100.531, "chief_complaint": "seizure"}
#: Everyone who may answer a Central offer: its staff, dispatchers and managers.
RACERS = ("central", "central2", "dispatcher", "dispatcher2", "supervisor", "admin")


@pytest.fixture
async def app_world(
    stack: Stack, world: World, db: Database
) -> AsyncIterator[tuple[httpx.AsyncClient, AppState, ManualClock]]:
    await add_north(db, world)
    await add_station_staff(db, world, "central", world.station_id)
    await add_station_staff(db, world, "central2", world.station_id)
    clock = ManualClock(datetime.now(UTC))
    app = create_app(stack.settings(), clock=clock)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            yield http, app.state.dispatch, clock


async def _offered(http: httpx.AsyncClient, world: World) -> dict[str, Any]:
    created = await http.post("/incidents", json=CALL, headers=world.headers("dispatcher"))
    assert created.status_code == 201, created.text
    offer = await http.post(
        f"/incidents/{created.json()['id']}/offers", headers=world.headers("dispatcher")
    )
    assert offer.status_code == 201, offer.text
    body: dict[str, Any] = offer.json()
    return body


async def _count(state: AppState, model: Any, *where: Any) -> int:
    async with state.db.unit_of_work(read_only=True) as uow:
        return int(await uow.session.scalar(select(func.count()).select_from(model).where(*where)))


async def test_twenty_accepts_at_once_make_one_assignment(
    app_world: tuple[httpx.AsyncClient, AppState, ManualClock], world: World
) -> None:
    http, state, _clock = app_world
    for _round in range(3):
        offer = await _offered(http, world)
        who = [RACERS[i % len(RACERS)] for i in range(20)]
        answers = await asyncio.gather(
            *(http.post(f"/offers/{offer['id']}/accept", headers=world.headers(w)) for w in who)
        )
        codes = Counter(a.status_code for a in answers)
        assert set(codes) <= {200, 409}, [a.text for a in answers if a.status_code >= 500]
        assignment_ids = {a.json()["assignment_id"] for a in answers if a.status_code == 200}
        assert len(assignment_ids) == 1 and None not in assignment_ids
        assert await _count(state, Assignment, Assignment.incident_id == offer["incident_id"]) == 1
        assert (
            await _count(
                state,
                AuditEntry,
                AuditEntry.action == "offer.accepted",
                AuditEntry.entity_id == offer["id"],
            )
            == 1
        )


async def test_accepts_racing_declines_and_the_timer_end_one_way(
    app_world: tuple[httpx.AsyncClient, AppState, ManualClock], world: World
) -> None:
    http, state, clock = app_world
    offer = await _offered(http, world)
    clock.advance(60)  # the deadline: an accept now is late; the timer may run

    async def timer() -> list[offers.Answer]:
        async with state.db.unit_of_work(publish=state.broker.publish) as uow:
            return await offers.expire_due(uow, state.emergency, clock.now())

    accepts = [
        http.post(f"/offers/{offer['id']}/accept", headers=world.headers(RACERS[i % 6]))
        for i in range(8)
    ]
    declines = [
        http.post(
            f"/offers/{offer['id']}/decline",
            json={"reason": "busy"},
            headers=world.headers("central"),
        )
        for _ in range(8)
    ]
    results = await asyncio.gather(*accepts, *declines, timer())
    answers = [r for r in results if isinstance(r, httpx.Response)]
    assert all(a.status_code in (200, 409) for a in answers), [a.text for a in answers]
    async with state.db.unit_of_work(read_only=True) as uow:
        row = await uow.session.get(Offer, offer["id"])
        assert row is not None
        final = row.status
        chain = (
            await uow.session.scalars(select(Offer).where(Offer.chain_id == offer["id"]))
        ).all()
    # Exactly one outcome: never accepted and also moved on.
    assert final in (OfferStatus.TIMED_OUT, OfferStatus.DECLINED)
    assert await _count(state, Assignment, Assignment.incident_id == offer["incident_id"]) == 0
    assert len([o for o in chain if o.status == OfferStatus.PENDING]) == 1  # the next station
    assert len(chain) == 2


async def test_two_calls_offered_at_once_never_share_a_unit(
    app_world: tuple[httpx.AsyncClient, AppState, ManualClock], world: World
) -> None:
    http, _state, _clock = app_world
    incidents = []
    for _ in range(4):
        created = await http.post("/incidents", json=CALL, headers=world.headers("dispatcher"))
        incidents.append(created.json()["id"])
    made = await asyncio.gather(
        *(
            http.post(f"/incidents/{i}/offers", headers=world.headers("dispatcher"))
            for i in incidents
        )
    )
    assert all(m.status_code in (201, 409) for m in made), [m.text for m in made]
    units = [m.json()["vehicle_id"] for m in made if m.status_code == 201]
    assert len(units) == len(set(units)) >= 3  # A1, B1, B2, N1 are free
