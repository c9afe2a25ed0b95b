"""``python -m simulator city``: its options and its run (the simulator's command line,
``simulator.cli``, adds it). Nothing heavy is imported before the command runs, so
``--help`` answers at once."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import TYPE_CHECKING

from simulator.argtypes import DEFAULT_URL
from simulator.argtypes import not_negative as _not_negative
from simulator.argtypes import positive_float as _positive_float
from simulator.argtypes import share as _share

if TYPE_CHECKING:
    from simulator.city.answers import AnswerModel


def _speed(text: str) -> float | None:
    """A positive number, or ``max`` for no cap."""
    return None if text.strip().lower() == "max" else _positive_float(text)


def _add_offers(city: argparse.ArgumentParser) -> None:
    group = city.add_argument_group(
        "offers (--policy offers)",
        "How the stations answer; defaults from the scenario's offers section (else a "
        "lognormal delay with a 12 s median and sigma 0.5, 20 % declines, 5 % no answer). "
        "Each answer is drawn for (seed, call, offer number), so a seed gives the same day.",
    )
    group.add_argument(
        "--decline-share", type=_share, help="share of offers a station declines (e.g. 0.2)"
    )
    group.add_argument(
        "--no-answer-share",
        type=_share,
        help="share of offers nobody answers: the server's timer moves them on (e.g. 0.05)",
    )
    group.add_argument(
        "--answer-median-s", type=_positive_float, help="median seconds to a station's answer"
    )
    group.add_argument(
        "--answer-sigma", type=_not_negative, help="spread of the log of the answer delay"
    )
    group.add_argument(
        "--phone-cost-s",
        type=_positive_float,
        help="the phone loop compared: seconds each station phoned costs (e.g. 60)",
    )


def _answer_model(model: AnswerModel, args: argparse.Namespace) -> AnswerModel:
    from dataclasses import replace

    changes = {
        field: value
        for field, value in (
            ("decline_share", args.decline_share),
            ("no_answer_share", args.no_answer_share),
            ("median_s", args.answer_median_s),
            ("sigma", args.answer_sigma),
            ("phone_cost_s", args.phone_cost_s),
        )
        if value is not None
    }
    changed = replace(model, **changes)
    changed.check()
    return changed


def add_city(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    city = sub.add_parser(
        "city",
        help="simulate a seeded day of a city in accelerated virtual time and report",
        description="Calls arrive as a Poisson process; crews drive road routes and report "
        "fixes and milestones; the system's recommendation and a closest straight-line "
        "baseline each run their own fleet on the same day; the report compares them.",
    )
    city.add_argument(
        "--url",
        default=DEFAULT_URL,
        help=f"API base URL, or several workers' comma-separated (default {DEFAULT_URL})",
    )
    city.add_argument("--username", help="supervisor login used to set up and dispatch")
    city.add_argument("--password", help="its password (or the SIM_PASSWORD environment variable)")
    city.add_argument("--setup-token", help="a supervisor's bearer token instead of a login")
    city.add_argument(
        "--scenario", help="scenario JSON/YAML (default: simulator/scenarios/bangkok.json)"
    )
    city.add_argument("--seed", type=int, default=1, help="the day's random seed (default 1)")
    city.add_argument("--hours", type=_positive_float, default=24.0, help="span (default 24)")
    city.add_argument(
        "--start-hour", type=float, default=0.0, help="local hour the span starts (default 0)"
    )
    city.add_argument(
        "--speed",
        type=_speed,
        default=None,
        help="at most this many virtual seconds per real second, e.g. 60 to watch the day "
        "on the control screen (default: as fast as the server answers; the figures do "
        "not depend on it)",
    )
    city.add_argument(
        "--date",
        help="the simulated local date YYYY-MM-DD (default tomorrow; today with --no-transports)",
    )
    city.add_argument("--units", type=int, help="units per policy (default: the scenario's)")
    city.add_argument("--calls-per-day", type=float, help="demand (default: the scenario's)")
    city.add_argument("--calls-csv", help="calls from a CSV time,lat,lon,triage instead")
    city.add_argument(
        "--rides-per-day", type=int, help="booked rides a day (default: the scenario's)"
    )
    city.add_argument(
        "--transport-units", type=int, help="transport units per policy (default: the scenario's)"
    )
    city.add_argument(
        "--no-transports", action="store_true", help="emergency calls only, no booked rides"
    )
    city.add_argument(
        "--policy",
        action="append",
        choices=["system", "baseline", "offers"],
        help="run only these policies (default system and baseline, side by side); offers: "
        "each call is offered to the stations, which answer (needs a server of its own with "
        "DISPATCH_SIMULATED_CLOCK; implies --server-clock)",
    )
    city.add_argument(
        "--server-clock",
        action="store_true",
        help="the server keeps the simulated time (DISPATCH_SIMULATED_CLOCK): its GPS ages "
        "and move-up limits follow the day; one --policy, --no-transports",
    )
    city.add_argument(
        "--no-backup",
        action="store_true",
        help="the system's dispatcher ignores the ALS backup the server proposes (tiered "
        "response); by default it sends it when one of its units is free",
    )
    city.add_argument(
        "--follow-moveups",
        action="store_true",
        help="crews go where the server's move-ups send them (needs --server-clock and a "
        "server with DISPATCH_COVERAGE_DISPATCH)",
    )
    city.add_argument("--prefix", default="CITY", help="name prefix of stations and units")
    city.add_argument("--html", help="write the HTML report with charts here")
    city.add_argument("--json", action="store_true", help="print the JSON report on stdout")
    city.add_argument("--no-verify", action="store_true", help="skip reading back the server")
    city.add_argument("--quiet", action="store_true", help="no progress lines")
    _add_offers(city)
    city.set_defaults(func=cmd_city)


def cmd_city(args: argparse.Namespace) -> int:
    import asyncio
    from dataclasses import replace
    from datetime import date
    from pathlib import Path

    import httpx

    from simulator.city.charts import write_html
    from simulator.city.config import POLICIES, CityConfig
    from simulator.city.engine import run_city
    from simulator.city.report import format_table
    from simulator.city.scenario import DEFAULT_SCENARIO, load_scenario
    from simulator.fleet import SetupError

    try:
        scenario = load_scenario(Path(args.scenario) if args.scenario else DEFAULT_SCENARIO)
        scenario = scenario.with_overrides(
            units=args.units,
            calls_per_day=args.calls_per_day,
            rides_per_day=args.rides_per_day,
            transport_units=args.transport_units,
        )
        scenario = replace(scenario, offers=_answer_model(scenario.offers, args))
        config = CityConfig(
            url=args.url.rstrip("/"),
            scenario=scenario,
            seed=args.seed,
            start_hour=args.start_hour,
            hours=args.hours,
            speed=args.speed,
            day=date.fromisoformat(args.date) if args.date else None,
            calls_csv=Path(args.calls_csv) if args.calls_csv else None,
            prefix=args.prefix,
            username=args.username,
            password=args.password or os.environ.get("SIM_PASSWORD"),
            setup_token=args.setup_token,
            policies=tuple(args.policy) if args.policy else POLICIES,
            transports=not args.no_transports,
            verify=not args.no_verify,
            quiet=args.quiet,
            server_clock=args.server_clock
            or args.follow_moveups
            or "offers" in (args.policy or ()),
            follow_moveups=args.follow_moveups,
            send_backup=not args.no_backup,
        )
        config.check()
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        report, records, _fleets, setup = asyncio.run(run_city(config))
    except SetupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except (OSError, httpx.TransportError) as exc:
        print(f"error: cannot reach the server: {exc!r}", file=sys.stderr)
        return 1
    if args.html:
        write_html(report, records, setup["roads"], scenario.area, Path(args.html))
    table = format_table(report)
    if args.json:
        print(table, file=sys.stderr)
        print(json.dumps(report, indent=2))
    else:
        print(table)
    return 0
