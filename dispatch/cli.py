"""``dispatch`` command line: serve, demo, database migrations, users, benchmarks."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import logging
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from dispatch.config import Settings

if TYPE_CHECKING:
    from dispatch.db.session import Database
    from dispatch.demo import DemoInfo

log = logging.getLogger("dispatch")


def _settings() -> Settings:
    return Settings()


def _database(settings: Settings) -> Database:
    from dispatch.db.session import Database

    return Database(settings.database_url, busy_timeout_ms=settings.sqlite_busy_timeout_ms)


# --- users and organisations -------------------------------------------------------------


def cmd_org_create(args: argparse.Namespace) -> int:
    from dispatch.models.enums import OrganisationKind
    from dispatch.organisations import service
    from dispatch.organisations.schemas import OrganisationCreate

    settings = _settings()
    data = OrganisationCreate(
        name=args.name, kind=OrganisationKind(args.kind), timezone=args.timezone
    )

    async def run() -> tuple[int, str]:
        db = _database(settings)
        try:
            async with db.unit_of_work() as uow:
                organisation = await service.create(uow, None, data, settings.timezone)
            return organisation.id, organisation.timezone
        finally:
            await db.dispose()

    organisation_id, timezone = asyncio.run(run())
    print(f"organisation {organisation_id} created (time zone {timezone})")
    return 0


def cmd_user_create(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from dispatch.auth import service
    from dispatch.auth.schemas import UserCreate
    from dispatch.errors import DomainError
    from dispatch.models.enums import Role

    password = os.environ.get("DISPATCH_NEW_USER_PASSWORD") or getpass.getpass("Password: ")
    try:
        data = UserCreate(
            username=args.username,
            full_name=args.full_name or args.username,
            password=password,
            role=Role(args.role),
            organisation_id=args.organisation_id,
            vehicle_id=args.vehicle_id,
        )
    except ValidationError as exc:
        for error in exc.errors():
            print(f"error: {'.'.join(map(str, error['loc']))}: {error['msg']}", file=sys.stderr)
        return 2

    async def run() -> int:
        db = _database(_settings())
        try:
            async with db.unit_of_work() as uow:
                user = await service.create_user(uow, None, data)
            return user.id
        finally:
            await db.dispose()

    try:
        print(f"user {asyncio.run(run())} ({args.username}, {args.role}) created")
    except DomainError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    return 0


# --- serve and demo ---------------------------------------------------------------------


def _serve(settings: Settings, host: str, port: int, workers: int) -> None:
    from dispatch.serving import serve

    if settings.simulated_clock and workers > 1:
        # Each worker would keep its own simulated time.
        raise SystemExit("DISPATCH_SIMULATED_CLOCK runs one worker (drop --workers)")
    serve(settings, host, port, workers)


async def _schema_revision(settings: Settings) -> str | None:
    from dispatch.db import migrate

    db = _database(settings)
    try:
        return await migrate.current(db.engine)
    finally:
        await db.dispose()


def cmd_serve(args: argparse.Namespace) -> int:
    from dispatch.db import migrate

    settings = _settings()
    # Serving an old or empty schema would fail request by request; say so once, up front.
    found = asyncio.run(_schema_revision(settings))
    if found not in migrate.heads():
        print(
            f"error: the database schema is at {found or 'nothing (empty database)'}, this "
            f"version needs {', '.join(migrate.heads())}: run `dispatch db upgrade` first",
            file=sys.stderr,
        )
        return 2
    _serve(settings, args.host, args.port, args.workers)
    return 0


async def _prepare_demo(settings: Settings) -> DemoInfo:
    from dispatch import demo
    from dispatch.db import migrate
    from dispatch.db.session import Database

    owner = Database(settings.migration_url, busy_timeout_ms=settings.sqlite_busy_timeout_ms)
    try:
        await migrate.upgrade(owner.engine)
    finally:
        await owner.dispose()
    db = _database(settings)
    try:
        async with db.unit_of_work() as uow:
            return await demo.seed(uow)
    finally:
        await db.dispose()


def cmd_demo(args: argparse.Namespace) -> int:
    from dispatch.demo import demo_settings

    overrides = {"osm_path": args.osm} if args.osm else {}
    settings = demo_settings(Settings(**overrides))
    info = asyncio.run(_prepare_demo(settings))
    base = f"http://{args.host}:{args.port}"
    print("\n=== Dispatch demo: central Bangkok ===")
    print(f"database   {settings.database_url}")
    print(f"screens    {base}/control  (dispatchers)  {base}/crew  (crews)  {base}/care")
    print(f"           {base}/station  (station staff)")
    print(f"API docs   {base}/docs")
    where = settings.osm_path or settings.osrm_url
    print(f"travel     {'road ETAs from ' + str(where) if where else 'straight line'}")
    print("logins     (username / password / role)")
    for username, password, role in info.logins:
        print(f"           {username:<11} {password:<24} {role}")
    print(f"device     unit {info.device_vehicle} phone token: {info.device_token}")
    if not args.quiet:
        print("city       a living city plays on the demo (units, calls, rides); --quiet: none")
    print("Map data © OpenStreetMap contributors.\n", flush=True)
    if args.no_serve:
        return 0
    city = None
    if not args.quiet:
        from dispatch.demo_city import LivingCity

        city = LivingCity(args.host, args.port)
        city.start_when_up()
    try:
        _serve(settings, args.host, args.port, 1)
    finally:
        if city is not None:
            city.stop()
    return 0


def cmd_plan(args: argparse.Namespace) -> int:
    """Plan a day's booked rides (the day-ahead run, e.g. from cron) and print the result."""
    from dispatch.clock import SYSTEM_CLOCK
    from dispatch.transports import planning
    from dispatch.transports.config import TransportConfig
    from dispatch.transports.replanning import Replanner
    from dispatch.travel import provider_from_settings

    settings = _settings()
    day = args.date

    async def run() -> planning.PlanResult:
        db = _database(settings)
        travel = await asyncio.to_thread(provider_from_settings, settings)
        # The same path as POST /plans: solved outside any write transaction, so calls and
        # fixes are stored while the cron job thinks.
        replanner = Replanner(
            db=db,
            publish=None,
            travel=travel,
            cfg=TransportConfig.from_settings(settings),
            tz=settings.tz,
            clock=SYSTEM_CLOCK,
        )
        try:
            return await replanner.plan_day(None, day, time_limit_s=args.time_limit or None)
        finally:
            await db.dispose()

    result = asyncio.run(run())
    print(
        json.dumps(
            {
                "service_date": day.isoformat(),
                "served": len(result.served),
                "unserved": {str(k): v for k, v in result.unserved.items()},
                "vehicles": result.vehicles,
                "seconds": round(result.seconds, 2),
            },
            indent=2,
        )
    )
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    if args.bench_command == "dispatch":
        from dispatch.benchmarks.dispatch_bench import bench_dispatch

        figures = bench_dispatch(
            args.osm,
            args.database_url,
            args.redis_url,
            _settings().cache_dir,
            units=args.units,
            calls=args.calls,
            coverage=args.coverage,
        )
        print(json.dumps(figures, indent=2 if args.json else None))
        return 0
    if args.bench_command == "fuzz":
        return _bench_fuzz(args)
    if args.bench_command == "travel":
        from dispatch.routing.bench import bench_travel

        figures = bench_travel(
            args.osm, _settings().cache_dir, vehicles=args.vehicles, matrix_size=args.matrix
        )
        if args.json:
            print(json.dumps(figures, indent=2))
        else:
            for key, value in figures.items():
                print(f"{key:<40} {value}")
    if args.bench_command == "darp":
        from dispatch.routing.darp import bench as darp_bench

        argv = ["--instances", str(args.instances), "--time-limit", str(args.time_limit)]
        argv += ["--names", args.names] if args.names else []
        argv += ["--search-seeds", args.search_seeds, *(["--json"] if args.json else [])]
        return darp_bench.main(argv)
    if args.bench_command == "pdptw":
        from dispatch.routing.darp import bench_pdptw

        argv = ["--instances", str(args.instances), "--time-limit", str(args.time_limit)]
        argv += ["--names", args.names] if args.names else []
        return bench_pdptw.main(argv)
    if args.bench_command == "darp-generated":
        from dispatch.routing.darp import bench_generated

        argv = ["--sizes", args.sizes, "--seeds", args.seeds, "--time-limit", str(args.time_limit)]
        argv += ["--reference-limit", str(args.reference_limit)]
        argv += ["--references", str(args.references)] if args.references else []
        argv += ["--write", str(args.write)] if args.write else []
        return bench_generated.main(argv)
    if args.bench_command == "transport-day":
        from dispatch.routing.darp import scale

        return scale.main(
            [
                "--osm", str(args.osm), "--cache-dir", str(_settings().cache_dir),
                "--bookings", str(args.bookings), "--vehicles", str(args.vehicles),
                "--time-limit", str(args.time_limit), "--insert-limit", str(args.insert_limit),
                "--seed", str(args.seed), "--travel", args.travel,
                "--vehicle-cost-min", str(args.vehicle_cost_min),
                "--hour-cost-min", str(args.hour_cost_min),
                "--inserts", str(args.inserts), "--reference-limit", str(args.reference_limit),
                *(["--replan"] if args.replan else []),
            ]
        )  # fmt: skip
    return 0


def _bench_fuzz(args: argparse.Namespace) -> int:
    """Fuzz a running server (README, "Abuse limits and hardening"); exit 1 on any 5xx."""
    from dispatch.benchmarks.fuzz import FuzzOptions, bench_fuzz

    admin = None
    if args.admin_username:
        admin = (args.admin_username, os.environ.get("DISPATCH_FUZZ_ADMIN_PASSWORD", ""))
    report = bench_fuzz(
        FuzzOptions(
            urls=[url.rstrip("/") for url in args.url],
            requests=args.requests,
            seed=args.seed,
            max_examples=args.max_examples,
            workers=args.workers,
            admin=admin,
        ),
        progress=lambda line: print(line, file=sys.stderr, flush=True),
    )
    text = json.dumps(report, indent=2, ensure_ascii=False)
    if args.output:
        __import__("pathlib").Path(args.output).write_text(text + "\n")
    print(text)
    return 1 if report["server_errors"]["count"] else 0


def build_parser() -> argparse.ArgumentParser:
    from dispatch import admin

    parser = argparse.ArgumentParser(prog="dispatch", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the API server")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.set_defaults(func=cmd_serve)

    demo = sub.add_parser("demo", help="create the central-Bangkok demo and serve it")
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--port", type=int, default=8000)
    demo.add_argument(
        "--osm",
        type=lambda p: __import__("pathlib").Path(p),
        default=None,
        help="OpenStreetMap extract for road ETAs",
    )
    demo.add_argument("--no-serve", action="store_true", help="seed and print logins, then exit")
    demo.add_argument(
        "--quiet",
        action="store_true",
        help="no living city: the demo's units stand still until you move them",
    )
    demo.set_defaults(func=cmd_demo)

    admin.add_db_parser(sub)  # db upgrade | current | revision | create-roles (as the owner)
    admin.add_patient_parser(sub)  # patient erase (PDPA / Decree 13 requests)
    admin.add_retention_parser(sub)  # retention apply (from cron)

    org = sub.add_parser("org", help="organisations")
    org_sub = org.add_subparsers(dest="org_command", required=True)
    org_create = org_sub.add_parser("create")
    org_create.add_argument("--name", required=True)
    org_create.add_argument(
        "--kind", required=True, choices=["dispatch_centre", "care_centre", "hospital_operator"]
    )
    org_create.add_argument(
        "--timezone", help="IANA time zone of its service days (default: DISPATCH_TIMEZONE)"
    )
    org_create.set_defaults(func=cmd_org_create)

    user = sub.add_parser("user", help="user accounts")
    user_sub = user.add_subparsers(dest="user_command", required=True)
    user_create = user_sub.add_parser(
        "create", help="create a login (password from DISPATCH_NEW_USER_PASSWORD or prompt)"
    )
    user_create.add_argument("--username", required=True)
    user_create.add_argument(
        "--role",
        required=True,
        choices=["dispatcher", "supervisor", "driver", "care_centre", "admin"],
    )
    user_create.add_argument("--organisation-id", type=int, required=True)
    user_create.add_argument("--full-name")
    user_create.add_argument("--vehicle-id", type=int)
    user_create.set_defaults(func=cmd_user_create)
    from dispatch.usercommands import add_commands as add_account_commands

    add_account_commands(user_sub)  # deactivate | activate | reset-password | revoke-sessions
    from dispatch.postcommands import add_commands as add_post_commands

    add_post_commands(sub)  # posts plan

    plan = sub.add_parser("plan", help="plan a day's booked patient transports")
    plan.add_argument(
        "--date", required=True, type=lambda d: __import__("datetime").date.fromisoformat(d)
    )
    plan.add_argument("--time-limit", type=float, default=0.0, help="seconds (default: setting)")
    plan.set_defaults(func=cmd_plan)

    bench = sub.add_parser("bench", help="benchmarks printing JSON figures")
    bench_sub = bench.add_subparsers(dest="bench_command", required=True)
    travel = bench_sub.add_parser("travel", help="road-graph travel-time benchmark")
    travel.add_argument("--osm", type=lambda p: __import__("pathlib").Path(p), required=True)
    travel.add_argument("--vehicles", type=int, default=1000)
    travel.add_argument("--matrix", type=int, default=200)
    travel.add_argument("--json", action="store_true")
    disp = bench_sub.add_parser(
        "dispatch", help="recommendation and call-to-crew latency with a simulated fleet"
    )
    disp.add_argument("--osm", type=lambda p: __import__("pathlib").Path(p), default=None)
    disp.add_argument("--database-url", default=None, help="PostgreSQL: a scratch DB beside it")
    disp.add_argument("--redis-url", default=None)
    disp.add_argument("--units", type=int, default=1000)
    disp.add_argument("--calls", type=int, default=200)
    disp.add_argument("--json", action="store_true")
    disp.add_argument("--coverage", action="store_true", help="coverage-aware dispatch on")
    fuzz = bench_sub.add_parser(
        "fuzz",
        help="schemathesis over the whole API of a running server, as every role (JSON report)",
    )
    fuzz.add_argument(
        "--url", action="append", required=True, help="a worker's base URL (repeat per worker)"
    )
    fuzz.add_argument("--requests", type=int, default=50_000, help="at least this many in all")
    fuzz.add_argument("--seed", type=int, default=1)
    fuzz.add_argument("--max-examples", type=int, default=50, help="per operation and run")
    fuzz.add_argument("--workers", type=int, default=2, help="schemathesis' client threads")
    fuzz.add_argument(
        "--admin-username",
        default=None,
        help="log in as this administrator (password: DISPATCH_FUZZ_ADMIN_PASSWORD) instead "
        "of creating one with `dispatch org create` / `dispatch user create`",
    )
    fuzz.add_argument("--output", default=None, help="also write the JSON report here")
    darp = bench_sub.add_parser(
        "darp", help="dial-a-ride scheduler on Cordeau instances against best-known costs"
    )
    darp.add_argument("--instances", type=lambda p: __import__("pathlib").Path(p), required=True)
    darp.add_argument("--time-limit", type=float, default=30.0, help="seconds per instance")
    darp.add_argument("--names", default=None, help="comma-separated, e.g. a2-16,a3-24")
    darp.add_argument("--search-seeds", default="0", help="comma-separated, a run of each")
    darp.add_argument("--json", action="store_true")
    pdptw = bench_sub.add_parser(
        "pdptw", help="the scheduler on Li & Lim pickup-and-delivery instances (JSON)"
    )
    pdptw.add_argument("--instances", type=lambda p: __import__("pathlib").Path(p), required=True)
    pdptw.add_argument("--time-limit", type=float, default=30.0, help="seconds per instance")
    pdptw.add_argument("--names", default=None, help="comma-separated, e.g. lc101,lr201")
    gen = bench_sub.add_parser(
        "darp-generated",
        help="seeded Cordeau-style instances (100-200 requests) against a long run (JSON)",
    )
    gen.add_argument("--sizes", default="100,150,200", help="requests per instance")
    gen.add_argument("--seeds", default="1", help="comma-separated generator seeds")
    gen.add_argument("--time-limit", type=float, default=30.0, help="seconds per instance")
    gen.add_argument("--reference-limit", type=float, default=600.0, help="the long run")
    gen.add_argument("--references", default=None, help="JSON file keeping the long runs")
    gen.add_argument("--write", default=None, help="folder to save the instances in")
    day = bench_sub.add_parser(
        "transport-day", help="plan a synthetic day of bookings on the road graph, then insert one"
    )
    day.add_argument("--osm", type=lambda p: __import__("pathlib").Path(p), required=True)
    day.add_argument("--bookings", type=int, default=400)
    day.add_argument("--vehicles", type=int, default=30)
    day.add_argument("--time-limit", type=float, default=60.0)
    day.add_argument("--insert-limit", type=float, default=0.4)
    day.add_argument("--seed", type=int, default=0)
    day.add_argument(
        "--travel", choices=["timed", "rush"], default="timed",
        help="legs timed by time of day, or (the old way) the 08:00 matrix all day",
    )  # fmt: skip
    day.add_argument("--vehicle-cost-min", type=float, default=600.0)
    day.add_argument("--hour-cost-min", type=float, default=0.0)
    day.add_argument("--replan", action="store_true")
    day.add_argument("--inserts", type=int, default=1)
    day.add_argument("--reference-limit", type=float, default=0.0)
    bench.set_defaults(func=cmd_bench)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from dispatch.observability.logs import configure_logging

    configure_logging(
        os.environ.get("DISPATCH_LOG_LEVEL", "INFO"),
        os.environ.get("DISPATCH_LOG_FORMAT", "text"),
    )
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
