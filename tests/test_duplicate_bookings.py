"""A second *Book* of the same ride moments after the first is questioned (409
``duplicate_booking`` naming the first) unless the clerk confirms; on both stacks."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import update

from dispatch.db.session import Database
from dispatch.models import TransportBooking
from tests.helpers.rides import local
from tests.helpers.world import World


def ride(world: World, **extra: Any) -> dict[str, Any]:
    return {
        "patient_id": world.patient_a_id,
        "pickup_lat": 13.7300,
        "pickup_lon": 100.5500,
        "destination_lat": 13.7310,
        "destination_lon": 100.5300,
        "appointment_at": local(10).isoformat(),
        **extra,
    }


async def _book(client: httpx.AsyncClient, world: World, body: dict[str, Any]) -> httpx.Response:
    return await client.post("/bookings", json=body, headers=world.headers("care_a"))


async def _count(client: httpx.AsyncClient, world: World) -> int:
    return len((await client.get("/bookings", headers=world.headers("care_a"))).json())


async def test_the_same_ride_booked_again_at_once_is_questioned(
    client: httpx.AsyncClient, world: World
) -> None:
    first = await _book(client, world, ride(world))
    assert first.status_code == 201, first.text
    again = await _book(client, world, ride(world, pickup_lat=13.7303))  # 33 m away: same place
    assert again.status_code == 409
    assert again.json()["code"] == "duplicate_booking"
    assert again.json()["duplicate_of"] == first.json()["id"]
    assert await _count(client, world) == 1
    confirmed = await _book(client, world, ride(world, allow_duplicate=True))
    assert confirmed.status_code == 201, confirmed.text
    assert await _count(client, world) == 2


async def test_another_time_or_place_or_patient_is_booked_without_a_question(
    client: httpx.AsyncClient, world: World
) -> None:
    assert (await _book(client, world, ride(world))).status_code == 201
    later = ride(world, appointment_at=local(14).isoformat())
    elsewhere = ride(world, destination_lat=13.7500)
    assert (await _book(client, world, later)).status_code == 201
    assert (await _book(client, world, elsewhere)).status_code == 201
    other = {**ride(world), "patient_id": world.patient_b_id}
    response = await client.post("/bookings", json=other, headers=world.headers("care_b"))
    assert response.status_code == 201, response.text


async def test_a_cancelled_or_older_first_booking_is_not_a_twin(
    client: httpx.AsyncClient, world: World, db: Database
) -> None:
    first = (await _book(client, world, ride(world))).json()["id"]
    cancelled = await client.post(
        f"/bookings/{first}/cancel", json={"reason": "wrong day"}, headers=world.headers("care_a")
    )
    assert cancelled.status_code == 200, cancelled.text
    second = await _book(client, world, ride(world))
    assert second.status_code == 201, second.text
    async with db.unit_of_work() as uow:  # the second was made two minutes ago
        made = second.json()["id"]
        booking = await uow.session.get(TransportBooking, made)
        assert booking is not None
        await uow.session.execute(
            update(TransportBooking)
            .where(TransportBooking.id == made)
            .values(created_at=booking.created_at - timedelta(minutes=2))
        )
    assert (await _book(client, world, ride(world))).status_code == 201


async def test_a_resend_with_the_same_key_replays_the_first_answer(
    client: httpx.AsyncClient, world: World
) -> None:
    headers = {**world.headers("care_a"), "Idempotency-Key": "book-once-1"}
    first = await client.post("/bookings", json=ride(world), headers=headers)
    resent = await client.post("/bookings", json=ride(world), headers=headers)
    assert first.status_code == resent.status_code == 201
    assert resent.headers["Idempotent-Replayed"] == "true"
    assert resent.json()["id"] == first.json()["id"]
