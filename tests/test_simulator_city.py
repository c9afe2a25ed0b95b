"""The city simulator: its seeded demand and pure pieces, and a short seeded day against a
real ``dispatch serve`` (on each test stack) whose report must agree with what the server
stored."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest

from simulator.city.api import Api, split_urls
from simulator.city.charts import write_html
from simulator.city.clock import Clock, Stalled
from simulator.city.config import CityConfig
from simulator.city.crews import Crews
from simulator.city.demand import calls_from_csv, generate_calls, generate_rides, relocate
from simulator.city.engine import run_city
from simulator.city.errors import CityError
from simulator.city.geometry import Leg
from simulator.city.policies import Policy
from simulator.city.records import CaseRecord
from simulator.city.report import format_table
from simulator.city.scenario import DEFAULT_SCENARIO, load_scenario
from simulator.cli import build_parser
from tests.helpers.simulator_server import clean_env, dispatch_cli, start_server, stop_server
from tests.helpers.stacks import REDIS_PREFIX, TEST_SECRET, Stack

PASSWORD = "city-supervisor-password-1"
OSM = Path(__file__).resolve().parents[2] / "shared/data/bangkok/bangkok_central_major_roads.osm"


# --- pure pieces ----------------------------------------------------------------------------


def test_a_seed_makes_the_same_day_and_another_seed_another() -> None:
    s = load_scenario()
    day = generate_calls(s, 7, 0, 86_400)
    assert day == generate_calls(s, 7, 0, 86_400)
    assert day != generate_calls(s, 8, 0, 86_400)
    assert 500 < len(day) < 700  # ~600 a day in the Bangkok scenario
    assert [c.t_s for c in day] == sorted(c.t_s for c in day)
    min_lat, min_lon, max_lat, max_lon = s.area
    assert all(min_lat <= c.lat <= max_lat and min_lon <= c.lon <= max_lon for c in day)
    assert {c.triage for c in day} == {"red", "yellow", "green"}
    # the hour profile: the busiest daytime hour gets clearly more calls than 03:00
    per_hour = [sum(1 for c in day if int(c.t_s // 3600) == h) for h in range(24)]
    assert max(per_hour[8:20]) > per_hour[3]
    moved = relocate(s, 7, day[0], 1)
    assert moved == relocate(s, 7, day[0], 1) and (moved.lat, moved.lon) != (day[0].lat, day[0].lon)
    assert (moved.n, moved.t_s, moved.triage, moved.on_scene_s) == (
        day[0].n,
        day[0].t_s,
        day[0].triage,
        day[0].on_scene_s,
    )
    # a sub-span is the same Poisson process restricted, not a different day
    assert all(3600 <= c.t_s < 7200 for c in generate_calls(s, 7, 3600, 7200))


def test_calls_come_from_a_csv_with_their_own_times(tmp_path: Path) -> None:
    s = load_scenario()
    f = tmp_path / "calls.csv"
    f.write_text("time,lat,lon,triage\n08:30,13.75,100.53,red\n30000,13.74,100.54,green\n")
    calls = calls_from_csv(s, 1, f, 0, 86_400)
    assert [(c.t_s, c.triage) for c in calls] == [(30_000.0, "green"), (30_600.0, "red")]
    f.write_text("time,lat,lon,triage\n08:30,13.75,100.53,purple\n")
    with pytest.raises(ValueError, match="purple"):
        calls_from_csv(s, 1, f, 0, 86_400)


def test_scenario_errors_name_the_field(tmp_path: Path) -> None:
    bad = tmp_path / "s.json"
    bad.write_text('{"area": {"min_lat": 1, "min_lon": 1, "max_lat": 2, "max_lon": 2}}')
    with pytest.raises(ValueError, match="stations"):
        load_scenario(bad)
    s = load_scenario(DEFAULT_SCENARIO).with_overrides(units=5, calls_per_day=10)
    assert s.units == 5 and s.calls_per_day == 10


DAY = datetime(2026, 11, 24, tzinfo=ZoneInfo("Asia/Bangkok"))


async def test_virtual_time_waits_for_the_actors_and_keeps_their_order() -> None:
    clock = Clock(3600.0, DAY)
    seen: list[tuple[str, float]] = []

    async def actor(name: str, wake: list[float], work_s: float) -> None:
        for v in wake:
            await clock.sleep_until(v)
            seen.append((name, clock.now_v()))
            await asyncio.sleep(work_s)  # a request: the clock must not move meanwhile
            assert clock.now_v() == v

    tasks = [
        clock.spawn(actor("slow", [3700.0, 3900.0], 0.05)),
        clock.spawn(actor("fast", [3650.0, 3700.0, 7200.0], 0.0)),
    ]
    clock.start()
    await asyncio.gather(*tasks)
    await clock.stop()
    assert sorted(seen, key=lambda x: x[1]) == seen
    assert seen == [
        ("fast", 3650.0),
        ("slow", 3700.0),
        ("fast", 3700.0),
        ("slow", 3900.0),
        ("fast", 7200.0),
    ] or seen == [
        ("fast", 3650.0),
        ("fast", 3700.0),
        ("slow", 3700.0),
        ("slow", 3900.0),
        ("fast", 7200.0),
    ]
    assert clock.instants == 4 and clock.local(3600.0) == datetime(
        2026, 11, 24, 1, tzinfo=ZoneInfo("Asia/Bangkok")
    )


async def test_server_stamps_map_back_to_the_moment_their_request_was_sent() -> None:
    clock = Clock(0.0, DAY)
    stamps: dict[float, tuple[str, datetime]] = {}

    async def actor() -> None:
        for v in (10.0, 10.5, 11.0, 4000.0):
            await clock.sleep_until(v)
            sent = clock.stamp()  # what a crew reports as ``at``
            await asyncio.sleep(0.002)  # the server stamps a moment later
            stamps[v] = (sent, datetime.now(UTC))

    task = clock.spawn(actor())
    clock.start()
    await task
    await clock.stop()
    for v, (sent, server) in stamps.items():
        assert clock.virtual(sent) == v == clock.virtual(server)
    # the crews' stamps are strictly increasing, so fixes keyed by time never collide
    assert [stamps[v][0] for v in sorted(stamps)] == sorted({s for s, _ in stamps.values()})


async def test_cancelled_sleepers_and_waiters_never_stop_the_clock() -> None:
    clock = Clock(0.0, DAY)
    woke: list[float] = []

    async def sleeper(v: float) -> None:
        await clock.sleep_until(v)
        woke.append(v)

    async def waits_forever() -> None:
        never: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        await clock.wait(never)

    doomed = clock.spawn(sleeper(50.0))
    survivor = clock.spawn(sleeper(100.0))
    stuck = clock.spawn(waits_forever())
    clock.start()
    await asyncio.sleep(0)
    doomed.cancel()
    await survivor
    assert woke == [100.0] and doomed.cancelled()
    # nobody sleeps any more and one actor waits for another: that is a stall, not a hang
    with pytest.raises(Stalled):
        await stuck
    await clock.stop()


async def test_the_speed_cap_slows_virtual_time_down() -> None:
    clock = Clock(0.0, DAY, speed=100.0)
    task = clock.spawn(clock.sleep_until(20.0))
    started = time.monotonic()
    clock.start()
    await task
    await clock.stop()
    assert time.monotonic() - started >= 0.2 - 0.01  # 20 virtual s at most 100x
    assert clock.summary(1.0)["paced_s"] > 0.15


def test_a_leg_moves_along_its_polyline_at_constant_speed() -> None:
    leg = Leg([(13.70, 100.50), (13.71, 100.50), (13.71, 100.51)], 100.0, 200.0)
    assert leg.at(0.0) == (13.70, 100.50)
    assert leg.at(1000.0) == (13.71, 100.51)
    lat, lon = leg.at(200.0)  # halfway in time = halfway in distance, near the corner
    assert lat == pytest.approx(13.71, abs=2e-4) and lon == pytest.approx(100.50, abs=2e-4)


async def test_a_call_no_unit_can_ever_take_fails_instead_of_waiting_forever() -> None:
    scenario = load_scenario()
    cfg = CityConfig(url="http://127.0.0.1:9", scenario=scenario, username="u", password="p")
    crews = Crews(cfg, Api(cfg.url, "token"))
    policy = Policy("baseline", [], crews, Clock(0.0, DAY))  # no unit at all, none is busy
    rec = CaseRecord(generate_calls(scenario, 1, 0, 3600)[0], "baseline", incident_id=1)
    with pytest.raises(CityError, match="no baseline unit"):
        await policy.obtain(rec)


def test_several_workers_share_the_connection_pool() -> None:
    assert split_urls("http://a:1/, http://b:2") == ["http://a:1", "http://b:2"]
    api = Api("http://127.0.0.1:1,http://127.0.0.1:2", "token", size=3)
    ports = sorted(api.pool.get_nowait()[0].port for _ in range(6))
    assert ports == [1, 1, 1, 2, 2, 2]
    with pytest.raises(ValueError, match="--url"):
        split_urls(" , ")


def test_booked_rides_are_seeded_and_fit_the_span() -> None:
    s = load_scenario()
    rides = generate_rides(s, 5, 0, 86_400)
    assert rides == generate_rides(s, 5, 0, 86_400) != generate_rides(s, 6, 0, 86_400)
    assert s.transports is not None and len(rides) == s.transports.rides_per_day
    assert all(r.appointment_s % 900 == 0 for r in rides)  # on the quarter hour
    assert all(r.return_window is None or r.return_window[0] > r.appointment_s for r in rides)
    # a short span keeps the same rides (same draws), only those that fit in it
    morning = generate_rides(s, 5, 9 * 3600, 12 * 3600)
    whole_day = {r.n: r for r in rides}
    assert morning and all(
        replace(r, return_window=whole_day[r.n].return_window) == whole_day[r.n] for r in morning
    )
    assert all(10 * 3600 <= r.appointment_s <= 12 * 3600 for r in morning)
    assert all(r.return_window is None or r.return_window[1] <= 11 * 3600 for r in morning)
    assert s.with_overrides(units=None, calls_per_day=None, transport_units=0).transports is None


def test_the_city_command_parses() -> None:
    args = build_parser().parse_args(["city", "--hours", "2", "--policy", "baseline"])
    assert args.hours == 2 and args.policy == ["baseline"] and args.speed is None
    assert build_parser().parse_args(["city", "--speed", "60"]).speed == 60
    assert build_parser().parse_args(["city", "--speed", "max"]).speed is None
    with pytest.raises(SystemExit):
        build_parser().parse_args(["city", "--speed", "0"])


# --- a real short day -----------------------------------------------------------------------


@pytest.fixture
async def server(stack: Stack, tmp_path: Path) -> AsyncIterator[str]:
    """A real server on the test stack's empty database, with a supervisor; on the
    central-Bangkok road map when the shared data is there, else straight lines."""
    env = clean_env(
        DISPATCH_DATABASE_URL=stack.database_url,
        DISPATCH_SECRET_KEY=TEST_SECRET,
        DISPATCH_OSMAND_PORT="0",
        DISPATCH_ALERT_INTERVAL_S="3600",
        DISPATCH_CACHE_DIR=str(tmp_path / "cache"),
        DISPATCH_LOG_LEVEL="WARNING",
        DISPATCH_REDIS_PREFIX=REDIS_PREFIX,
        DISPATCH_PLAN_TIME_LIMIT_S="2",
    )
    if stack.redis_url:
        env["DISPATCH_REDIS_URL"] = stack.redis_url
    if OSM.exists():
        env["DISPATCH_OSM_PATH"] = str(OSM)
    dispatch_cli(["org", "create", "--name", "City", "--kind", "dispatch_centre"], env)
    dispatch_cli(["org", "create", "--name", "CITY care", "--kind", "care_centre"], env)
    dispatch_cli(
        ["user", "create", "--username", "sup", "--role", "supervisor", "--organisation-id", "1"],
        {**env, "DISPATCH_NEW_USER_PASSWORD": PASSWORD},
    )
    proc, url = await asyncio.to_thread(start_server, env, tmp_path / "server.log")
    try:
        yield url
    finally:
        await asyncio.to_thread(stop_server, proc)


async def test_route_endpoint_serves_the_providers_route(server: str) -> None:
    async with httpx.AsyncClient(base_url=server) as client:
        params = {"from_lat": 13.745, "from_lon": 100.534, "to_lat": 13.76, "to_lon": 100.56}
        assert (await client.get("/route", params=params)).status_code == 401
        login = await client.post("/auth/token", data={"username": "sup", "password": PASSWORD})
        client.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
        route = (await client.get("/route", params=params)).json()
        assert route["seconds"] > 0 and route["meters"] > 3000  # > the straight 3.1 km
        assert len(route["polyline"]) >= 2
        naive = await client.get("/route", params={**params, "depart_at": "2026-11-24T08:00:00"})
        assert naive.status_code == 422 and "depart_at" in naive.text
        if OSM.exists():  # the Gulf of Thailand is far from any road of the map
            far = await client.get("/route", params={**params, "to_lat": 13.0, "to_lon": 100.6})
            assert far.status_code == 422 and "to_lat" in far.text


async def test_a_short_seeded_day_agrees_with_what_the_server_stored(
    server: str, tmp_path: Path
) -> None:
    # Two ambulances and mostly red calls: red calls find no free ambulance and the
    # system takes transport units off their booked runs (preemptions).
    scenario = load_scenario().with_overrides(
        units=2, calls_per_day=160, rides_per_day=150, transport_units=3
    )
    scenario = replace(scenario, triage_mix={"red": 0.6, "yellow": 0.2, "green": 0.2})
    tomorrow = datetime.now(ZoneInfo(scenario.timezone)).date() + timedelta(days=1)
    config = CityConfig(
        url=server,
        scenario=scenario,
        seed=3,
        start_hour=9,
        hours=2,
        day=tomorrow,
        username="sup",
        password=PASSWORD,
        quiet=True,
    )
    report, records, fleets, setup = await run_city(config)
    calls = generate_calls(scenario, 3, 9 * 3600, 11 * 3600)
    assert report["calls"] == len(calls) > 5
    verify = report["verify"]
    total_incidents = 0
    for name in ("system", "baseline"):
        figures = report["policies"][name]
        mine = [r for r in records if r.policy == name]
        # both policies faced the same day: the seeded calls (a few moved onto the map)
        assert [(r.call.n, r.call.t_s, r.call.triage) for r in mine] == [
            (c.n, c.t_s, c.triage) for c in calls
        ]
        assert [r.call for r in mine] == [r.call for r in records if r.policy == "system"]
        assert figures["errors"] == 0, figures["error_samples"]
        assert figures["incidents"] + figures["refused"] == len(calls)
        # every call that was taken got a unit, was reached and was closed
        assert figures["assigned"] == figures["reached"] == figures["incidents"]
        # the simulator's counts are the server's counts (a backup is a second assignment)
        assert verify["by_policy"][name] == {
            "incidents": figures["incidents"],
            "assignments": figures["assigned"] + figures["backups"],
        }
        levels = figures["triage"]
        assert sum(level["calls"] for level in levels.values()) == figures["incidents"]
        total_incidents += figures["incidents"]
        assert 0 < figures["utilisation"] <= 1
    assert report["policies"]["system"]["refused"] == report["policies"]["baseline"]["refused"]
    assert verify["incidents_stored"] == verify["incidents_closed"] == total_incidents
    # the server's stored stamps, read on each policy's clock, are the report's moments
    assert verify["response_compared"] == verify["notified_compared"] == total_incidents
    assert verify["response_max_abs_diff_s"] == verify["notified_max_abs_diff_s"] == 0
    # the dispatcher's delay is the scenario's, however long the server took to answer
    delay = scenario.crew.dispatch_delay_s
    for r in records:
        if r.waited_s is None and r.notified_v is not None and r.created_v is not None:
            assert r.notified_v - r.created_v == delay[r.call.triage]
    assert verify["kpis_window_calls"] == verify["kpis_window_reached"] == total_incidents
    assert report["request_failures"] == {}
    # booked rides: the same rides for both policies, each on its own date
    rides = generate_rides(scenario, 3, 9 * 3600, 11 * 3600)
    assert rides and all(len([u for u in fleets[p] if u.transport]) == 3 for p in fleets)
    transports = report["transports"]
    for name in ("system", "baseline"):
        figures, stored = transports[name], verify["transports"][name]
        assert (
            figures["booked"]
            == stored["bookings"]
            == len(rides) + sum(1 for r in rides if r.return_window)
        )
        assert figures["crew_errors"] == []
        # every ride the crews reported done or a no-show is so on the server, and only those
        assert stored["status_mismatches"] == []
        done = stored["stored_statuses"].get("completed", 0)
        assert figures["completed"] == done > 0
        assert stored["released_agree"]
        outcome = figures["all"]
        assert outcome["on_time"] + outcome["late"] + outcome["not_served"] == outcome["rides"]
    assert verify["transports"]["baseline"]["released_by_server"] == 0
    assert transports["baseline"]["service_date"] == (tomorrow + timedelta(days=1)).isoformat()
    # the system's red calls took transport units; the server released exactly those rides
    pre = report["policies"]["system"]["preemptions"]
    assert (
        pre["assignments"] > 0 and report["policies"]["baseline"]["preemptions"]["assignments"] == 0
    )
    assert pre["assignments"] == verify["preempting_assignments"]
    taken = [r for r in records if r.preempted_rides]
    released = {b for r in taken for b in r.preempted_rides}  # a ride may be released twice
    assert pre["rides_released"] == sum(len(r.preempted_rides) for r in taken) >= len(released)
    assert len(released) == verify["transports"]["system"]["released_by_server"] > 0
    assert all(r.call.triage == "red" and r.call_sign and "-ST" in r.call_sign for r in taken)
    table = format_table(report)
    assert "red: within 8 min" in table or "red" not in report["policies"]["system"]["triage"]
    page = tmp_path / "report.html"
    write_html(report, records, setup["roads"], scenario.area, page)
    text = page.read_text()
    assert text.count("<svg") >= 4 and "http" not in text.replace("http://www.w3.org", "")


async def test_the_same_seed_gives_the_same_day(server: str) -> None:
    """Virtual time waits for the server, so its latency is no part of the figures: two
    runs of one seeded span give every call the same unit and the same times."""
    scenario = load_scenario().with_overrides(units=6, calls_per_day=300)
    config = CityConfig(
        url=server,
        scenario=scenario,
        seed=11,
        start_hour=17,
        hours=1,
        transports=False,
        username="sup",
        password=PASSWORD,
        quiet=True,
        verify=False,
    )

    def outcome(records: list[CaseRecord]) -> list[tuple[object, ...]]:
        return sorted(
            (r.policy, r.call.n, r.call_sign, r.created_v, r.notified_v, r.on_scene_v, r.free_v)
            for r in records
        )

    first, first_records, _f, _s = await run_city(config)
    second, second_records, _f, _s = await run_city(config)
    assert outcome(first_records) == outcome(second_records)
    for name, figures in first["policies"].items():
        for key, value in figures.items():
            assert second["policies"][name][key] == value, (name, key)
    waited = first["policies"]["system"]["waiting"]["calls"]
    assert len(first_records) > 20 and waited > 0  # busy enough that choices matter
