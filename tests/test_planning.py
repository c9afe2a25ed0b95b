"""Planning booked rides end to end: bookings and shifts in the database, the OR-Tools
scheduler, and the verified plan written back as planned pickups and manifests."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TypeVar

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from websockets.asyncio.client import connect

from dispatch.app import create_app
from dispatch.db.session import Database
from dispatch.models import PlanStop, TransportBooking
from dispatch.models.enums import BookingStatus, Mobility
from dispatch.transports import planning, solver_pool
from tests.helpers.rides import (
    BANGKOK,
    CFG,
    DAY,
    TRAVEL,
    book_ride,
    give_shifts,
    local,
    solve_and_mark,
)
from tests.helpers.server import LiveServer
from tests.helpers.stacks import Stack
from tests.helpers.waiting import eventually, reactions_settled
from tests.helpers.world import World
from tests.helpers.ws import hello, token

pytestmark = pytest.mark.slow
T = TypeVar("T")


async def _plan(db: Database, **kwargs: object) -> planning.PlanResult:
    async with db.unit_of_work() as uow:
        return await planning.plan(uow, None, DAY, BANGKOK, TRAVEL, CFG, **kwargs)  # type: ignore[arg-type]


async def _red_call(http: httpx.AsyncClient, world: World, vehicle_id: int) -> httpx.Response:
    """A cardiac arrest near the depot, assigned to ``vehicle_id``: the assignment reply."""
    incident = await http.post(
        "/incidents",
        json={"lat": 13.7460, "lon": 100.5340, "chief_complaint": "cardiac_arrest"},
        headers=world.headers("dispatcher"),
    )
    return await http.post(
        f"/incidents/{incident.json()['id']}/assignments",
        json={"vehicle_id": vehicle_id},
        headers=world.headers("dispatcher"),
    )


async def _bookings(db: Database) -> dict[int, TransportBooking]:
    async with db.unit_of_work(read_only=True) as uow:
        return {b.id: b for b in (await uow.session.scalars(select(TransportBooking))).all()}


async def _stops(db: Database) -> list[PlanStop]:
    async with db.unit_of_work(read_only=True) as uow:
        rows = await uow.session.scalars(
            select(PlanStop).order_by(PlanStop.vehicle_id, PlanStop.seq)
        )
        return list(rows)


async def test_day_plan_serves_everyone_and_writes_manifests(db: Database, world: World) -> None:
    await give_shifts(db, world)
    rides = [
        await book_ride(db, world, Mobility.WHEELCHAIR, 9, 13.73),
        await book_ride(db, world, Mobility.AMBULATORY, 9, 13.75),
        await book_ride(db, world, Mobility.STRETCHER, 10, 13.72),
    ]
    result = await _plan(db)
    assert sorted(result.served) == sorted(rides) and result.unserved == {}
    bookings = await _bookings(db)
    for ride in rides:
        booking = bookings[ride]
        assert booking.status == BookingStatus.PLANNED and booking.planned_pickup_at is not None
        assert booking.appointment_at is not None
        assert booking.planned_pickup_at < booking.appointment_at
    assert bookings[rides[2]].vehicle_id == world.vehicle_ids["B1"]  # the only stretcher
    stops = await _stops(db)
    for ride in rides:
        mine = [s for s in stops if s.booking_id == ride]
        assert [s.kind for s in mine] == ["pickup", "dropoff"]
        pickup, dropoff = mine
        assert pickup.vehicle_id == dropoff.vehicle_id and pickup.seq < dropoff.seq
        assert dropoff.planned_start <= bookings[ride].appointment_at  # type: ignore[operator]
    for vehicle_id in {s.vehicle_id for s in stops}:
        seqs = [s.seq for s in stops if s.vehicle_id == vehicle_id]
        assert seqs == sorted(seqs) == list(range(1, len(seqs) + 1))
        times = [s.planned_start for s in stops if s.vehicle_id == vehicle_id and s.kind != "break"]
        assert times == sorted(times)


async def test_unservable_ride_is_reported_with_a_reason(db: Database, world: World) -> None:
    await give_shifts(db, world, units=("T1",))  # the van has no stretcher
    ok = await book_ride(db, world, Mobility.WHEELCHAIR, 9, 13.73)
    stretcher = await book_ride(db, world, Mobility.STRETCHER, 10, 13.72)
    result = await _plan(db)
    assert result.served == [ok]
    assert "stretcher" in result.unserved[stretcher]
    booking = (await _bookings(db))[stretcher]
    assert booking.status == BookingStatus.REQUESTED and booking.vehicle_id is None
    assert booking.unserved_reason == result.unserved[stretcher]


async def test_the_plan_lists_the_vehicles_it_uses(db: Database, world: World) -> None:
    """Two vans on shift, one ride: the plan names the van that drives it, not both (both
    manifests are still announced as changed)."""
    await give_shifts(db, world)
    ride = await book_ride(db, world, Mobility.AMBULATORY, 9, 13.73)
    result = await _plan(db)
    assert result.served == [ride]
    booking = (await _bookings(db))[ride]
    assert result.vehicles == [booking.vehicle_id]


async def test_replan_after_preemption_keeps_started_stops(db: Database, world: World) -> None:
    await give_shifts(db, world)
    first = await book_ride(db, world, Mobility.AMBULATORY, 10, 13.73)
    second = await book_ride(db, world, Mobility.AMBULATORY, 11, 13.75)
    await _plan(db)
    bookings = await _bookings(db)
    taken = bookings[first].vehicle_id
    assert taken is not None
    other = next(v for v in (world.vehicle_ids["T1"], world.vehicle_ids["B1"]) if v != taken)
    # The unit taken for a red call: its rides are released (as the claim does) ...
    async with db.unit_of_work() as uow:
        for booking in (
            await uow.session.scalars(
                select(TransportBooking).where(TransportBooking.vehicle_id == taken)
            )
        ).all():
            booking.vehicle_id, booking.status = None, BookingStatus.REQUESTED
    now = local(7)
    result = await _plan(
        db,
        started=True,
        warm=True,
        now=now,
        exclude_vehicle_ids={taken},
        positions={other: (13.745, 100.54)},
    )
    assert sorted(result.served) == sorted([first, second]), result.unserved
    bookings = await _bookings(db)
    assert {bookings[first].vehicle_id, bookings[second].vehicle_id} == {other}
    assert all(s.vehicle_id == other for s in await _stops(db) if s.kind != "break")


async def test_a_same_day_replan_gives_no_rides_to_a_unit_out_on_an_emergency(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    await give_shifts(db, world)
    rides = [
        await book_ride(db, world, Mobility.AMBULATORY, 10, 13.73),
        await book_ride(db, world, Mobility.AMBULATORY, 11, 13.75),
    ]
    await _plan(db)
    # B1 is sent to a call (nothing of its own under way, so nothing is released) ...
    assigned = await _red_call(client, world, world.vehicle_ids["B1"])
    assert assigned.status_code == 201, assigned.text
    # ... and a later same-day re-plan (another unit taken, a booking inserted) runs.
    result = await _plan(db, started=True, warm=True, now=local(7))
    assert sorted(result.served) == sorted(rides), result.unserved
    bookings = await _bookings(db)
    assert {bookings[r].vehicle_id for r in rides} == {world.vehicle_ids["T1"]}
    assert world.vehicle_ids["B1"] not in result.vehicles


async def test_a_day_plan_is_solved_without_holding_up_calls(
    stack: Stack, db: Database, world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A call taken while the day is being planned is stored at once: the solve holds no
    write transaction (on SQLite that would be the database's one write lock) and runs in
    its own process (in a thread its GIL use slowed this call from ~15 ms to ~1.5 s)."""
    await give_shifts(db, world)
    for hour in (9, 10, 11, 12):
        await book_ride(db, world, Mobility.AMBULATORY, hour, 13.73 + hour / 1000)
    application = create_app(stack.settings(plan_time_limit_s=2.0))
    finished: list[str] = []
    # The solver process leaves a mark when it starts solving, for the call to wait for.
    solving = tmp_path / "solving"
    solve = solver_pool.run

    async def marked(fn: Callable[..., T], *args: object) -> T:
        return await solve(solve_and_mark, str(solving), fn, *args)

    monkeypatch.setattr(solver_pool, "run", marked)
    async with (
        application.router.lifespan_context(application),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=application), base_url="http://test"
        ) as client,
    ):

        async def plan() -> httpx.Response:
            reply = await client.post(f"/plans/{DAY}", headers=world.headers("supervisor"))
            finished.append("plan")
            return reply

        async def call() -> httpx.Response:
            await eventually(solving.exists, what="the solve under way")  # for 2 s
            reply = await client.post(
                "/incidents",
                json={"lat": 13.7460, "lon": 100.5340, "chief_complaint": "cardiac_arrest"},
                headers=world.headers("dispatcher"),
            )
            finished.append("call")
            return reply

        planned, called = await asyncio.gather(plan(), call())
    assert planned.status_code == 200, planned.text
    assert len(planned.json()["served"]) == 4
    # the whole solve (the draft's 2-s search and the re-timing), not the re-timing alone
    assert planned.json()["seconds"] >= 1.5, planned.json()
    assert called.status_code == 201, called.text
    assert finished == ["call", "plan"]


async def test_patient_aboard_stays_and_stop_under_way_stays_first(
    db: Database, world: World
) -> None:
    await give_shifts(db, world)
    aboard = await book_ride(db, world, Mobility.AMBULATORY, 10, 13.73)
    heading_to = await book_ride(db, world, Mobility.AMBULATORY, 11, 13.76)
    await _plan(db)
    bookings = await _bookings(db)
    van = bookings[aboard].vehicle_id
    assert van is not None
    async with db.unit_of_work() as uow:
        for stop in (await uow.session.scalars(select(PlanStop))).all():
            if stop.booking_id == aboard and stop.kind == "pickup":
                stop.status = "done"
        ride = await uow.session.get(TransportBooking, aboard)
        assert ride is not None
        ride.status = BookingStatus.ON_BOARD
    newcomer = await book_ride(db, world, Mobility.WHEELCHAIR, 12, 13.70)
    result = await _plan(
        db, started=True, warm=True, now=local(9, 20), positions={van: (13.731, 100.549)}
    )
    assert newcomer in result.served and heading_to in result.served
    bookings = await _bookings(db)
    assert bookings[aboard].vehicle_id == van and bookings[aboard].status == BookingStatus.ON_BOARD
    stops = [s for s in await _stops(db) if s.booking_id == aboard]
    assert [(s.kind, s.status, s.vehicle_id) for s in stops] == [
        ("pickup", "done", van),
        ("dropoff", "planned", van),
    ]


async def test_red_call_taking_a_van_replans_its_rides_onto_others(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    await give_shifts(db, world)
    ride = await book_ride(db, world, Mobility.AMBULATORY, 10, 13.73)
    await _plan(db)
    taken = (await _bookings(db))[ride].vehicle_id
    assert taken is not None
    other = next(v for v in (world.vehicle_ids["T1"], world.vehicle_ids["B1"]) if v != taken)
    pickup = next(s for s in await _stops(db) if s.booking_id == ride and s.kind == "pickup")
    on_the_way = await client.post(  # the crew reports it is on its way to the pickup
        f"/plan-stops/{pickup.id}/status",
        json={"status": "under_way"},
        headers=world.headers("dispatcher"),
    )
    assert on_the_way.status_code == 200, on_the_way.text
    assert (await _bookings(db))[ride].status == BookingStatus.VEHICLE_EN_ROUTE
    assigned = await _red_call(client, world, taken)
    assert assigned.status_code == 201, assigned.text
    assert assigned.json()["preempted_booking_ids"] == [ride]
    # The re-plan runs after the response: wait for it to commit.
    booking = await _once(db, ride, lambda b: b.vehicle_id is not None)
    assert booking.vehicle_id == other and booking.status == BookingStatus.PLANNED
    # The stop the taken unit was under way to left its manifest; the other lists both.
    stops = [s for s in await _stops(db) if s.booking_id == ride]
    assert sorted((s.kind, s.vehicle_id, s.status) for s in stops) == [
        ("dropoff", other, "planned"),
        ("pickup", other, "planned"),
    ]


async def _van_taken_leaving_a_ride_nobody_can_take(
    http: httpx.AsyncClient, db: Database, world: World
) -> tuple[int, int]:
    """B1, the only unit on transports that day, is on its way to a ride when a red call
    takes it: the ride is released and the re-plan finds no one. (ride, assignment)."""
    await give_shifts(db, world, units=("B1",))
    ride = await book_ride(db, world, Mobility.AMBULATORY, 10, 13.73)
    await _plan(db)
    b1 = world.vehicle_ids["B1"]
    assert (await _bookings(db))[ride].vehicle_id == b1
    pickup = next(s for s in await _stops(db) if s.booking_id == ride and s.kind == "pickup")
    await http.post(
        f"/plan-stops/{pickup.id}/status",
        json={"status": "under_way"},
        headers=world.headers("device:B1"),
    )
    assigned = await _red_call(http, world, b1)
    assert assigned.json()["preempted_booking_ids"] == [ride]
    waiting = await _once(db, ride, lambda b: b.unserved_reason is not None)
    assert waiting.status == BookingStatus.REQUESTED and waiting.vehicle_id is None
    assert waiting.release_reason and waiting.unserved_reason
    return ride, assigned.json()["id"]


async def _back_with_b1(db: Database, world: World, ride: int) -> None:
    back = (await _bookings(db))[ride]
    assert back.status == BookingStatus.PLANNED and back.vehicle_id == world.vehicle_ids["B1"]
    assert back.release_reason is None and back.planned_pickup_at is not None
    assert [s.kind for s in await _stops(db) if s.booking_id == ride] == ["pickup", "dropoff"]


async def test_rides_no_other_unit_could_take_go_back_to_the_unit_when_it_is_free(
    app: FastAPI, client: httpx.AsyncClient, db: Database, world: World
) -> None:
    ride, assignment = await _van_taken_leaving_a_ride_nobody_can_take(client, db, world)
    for status in ("acknowledged", "en_route", "on_scene", "back_in_service"):
        done = await client.post(
            f"/assignments/{assignment}/status",
            json={"status": status},
            headers=world.headers("device:B1"),
        )
        assert done.status_code == 200, done.text
        if status != "back_in_service":  # still on the call: the ride keeps waiting
            await reactions_settled(app)
            assert (await _bookings(db))[ride].status == BookingStatus.REQUESTED
    # back in service: the re-plan runs after that reply and gives the ride back to B1
    await _once(db, ride, lambda b: b.status == BookingStatus.PLANNED)
    await _back_with_b1(db, world, ride)


async def test_a_crew_back_in_service_over_its_phone_channel_gets_the_ride_back(
    live: LiveServer, db: Database, world: World
) -> None:
    async with httpx.AsyncClient(base_url=live.base_url) as http:
        ride, assignment = await _van_taken_leaving_a_ride_nobody_can_take(http, db, world)
    async with connect(f"{live.ws_url}/ws/driver") as phone:
        await hello(phone, token(world, "device:B1"))
        for n, status in enumerate(("acknowledged", "en_route", "on_scene", "back_in_service")):
            message = {"type": "status", "id": f"s{n}", "assignment_id": assignment}
            await phone.send(json.dumps({**message, "status": status}))
            while (reply := json.loads(await asyncio.wait_for(phone.recv(), 10)))["type"] != "ack":
                assert reply["type"] != "error", reply
            assert reply["status"] == status
    # the re-plan runs after the ack, outside any request: wait for it to commit
    await _once(db, ride, lambda b: b.status == BookingStatus.PLANNED)
    await _back_with_b1(db, world, ride)


async def _once(
    db: Database, ride: int, done: Callable[[TransportBooking], bool]
) -> TransportBooking:
    """The ride once a re-plan running after the reply has committed what ``done`` checks
    (a server in this process has done it before the reply is read)."""

    async def booking() -> TransportBooking | None:
        current = (await _bookings(db))[ride]
        return current if done(current) else None

    return await eventually(booking, what=f"ride {ride} re-planned")


async def _book_over_http(
    client: httpx.AsyncClient, care: dict[str, str], full_name: str, mobility: str
) -> httpx.Response:
    """A care centre's new patient and a ride for them on DAY, through the API."""
    patient = await client.post(
        "/patients", json={"full_name": full_name, "mobility": mobility}, headers=care
    )
    assert patient.status_code == 201, patient.text
    return await client.post(
        "/bookings",
        json={
            "patient_id": patient.json()["id"],
            "pickup_lat": 13.75,
            "pickup_lon": 100.54,
            "destination_lat": 13.7327,
            "destination_lon": 100.5354,
            "appointment_at": local(14).isoformat(),
        },
        headers=care,
    )


async def test_a_booking_for_a_planned_day_is_inserted_and_a_cancel_leaves_the_plan(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    await give_shifts(db, world)
    first = await book_ride(db, world, Mobility.AMBULATORY, 9, 13.73)
    await _plan(db)
    care = world.headers("care_a")
    created = await _book_over_http(client, care, "Somchai K.", "wheelchair")
    assert created.status_code == 201, created.text
    new_id = created.json()["id"]
    # The insertion runs after the reply: wait for it to commit.
    inserted = await _once(db, new_id, lambda b: b.status == BookingStatus.PLANNED)
    seen = (await client.get(f"/bookings/{new_id}", headers=care)).json()
    assert seen["status"] == "planned"
    assert datetime.fromisoformat(seen["planned_pickup_at"]) == inserted.planned_pickup_at
    stops = await _stops(db)
    assert [s.kind for s in stops if s.booking_id == new_id] == ["pickup", "dropoff"]
    assert {s.booking_id for s in stops if s.booking_id} == {first, new_id}
    cancelled = await client.post(f"/bookings/{new_id}/cancel", headers=care)
    assert cancelled.status_code == 200, cancelled.text

    async def left_the_plan() -> bool:
        return all(s.booking_id != new_id for s in await _stops(db))

    await eventually(left_the_plan, what=f"booking {new_id}'s stops removed")
    assert (await _bookings(db))[first].status == BookingStatus.PLANNED


async def test_a_booking_for_a_day_without_a_plan_waits_for_the_day_plan(
    app: FastAPI, client: httpx.AsyncClient, db: Database, world: World
) -> None:
    await give_shifts(db, world)
    care = world.headers("care_a")
    created = await _book_over_http(client, care, "Lan N.", "ambulatory")
    assert created.status_code == 201, created.text
    assert created.json()["status"] == "requested"
    assert (await client.get(f"/bookings/{created.json()['id']}", headers=care)).json()[
        "status"
    ] == "requested"
    await reactions_settled(app)  # the insertion it triggered has looked and left it alone
    assert await _stops(db) == []
