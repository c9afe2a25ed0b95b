"""Booking rides: the way home, weekly series generated ahead in local time, and times
that cannot be right."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from dispatch.transports.series import matching_days
from tests.helpers.world import World

BANGKOK = ZoneInfo("Asia/Bangkok")


def next_weekday(weekday: int) -> date:
    today = datetime.now(BANGKOK).date() + timedelta(days=1)
    return today + timedelta(days=(weekday - today.weekday()) % 7)


def at(day: date, hour: int, minute: int = 0) -> str:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=BANGKOK).isoformat()


def body(world: World, **extra: Any) -> dict[str, Any]:
    return {
        "patient_id": world.patient_a_id,
        "pickup_lat": 13.73,
        "pickup_lon": 100.55,
        "destination_lat": 13.7327,
        "destination_lon": 100.5354,
        **extra,
    }


def test_matching_days() -> None:
    monday = date(2026, 11, 23)
    days = matching_days("FREQ=WEEKLY;BYDAY=MO,WE,FR;UNTIL=20261204", monday, date(2026, 12, 31))
    assert days == [date(2026, 11, d) for d in (23, 25, 27, 30)] + [
        date(2026, 12, d) for d in (2, 4)
    ]
    assert matching_days("FREQ=WEEKLY;BYDAY=SU", monday, date(2026, 11, 28)) == []


async def test_weekly_series_generates_rides_with_their_return_trips(
    client: httpx.AsyncClient, world: World
) -> None:
    monday = next_weekday(0)
    response = await client.post(
        "/bookings",
        json=body(
            world,
            appointment_at=at(monday, 8, 0),
            return_pickup_window_start=at(monday, 12, 0),
            return_pickup_window_end=at(monday, 12, 30),
            recurrence_rule="FREQ=WEEKLY;BYDAY=MO,WE,FR",
        ),
        headers=world.headers("care_a"),
    )
    assert response.status_code == 201, response.text
    series = response.json()
    assert series["is_series"] and series["service_date"] is None
    rides = (await client.get("/bookings", headers=world.headers("care_a"))).json()
    concrete = [r for r in rides if r["series_id"] is not None]
    outbound = sorted(
        (r for r in concrete if r["return_of_id"] is None), key=lambda r: r["service_date"]
    )
    returns = {r["return_of_id"]: r for r in concrete if r["return_of_id"] is not None}
    assert len(series["generated_ids"]) == len(concrete)
    assert {date.fromisoformat(r["service_date"]).weekday() for r in outbound} == {0, 2, 4}
    horizon = datetime.now(BANGKOK).date() + timedelta(days=14)
    expected = matching_days("FREQ=WEEKLY;BYDAY=MO,WE,FR", monday, horizon)
    assert [r["service_date"] for r in outbound] == [d.isoformat() for d in expected]
    assert len(expected) >= 4
    for ride in outbound:
        local = datetime.fromisoformat(ride["appointment_at"]).astimezone(BANGKOK)
        assert (local.hour, local.minute) == (8, 0)  # the same local time every day
        assert local.date().isoformat() == ride["service_date"]
        back = returns[ride["id"]]
        start = datetime.fromisoformat(back["pickup_window_start"]).astimezone(BANGKOK)
        assert (start.date().isoformat(), start.hour) == (ride["service_date"], 12)
        assert (back["pickup_lat"], back["destination_lat"]) == (
            ride["destination_lat"],
            ride["pickup_lat"],
        )
    one_day = (
        await client.get(
            f"/bookings?service_date={outbound[0]['service_date']}", headers=world.headers("care_a")
        )
    ).json()
    assert len(one_day) == 2  # the ride and its return
    # Cancelling the series cancels what has not happened yet.
    cancelled = await client.post(
        f"/bookings/{series['id']}/cancel", headers=world.headers("care_a")
    )
    assert cancelled.status_code == 200
    after = (await client.get("/bookings", headers=world.headers("care_a"))).json()
    assert {r["status"] for r in after} == {"cancelled"}


async def test_single_ride_with_return(client: httpx.AsyncClient, world: World) -> None:
    day = next_weekday(2)
    response = await client.post(
        "/bookings",
        json=body(
            world,
            pickup_window_start=at(day, 9),
            pickup_window_end=at(day, 9, 30),
            return_pickup_window_start=at(day, 14),
            return_pickup_window_end=at(day, 15),
        ),
        headers=world.headers("care_a"),
    )
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["service_date"] == day.isoformat() and created["generated_ids"] == []
    back = (
        await client.get(
            f"/bookings/{created['return_booking_id']}", headers=world.headers("care_a")
        )
    ).json()
    assert back["return_of_id"] == created["id"] and back["service_date"] == day.isoformat()


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        (
            {"appointment_at": (datetime.now(UTC) - timedelta(hours=1)).isoformat()},
            "appointment_at",
        ),
        (
            {
                "pickup_window_start": (datetime.now(UTC) - timedelta(hours=3)).isoformat(),
                "pickup_window_end": (datetime.now(UTC) - timedelta(hours=2)).isoformat(),
            },
            "pickup_window_end",
        ),
        (
            {
                "appointment_at": (datetime.now(UTC) + timedelta(days=1)).isoformat(),
                "return_pickup_window_start": datetime.now(UTC).isoformat(),
                "return_pickup_window_end": (datetime.now(UTC) + timedelta(hours=1)).isoformat(),
            },
            "return_pickup_window_start",
        ),
        (
            {
                "appointment_at": (datetime.now(UTC) + timedelta(days=1)).isoformat(),
                "return_pickup_window_start": (
                    datetime.now(UTC) + timedelta(days=1, hours=3)
                ).isoformat(),
            },
            "return_pickup_window_end",
        ),
    ],
)
async def test_impossible_times_are_refused(
    client: httpx.AsyncClient, world: World, extra: dict[str, Any], field: str
) -> None:
    response = await client.post(
        "/bookings", json=body(world, **extra), headers=world.headers("care_a")
    )
    assert response.status_code == 422, response.text
    assert [e["loc"] for e in response.json()["detail"]] == [["body", field]]
    assert (await client.get("/bookings", headers=world.headers("care_a"))).json() == []


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"pickup_lat": 10.77, "pickup_lon": 106.70}, "pickup_lat"),
        ({"destination_lat": 10.77, "destination_lon": 106.70}, "destination_lat"),
    ],
)
async def test_a_ride_outside_the_service_area_is_refused(
    stack: Any, world: World, extra: dict[str, Any], field: str
) -> None:
    from dispatch.app import create_app

    app = create_app(stack.settings(service_area="13.60,100.40,13.90,100.70"))
    day = next_weekday(2)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            refused = await http.post(
                "/bookings",
                json=body(world, appointment_at=at(day, 10), **extra),
                headers=world.headers("care_a"),
            )
            accepted = await http.post(
                "/bookings",
                json=body(world, appointment_at=at(day, 10)),
                headers=world.headers("care_a"),
            )
    assert refused.status_code == 422, refused.text
    assert refused.json()["detail"][0]["loc"] == ["body", field]
    assert "outside the service area" in refused.json()["detail"][0]["msg"]
    assert accepted.status_code == 201, accepted.text


async def test_a_ride_moved_to_another_day_is_on_that_days_list(
    client: httpx.AsyncClient, world: World
) -> None:
    day = next_weekday(3)
    created = await client.post(
        "/bookings", json=body(world, appointment_at=at(day, 10)), headers=world.headers("care_a")
    )
    assert created.status_code == 201, created.text
    ride = created.json()
    later = day + timedelta(days=1)
    moved = await client.patch(
        f"/bookings/{ride['id']}",
        json={"appointment_at": at(later, 10), "version": ride["version"]},
        headers=world.headers("care_a"),
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["service_date"] == later.isoformat()
    for listed_day, expected in ((day, []), (later, [ride["id"]])):
        listed = await client.get(
            f"/bookings?service_date={listed_day.isoformat()}", headers=world.headers("care_a")
        )
        assert [r["id"] for r in listed.json()] == expected
    # early in the morning local time is that local day, though still the day before in UTC
    early = await client.patch(
        f"/bookings/{ride['id']}",
        json={"appointment_at": at(later, 6, 30), "version": moved.json()["version"]},
        headers=world.headers("care_a"),
    )
    assert early.status_code == 200, early.text
    assert early.json()["service_date"] == later.isoformat()
