"""Booked transports before the day, through the public API: the care centre that books
the rides, leftovers of an earlier run cancelled, the transport units' shifts, patients
and bookings, and the server's day-ahead plan of each policy's date.

Each step takes one policy's :class:`TransportDay` and fills in what the server answered
(booking ids, planned pickups, rides the plan cannot serve), so the crews and the report
measure the rides against exactly what was booked and planned.
"""

from __future__ import annotations

import asyncio
from typing import Any

from simulator.city.api import Api
from simulator.city.crews import on_the_map
from simulator.city.demand import RELOCATE_ATTEMPTS, relocate_ride
from simulator.city.errors import CityError, TransportSetupError
from simulator.city.records import RideRecord, TransportDay
from simulator.city.scenario import Ride, Scenario


async def care_centre(api: Api, prefix: str) -> int:
    """The care centre that books the rides: ``<prefix> care`` if it exists, else any care
    centre, else one is created (which needs an administrator)."""
    found = (await api.send("GET", "/organisations")).json()
    centres = [o for o in found if o["kind"] == "care_centre"]
    named = [o for o in centres if o["name"] == f"{prefix} care"]
    if named or centres:
        return int((named or centres)[0]["id"])
    try:
        body = {"name": f"{prefix} care", "kind": "care_centre"}
        return int((await api.send("POST", "/organisations", body=body)).json()["id"])
    except CityError as exc:
        raise TransportSetupError(
            "booked transports need a care-centre organisation: create one "
            "(dispatch org create --kind care_centre) or log in as an administrator"
        ) from exc


def nearest_id(hospitals: list[dict[str, Any]], lat: float, lon: float) -> int:
    best = min(hospitals, key=lambda h: (h["lat"] - lat) ** 2 + (h["lon"] - lon) ** 2)
    return int(best["id"])


async def rides_on_the_map(
    api: Api, scenario: Scenario, seed: int, rides: list[Ride]
) -> tuple[list[Ride], int]:
    """A home the server's map cannot reach is drawn again (as calls are), before the
    day, so both policies get the same rides; a zero-length ``GET /route`` checks.
    Returns the rides and how many of them moved."""
    gate = asyncio.Semaphore(8)
    moved = 0

    async def fix(ride: Ride) -> Ride:
        nonlocal moved
        for attempt in range(1, RELOCATE_ATTEMPTS + 1):
            async with gate:
                reachable = await on_the_map(api, ride.lat, ride.lon)
            if reachable:
                return ride
            ride = relocate_ride(scenario, seed, ride, attempt)
            moved += attempt == 1
        return ride

    return list(await asyncio.gather(*(fix(r) for r in rides))), moved


async def clear_leftovers(api: Api, day: TransportDay) -> None:
    """Cancel the single bookings an earlier run left open on this date."""
    old = await api.get_all("/bookings", params={"service_date": day.day.isoformat()})
    for b in old:
        if b["status"] in ("requested", "planned", "vehicle_en_route") and b["series_id"] is None:
            await api.send("POST", f"/bookings/{b['id']}/cancel", ok=(200, 404, 409))


async def add_shifts(api: Api, scenario: Scenario, day: TransportDay) -> None:
    """A shift (with a lunch break when it spans lunch) for every unit that has none."""
    t = scenario.transports
    assert t is not None
    have = {
        int(s["vehicle_id"])
        for s in (
            await api.send("GET", "/transport-shifts", params={"service_date": day.day.isoformat()})
        ).json()
    }
    lunch = (11.5 * 3600, 13.5 * 3600)
    for unit in day.units:
        if unit.vehicle_id in have:
            continue
        body: dict[str, Any] = {
            "vehicle_id": unit.vehicle_id,
            "starts_at": day.iso(t.shift_s[0]),
            "ends_at": day.iso(t.shift_s[1]),
        }
        if t.break_minutes and t.shift_s[0] <= lunch[0] and lunch[1] < t.shift_s[1]:
            body["breaks"] = [
                {
                    "earliest": day.iso(lunch[0]),
                    "latest": day.iso(lunch[1]),
                    "minutes": t.break_minutes,
                }
            ]
        await api.send("POST", "/transport-shifts", body=body)


async def book_rides(
    api: Api,
    day: TransportDay,
    organisation_id: int,
    hospital_ids: list[int],
    prefix: str,
    rides: list[Ride],
    errors: list[str],
) -> None:
    """A patient and a booking (with the way home, if any) per ride; a ride the server
    refuses is recorded with its reason and appended to ``errors``, not booked."""
    gate = asyncio.Semaphore(8)

    async def one(ride: Ride) -> None:
        out = RideRecord(ride, day.policy, "outbound")
        back = RideRecord(ride, day.policy, "return") if ride.return_window else None
        day.records.extend([out, *([back] if back else [])])
        patient_body = {
            "full_name": f"{prefix} {day.policy} patient {ride.n}",
            "mobility": ride.mobility,
            "home_lat": ride.lat,
            "home_lon": ride.lon,
            "organisation_id": organisation_id,
        }
        async with gate:
            patient = (await api.send("POST", "/patients", body=patient_body)).json()
            body: dict[str, Any] = {
                "patient_id": patient["id"],
                "pickup_lat": ride.lat,
                "pickup_lon": ride.lon,
                "destination_hospital_id": hospital_ids[ride.hospital],
                "appointment_at": day.iso(ride.appointment_s),
                "notes": f"city-sim policy={day.policy} ride={ride.n}",
            }
            if ride.return_window is not None:
                body["return_pickup_window_start"] = day.iso(ride.return_window[0])
                body["return_pickup_window_end"] = day.iso(ride.return_window[1])
            reply = await api.send("POST", "/bookings", body=body, ok=(201, 422))
        if reply.status_code == 422:  # a place the server refuses: reported, not booked
            out.error = reply.text[:200]
            errors.append(f"ride {ride.n} refused: {reply.text[:200]}")
            if back is not None:
                day.records.remove(back)
            return
        created = reply.json()
        out.booking_id = int(created["id"])
        day.by_booking[out.booking_id] = out
        if back is not None:
            back.booking_id = int(created["return_booking_id"])
            day.by_booking[back.booking_id] = back

    await asyncio.gather(*(one(r) for r in rides))
    day.records.sort(key=lambda r: (r.ride.n, r.leg != "outbound"))


async def plan_day(api: Api, day: TransportDay) -> None:
    """Have the server plan the date ahead, as it would overnight, and record its plan."""
    result = (await api.send("POST", f"/plans/{day.day.isoformat()}")).json()
    day.plan = {
        "served": len(result["served"]),
        "unserved": len(result["unserved"]),
        "solver_s": result["seconds"],
    }
    for booking_id, reason in result["unserved"].items():
        rec = day.by_booking.get(int(booking_id))
        if rec is not None:
            rec.unserved_reason = reason
    booked = await api.get_all("/bookings", params={"service_date": day.day.isoformat()})
    for b in booked:
        rec = day.by_booking.get(int(b["id"]))
        if rec is not None and b["planned_pickup_at"]:
            rec.planned_pickup_v = day.v(b["planned_pickup_at"])
