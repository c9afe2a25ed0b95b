"""``python -m simulator live``: its options and its command (argparse only at import)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

DEMO_SCENARIO = "demo.json"


def add_live(sub: Any) -> None:
    live = sub.add_parser(
        "live",
        help="play a gentle living city in real time against a running server (the demo's)",
        description="Units drive the server's roads and report fixes, calls arrive every "
        "few minutes, crews acknowledge and advance whatever job their unit has, the vans "
        "work the day's planned rides. Runs until stopped (or --minutes). Passwords may "
        "come from DISPATCH_LIVE_PASSWORD, DISPATCH_LIVE_DRIVER, DISPATCH_LIVE_CARE.",
    )
    live.add_argument("--url", default="http://127.0.0.1:8000")
    live.add_argument("--username", default="supervisor", help="a supervisor of the centre")
    live.add_argument("--password", default=os.environ.get("DISPATCH_LIVE_PASSWORD"))
    live.add_argument(
        "--driver",
        default=os.environ.get("DISPATCH_LIVE_DRIVER"),
        help="USER:PASSWORD of a driver login: its unit is driven with it",
    )
    live.add_argument(
        "--care",
        default=os.environ.get("DISPATCH_LIVE_CARE"),
        help="USER:PASSWORD of a care-centre login that books the day's rides",
    )
    live.add_argument("--scenario", help=f"scenario file (default: the built-in {DEMO_SCENARIO})")
    live.add_argument("--seed", type=int, default=1)
    live.add_argument("--minutes", type=float, help="stop after this long (default: never)")
    live.add_argument("--opening-calls", type=int, default=4)
    live.add_argument("--returning", type=int, default=7)
    live.add_argument("--dispatch-after", type=float, default=45.0, metavar="SECONDS")
    live.add_argument(
        "--pace", type=float, default=1.0, help="crews and calls run this many times faster"
    )
    live.add_argument(
        "--with-parent", action="store_true", help="stop when the starting process is gone"
    )
    live.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    live.set_defaults(func=cmd_live)


def cmd_live(args: argparse.Namespace) -> int:
    import asyncio
    from pathlib import Path

    import httpx

    from simulator.city.errors import CityError
    from simulator.city.scenario import PACKAGE_DIR, load_scenario
    from simulator.fleet import SetupError
    from simulator.live.config import LiveConfig, Login
    from simulator.live.run import run_live

    if not args.password:
        print("error: give --password (or DISPATCH_LIVE_PASSWORD)", file=sys.stderr)
        return 2
    try:
        scenario = load_scenario(
            Path(args.scenario) if args.scenario else PACKAGE_DIR / "scenarios" / DEMO_SCENARIO
        )
        cfg = LiveConfig(
            url=args.url,
            supervisor=Login(args.username, args.password),
            scenario=scenario,
            driver=Login.parse(args.driver) if args.driver else None,
            care=Login.parse(args.care) if args.care else None,
            seed=args.seed,
            minutes=args.minutes,
            opening_calls=args.opening_calls,
            returning=args.returning,
            dispatch_after_s=args.dispatch_after,
            pace=args.pace,
            with_parent=args.with_parent,
        )
        cfg.check()
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    def say(line: str) -> None:
        if not args.quiet:
            print(line, file=sys.stderr, flush=True)

    try:
        result = asyncio.run(run_live(cfg, say))
    except (SetupError, CityError, httpx.HTTPError) as exc:
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    print(json.dumps(result, indent=2))
    return 0
