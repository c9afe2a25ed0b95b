"""Offers instead of phone calls (issue 19), through the API on both stacks: a call offered
to the best station, accepted (it becomes the assignment), declined with a reason or left
unanswered (the next best station is offered it on its own), withdrawn by a dispatcher,
timed by the server's clock, and counted per station.

The city (``add_north``): Central with A1 (ALS), B1 and B2 (BLS) and the van T1 (off duty);
North, 6.7 km away, with N1 (BLS). A call at Central goes first to a Central unit; when
Central says no, the next offer goes to North (a station that declined is not asked again
in the same chain, whatever other units it has)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from dispatch.app import create_app
from dispatch.clock import ManualClock
from dispatch.db.session import Database
from dispatch.incidents import offers
from dispatch.models import AuditEntry
from dispatch.state import AppState
from tests.helpers.stacks import Stack
from tests.helpers.stations import add_station_staff
from tests.helpers.world import World, add_north

CENTRAL_CALL = {"lat": 13.741, "lon": 100.531, "chief_complaint": "seizure"}  # yellow, BLS


@dataclass
class Room:
    http: httpx.AsyncClient
    clock: ManualClock
    world: World
    state: AppState
    north_station: int

    async def call(self, who: str, method: str, path: str, **body: Any) -> httpx.Response:
        return await self.http.request(
            method, path, json=body or None, headers=self.world.headers(who)
        )

    async def ok(self, who: str, method: str, path: str, **body: Any) -> Any:
        answer = await self.call(who, method, path, **body)
        assert answer.status_code in (200, 201), answer.text
        return answer.json()

    async def incident(self, **extra: Any) -> int:
        created = await self.ok("dispatcher", "POST", "/incidents", **CENTRAL_CALL, **extra)
        return int(created["id"])

    async def offer(self, incident_id: int, **body: Any) -> dict[str, Any]:
        answer = await self.call("dispatcher", "POST", f"/incidents/{incident_id}/offers", **body)
        assert answer.status_code == 201, answer.text
        offer: dict[str, Any] = answer.json()
        return offer

    async def expire(self) -> list[offers.Answer]:
        """What the server's offer timer does each second."""
        async with self.state.db.unit_of_work(publish=self.state.broker.publish) as uow:
            return await offers.expire_due(uow, self.state.emergency, self.clock.now())


@pytest.fixture
async def room(stack: Stack, world: World, db: Database) -> AsyncIterator[Room]:
    ids = await add_north(db, world)
    await add_station_staff(db, world, "central", world.station_id)
    await add_station_staff(db, world, "north", ids["north_station"])
    clock = ManualClock(datetime.now(UTC))
    app = create_app(stack.settings(), clock=clock)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            yield Room(http, clock, world, app.state.dispatch, ids["north_station"])


async def test_an_accepted_offer_becomes_the_assignment(room: Room) -> None:
    incident_id = await room.incident()
    offer = await room.offer(incident_id)
    assert offer["status"] == "pending" and offer["step"] == 1
    assert offer["station_id"] == room.world.station_id
    assert offer["chain_id"] == offer["id"]
    offered = datetime.fromisoformat(offer["offered_at"])
    assert datetime.fromisoformat(offer["expires_at"]) - offered == timedelta(seconds=60)
    # The station sees it; the other station does not.
    mine = await room.ok("central", "GET", "/offers?open_only=true")
    assert [o["id"] for o in mine] == [offer["id"]]
    assert await room.ok("north", "GET", "/offers?open_only=true") == []
    assert (await room.call("north", "POST", f"/offers/{offer['id']}/accept")).status_code == 404

    accepted = await room.ok("central", "POST", f"/offers/{offer['id']}/accept")
    assert accepted["status"] == "accepted" and accepted["next_offer"] is None
    assert accepted["answered_by"] == "central"
    assignment_id = accepted["assignment_id"]
    assert assignment_id is not None
    incident = await room.ok("dispatcher", "GET", f"/incidents/{incident_id}")
    assert incident["status"] == "dispatched"
    assignment = await room.ok("dispatcher", "GET", f"/assignments/{assignment_id}")
    assert assignment["vehicle_id"] == offer["vehicle_id"]
    # Accepting again changes nothing; declining an accepted offer is refused.
    again = await room.ok("central", "POST", f"/offers/{offer['id']}/accept")
    assert again["assignment_id"] == assignment_id
    late = await room.call("central", "POST", f"/offers/{offer['id']}/decline", reason="busy")
    assert late.status_code == 409
    chain = await room.ok("dispatcher", "GET", f"/incidents/{incident_id}/offers")
    assert [(o["step"], o["status"]) for o in chain] == [(1, "accepted")]


async def test_a_decline_offers_the_call_to_the_next_station_at_once(room: Room) -> None:
    incident_id = await room.incident()
    first = await room.offer(incident_id)
    no_reason = await room.call("central", "POST", f"/offers/{first['id']}/decline")
    assert no_reason.status_code == 422
    bad_reason = await room.call(
        "central", "POST", f"/offers/{first['id']}/decline", reason="lunch"
    )
    assert bad_reason.status_code == 422 and "reason" in bad_reason.text

    declined = await room.ok(
        "central", "POST", f"/offers/{first['id']}/decline", reason="busy", note="xe bận"
    )
    assert declined["status"] == "declined" and declined["decline_reason"] == "busy"
    nxt = declined["next_offer"]
    assert nxt is not None and nxt["status"] == "pending"
    assert nxt["station_id"] == room.north_station  # Central's other units are not asked
    assert (nxt["step"], nxt["chain_id"]) == (2, first["id"])
    assert [o["id"] for o in await room.ok("north", "GET", "/offers?open_only=true")] == [nxt["id"]]
    # Declining again is a no-op that does not move the chain twice.
    again = await room.ok("central", "POST", f"/offers/{first['id']}/decline", reason="busy")
    assert again["next_offer"] is None
    chain = await room.ok("dispatcher", "GET", f"/incidents/{incident_id}/offers")
    assert [(o["step"], o["status"]) for o in chain] == [(1, "declined"), (2, "pending")]
    accepted = await room.ok("north", "POST", f"/offers/{nxt['id']}/accept")
    assert accepted["assignment_id"] is not None


async def test_an_unanswered_offer_times_out_on_the_server_clock(room: Room) -> None:
    incident_id = await room.incident()
    first = await room.offer(incident_id)
    room.clock.advance(59)
    assert await room.expire() == []  # not yet
    room.clock.advance(1)
    [moved] = await room.expire()
    assert moved.offer.id == first["id"] and moved.offer.status.value == "timed_out"
    assert moved.offer.answered_at == datetime.fromisoformat(first["expires_at"])
    assert moved.next is not None and moved.next.station_id == room.north_station
    late = await room.call("central", "POST", f"/offers/{first['id']}/accept")
    assert late.status_code == 409 and "timed out" in late.text
    assert await room.expire() == []  # each offer moves once
    # An accept a moment after the deadline, before the timer ran, is refused too.
    room.clock.advance(61)
    refused = await room.call("north", "POST", f"/offers/{moved.next.id}/accept")
    assert refused.status_code == 409
    [second] = await room.expire()
    assert second.next is None  # no station left: the call waits for a dispatcher
    async with room.state.db.unit_of_work(read_only=True) as uow:
        actions = (
            await uow.session.scalars(
                select(AuditEntry.action).where(AuditEntry.action == "alert.offers_exhausted")
            )
        ).all()
    assert actions == ["alert.offers_exhausted"]
    incident = await room.ok("dispatcher", "GET", f"/incidents/{incident_id}")
    assert incident["status"] == "pending"


async def test_a_dispatcher_intervenes_at_any_step(room: Room) -> None:
    incident_id = await room.incident()
    first = await room.offer(incident_id)
    twice = await room.call("dispatcher", "POST", f"/incidents/{incident_id}/offers")
    assert twice.status_code == 409 and "already offered" in twice.text
    # A station cannot withdraw; a dispatcher can, and again is a no-op.
    assert (await room.call("central", "POST", f"/offers/{first['id']}/withdraw")).status_code in (
        403,
        404,
    )
    withdrawn = await room.ok("dispatcher", "POST", f"/offers/{first['id']}/withdraw")
    assert withdrawn["status"] == "withdrawn"
    assert (await room.ok("dispatcher", "POST", f"/offers/{first['id']}/withdraw"))[
        "status"
    ] == "withdrawn"
    # A new chain to a unit of the dispatcher's choice; then a direct assignment of
    # another unit withdraws it (the call is served).
    n1 = room.world.vehicle_ids["N1"]
    chosen = await room.offer(incident_id, vehicle_id=n1)
    assert chosen["vehicle_id"] == n1 and chosen["chain_id"] == chosen["id"]
    sent = await room.call(
        "dispatcher",
        "POST",
        f"/incidents/{incident_id}/assignments",
        vehicle_id=room.world.vehicle_ids["B1"],
    )
    assert sent.status_code == 201, sent.text
    after = await room.ok("dispatcher", "GET", f"/offers/{chosen['id']}")
    assert after["status"] == "withdrawn" and "B1" in after["note"]
    refused = await room.call("north", "POST", f"/offers/{chosen['id']}/accept")
    assert refused.status_code == 409


async def test_only_a_unit_that_could_go_is_offered(room: Room) -> None:
    incident_id = await room.incident()
    van = room.world.vehicle_ids["T1"]  # off duty
    refused = await room.call(
        "dispatcher", "POST", f"/incidents/{incident_id}/offers", vehicle_id=van
    )
    assert refused.status_code == 409 and "cannot take this call" in refused.text
    # A unit the station took out of service is not offered; back in service, it is.
    for call_sign in ("A1", "B1", "B2"):
        out = await room.ok(
            "central",
            "PUT",
            f"/vehicles/{room.world.vehicle_ids[call_sign]}/service",
            in_service=False,
            reason="no crew",
        )
        assert out["state"] == "off_duty" and out["out_of_service_reason"] == "no crew"
    offer = await room.offer(incident_id)
    assert offer["station_id"] == room.north_station
    no_reason = await room.call(
        "central", "PUT", f"/vehicles/{room.world.vehicle_ids['B1']}/service", in_service=False
    )
    assert no_reason.status_code == 200  # already out: nothing to say
    other = await room.call(
        "north",
        "PUT",
        f"/vehicles/{room.world.vehicle_ids['B1']}/service",
        in_service=True,
    )
    assert other.status_code == 404  # another station's unit
    back = await room.ok(
        "central", "PUT", f"/vehicles/{room.world.vehicle_ids['B1']}/service", in_service=True
    )
    assert back["state"] == "available" and back["out_of_service_reason"] is None


async def test_red_calls_are_offered_automatically_with_the_red_timer(
    stack: Stack, world: World, db: Database
) -> None:
    await add_north(db, world)
    clock = ManualClock(datetime.now(UTC))
    app = create_app(stack.settings(auto_dispatch_red=True, auto_offer_red=True), clock=clock)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            created = await http.post(
                "/incidents",
                json={**CENTRAL_CALL, "chief_complaint": "chest_pain"},
                headers=world.headers("dispatcher"),
            )
            assert created.status_code == 201, created.text
            assert created.json()["auto_assignment"] is None
            offer = created.json()["auto_offer"]
            assert offer["status"] == "pending" and offer["auto"] is True
            timer = datetime.fromisoformat(offer["expires_at"]) - datetime.fromisoformat(
                offer["offered_at"]
            )
            assert timer == timedelta(seconds=30)
            assert offer["vehicle_id"] == world.vehicle_ids["A1"]  # the ALS unit


async def test_a_centre_sets_its_own_timers(room: Room) -> None:
    changed = await room.call(
        "admin",
        "PATCH",
        f"/organisations/{room.world.centre_id}",
        offer_timeouts_s={"yellow": 20},
    )
    assert changed.status_code == 200, changed.text
    too_short = await room.call(
        "admin", "PATCH", f"/organisations/{room.world.centre_id}", offer_timeouts_s={"red": 1}
    )
    assert too_short.status_code == 422 and "offer_timeouts_s" in too_short.text
    offer = await room.offer(await room.incident())
    timer = datetime.fromisoformat(offer["expires_at"]) - datetime.fromisoformat(
        offer["offered_at"]
    )
    assert timer == timedelta(seconds=20)


async def test_the_board_flags_a_station_that_declines_while_showing_available(
    room: Room,
) -> None:
    first = await room.offer(await room.incident())
    declined = await room.ok("central", "POST", f"/offers/{first['id']}/decline", reason="busy")
    await room.ok("north", "POST", f"/offers/{declined['next_offer']['id']}/accept")
    board = await room.ok("dispatcher", "GET", "/stations/board?hours=1")
    rows = {s["name"]: s for s in board["stations"]}
    central, north = rows["Central"], rows["North"]
    assert central["declined"] == {"busy": 1} and central["declined_while_available"] == 1
    assert central["flagged"] is True and north["flagged"] is False
    assert north["accepted"] == 1
    assert (north["accept_p50_s"], central["accept_p50_s"]) == (0.0, None)
    n1 = next(u for u in north["units"] if u["call_sign"] == "N1")
    assert n1["incident_id"] is not None and n1["state"] == "dispatched"
    # Station staff see only their own station.
    mine = await room.ok("north", "GET", "/stations/board")
    assert [s["name"] for s in mine["stations"]] == ["North"]
    assert (await room.call("care_a", "GET", "/stations/board")).json()["stations"] == []


async def test_figures_per_station_and_operator(room: Room) -> None:
    for answer in ("decline", "accept"):
        offer = await room.offer(await room.incident())
        if answer == "decline":
            moved = await room.ok(
                "central", "POST", f"/offers/{offer['id']}/decline", reason="no_crew"
            )
            room.clock.advance(61)
            await room.expire()
            assert moved["next_offer"]["station_id"] == room.north_station
        else:
            room.clock.advance(12)
            await room.ok("central", "POST", f"/offers/{offer['id']}/accept")
    since = (room.clock.now() - timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    until = (room.clock.now() + timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    kpis = await room.ok("dispatcher", "GET", f"/kpis?since={since}&until={until}")
    stations = {s["name"]: s for s in kpis["stations"]}
    central, north = stations["Central"], stations["North"]
    assert (central["offers"], central["accepted"], central["declined"]) == (2, 1, 1)
    assert central["declined_by_reason"] == {"no_crew": 1}
    assert central["accept_s"] == {"count": 1, "p50_s": 12.0, "p90_s": 12.0}
    assert (north["offers"], north["timed_out"]) == (1, 1)
    [operator] = kpis["operators"]  # both stations are run by the centre itself
    assert (operator["offers"], operator["accepted"], operator["timed_out"]) == (3, 1, 1)


async def test_offers_survive_a_restart_of_the_worker(
    stack: Stack, world: World, db: Database
) -> None:
    """The chain lives in the database: a worker started after the first one stopped times
    the offer out at its deadline and moves it on, and its station can accept the next."""
    ids = await add_north(db, world)
    await add_station_staff(db, world, "north", ids["north_station"])
    clock = ManualClock(datetime.now(UTC))
    first = create_app(stack.settings(), clock=clock)
    async with first.router.lifespan_context(first):
        transport = httpx.ASGITransport(app=first)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            room = Room(http, clock, world, first.state.dispatch, ids["north_station"])
            offer = await room.offer(await room.incident())
    clock.advance(61)
    second = create_app(stack.settings(), clock=clock)
    async with second.router.lifespan_context(second):
        transport = httpx.ASGITransport(app=second)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            room = Room(http, clock, world, second.state.dispatch, ids["north_station"])
            [moved] = await room.expire()
            assert moved.offer.id == offer["id"]
            assert moved.offer.answered_at == datetime.fromisoformat(offer["expires_at"])
            assert moved.next is not None
            accepted = await room.ok("north", "POST", f"/offers/{moved.next.id}/accept")
            assert accepted["assignment_id"] is not None
