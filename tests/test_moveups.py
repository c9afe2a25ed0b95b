"""Move-up through the API, on both stacks: after a unit leaves, the system suggests moving
an idle unit to where coverage was lost, a dispatcher accepts or rejects, the crew is told
"go to post" (``/moveups/current``, ``/ws/driver``) and reports arrival, and the limits
hold (no ping-pong within the cooldown, moves per hour, a centre's mode).

The city (``add_north``): Central with A1 (ALS, here off duty), B1 and B2 (BLS), and North
6.7 km away whose only unit is N1. Straight-line travel at 25 km/h x 1.4 makes Central to
North a 22-minute drive, so the tests allow moves of up to 40 minutes. Sending N1 leaves
the north uncovered: the best move is one of Central's two BLS units to North (B1 and B2
gain the same; the lower id, B1, is chosen)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from websockets.asyncio.client import connect

from dispatch.app import create_app
from dispatch.clock import ManualClock
from dispatch.db.session import Database
from dispatch.models import Vehicle
from dispatch.models.enums import VehicleState
from dispatch.state import AppState
from tests.helpers.server import serve
from tests.helpers.stacks import Stack
from tests.helpers.world import World, add_north
from tests.helpers.ws import hello, recv, token

NORTH_CALL = {"lat": 13.80, "lon": 100.531, "chief_complaint": "chest_pain", "triage": "red"}


@dataclass
class City:
    app: FastAPI
    http: httpx.AsyncClient
    clock: ManualClock
    world: World
    ids: dict[str, int]

    @property
    def state(self) -> AppState:
        state: AppState = self.app.state.dispatch
        return state

    async def settled(self) -> None:
        """Every reaction to what was committed so far (the advisor's rounds) is done."""
        await self.state.db.reactions.settle()

    async def post(self, path: str, who: str = "dispatcher", **body: Any) -> httpx.Response:
        return await self.http.post(path, json=body or None, headers=self.world.headers(who))

    async def get(self, path: str, who: str = "dispatcher") -> Any:
        answer = await self.http.get(path, headers=self.world.headers(who))
        assert answer.status_code == 200, answer.text
        return answer.json()

    async def send(self, call_sign: str, call: dict[str, Any] = NORTH_CALL) -> int:
        """A call, and the unit sent to it; returns the incident."""
        created = await self.post("/incidents", **call)
        assert created.status_code == 201, created.text
        incident_id = int(created.json()["id"])
        sent = await self.post(
            f"/incidents/{incident_id}/assignments", vehicle_id=self.world.vehicle_ids[call_sign]
        )
        assert sent.status_code == 201, sent.text
        await self.settled()
        return incident_id

    async def open_moves(self) -> list[dict[str, Any]]:
        moves: list[dict[str, Any]] = await self.get("/moveups")
        return moves

    def sign(self, move: dict[str, Any]) -> str:
        by_id = {v: k for k, v in self.world.vehicle_ids.items()}
        return by_id[move["vehicle_id"]]


async def _a1_off_duty(db: Database, world: World) -> None:
    async with db.unit_of_work() as uow:
        a1 = await uow.session.get(Vehicle, world.vehicle_ids["A1"])
        assert a1 is not None
        a1.state = VehicleState.OFF_DUTY


def _settings(stack: Stack, **overrides: Any) -> Any:
    return stack.settings(coverage_dispatch=True, moveup_max_drive_minutes=40, **overrides)


@pytest.fixture
async def city(
    stack: Stack, world: World, db: Database, request: pytest.FixtureRequest
) -> AsyncIterator[City]:
    ids = await add_north(db, world)
    overrides = dict(getattr(request, "param", {}))
    if not overrides.pop("a1", False):
        await _a1_off_duty(db, world)
    clock = ManualClock(datetime.now(UTC))
    app = create_app(_settings(stack, **overrides), clock=clock)
    async with app.router.lifespan_context(app):
        state: AppState = app.state.dispatch
        assert state.emergency.coverage is not None
        async with state.db.unit_of_work(read_only=True) as uow:
            assert await state.emergency.coverage.wait_built(uow, clock.now()) is not None
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            yield City(app, http, clock, world, ids)


async def test_sending_the_north_s_only_unit_suggests_moving_one_up(city: City) -> None:
    assert await city.open_moves() == []  # everything covered as well as it can be
    await city.send("N1")
    [move] = await city.open_moves()
    assert city.sign(move) == "B1"
    assert move["status"] == "suggested" and move["auto"] is False
    assert move["site_key"] == f"station:{city.ids['north_station']}"
    assert move["site_name"] == "North"
    assert move["gain_rows"]["red"] > 0.05  # more than five points of red calls
    assert "% of red calls reached within 10 min" in move["reason"]
    assert "North" in move["reason"] and "min drive" in move["reason"]
    entries = await city.get("/audit?entity_type=moveups", who="supervisor")
    assert [e["action"] for e in entries] == ["moveup.suggested"]


async def test_accepting_tells_the_crew_and_counts_the_unit_at_its_post(city: City) -> None:
    await city.send("N1")
    [move] = await city.open_moves()
    before = (await city.get("/coverage"))["values"]["red"]
    assert (await city.get("/moveups/current", who="device:B1")) is None
    accepted = await city.post(f"/moveups/{move['id']}/accept")
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["status"] == "accepted"
    assert accepted.json()["decided_by"] == "dispatcher"
    again = await city.post(f"/moveups/{move['id']}/accept")  # a repeated click
    assert (again.status_code, again.json()["status"]) == (200, "accepted")
    task = await city.get("/moveups/current", who="device:B1")
    assert (task["id"], task["site_name"]) == (move["id"], "North")
    after = (await city.get("/coverage"))["values"]["red"]
    assert after > before + 0.05  # B1 now counts at North
    await city.settled()
    assert await city.open_moves() == [accepted.json()]  # nothing more to suggest
    entries = await city.get("/audit?entity_type=moveups", who="supervisor")
    assert [e["action"] for e in entries] == ["moveup.accepted", "moveup.suggested"]


async def test_only_its_crew_reports_arrival(city: City) -> None:
    await city.send("N1")
    [move] = await city.open_moves()
    early = await city.post(f"/moveups/{move['id']}/arrived", who="device:B1")
    assert early.status_code == 409  # not accepted yet: no post to reach
    await city.post(f"/moveups/{move['id']}/accept")
    for who in ("device:A1", "care_a"):
        refused = await city.post(f"/moveups/{move['id']}/arrived", who=who)
        assert refused.status_code == 403, who
    arrived = await city.post(f"/moveups/{move['id']}/arrived", who="device:B1")
    assert (arrived.status_code, arrived.json()["status"]) == (200, "arrived")
    again = await city.post(f"/moveups/{move['id']}/arrived", who="device:B1")
    assert (again.status_code, again.json()["arrived_at"]) == (200, arrived.json()["arrived_at"])
    for who in ("driver", "care_a", "device:B1"):
        assert (await city.post(f"/moveups/{move['id']}/accept", who=who)).status_code == 403


async def test_a_rejected_unit_rests_for_the_cooldown(city: City) -> None:
    await city.send("N1")
    [first] = await city.open_moves()
    rejected = await city.post(f"/moveups/{first['id']}/reject", note="crew on a break")
    assert rejected.status_code == 200, rejected.text
    assert (rejected.json()["status"], rejected.json()["note"]) == ("rejected", "crew on a break")
    assert (await city.post(f"/moveups/{first['id']}/accept")).status_code == 409
    await city.settled()  # a rejection starts a round (offering the next best)
    [second] = await city.open_moves()  # B1 rests; B2 is asked instead
    assert city.sign(second) == "B2"
    await city.post(f"/moveups/{second['id']}/reject")
    await city.settled()
    assert await city.open_moves() == []
    assert (await city.post("/moveups/round")).json() == []
    city.clock.advance(14 * 60)
    assert (await city.post("/moveups/round")).json() == []
    city.clock.advance(2 * 60)  # past the 15-minute cooldown
    [again] = (await city.post("/moveups/round")).json()
    assert city.sign(again) == "B1" and again["id"] != first["id"]


async def test_a_moved_unit_is_not_moved_again_within_the_cooldown(city: City) -> None:
    incident = await city.send("N1")
    [move] = await city.open_moves()
    await city.post(f"/moveups/{move['id']}/accept")
    await city.post(f"/moveups/{move['id']}/arrived", who="device:B1")
    cancelled = await city.post(f"/incidents/{incident}/cancel", reason="caller hung up")
    assert cancelled.status_code == 200, cancelled.text
    await city.settled()  # N1 is free at North again, beside B1
    central = {**NORTH_CALL, "lat": 13.74, "lon": 100.531}
    await city.send("B2", central)  # Central is empty: one of North's two should go back
    [back] = [m for m in await city.open_moves() if m["status"] == "suggested"]
    assert (city.sign(back), back["site_name"]) == ("N1", "Central")  # not B1 again


@pytest.mark.parametrize("city", [{"moveup_per_hour": 1, "a1": True}], indirect=True)
async def test_moves_per_hour_are_capped_and_a_call_ends_a_move(city: City) -> None:
    await city.send("N1")
    [move] = await city.open_moves()
    moved = city.sign(move)
    await city.post(f"/moveups/{move['id']}/accept")
    await city.send(moved)  # the moved unit goes to a call in the north
    [ended] = await city.get("/moveups?open=false&limit=1")
    assert (ended["id"], ended["status"]) == (move["id"], "ended")
    assert ended["note"] == "the unit is no longer free"
    assert await city.open_moves() == []  # another would help, but the hour's move is used
    city.clock.advance(59 * 60)
    assert (await city.post("/moveups/round")).json() == []
    city.clock.advance(2 * 60)
    [next_move] = (await city.post("/moveups/round")).json()
    assert city.sign(next_move) in {"A1", "B1", "B2"} - {moved}
    assert next_move["site_name"] == "North"


async def test_a_centre_in_auto_mode_accepts_at_once_and_one_in_off_gets_none(
    city: City,
) -> None:
    path = f"/organisations/{city.world.centre_id}/moveup-mode"
    as_dispatcher = city.world.headers("dispatcher")
    refused = await city.http.put(path, json={"mode": "auto"}, headers=as_dispatcher)
    assert refused.status_code == 403
    bad = await city.http.put(path, json={"mode": "always"}, headers=city.world.headers("admin"))
    assert bad.status_code == 422 and "mode" in bad.text
    auto = await city.http.put(path, json={"mode": "auto"}, headers=city.world.headers("admin"))
    assert auto.json() == {"organisation_id": city.world.centre_id, "mode": "auto"}
    await city.send("N1")
    [move] = await city.open_moves()
    assert (city.sign(move), move["status"], move["auto"]) == ("B1", "accepted", True)
    assert move["decided_by"] == "auto"
    await city.http.put(path, json={"mode": "off"}, headers=city.world.headers("admin"))
    await city.send("B1")
    assert await city.open_moves() == []
    entries = await city.get("/audit?entity_type=organisations", who="supervisor")
    assert [e["after"] for e in entries][:2] == [{"moveup_mode": "off"}, {"moveup_mode": "auto"}]


async def test_standby_posts_join_the_coverage(city: City) -> None:
    body = {"name": "Bang Sue fire station", "kind": "fire_station", "lat": 13.79, "lon": 100.53}
    refused = await city.post("/standby-posts", **body)
    assert refused.status_code == 403  # supervisors and admins set posts
    bad = await city.post("/standby-posts", who="supervisor", **{**body, "lat": 91})
    assert bad.status_code == 422 and "lat" in bad.text
    created = await city.post("/standby-posts", who="supervisor", **body)
    assert created.status_code == 201, created.text
    post = created.json()
    assert [p["id"] for p in await city.get("/standby-posts")] == [post["id"]]
    keeper = city.state.emergency.coverage
    assert keeper is not None
    await city.settled()
    async with city.state.db.unit_of_work(read_only=True) as uow:
        await keeper.refresh_sites(uow, city.clock.now())
        coverage = await keeper.wait_built(uow, city.clock.now())
    assert coverage is not None and f"post:{post['id']}" in coverage.site_index
    closed = await city.http.patch(
        f"/standby-posts/{post['id']}",
        json={"active": False},
        headers=city.world.headers("supervisor"),
    )
    assert closed.json()["active"] is False
    assert await city.get("/standby-posts") == []


async def test_without_coverage_dispatch_there_are_no_moveups(
    client: httpx.AsyncClient, world: World
) -> None:
    listed = await client.get("/moveups", headers=world.headers("dispatcher"))
    assert listed.json() == []
    refused = await client.post("/moveups/round", headers=world.headers("dispatcher"))
    assert refused.status_code == 409 and "DISPATCH_COVERAGE_DISPATCH" in refused.text
    layer = await client.get("/coverage", headers=world.headers("dispatcher"))
    assert layer.json()["enabled"] is False


async def test_the_crew_s_phone_hears_its_post_and_hears_it_again_on_reconnect(
    stack: Stack, world: World, db: Database
) -> None:
    await add_north(db, world)
    await _a1_off_duty(db, world)
    async with serve(_settings(stack, positions_interval_ms=10)) as live:
        state: AppState = live.app.state.dispatch
        assert state.emergency.coverage is not None
        async with state.db.unit_of_work(read_only=True) as uow:
            await state.emergency.coverage.wait_built(uow, datetime.now(UTC))
        headers = world.headers("dispatcher")
        async with (
            httpx.AsyncClient(base_url=live.base_url, headers=headers) as http,
            connect(f"{live.ws_url}/ws/driver") as phone,
        ):
            await hello(phone, token(world, "device:B1"))
            assert (await recv(phone))["type"] == "welcome"
            created = await http.post("/incidents", json=NORTH_CALL)
            await http.post(
                f"/incidents/{created.json()['id']}/assignments",
                json={"vehicle_id": world.vehicle_ids["N1"]},
            )
            await state.db.reactions.settle()
            [move] = (await http.get("/moveups")).json()
            await http.post(f"/moveups/{move['id']}/accept")
            told = await recv(phone, "moveup")
            assert (told["data"]["moveup_id"], told["data"]["status"]) == (move["id"], "accepted")
            assert (told["data"]["site_name"], told["data"]["call_sign"]) == ("North", "B1")
        async with connect(f"{live.ws_url}/ws/driver") as phone:
            await hello(phone, token(world, "device:B1"))
            assert (await recv(phone))["type"] == "welcome"
            again = await recv(phone, "moveup")
            assert again["data"]["moveup_id"] == move["id"]
