"""The city day: a discrete-event simulation in virtual time driven against a real server.

Every call and every crew is an actor on a virtual clock (``simulator.city.clock``) that
moves on only when all of them wait for a later moment: the requests of one virtual
moment are all answered before the next begins, so the server's latency costs no
simulated time and a seed gives the same day on a fast machine and a slow one. The
virtual times the report uses are the moments the simulator acted at; the server's own
stamps map back to exactly those moments (``simulator.city.verify`` reads them back).

Two policies (``simulator.city.policies``) run side by side on the same seeded day, each
with its own fleet (call signs ``<prefix>-S…`` and ``<prefix>-B…``), its own incidents and
its own clock (they share nothing but the server, so the day takes as long as the slower
of the two). A third policy, *offers* (``simulator.city.offers``), offers each call to
the stations, which answer by a seeded model, on a server of its own (``--server-clock``).
Booked patient transports (``simulator.city.transports``) run beside the
calls: each policy's transport units work the server's day plan of their own date; a red
call may take one of the system's off its run (a preemption), the baseline never does.

This module is the run itself: set up (``simulator.city.preparation``), start every
call's case (``simulator.city.cases``) and crew, wait for both days to end, read back and
report (``simulator.city.report``).
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from simulator.city.api import Api, split_urls
from simulator.city.cases import City
from simulator.city.clock import Clock
from simulator.city.config import CityConfig
from simulator.city.demand import calls_from_csv, generate_calls, generate_rides
from simulator.city.errors import CityError, TransportSetupError
from simulator.city.offerreport import offer_figures, verify_offers
from simulator.city.offers import NAME as OFFERS
from simulator.city.offers import OfferPolicy
from simulator.city.policies import Policy
from simulator.city.preparation import calls_on_the_map, complaint_codes, setup_fleets
from simulator.city.records import CaseRecord, TransportDay, Unit
from simulator.city.report import build_report
from simulator.city.scenario import Call
from simulator.city.transports import Transports
from simulator.city.verify import verify_run
from simulator.fleet import SetupError, login


async def run_city(
    cfg: CityConfig, progress: Callable[[str], None] | None = None
) -> tuple[dict[str, Any], list[CaseRecord], dict[str, list[Unit]], dict[str, Any]]:
    """Run the day; returns the raw material for the report: meta, records, fleets, setup."""
    say = progress or (lambda line: print(line, file=sys.stderr, flush=True))
    s = cfg.scenario
    tz = ZoneInfo(s.timezone)
    today = datetime.now(tz).date()
    with_rides = cfg.transports and s.transports is not None
    day = cfg.day or (today + timedelta(days=1) if with_rides else today)
    if with_rides and day <= today:
        raise SetupError(
            f"--date {day}: booked transports need a day after today (the server refuses "
            "bookings in the past); give a later date or --no-transports"
        )
    day_start = datetime(day.year, day.month, day.day, tzinfo=tz)
    start_s, end_s = cfg.start_hour * 3600, (cfg.start_hour + cfg.hours) * 3600
    calls = (
        calls_from_csv(s, cfg.seed, cfg.calls_csv, start_s, end_s)
        if cfg.calls_csv
        else generate_calls(s, cfg.seed, start_s, end_s)
    )
    if cfg.setup_token:
        token = cfg.setup_token
    else:
        assert cfg.username and cfg.password
        first = split_urls(cfg.url)[0]
        async with httpx.AsyncClient(base_url=first, timeout=cfg.timeout_s) as client:
            token = await login(client, cfg.username, cfg.password)
    api = Api(cfg.url, token, timeout_s=cfg.timeout_s)
    try:
        return await _run(cfg, api, calls, day, day_start, start_s, end_s, say)
    finally:
        api.close()


async def _run(
    cfg: CityConfig,
    api: Api,
    calls: list[Call],
    day: date,
    day_start: datetime,
    start_s: float,
    end_s: float,
    say: Callable[[str], None],
) -> tuple[dict[str, Any], list[CaseRecord], dict[str, list[Unit]], dict[str, Any]]:
    s = cfg.scenario
    run_id = f"{int(time.time())}-{cfg.seed}"
    setup_started = time.monotonic()
    # One clock per policy: the two share nothing but the server (their own units, calls
    # and transport dates), so each runs at its own pace and the day takes the time of
    # the slower one, not of both one after the other.
    tell = None
    #: called before the server's clock moves on (the offers policy's timers need it)
    before_tell: list[Callable[[datetime], Awaitable[None]]] = []
    if cfg.server_clock:

        async def tell(when: datetime) -> None:
            for hook in before_tell:
                await hook(when)
            await api.send("PUT", "/simulation/clock", body={"now": when.isoformat()})

        await tell(day_start + timedelta(seconds=start_s))  # setup happens at the start
    clocks = {name: Clock(start_s, day_start, cfg.speed, tell_server=tell) for name in cfg.policies}
    city = City(cfg, api, run_id)
    try:
        city.complaints = await complaint_codes(api)
        fleets, setup = await setup_fleets(cfg, api, clocks)
    except CityError as exc:
        raise SetupError(str(exc)) from exc
    relocated = 0
    if cfg.calls_csv is None:
        calls, relocated = await calls_on_the_map(cfg, api, calls)
    rides = generate_rides(s, cfg.seed, start_s, end_s) if cfg.transports else []
    if s.transports is not None and cfg.transports:
        tz = ZoneInfo(s.timezone)
        days = [
            TransportDay(
                name, day + timedelta(days=k), tz, [u for u in fleets[name] if u.transport]
            )
            for k, name in enumerate(cfg.policies)
        ]
        city.transports = Transports(city.crews, s, days)
        try:
            await city.transports.prepare(api, cfg.prefix, rides)
        except (CityError, TransportSetupError) as exc:
            raise SetupError(str(exc)) from exc
    setup["seconds"] = round(time.monotonic() - setup_started, 2)
    missing = setup["station_setup"]["operators_missing"]
    if missing:
        say(
            f"city: {len(missing)} station operators are not on the server and this login may "
            "not create them (an administrator's): their stations are run by the centre"
        )
    policies = [
        Policy(
            name,
            fleets[name],
            city.crews,
            clocks[name],
            city.transports,
            send_backup=cfg.send_backup,
        )
        if name != OFFERS
        else OfferPolicy(
            fleets[name],
            city.crews,
            clocks[name],
            seed=cfg.seed,
            model=s.offers,
            run_id=run_id,
        )
        for name in cfg.policies
    ]
    offering = next((p for p in policies if isinstance(p, OfferPolicy)), None)
    if offering is not None:
        before_tell.append(offering.before_clock)
    pace = "as fast as the server answers" if cfg.speed is None else f"at most {cfg.speed:g}x"
    say(
        f"city: {len(calls)} calls over {cfg.hours:g} h from {cfg.start_hour:g}:00, {pace}, "
        "policies "
        f"{', '.join(cfg.policies)}, {s.units} units each, map {setup['map_source']}"
        + (
            f"; {len(rides)} booked rides on {city.transports.units_per_policy} transport "
            "units each"
            if city.transports is not None
            else ""
        )
    )
    started = time.monotonic()
    since = time.time()
    if city.transports is not None:
        city.transports.start(end_s)
    cases = {p.name: [p.clock.spawn(city.run_case(p, c)) for c in calls] for p in policies}
    for clock in clocks.values():
        clock.start()

    async def report_progress() -> None:
        while True:
            await asyncio.sleep(10)
            times = "  ".join(
                f"{name} {int(c.now // 3600):02d}:{int(c.now % 3600 // 60):02d}"
                for name, c in clocks.items()
            )
            say(
                f"  virtual {times}  cases done {city.done}/{len(calls) * len(policies)}  "
                f"requests {api.requests}"
            )

    async def policy_day(policy: Policy) -> tuple[list[CaseRecord], float]:
        """The policy's calls, then its crews until the end of the span."""
        clock = policy.clock
        done = list(await asyncio.gather(*cases[policy.name]))
        if city.transports is not None:
            await clock.spawn(clock.sleep_until(end_s))
            await city.transports.finish(policy.name)
        for unit in policy.units.values():
            unit.halt(clock.now_v())
        await clock.stop()
        return done, time.monotonic() - started

    reporter = asyncio.create_task(report_progress()) if not cfg.quiet else None
    outcomes = await asyncio.gather(*(policy_day(p) for p in policies))
    if reporter is not None:
        reporter.cancel()
    records = [rec for done, _wall in outcomes for rec in done]
    await city.crews.fixes_settled()
    wall = time.monotonic() - started
    verify = (
        await verify_run(api, clocks, run_id, records, since, city.transports)
        if cfg.verify
        else None
    )
    meta: dict[str, Any] = {
        "scenario": s.name,
        "seed": cfg.seed,
        "day": day.isoformat(),
        "start_hour": cfg.start_hour,
        "hours": cfg.hours,
        "speed": cfg.speed,
        "run_id": run_id,
        "calls": len(calls),
        "calls_relocated": relocated,
        "rides": len(rides),
        "rides_relocated": city.transports.rides_relocated if city.transports else 0,
        "transport_units_per_policy": (city.transports.units_per_policy if city.transports else 0),
        "units_per_policy": s.units,
        "fleet": s.fleet,
        "wall_s": round(wall, 1),
        "setup_s": setup["seconds"],
        "map_source": setup["map_source"],
        "hospitals_known": setup["hospitals_known"],
        "hospitals_source": s.hospitals_source,
        "requests": api.requests,
        "request_failures": api.failures,
        "request_latency_ms": {k: h.summary() for k, h in sorted(api.latency_ms.items())},
        "fixes_sent": city.crews.fixes_sent,
        "fix_failures": city.crews.fix_failures,
        "routes": city.crews.routes,
        "server_clock": cfg.server_clock,
        "moveups": {
            "rounds": city.moveup_rounds,
            "followed": city.moveups_followed,
            "posts_reached": city.crews.posts_reached,
        },
        "route_fallbacks": city.crews.route_fallbacks,
        "end_v": {name: c.now for name, c in clocks.items()},
        "clocks": {
            name: c.summary(day_wall)
            for (name, c), (_done, day_wall) in zip(clocks.items(), outcomes, strict=True)
        },
        "replan_waits_timed_out": {
            "after_preemption": city.transports.replans_timed_out if city.transports else 0,
            "after_return": city.transports.return_waits_timed_out if city.transports else 0,
        },
        "verify": verify,
    }
    report = build_report(meta, records, fleets, s, start_s, end_s, city.transports)
    if offering is not None:
        mine = [r for r in records if r.policy == OFFERS]
        report["offers"] = offer_figures(mine, s.offers, offering.late_answers, offering.errors)
        report["offers"]["stations"] = setup["station_setup"]
        if cfg.verify:
            report["offers"]["verify"] = await verify_offers(
                api, offering.clock, mine, start_s, end_s
            )
    return report, records, fleets, setup
