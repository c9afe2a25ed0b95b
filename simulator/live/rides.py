"""Booked rides in the living city: the care centre books the day's rides, the vans get
their shifts, the server plans the day as it runs, and each van's crew works its manifest.

Why the rides are booked from 50 minutes after the start: the server refuses rides in the
past and a demo wants its vans out at once; with the first appointments near, the plan
sends the vans to their first pickups straight away (a van early at a pickup waits for
the planned time, as a crew would). Late in the evening the day has no room left for a
ride, so tomorrow morning's rides are booked and planned instead and the vans stay at
their stations. A second start on the same day books nothing
again: it finds the day's rides it booked before (by their note) and re-plans them. Every
morning at 06:00 the day's rides are booked and planned again (``next_morning``).
"""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from typing import Any

import httpx

from simulator.city.api import split_urls
from simulator.city.bookings import nearest_id
from simulator.city.demand import generate_rides
from simulator.city.scenario import Zone
from simulator.live.wheels import drive
from simulator.live.world import LiveUnit, World

NOTE = "demo-live ride"
FIRST_AFTER_S = 50 * 60
SPAN_S = 4 * 3600
LAST_APPOINTMENT_S = 23 * 3600  # local time: later rides would need tomorrow's shifts
PLAN_WAIT_S = 660.0  # the server's longest plan time limit is 600 s
MIN_SPAN_S = 3600  # less room than this left today: tomorrow morning's rides instead

#: Patients' names for the booked rides (invented), Thai and Vietnamese as in the
#: centres this serves.
GIVEN = ("Somsak", "Pranee", "Wichai", "Nguyen Van", "Kanya", "Boonmee", "Tran Thi", "Anong")
FAMILY = ("Chaiyaporn", "Srisawat", "Minh", "Thongdee", "Lan", "Phromma", "Hoa", "Kaewkla")


async def book_and_plan(world: World) -> None:
    """Shifts, patients, bookings and the plan of the day, through the public API: today
    (local) while it has room for rides, else tomorrow morning (planned ahead, the vans
    stay at their stations tonight)."""
    cfg, api = world.cfg, world.api
    s = cfg.scenario
    vans = [u for u in world.units.values() if u.transport_van]
    if cfg.care is None or s.transports is None or not vans:
        return
    now = datetime.now(world.tz)
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    first = math.ceil(((now - today).total_seconds() + FIRST_AFTER_S) / 900) * 900
    last = min(first + SPAN_S, LAST_APPOINTMENT_S)
    if last - first >= MIN_SPAN_S:
        midnight, shift = today, (now - timedelta(minutes=1), today.replace(hour=23, minute=59))
    else:
        midnight = (today + timedelta(days=1, hours=12)).replace(hour=0)  # DST-safe
        first, last = 8 * 3600, 12 * 3600
        shift = (midnight.replace(hour=7), midnight.replace(hour=19))
    day = midnight.date()
    await _shifts(world, vans, shift)
    care_token = await cfg.care.token(cfg.url, cfg.timeout_s)
    params = {"service_date": day.isoformat()}
    booked = await api.get_all("/bookings", token=care_token, params=params)
    if not any((b.get("notes") or "").startswith(NOTE) for b in booked):
        t = replace(s.transports, appointment_s=(float(first), float(last)))
        # rides are kept when their outbound fits after ``start_s`` (an hour before)
        rides = generate_rides(replace(s, transports=t), cfg.seed, first - 3600.0, 86_340.0)
        hospitals = (await api.send("GET", "/hospitals")).json()
        for ride in rides:
            await _book(world, care_token, ride, hospitals, midnight)
    started = "true" if day == now.date() else "false"
    # The solver takes its whole time limit (30 s by default): longer than a request may.
    async with httpx.AsyncClient(base_url=split_urls(cfg.url)[0], timeout=PLAN_WAIT_S) as client:
        reply = await client.post(
            f"/plans/{day.isoformat()}",
            params={"started": started},
            headers={"Authorization": f"Bearer {api.token}"},
        )
    if reply.status_code != 200:
        world.error(f"planning {day}: HTTP {reply.status_code}: {reply.text[:200]}")
        return
    plan = reply.json()
    world.count("rides_planned", len(plan.get("served", [])))
    world.count("rides_unserved", len(plan.get("unserved", {})))
    world.service_day = day


def next_morning(now: datetime) -> datetime:
    """When the next day's rides are booked: 06:00 local of the day after ``now``'s."""
    tomorrow = (now.replace(hour=12, minute=0, second=0, microsecond=0) + timedelta(days=1)).date()
    return datetime.combine(tomorrow, time(6), now.tzinfo)


async def _shifts(world: World, vans: list[LiveUnit], shift: tuple[datetime, datetime]) -> None:
    """A shift for every van without one on the day."""
    day = shift[0].date().isoformat()
    have = {
        int(x["vehicle_id"])
        for x in (
            await world.api.send("GET", "/transport-shifts", params={"service_date": day})
        ).json()
    }
    for van in vans:
        if van.vehicle_id not in have:
            body = {
                "vehicle_id": van.vehicle_id,
                "starts_at": shift[0].isoformat(),
                "ends_at": shift[1].isoformat(),
            }
            await world.api.send("POST", "/transport-shifts", body=body)
            world.count("shifts_added")


async def _book(
    world: World, care_token: str, ride: Any, hospitals: list[dict[str, Any]], midnight: datetime
) -> None:
    api, s = world.api, world.cfg.scenario
    place = s.hospitals[ride.hospital]
    # 64 different names before one comes again
    family = FAMILY[(ride.n * 5 + ride.n // len(GIVEN)) % len(FAMILY)]
    zones = s.zones or [Zone(s.name, ride.lat, ride.lon, 1.0, 1.0)]
    zone = min(zones, key=lambda z: (z.lat - ride.lat) ** 2 + (z.lon - ride.lon) ** 2)
    address = f"Soi {ride.n % 40 + 1}, {zone.name}"
    patient = {
        "full_name": f"{GIVEN[ride.n % len(GIVEN)]} {family}",
        "mobility": ride.mobility,
        "home_lat": ride.lat,
        "home_lon": ride.lon,
        "home_address": address,
    }
    created = (await api.send("POST", "/patients", token=care_token, body=patient)).json()
    body: dict[str, Any] = {
        "patient_id": created["id"],
        "pickup_lat": ride.lat,
        "pickup_lon": ride.lon,
        "pickup_address": address,
        "destination_hospital_id": nearest_id(hospitals, place.lat, place.lon),
        "appointment_at": (midnight + timedelta(seconds=ride.appointment_s)).isoformat(),
        "notes": f"{NOTE} {ride.n}",
    }
    if ride.return_window is not None:
        opens, closes = ride.return_window
        body["return_pickup_window_start"] = (midnight + timedelta(seconds=opens)).isoformat()
        body["return_pickup_window_end"] = (midnight + timedelta(seconds=closes)).isoformat()
    reply = await api.send("POST", "/bookings", token=care_token, body=body, ok=(201, 409, 422))
    if reply.status_code == 201:
        world.count("rides_booked")
    else:
        world.error(f"ride {ride.n} not booked: {reply.text[:200]}")


async def next_stop(world: World, unit: LiveUnit) -> dict[str, Any] | None:
    """The van's next stop of today's plan, if the day is planned and one is left."""
    if world.service_day != datetime.now(world.tz).date():
        return None  # tomorrow's rides wait for tomorrow (a demo running overnight)
    manifest = (
        await world.api.send(
            "GET",
            f"/vehicles/{unit.vehicle_id}/manifest",
            token=unit.token,
            params={"service_date": world.service_day.isoformat()},
        )
    ).json()
    for stop in manifest["stops"]:
        if stop["status"] in ("planned", "under_way"):
            return dict(stop)
    return None


async def _stop_status(world: World, unit: LiveUnit, stop: dict[str, Any], status: str) -> bool:
    """False when a re-plan took the stop off this manifest meanwhile."""
    reply = await world.api.send(
        "POST",
        f"/plan-stops/{stop['id']}/status",
        token=unit.token,
        body={"status": status},
        ok=(200, 404, 409),
    )
    world.count(f"stops_{status}", reply.status_code == 200)
    return reply.status_code == 200


async def serve_stop(world: World, unit: LiveUnit, stop: dict[str, Any]) -> None:
    """Leave for the stop at once, wait there for its planned time, board or set down
    for the planned time, and report it done."""
    planned = datetime.fromisoformat(stop["planned_start"])
    service_s = (datetime.fromisoformat(stop["planned_departure"]) - planned).total_seconds()
    if stop["kind"] != "break":
        if stop["status"] == "planned" and not await _stop_status(world, unit, stop, "under_way"):
            return
        await drive(world, unit, (float(stop["lat"]), float(stop["lon"])))
    wait_s = (planned - datetime.now(UTC)).total_seconds() if stop["kind"] != "dropoff" else 0.0
    await world.sleep(max(0.0, wait_s) + max(0.0, service_s))
    await _stop_status(world, unit, stop, "done")
