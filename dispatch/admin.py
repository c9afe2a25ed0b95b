"""Operator commands on the database: ``dispatch db …`` (migrations and roles, run as the
owner, ``DISPATCH_MIGRATION_DATABASE_URL``) and ``dispatch patient erase`` (run as the
application, ``DISPATCH_DATABASE_URL``, like any other change). ``dispatch.cli`` wires
them into its parser."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys

from dispatch.config import Settings
from dispatch.db import roles
from dispatch.db.roles import RoleError
from dispatch.db.session import Database


def _database(url: str, settings: Settings) -> Database:
    return Database(url, busy_timeout_ms=settings.sqlite_busy_timeout_ms)


def add_db_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    db = sub.add_parser("db", help="database migrations and roles (as the owner)")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    upgrade = db_sub.add_parser("upgrade", help="migrate to the latest schema")
    upgrade.add_argument("revision", nargs="?", default="head")
    db_sub.add_parser("current", help="show the applied revision")
    revision = db_sub.add_parser("revision", help="autogenerate a migration from the models")
    revision.add_argument("-m", "--message", required=True)
    db_sub.add_parser(
        "create-roles",
        help="PostgreSQL: create/update the application role named in DISPATCH_DATABASE_URL "
        "and grant it what it needs (run after every upgrade)",
    )
    db.set_defaults(func=cmd_db)


def add_patient_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    patient = sub.add_parser("patient", help="patients' personal data")
    patient_sub = patient.add_subparsers(dest="patient_command", required=True)
    erase = patient_sub.add_parser(
        "erase", help="erase a patient's personal data (PDPA / Decree 13 request); JSON result"
    )
    erase.add_argument("patient_id", type=int)
    erase.add_argument(
        "--by", default=None, help="who erases, for the audit log (default: the OS user)"
    )
    erase.add_argument("--reference", default=None, help="the request's ticket number")
    patient.set_defaults(func=cmd_patient)


def add_retention_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    retention = sub.add_parser("retention", help="apply the retention periods (from cron)")
    retention_sub = retention.add_subparsers(dest="retention_command", required=True)
    apply = retention_sub.add_parser(
        "apply", help="anonymise finished calls and rides, delete GPS fixes, past their period"
    )
    for kind, what in (
        ("incident", "closed or cancelled calls"),
        ("booking", "finished rides"),
        ("gps", "GPS fixes"),
    ):
        apply.add_argument(
            f"--{kind}-days", type=int, default=None, help=f"keep {what} this many days"
        )
    apply.add_argument("--by", default=None, help="who runs it (default: the OS user)")
    retention.set_defaults(func=cmd_retention)


def cmd_db(args: argparse.Namespace) -> int:
    settings = Settings()
    try:
        return asyncio.run(_db(args, settings))
    except RoleError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


async def _db(args: argparse.Namespace, settings: Settings) -> int:
    from dispatch.db import migrate

    db = _database(settings.migration_url, settings)
    try:
        if args.db_command == "upgrade":
            await migrate.upgrade(db.engine, args.revision)
            print(f"database at revision {await migrate.current(db.engine)}")
        elif args.db_command == "current":
            print(await migrate.current(db.engine) or "empty (no migrations applied)")
        elif args.db_command == "revision":
            await migrate.revision(db.engine, args.message)
        elif args.db_command == "create-roles":
            if db.strategy.name != "postgresql":
                print("SQLite has no roles: nothing to do")
                return 0
            done = await roles.create_app_role(
                db.engine, roles.AppRole.from_url(settings.database_url)
            )
            print(";\n".join(done) + ";")
    finally:
        await db.dispose()
    return 0


def cmd_patient(args: argparse.Namespace) -> int:
    from dispatch.errors import DomainError
    from dispatch.privacy import erasure

    settings = Settings()
    operator = erasure.Operator(args.by or getpass.getuser())

    async def run() -> erasure.Erasure:
        db = _database(settings.database_url, settings)
        try:
            async with db.unit_of_work() as uow:
                return await erasure.erase_patient(
                    uow, operator, args.patient_id, reference=args.reference
                )
        finally:
            await db.dispose()

    try:
        result = asyncio.run(run())
    except DomainError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    print(
        json.dumps(
            {
                "patient_id": result.patient_id,
                "erased": result.changed,
                "already_erased": not result.changed,
                "booking_ids": result.booking_ids,
                "plan_stops": result.plan_stops,
                "stored_answers": result.stored_answers,
                "fields": result.fields,
            },
            indent=2,
        )
    )
    return 0


def cmd_retention(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime, timedelta

    from dispatch.privacy import erasure, retention

    periods = {k: getattr(args, f"{k}_days") for k in ("incident", "booking", "gps")}
    if any(days is not None and days < 1 for days in periods.values()):
        print("error: a retention period is at least 1 day", file=sys.stderr)
        return 2
    now = datetime.now(UTC)
    cutoff = {k: None if d is None else now - timedelta(days=d) for k, d in periods.items()}
    settings = Settings()

    async def run() -> retention.Retention:
        db = _database(settings.database_url, settings)
        try:
            async with db.unit_of_work() as uow:
                return await retention.apply(
                    uow,
                    erasure.Operator(args.by or getpass.getuser()),
                    incidents_before=cutoff["incident"],
                    bookings_before=cutoff["booking"],
                    gps_before=cutoff["gps"],
                )
        finally:
            await db.dispose()

    done = asyncio.run(run())
    print(json.dumps(done.__dict__, indent=2))
    return 0
