"""``dispatch posts plan``: where the next posts or stations should go, from the calls
recorded in the database, printed as JSON (``dispatch.coverage.posts``)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from dispatch.config import Settings


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from exc


def _clock(text: str) -> time:
    try:
        return time.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a time of day (HH:MM)") from exc


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    posts = sub.add_parser("posts", help="standby posts and stations")
    posts_sub = posts.add_subparsers(dest="posts_command", required=True)
    plan = posts_sub.add_parser(
        "plan",
        help="where N more posts or stations would cover the recorded calls best (JSON)",
    )
    plan.add_argument("--count", type=_positive, required=True, help="how many posts to add")
    plan.add_argument("--triage", choices=["red", "yellow", "green", "all"], default="red")
    plan.add_argument("--target-min", type=_positive, default=10, help="response target")
    plan.add_argument("--objective", choices=["mclp", "pmedian"], default="mclp")
    plan.add_argument("--since", type=_day, help="first day of calls (local), inclusive")
    plan.add_argument("--until", type=_day, help="last day of calls (local), inclusive")
    plan.add_argument("--at", type=_clock, default=time(14, 0), help="time of day of travel")
    plan.add_argument("--cell-m", type=float, default=1000.0, help="zone size in metres")
    plan.add_argument("--organisation-id", type=int)
    plan.set_defaults(func=cmd_posts)


async def _plan(args: argparse.Namespace, settings: Settings) -> dict[str, object]:
    from dispatch.coverage.posts import PostPlanQuery, load_inputs, plan
    from dispatch.db.session import Database
    from dispatch.travel import provider_from_settings

    zone = ZoneInfo(settings.timezone)

    def local_midnight(day: date) -> datetime:
        return datetime.combine(day, time(0), zone).astimezone(UTC)

    today = datetime.now(zone).date()
    query = PostPlanQuery(
        count=args.count,
        depart_at=datetime.combine(today, args.at, zone),
        triage=args.triage,
        target_s=args.target_min * 60,
        since=local_midnight(args.since) if args.since else None,
        until=local_midnight(args.until + timedelta(days=1)) if args.until else None,
        objective=args.objective,
        cell_m=args.cell_m,
        organisation_id=args.organisation_id,
    )
    db = Database(settings.database_url, busy_timeout_ms=settings.sqlite_busy_timeout_ms)
    try:
        async with db.unit_of_work(read_only=True) as uow:
            inputs = await load_inputs(uow, query)
    finally:
        await db.dispose()
    travel = await asyncio.to_thread(provider_from_settings, settings)
    return await asyncio.to_thread(plan, travel, inputs, query)


def cmd_posts(args: argparse.Namespace) -> int:
    from dispatch.errors import DomainError

    if args.cell_m < 100 or args.cell_m > 20_000:
        print("--cell-m must be between 100 and 20000", file=sys.stderr)
        return 2
    try:
        report = asyncio.run(_plan(args, Settings()))
    except DomainError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    print(json.dumps(report, indent=2, ensure_ascii=False))
    return 0
