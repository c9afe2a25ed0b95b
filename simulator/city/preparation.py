"""Before the day: what the calls need from the server (complaint codes, hospitals), the
stations and one fleet per policy, and the generated calls moved onto the server's map.

Everything is created or reused by name (``<prefix> …``), so a run can follow another on
the same server: each unit is reset (any job stood down, at its station, one fix there).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from simulator.city.api import Api
from simulator.city.clock import Clock
from simulator.city.config import CityConfig
from simulator.city.crews import on_the_map
from simulator.city.demand import RELOCATE_ATTEMPTS, relocate
from simulator.city.geometry import haversine_m
from simulator.city.records import Unit
from simulator.city.scenario import Call, Scenario
from simulator.city.stations import ensure_stations


async def complaint_codes(api: Api) -> dict[str, list[str]]:
    """The server's chief-complaint codes by triage level, each list sorted, so a call
    of a given level and number always gets the same code."""
    complaints: dict[str, list[str]] = {}
    for c in (await api.send("GET", "/complaints")).json():
        complaints.setdefault(c["triage"], []).append(c["code"])
    for codes in complaints.values():
        codes.sort()
    return complaints


async def setup_fleets(
    cfg: CityConfig, api: Api, clocks: dict[str, Clock]
) -> tuple[dict[str, list[Unit]], dict[str, Any]]:
    """Stations, hospitals and one fleet per policy, created or reused by name, every
    unit reset: any active job stood down, available at its station, one fix there."""
    s = cfg.scenario
    hospitals = (await api.send("GET", "/hospitals")).json()
    created_hospitals = 0
    for h in s.hospitals:
        near = any(haversine_m((h.lat, h.lon), (x["lat"], x["lon"])) < 50 for x in hospitals)
        if not near:
            body = {"name": h.name[:200], "lat": h.lat, "lon": h.lon}
            hospitals.append((await api.send("POST", "/hospitals", body=body)).json())
            created_hospitals += 1
    stations = await ensure_stations(cfg, api)
    station_ids = stations.ids
    posts = await _standby_posts(cfg, api)
    if cfg.follow_moveups:  # the server accepts its own move-ups; the crews follow them
        me = (await api.send("GET", "/auth/me")).json()
        path = f"/organisations/{me['organisation_id']}/moveup-mode"
        await api.send("PUT", path, body={"mode": "auto"})
    vehicles = {v["call_sign"]: v for v in (await api.send("GET", "/vehicles")).json()}
    kinds = [k for k, n in s.fleet.items() for _ in range(n)]
    transport_kinds = (
        [k for k, n in s.transports.vehicles.items() for _ in range(n)]
        if s.transports is not None and cfg.transports
        else []
    )
    fleets: dict[str, list[Unit]] = {}
    # On a simulated server clock the day must repeat exactly: units are made one after
    # the other, so they get the same ids (and the same ties) on every run.
    gate = asyncio.Semaphore(1 if cfg.server_clock else 8)

    async def one(policy: str, i: int, kind: str, transport: bool = False) -> Unit:
        letter = policy[0].upper()
        sign = f"{cfg.prefix}-{letter}T{i:02d}" if transport else f"{cfg.prefix}-{letter}{i:03d}"
        # transport units go round the stations as they always did
        home = i % len(s.stations) if transport else s.home_index(i)
        place, station_id = s.stations[home], station_ids[home]
        async with gate:
            found = vehicles.get(sign)
            if found is None:
                body: dict[str, Any] = {"call_sign": sign, "kind": kind, "station_id": station_id}
                body["seats_stretcher"] = 1
                if transport and s.transports is not None:
                    body.update({f"seats_{k}": v for k, v in s.transports.seats.items()})
                    body["serves_transports"] = True
                found = (await api.send("POST", "/vehicles", body=body)).json()
            vid = int(found["id"])
            token = (await api.send("POST", f"/vehicles/{vid}/device-token")).json()["device_token"]
            current = (await api.send("GET", "/assignments/current", token=token)).json()
            if current.get("assignment"):
                aid = current["assignment"]["id"]
                for status in ("cancelled", "back_in_service"):
                    r = await api.send(
                        "POST",
                        f"/assignments/{aid}/status",
                        token=token,
                        body={"status": status},
                        ok=(200, 409),
                    )
                    if r.status_code == 200:
                        break
            # a transport unit is off duty until its shift starts
            patch = {"state": "off_duty" if transport else "available", "station_id": station_id}
            await api.send("PATCH", f"/vehicles/{vid}", body=patch)
            at = clocks[policy].stamp() if cfg.server_clock else datetime.now(UTC).isoformat()
            fix = {"lat": place.lat, "lon": place.lon, "recorded_at": at}
            await api.send("POST", f"/vehicles/{vid}/fixes", token=token, body={"fixes": [fix]})
            unit = Unit(vid, sign, kind, token, place, place.lat, place.lon, clocks[policy])
            unit.transport = transport
            return unit

    for policy in cfg.policies:
        fleets[policy] = list(
            await asyncio.gather(
                *(one(policy, i, k) for i, k in enumerate(kinds, start=1)),
                *(one(policy, i, k, True) for i, k in enumerate(transport_kinds, start=1)),
            )
        )
    roads = (await api.send("GET", "/map/roads")).json()
    info = {
        "hospitals_known": len(hospitals),
        "hospitals_created": created_hospitals,
        "stations": len(station_ids),
        "station_setup": stations.summary(),
        "standby_posts": posts,
        "map_source": roads.get("source"),
        "roads": roads.get("lines", []),
    }
    return fleets, info


async def _standby_posts(cfg: CityConfig, api: Api) -> int:
    """The scenario's candidate posts, created once (by name); the server sends idle units
    there only with coverage-aware dispatch and move-up on."""
    existing = {p["name"] for p in (await api.send("GET", "/standby-posts")).json()}
    for post in cfg.scenario.posts:
        name = f"{cfg.prefix} {post.name}"
        if name not in existing:
            body = {"name": name, "kind": post.kind, "lat": post.lat, "lon": post.lon}
            await api.send("POST", "/standby-posts", body=body, ok=(201,))
            existing.add(name)
    return len(cfg.scenario.posts)


def complaint_fields(complaints: dict[str, list[str]], triage: str, n: int) -> dict[str, Any]:
    """The chief complaint of call ``n`` of this triage level (the same on every run); a
    level no complaint has is set by hand, with the reason."""
    codes = complaints.get(triage)
    if codes:
        return {"chief_complaint": codes[n % len(codes)]}
    any_codes = sorted(c for cs in complaints.values() for c in cs)
    return {
        "chief_complaint": any_codes[n % len(any_codes)],
        "triage": triage,
        "triage_override_reason": "simulated call of this triage level",
    }


async def call_on_the_map(api: Api, scenario: Scenario, seed: int, call: Call) -> tuple[Call, bool]:
    """The call, drawn again at another place of its own while the server's map cannot
    reach it; and whether it moved."""
    moved = False
    for attempt in range(1, RELOCATE_ATTEMPTS + 1):
        if await on_the_map(api, call.lat, call.lon):
            break
        call, moved = relocate(scenario, seed, call, attempt), True
    return call, moved


async def calls_on_the_map(cfg: CityConfig, api: Api, calls: list[Call]) -> tuple[list[Call], int]:
    """Generated calls the server's map cannot reach (farther from a road than it accepts)
    are drawn again at another place of the same call, before the day starts, so both
    policies get the same, servable day."""
    gate = asyncio.Semaphore(8)

    async def fix(call: Call) -> tuple[Call, bool]:
        async with gate:
            return await call_on_the_map(api, cfg.scenario, cfg.seed, call)

    fixed = await asyncio.gather(*(fix(c) for c in calls))
    return [call for call, _moved in fixed], sum(moved for _call, moved in fixed)
