"""``python -m simulator``: the simulator's command line.

Only argparse is imported at module level so ``--help`` answers at once; a subcommand
imports its machinery (httpx, websockets) when it runs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence

from simulator.argtypes import DEFAULT_URL
from simulator.argtypes import count as _count
from simulator.argtypes import positive_float as _positive_float


def _urls(values: list[str] | None) -> list[str]:
    """``--url`` may be repeated or comma-separated; trailing slashes are dropped."""
    out = [u.strip().rstrip("/") for v in values or [] for u in v.split(",") if u.strip()]
    return out


def build_parser() -> argparse.ArgumentParser:
    from simulator.city.command import add_city
    from simulator.live.cli import add_live

    parser = argparse.ArgumentParser(prog="python -m simulator", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    add_live(sub)
    load = sub.add_parser(
        "load",
        help="drive GPS load and control screens against running servers and measure",
        description="Set up SIM- vehicles through the API, send their GPS fixes by one "
        "protocol for --duration seconds while control screens watch /ws/control, and "
        "report throughput, errors, GPS→screen latency and server memory.",
    )
    load.add_argument(
        "--url",
        action="append",
        help=f"API base URL (default {DEFAULT_URL}); repeat or comma-separate for several "
        "workers: vehicles and screens are spread over them round-robin",
    )
    load.add_argument("--username", help="supervisor login used to set up the fleet")
    load.add_argument("--password", help="its password (or the SIM_PASSWORD environment variable)")
    load.add_argument("--setup-token", help="a supervisor's bearer token instead of a login")
    load.add_argument("--vehicles", type=_count, default=200, help="SIM vehicles (default 200)")
    load.add_argument(
        "--rate", type=_positive_float, default=1.0, help="fixes per second per vehicle (1)"
    )
    load.add_argument(
        "--protocol",
        choices=["batch", "websocket", "osmand"],
        default="batch",
        help="batch: POST /vehicles/{id}/fixes; websocket: /ws/driver; osmand: one GET per fix",
    )
    load.add_argument(
        "--batch-size",
        type=int,
        default=1,
        help="fixes per request/message (batch, websocket); a vehicle uploads every "
        "batch-size/rate seconds (default 1)",
    )
    load.add_argument(
        "--senders",
        type=int,
        default=None,
        help="HTTP connections shared by the vehicles (default: one per vehicle, like phones)",
    )
    load.add_argument(
        "--osmand-url",
        action="append",
        help="OsmAnd endpoint (default <url>/osmand; e.g. http://127.0.0.1:5055/ for the "
        "dedicated port); repeat or comma-separate for several",
    )
    load.add_argument("--controls", type=_count, default=5, help="control screens (default 5)")
    load.add_argument(
        "--stalled",
        type=_count,
        default=0,
        help="how many of the screens stop reading after the snapshot (default 0)",
    )
    load.add_argument(
        "--duration",
        type=_positive_float,
        default=30.0,
        help="seconds of sending, warm-up included (default 30)",
    )
    load.add_argument(
        "--warmup",
        type=float,
        default=1.0,
        help="first seconds not measured (default 1)",
    )
    load.add_argument(
        "--calls-per-min",
        type=float,
        default=0.0,
        help="also take calls (POST /incidents) at this rate (default 0)",
    )
    load.add_argument(
        "--no-compression",
        action="store_true",
        help="do not offer permessage-deflate on websockets (browsers do offer it)",
    )
    load.add_argument("--seed", type=int, default=None, help="random seed for the movement")
    load.add_argument("--json", action="store_true", help="print one JSON document at the end")
    load.add_argument("--quiet", action="store_true", help="no progress lines")
    load.add_argument(
        "--progress-every",
        type=_positive_float,
        default=5.0,
        help="seconds between progress lines on stderr (default 5)",
    )
    load.add_argument(
        "--timeout", type=_positive_float, default=10.0, help="per-request timeout, seconds"
    )
    load.add_argument(
        "--retry",
        action="store_true",
        help="batch and osmand: keep the fixes of a failed request (connection error, "
        "timeout, 5xx) and resend them with the next upload, oldest first, at most 500 a "
        "request; after a connection failure move to the next --url (or --osmand-url); "
        "after the sending period flush the backlogs (default: failed fixes are dropped)",
    )
    load.add_argument(
        "--flush-timeout",
        type=float,
        default=30.0,
        help="with --retry, seconds the phones may go on flushing their backlogs after the "
        "sending period (default 30)",
    )
    load.add_argument(
        "--no-verify-storage",
        action="store_true",
        help="skip reading every SIM vehicle's stored track back after the run to count "
        "stored fixes and find lost or duplicated ones",
    )
    load.add_argument(
        "--loop",
        choices=["auto", "asyncio", "uvloop"],
        default="auto",
        help="event loop for the generator (auto: uvloop when installed)",
    )
    load.set_defaults(func=cmd_load)
    add_city(sub)
    compare = sub.add_parser(
        "compare",
        help="policies against a baseline over seeded days (city reports, one per run)",
        description="Mean difference to the baseline over seeds with its 95 %% interval, "
        "and a paired per-call test pooled over seeds (exact McNemar).",
    )
    compare.add_argument(
        "runs", nargs="+", help="NAME=REPORT.json or NAME=REPORT.json#POLICY, one per day"
    )
    compare.add_argument("--baseline", default="baseline", help="the name to compare against")
    compare.set_defaults(func=cmd_compare)
    sizes = sub.add_parser(
        "fleet-size",
        help="units each policy needs to reach a share of calls in time (city reports)",
        description="Per policy and fleet size, the share of calls reached in time (mean "
        "over seeds), and the units needed for the goal, interpolated between sizes.",
    )
    sizes.add_argument("runs", nargs="+", help="NAME@UNITS=REPORT.json[#POLICY], one per day")
    sizes.add_argument("--triage", default="red", help="default red")
    sizes.add_argument("--within-min", type=_positive_float, default=10.0, help="default 10")
    sizes.add_argument("--goal-pct", type=_positive_float, default=70.0, help="default 70")
    sizes.set_defaults(func=cmd_fleet_size)
    history = sub.add_parser(
        "history",
        help="a scenario's past days of calls as CSV (a demand prior for the server)",
        description="Generated calls of DAYS past days (seeds FIRST-SEED, FIRST-SEED+1, …; "
        "keep them apart from the tested days' seeds) as day,time,lat,lon,triage: give it "
        "to a server as DISPATCH_COVERAGE_DEMAND_CSV.",
    )
    history.add_argument("--scenario", help="scenario JSON/YAML (default: bangkok)")
    history.add_argument("--first-seed", type=int, default=1000, help="default 1000")
    history.add_argument("--days", type=int, default=28, help="default 28")
    history.add_argument("--out", help="CSV file (default: standard output)")
    history.set_defaults(func=cmd_history)
    return parser


def cmd_fleet_size(args: argparse.Namespace) -> int:
    from simulator.compare import CompareError
    from simulator.fleetsize import fleet_size, load_sized

    try:
        sized = [load_sized(spec) for spec in args.runs]
        result = fleet_size(sized, args.triage, 60 * args.within_min, args.goal_pct / 100)
    except CompareError as exc:
        print(f"fleet-size: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result, indent=2))
    return 0


def cmd_history(args: argparse.Namespace) -> int:
    from pathlib import Path

    from simulator.city.demand import write_history
    from simulator.city.scenario import DEFAULT_SCENARIO, load_scenario

    if args.days < 1:
        print("history: --days must be at least 1", file=sys.stderr)
        return 2
    scenario = load_scenario(Path(args.scenario) if args.scenario else DEFAULT_SCENARIO)
    if args.out is None:
        write_history(scenario, args.first_seed, args.days, sys.stdout)
        return 0
    with Path(args.out).open("w", encoding="utf-8", newline="") as fh:
        rows = write_history(scenario, args.first_seed, args.days, fh)
    print(f"{rows} calls over {args.days} days written to {args.out}", file=sys.stderr)
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from simulator.compare import CompareError, compare, load_run

    try:
        result = compare([load_run(spec) for spec in args.runs], args.baseline)
    except CompareError as exc:
        print(f"compare: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result, indent=2))
    return 0


def _runner_loop(choice: str) -> object | None:
    """uvloop's loop factory when wanted and available (it halves the generator's CPU per
    request, leaving more of a shared machine to the server under test)."""
    if choice == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        if choice == "uvloop":
            raise SystemExit("error: uvloop is not installed") from None
        return None
    return uvloop.new_event_loop


def cmd_load(args: argparse.Namespace) -> int:
    import asyncio
    import gc

    import httpx

    # The generator is part of every latency it measures: with the default thresholds its
    # full collections paused it ~150 ms every few seconds under load (as the server's did).
    gc.set_threshold(10_000, 50, 1_000)

    from simulator.fleet import SetupError
    from simulator.load import run_load
    from simulator.load_config import LoadConfig
    from simulator.load_report import format_table

    config = LoadConfig(
        urls=_urls(args.url) or [DEFAULT_URL],
        osmand_urls=_urls(args.osmand_url),
        protocol=args.protocol,
        vehicles=args.vehicles,
        rate_hz=args.rate,
        batch_size=args.batch_size,
        senders=args.senders,
        controls=args.controls,
        stalled=args.stalled,
        duration_s=args.duration,
        warmup_s=args.warmup,
        calls_per_min=args.calls_per_min,
        seed=args.seed,
        username=args.username,
        password=args.password or os.environ.get("SIM_PASSWORD"),
        setup_token=args.setup_token,
        compression=None if args.no_compression else "deflate",
        quiet=args.quiet,
        progress_s=args.progress_every,
        request_timeout_s=args.timeout,
        retry=args.retry,
        flush_timeout_s=args.flush_timeout,
        verify_storage=not args.no_verify_storage,
    )
    try:
        config.check()
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    factory = _runner_loop(args.loop)
    try:
        with asyncio.Runner(loop_factory=factory) as runner:  # type: ignore[arg-type]
            report = runner.run(run_load(config))
    except SetupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except (OSError, httpx.TransportError) as exc:
        print(f"error: cannot reach the server: {exc!r}", file=sys.stderr)
        return 1
    table = format_table(report)
    if args.json:
        print(table, file=sys.stderr)
        print(json.dumps(report, indent=2))
    else:
        print(table)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    result: int = args.func(args)
    return result
