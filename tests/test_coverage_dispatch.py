"""Coverage-aware dispatch through the API, on both stacks (``DISPATCH_COVERAGE_DISPATCH``):
the ranking adds what each unit's departure would leave uncovered.

The city: the world's station Central (13.74, 100.53) with A1 (ALS), B1 and B2 (BLS), and a
station North 6.7 km away with one BLS unit, N1, the only cover of the north. A call at
(13.775, 100.53) is nearer North (straight line x 1.4 at 25 km/h: N1 ~9 min, B1 ~13 min).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from dispatch.db.session import Database
from tests.helpers.coverage import coverage_app as started
from tests.helpers.stacks import Stack
from tests.helpers.world import World, add_north

CALL = {"lat": 13.775, "lon": 100.53}


@pytest.fixture
async def coverage_app(stack: Stack, world: World, db: Database) -> AsyncIterator[FastAPI]:
    async with started(stack, world, db) as application:
        yield application


async def _ranked(app: FastAPI, world: World, triage: str) -> list[dict[str, Any]]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        body = {**CALL, "chief_complaint": "fever", "triage": triage}
        created = await http.post("/incidents", json=body, headers=world.headers("dispatcher"))
        assert created.status_code == 201, created.text
        path = f"/incidents/{created.json()['id']}/recommendations"
        answer = await http.post(path, headers=world.headers("dispatcher"))
        assert answer.status_code == 200, answer.text
        candidates: list[dict[str, Any]] = answer.json()["candidates"]
        return candidates


async def test_a_green_call_is_not_given_the_only_unit_of_the_north(
    coverage_app: FastAPI, world: World
) -> None:
    ranked = await _ranked(coverage_app, world, "green")
    by_sign = {c["call_sign"]: c for c in ranked}
    assert by_sign["N1"]["eta_s"] < by_sign["B1"]["eta_s"]  # N1 is nearer ...
    assert ranked[0]["call_sign"] == "B1"  # ... but B1 goes (ties with B2 by call sign)
    north = by_sign["N1"]["reasons"][-1]
    assert north.startswith("leaves coverage behind: the only free unit within")
    assert "(North)" in north
    # The ALS unit is kept for red calls where a BLS one will do.
    assert by_sign["A1"]["score_s"] - by_sign["A1"]["eta_s"] > (
        by_sign["B1"]["score_s"] - by_sign["B1"]["eta_s"]
    )


async def test_a_red_call_still_gets_the_fastest_unit_beyond_the_margin(
    coverage_app: FastAPI, world: World
) -> None:
    ranked = await _ranked(coverage_app, world, "red")
    by_sign = {c["call_sign"]: c for c in ranked}
    assert by_sign["B1"]["eta_s"] - by_sign["N1"]["eta_s"] > 60  # more than the red cap
    assert ranked[0]["call_sign"] == "N1"
    penalty = by_sign["N1"]["score_s"] - by_sign["N1"]["eta_s"]
    assert 0 < penalty - 90 <= 60  # no-GPS 90 s, then coverage capped at 60 s for red


async def test_without_the_setting_the_nearest_goes(
    client: httpx.AsyncClient, world: World, db: Database
) -> None:
    await add_north(db, world)
    body = {**CALL, "chief_complaint": "fever", "triage": "green"}
    created = await client.post("/incidents", json=body, headers=world.headers("dispatcher"))
    path = f"/incidents/{created.json()['id']}/recommendations"
    ranked = (await client.post(path, headers=world.headers("dispatcher"))).json()["candidates"]
    assert ranked[0]["call_sign"] == "N1"
    assert not any("coverage" in r for c in ranked for r in c["reasons"])


async def test_calls_are_learned_at_the_next_decision_and_only_once(
    coverage_app: FastAPI, world: World
) -> None:
    """What a decision knows of the calls is what is committed when it is made, not what
    reactions have got round to: a simulated day repeats exactly."""
    state = coverage_app.state.dispatch
    keeper = state.emergency.coverage
    assert keeper is not None and keeper.coverage is not None
    before = keeper.coverage.demand.recorded
    transport = httpx.ASGITransport(app=coverage_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        for triage in ("red", "yellow", "green"):
            body = {**CALL, "chief_complaint": "fever", "triage": triage}
            created = await http.post("/incidents", json=body, headers=world.headers("dispatcher"))
            assert created.status_code == 201, created.text
    assert keeper.coverage.demand.recorded == before
    for _ in range(2):
        async with state.db.unit_of_work(read_only=True) as uow:
            await keeper.ready(uow, datetime.now(UTC))
        assert keeper.coverage.demand.recorded == before + 3
