"""Idempotent writes under real concurrency (README, "Idempotent writes"): simultaneous
identical requests make one row on both databases, over the ASGI client and over TCP to
a live uvicorn; a duplicate sent while the first is still running waits for its outcome
and replays it (a failed first leaves the work to the duplicate); a plan request, which
writes in its own transactions, is planned once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, text
from starlette.types import Receive, Scope, Send

from dispatch.db.session import Database
from dispatch.errors import Unavailable
from dispatch.incidents import service as incidents
from dispatch.models import AuditEntry, Incident
from dispatch.models.enums import Mobility
from tests.helpers.idempotency import SCENE, WRITES, count, keyed, new_key, write_for
from tests.helpers.rides import DAY, book_ride, give_shifts
from tests.helpers.server import LiveServer
from tests.helpers.stacks import Stack
from tests.helpers.waiting import eventually
from tests.helpers.world import World

COPIES = 10


def _one_answer_the_rest_replays(answers: list[httpx.Response], status: int = 201) -> None:
    assert [a.status_code for a in answers] == [status] * len(answers), [a.text for a in answers]
    assert len({a.content for a in answers}) == 1  # the same bytes for everyone
    replayed = [a.headers.get("idempotent-replayed") for a in answers]
    assert replayed.count("true") == len(answers) - 1 and replayed.count(None) == 1


@pytest.mark.parametrize("name", WRITES)
async def test_simultaneous_identical_requests_make_one_row(
    client: httpx.AsyncClient, db: Database, world: World, name: str
) -> None:
    write = await write_for(name, client, world)
    before = await count(db, write.creates)
    headers = keyed(world, write.who, new_key())
    answers = await asyncio.gather(
        *(client.post(write.path, json=write.body, headers=headers) for _ in range(COPIES))
    )
    _one_answer_the_rest_replays(list(answers))
    assert await count(db, write.creates) == before + 1


async def test_simultaneous_identical_requests_to_a_live_server_make_one_row(
    live: LiveServer, db: Database, world: World
) -> None:
    headers = keyed(world, "dispatcher", new_key())
    limits = httpx.Limits(max_connections=COPIES)
    async with httpx.AsyncClient(base_url=live.base_url, limits=limits, timeout=30) as http:
        answers = await asyncio.gather(
            *(http.post("/incidents", json=SCENE, headers=headers) for _ in range(COPIES))
        )
    _one_answer_the_rest_replays(list(answers))
    assert await count(db, Incident) == 1


class _InFlight:
    """The app, counting the requests inside it (the test waits for all to be in)."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.inside = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.inside += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.inside -= 1


async def _waiting_on_a_lock(db: Database) -> int:
    """PostgreSQL sessions of this database blocked on a lock while inserting a key."""
    async with db.unit_of_work(read_only=True) as uow:
        found = await uow.session.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND query LIKE '%idempotency_keys%'"
            )
        )
    return int(found or 0)


@pytest.fixture
def held(monkeypatch: pytest.MonkeyPatch) -> tuple[asyncio.Event, asyncio.Event]:
    """The first call taken stops inside its transaction (the incident flushed, the key
    claimed) until the test sets ``release``; ``inside`` is set when it got there."""
    create = incidents.create
    inside, release = asyncio.Event(), asyncio.Event()

    async def slow(*args: Any, **kwargs: Any) -> Any:
        made = await create(*args, **kwargs)
        if not inside.is_set():
            inside.set()
            await release.wait()
        return made

    monkeypatch.setattr(incidents, "create", slow)
    return inside, release


async def test_a_duplicate_sent_while_the_first_runs_waits_and_gets_its_answer(
    app: FastAPI,
    stack: Stack,
    db: Database,
    world: World,
    held: tuple[asyncio.Event, asyncio.Event],
) -> None:
    """Not a 409 "still in progress": the duplicates wait (PostgreSQL: on the key's
    unique index, behind the first transaction; SQLite: for the one write lock, which
    the first holds) and answer with the first's outcome once it commits."""
    inside, release = held
    counted = _InFlight(app)
    headers = keyed(world, "dispatcher", new_key())
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=counted), base_url="http://test"
    ) as http:
        first = asyncio.create_task(http.post("/incidents", json=SCENE, headers=headers))
        await eventually(inside.is_set, what="the first call inside its transaction")
        duplicates = [
            asyncio.create_task(http.post("/incidents", json=SCENE, headers=headers))
            for _ in range(COPIES - 1)
        ]
        await eventually(lambda: counted.inside == COPIES, what="every copy in the server")
        if stack.name == "postgresql":

            async def all_blocked() -> bool:
                return await _waiting_on_a_lock(db) == COPIES - 1

            await eventually(all_blocked, what="every duplicate blocked on the key")
        assert not any(d.done() for d in duplicates)  # none was turned away meanwhile
        release.set()
        answers = [await first, *await asyncio.gather(*duplicates)]
    _one_answer_the_rest_replays(answers)
    assert answers[0].headers.get("idempotent-replayed") is None  # the first did the work
    assert await count(db, Incident) == 1


async def test_duplicates_of_a_first_request_that_fails_do_the_work_once(
    client: httpx.AsyncClient, db: Database, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first request to get the key fails after flushing (a 503): its key record
    rolls back with it, one waiting duplicate does the write, the rest replay that."""
    create = incidents.create
    failures = [Unavailable("The database is busy; try again shortly.")]

    async def flaky(*args: Any, **kwargs: Any) -> Any:
        made = await create(*args, **kwargs)
        if failures:
            raise failures.pop()
        return made

    monkeypatch.setattr(incidents, "create", flaky)
    headers = keyed(world, "dispatcher", new_key())
    answers = await asyncio.gather(
        *(client.post("/incidents", json=SCENE, headers=headers) for _ in range(COPIES))
    )
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [201] * (COPIES - 1) + [503], [a.text for a in answers]
    done = [a for a in answers if a.status_code == 201]
    assert len({a.content for a in done}) == 1
    assert [a.headers.get("idempotent-replayed") for a in done].count(None) == 1
    assert await count(db, Incident) == 1


# --- plans: written in their own transaction, after a solve outside any ----------------


async def _plans_made(db: Database) -> int:
    async with db.unit_of_work(read_only=True) as uow:
        found = await uow.session.scalar(
            select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "plan.made")
        )
    return int(found or 0)


@pytest.fixture
async def planner(stack: Stack, db: Database, world: World) -> AsyncIterator[httpx.AsyncClient]:
    """A day with two units on shift and three rides booked, and a server with short
    solver limits."""
    from dispatch.app import create_app

    await give_shifts(db, world)
    for hour in (9, 10, 11):
        await book_ride(db, world, Mobility.AMBULATORY, hour, 13.73 + hour / 1000)
    application = create_app(stack.settings(plan_time_limit_s=0.5, insert_time_limit_s=0.3))
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            yield http


async def test_a_resent_plan_request_is_answered_from_the_first_plan(
    planner: httpx.AsyncClient, db: Database, world: World
) -> None:
    headers = keyed(world, "supervisor", new_key())
    first = await planner.post(f"/plans/{DAY}", headers=headers)
    assert first.status_code == 200, first.text
    assert len(first.json()["served"]) == 3
    again = await planner.post(f"/plans/{DAY}", headers=headers)
    assert again.content == first.content and again.headers["idempotent-replayed"] == "true"
    assert await _plans_made(db) == 1
    other = await planner.post(f"/plans/{DAY}?started=true", headers=headers)
    assert other.status_code == 422, other.text
    assert other.json()["detail"][0]["loc"] == ["header", "Idempotency-Key"]
    assert await _plans_made(db) == 1


async def test_simultaneous_plan_requests_with_one_key_plan_once(
    planner: httpx.AsyncClient, db: Database, world: World
) -> None:
    headers = keyed(world, "supervisor", new_key())
    answers = await asyncio.gather(
        *(planner.post(f"/plans/{DAY}", headers=headers) for _ in range(3))
    )
    _one_answer_the_rest_replays(list(answers), status=200)
    assert await _plans_made(db) == 1
