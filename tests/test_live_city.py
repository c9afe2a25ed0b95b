"""The living city (``python -m simulator live``) against the demo on each test stack: its
crews work whole jobs from the call to the closed incident, follow a job a dispatcher
made by hand, bring returning units home and available, and its vans work the day's
planned rides; the demo's printed phone token keeps working. Run at 30x pace, so a whole
job takes tens of seconds; the centre's time zone is set to one where it is morning now,
so the vans have today's rides whenever the suite runs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import update

from dispatch import demo
from dispatch.db.session import Database
from dispatch.models import Organisation
from simulator.city.scenario import PACKAGE_DIR, load_scenario
from simulator.live.config import LiveConfig, Login
from simulator.live.run import run_live
from tests.helpers.server import serve
from tests.helpers.stacks import Stack, empty_stack
from tests.helpers.waiting import eventually

pytestmark = pytest.mark.slow

#: Long enough for a job's drives, scene time and handover at 30x on a loaded machine.
JOB_DEADLINE_S = 180.0
SINCE = {"since": (datetime.now(UTC) - timedelta(hours=1)).isoformat()}


def morning_zone(now: datetime) -> str:
    """A fixed-offset zone where it is 09:xx now (Etc/GMT-N is N hours *east* of UTC)."""
    east = (9 - now.hour) % 24
    east = east - 24 if east > 14 else east
    return "UTC" if east == 0 else f"Etc/GMT{'-' if east > 0 else '+'}{abs(east)}"


@dataclass
class City:
    base_url: str
    info: demo.DemoInfo
    task: asyncio.Task[dict[str, Any]]
    stop: asyncio.Event
    tokens: dict[str, str]
    zone: ZoneInfo
    said: list[str]

    async def api(self, method: str, path: str, who: str = "dispatcher", **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"}
        async with httpx.AsyncClient(base_url=self.base_url, timeout=30) as http:
            reply = await http.request(method, path, headers=headers, **kwargs)
        assert reply.status_code < 300, reply.text
        return reply.json() if reply.content else None


@pytest.fixture(scope="module")
async def city(
    migrated_stack: Stack, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[City]:
    stack = await empty_stack(migrated_stack, tmp_path_factory.mktemp("live"))
    db = Database(stack.database_url)
    try:
        async with db.unit_of_work() as uow:
            info = await demo.seed(uow)
            zone = morning_zone(datetime.now(UTC))
            await uow.session.execute(update(Organisation).values(timezone=zone))
    finally:
        await db.dispose()
    settings = stack.settings(
        osm_path=demo.DEMO_MAP,
        cache_dir=Path(tmp_path_factory.mktemp("graph")),
        plan_time_limit_s=3,
        positions_interval_ms=50,
    )
    async with serve(settings) as server:
        tokens = {}
        async with httpx.AsyncClient(base_url=server.base_url) as http:
            for who in ("dispatcher", "supervisor"):
                form = {"username": who, "password": demo.demo_password(who)}
                tokens[who] = (await http.post("/auth/token", data=form)).json()["access_token"]
        scenario = load_scenario(PACKAGE_DIR / "scenarios" / "demo.json")
        cfg = LiveConfig(
            url=server.base_url,
            supervisor=Login("supervisor", demo.demo_password("supervisor")),
            scenario=replace(scenario, calls_per_day=24.0),
            driver=Login("driver", demo.demo_password("driver")),
            care=Login("carecentre", demo.demo_password("carecentre")),
            opening_calls=3,
            returning=3,
            dispatch_after_s=1.0,
            pace=30.0,
            poll_s=0.5,
            idle_fix_s=1.0,
        )
        stop = asyncio.Event()
        said: list[str] = []
        task = asyncio.create_task(run_live(cfg, said.append, stop))
        live = City(server.base_url, info, task, stop, tokens, ZoneInfo(zone), said)
        try:
            yield live
        finally:
            stop.set()
            result = await task
            # Every request the city sent was answered as it expected, all day long, but
            # the first one or two of the unit whose phone token a test replaced (its 401
            # is how the crew learns that the unit has a new phone).
            failures = result["request_failures"]
            assert all(k.endswith(" 401") for k in failures), result
            assert sum(failures.values()) <= 2, result
            assert result["errors"] == [], result
            assert result["counts"]["units_left"] == 2, result


async def test_crews_work_whole_jobs_from_the_call_to_the_closed_incident(city: City) -> None:
    async def closed() -> list[Any]:
        incidents = await city.api("GET", "/incidents")
        return [i for i in incidents if i["status"] == "closed"]

    done = await eventually(closed, what="an incident closed", timeout=JOB_DEADLINE_S)
    assignments = await city.api("GET", f"/incidents/{done[0]['id']}/assignments")
    first = assignments[0]
    for milestone in ("acknowledged_at", "en_route_at", "on_scene_at", "back_in_service_at"):
        assert first[milestone] is not None, milestone
    assert first["acknowledged_at"] <= first["en_route_at"] <= first["on_scene_at"]
    track = await city.api("GET", f"/vehicles/{first['vehicle_id']}/track", params=SINCE)
    assert track["count"] >= 5  # it drove, reporting on the way


async def test_a_job_the_dispatcher_makes_by_hand_is_followed(city: City) -> None:
    vehicles = await city.api("GET", "/vehicles")
    idle = [v for v in vehicles if v["state"] == "available" and v["kind"] == "als"]
    assert idle, [(v["call_sign"], v["state"]) for v in vehicles]
    body = {"lat": 13.7466, "lon": 100.5393, "chief_complaint": "chest_pain"}
    incident = await city.api("POST", "/incidents", json=body)
    made = await city.api(
        "POST", f"/incidents/{incident['id']}/assignments", json={"vehicle_id": idle[0]["id"]}
    )

    async def acknowledged() -> bool:
        a = await city.api("GET", f"/assignments/{made['id']}")
        return a["en_route_at"] is not None

    await eventually(acknowledged, what="the crew on its way", timeout=JOB_DEADLINE_S)


async def test_units_back_from_hospital_drive_home_and_become_available(city: City) -> None:
    stations = {s["id"]: s for s in await city.api("GET", "/stations")}

    async def home_again() -> list[str]:
        out = []
        for v in await city.api("GET", "/vehicles"):
            station = stations.get(v["station_id"])
            if v["state"] != "available" or station is None or v["last_fix_at"] is None:
                continue
            moved = await city.api("GET", f"/vehicles/{v['id']}/track", params=SINCE)
            far = [p for p in moved["fixes"] if abs(p["lat"] - station["lat"]) > 0.003]
            if far:  # it was away (a hospital, a scene) and is available at home again
                out.append(v["call_sign"])
        return out

    await eventually(home_again, what="a unit home and available", timeout=JOB_DEADLINE_S)


async def test_the_vans_work_the_days_planned_rides(city: City) -> None:
    vans = [v for v in await city.api("GET", "/vehicles") if v["kind"] == "transport_van"]

    async def a_stop_done() -> list[Any]:
        day = datetime.now(city.zone).date().isoformat()
        done = []
        for van in vans:
            path = f"/vehicles/{van['id']}/manifest"
            manifest = await city.api("GET", path, params={"service_date": day})
            done += [s for s in manifest["stops"] if s["status"] == "done"]
        return done

    done = await eventually(a_stop_done, what="a van's stop done", timeout=JOB_DEADLINE_S)
    assert done[0]["kind"] in ("pickup", "dropoff")


async def test_the_demos_printed_phone_token_keeps_working(city: City) -> None:
    """The driver's unit is driven with the driver's login: the living city issued no new
    phone token for it."""
    fix = {"lat": 13.7445, "lon": 100.5295, "recorded_at": datetime.now(UTC).isoformat()}
    vehicles = {v["call_sign"]: v for v in await city.api("GET", "/vehicles")}
    async with httpx.AsyncClient(base_url=city.base_url) as http:
        reply = await http.post(
            f"/vehicles/{vehicles['A1']['id']}/fixes",
            json={"fixes": [fix]},
            headers={"Authorization": f"Bearer {city.info.device_token}"},
        )
    assert reply.status_code == 200, reply.text


def test_the_calls_timeline_opens_at_once_and_repeats_with_its_seed() -> None:
    from zoneinfo import ZoneInfo as Zone

    from simulator.city.api import Api
    from simulator.live.dispatcher import OPENING_TRIAGE, timeline
    from simulator.live.world import World

    scenario = load_scenario(PACKAGE_DIR / "scenarios" / "demo.json")
    cfg = LiveConfig("http://127.0.0.1:9", Login("s", "p"), scenario, opening_calls=4, seed=3)
    started = datetime(2026, 12, 6, 9, 30, tzinfo=Zone("Asia/Bangkok"))

    def first(n: int, config: LiveConfig) -> list[tuple[float, Any]]:
        world = World(config, Api(config.url, "t", size=1), Zone("Asia/Bangkok"))
        out = []
        for item in timeline(world, started):
            out.append(item)
            if len(out) == n:
                return out
        return out

    day = first(40, cfg)
    assert day == first(40, cfg)
    assert day != first(40, replace(cfg, seed=4))
    assert [t for t, _c in day[:4]] == [2.0, 4.0, 6.0, 8.0]
    assert tuple(c.triage for _t, c in day[:4]) == OPENING_TRIAGE
    later = [t for t, _c in day[4:]]
    assert later == sorted(later) and all(t > 0 for t in later)
    # "every few minutes": 288 a day is about one every five minutes on average
    assert 60 < (later[-1] - later[0]) / (len(later) - 1) < 900


def test_a_morning_zone_is_morning() -> None:
    for hour in range(24):
        now = datetime(2026, 12, 6, hour, 15, tzinfo=UTC)
        assert now.astimezone(ZoneInfo(morning_zone(now))).hour == 9


async def test_a_unit_given_a_real_phone_is_left_to_it(city: City) -> None:
    """Pairing a phone by QR code, or issuing a new phone token (a crew link), hands the
    unit to that phone: the city stops driving it and says so."""
    vehicles = await city.api("GET", "/vehicles")
    idle = sorted(
        (v for v in vehicles if v["state"] == "available" and v["kind"] in ("als", "bls")),
        key=lambda v: v["call_sign"],
    )
    idle = [v for v in idle if v["call_sign"] != "A1"]  # the driver login's unit
    paired, retokened = idle[-1], idle[-2]
    await city.api("POST", f"/vehicles/{paired['id']}/phone-pairing", who="supervisor")
    await city.api("POST", f"/vehicles/{retokened['id']}/device-token", who="supervisor")

    def told() -> bool:
        return any(
            f"{paired['call_sign']} has a phone paired" in line for line in city.said
        ) and any(f"{retokened['call_sign']} has a new phone token" in line for line in city.said)

    await eventually(told, what="the city leaving both units", timeout=JOB_DEADLINE_S)


def test_the_next_days_rides_are_booked_the_next_morning() -> None:
    from simulator.live.rides import next_morning

    bangkok = ZoneInfo("Asia/Bangkok")
    for hour in (0, 5, 6, 13, 23):
        now = datetime(2026, 12, 6, hour, 30, tzinfo=bangkok)
        assert next_morning(now) == datetime(2026, 12, 7, 6, 0, tzinfo=bangkok)
    # a day of 23 hours (clocks forward) still gives the next day's 06:00
    paris = ZoneInfo("Europe/Paris")
    assert next_morning(datetime(2026, 3, 28, 23, 0, tzinfo=paris)) == datetime(
        2026, 3, 29, 6, 0, tzinfo=paris
    )
