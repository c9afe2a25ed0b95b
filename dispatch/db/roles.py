"""Two PostgreSQL roles: the owner runs the migrations, the application only uses tables.

Why: the audit log's triggers refuse UPDATE and DELETE, but the owner of a table may
TRUNCATE it, ALTER it (disable the triggers) or DROP it. The serving processes therefore
connect as a role that owns nothing: it may read and write the tables, only append to
``audit_log``, only read ``alembic_version``, use the sequences, and nothing else.

``create_app_role`` runs as the owner (``DISPATCH_MIGRATION_DATABASE_URL``) and takes the
application role's name and password from ``DISPATCH_DATABASE_URL``, so the two settings
cannot disagree. It is idempotent: run it after every ``dispatch db upgrade``.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

#: Privileges the application role has on every table but the two below.
TABLE_PRIVILEGES = "SELECT, INSERT, UPDATE, DELETE"
#: The audit log: read and append, never change or empty.
AUDIT_PRIVILEGES = "SELECT, INSERT"


class RoleError(Exception):
    """The roles cannot be set up as asked (explained to the operator)."""


@dataclass(frozen=True)
class AppRole:
    name: str
    password: str | None

    @classmethod
    def from_url(cls, url: str) -> AppRole:
        parsed = make_url(url)
        if not parsed.username:
            raise RoleError("DISPATCH_DATABASE_URL names no user: postgresql+asyncpg://USER:…@…")
        if parsed.password == "":  # "user:@host": a forgotten variable, not trust auth
            raise RoleError(
                f"DISPATCH_DATABASE_URL gives {parsed.username!r} an empty password "
                "(compose: set DISPATCH_APP_DB_PASSWORD)"
            )
        return cls(parsed.username, parsed.password)


def grant_statements(app: str, owner: str, schema: str = "public") -> list[str]:
    """The grants, as SQL (also printed in README.md for a DBA who runs them by hand)."""
    a, o, s = _ident(app), _ident(owner), _ident(schema)
    return [
        f"GRANT USAGE ON SCHEMA {s} TO {a}",
        f"GRANT {TABLE_PRIVILEGES} ON ALL TABLES IN SCHEMA {s} TO {a}",
        f"REVOKE ALL ON {s}.audit_log FROM {a}",
        f"GRANT {AUDIT_PRIVILEGES} ON {s}.audit_log TO {a}",
        f"REVOKE ALL ON {s}.alembic_version FROM {a}",
        f"GRANT SELECT ON {s}.alembic_version TO {a}",
        f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA {s} TO {a}",
        # Tables and sequences later migrations create (as the owner) come with the same.
        f"ALTER DEFAULT PRIVILEGES FOR ROLE {o} IN SCHEMA {s} "
        f"GRANT {TABLE_PRIVILEGES} ON TABLES TO {a}",
        f"ALTER DEFAULT PRIVILEGES FOR ROLE {o} IN SCHEMA {s} GRANT USAGE ON SEQUENCES TO {a}",
    ]


async def create_app_role(engine: AsyncEngine, app: AppRole) -> list[str]:
    """Create (or update) the application role and grant it what it needs, connected as
    the owner. Returns what was done, passwords masked, for the operator to read."""
    if engine.dialect.name != "postgresql":
        return []
    async with engine.begin() as conn:
        owner = (await conn.execute(text("SELECT current_user"))).scalar_one()
        if owner == app.name:
            raise RoleError(
                f"DISPATCH_DATABASE_URL and DISPATCH_MIGRATION_DATABASE_URL both use {owner!r}: "
                "the application must connect as a role that does not own the tables"
            )
        if await conn.scalar(text("SELECT to_regclass('audit_log')")) is None:
            raise RoleError("no schema yet: run `dispatch db upgrade` first")
        done = [await _create_or_update(conn, app)]
        for statement in grant_statements(app.name, owner):
            await conn.exec_driver_sql(statement)
            done.append(statement)
    return done


async def _create_or_update(conn: AsyncConnection, app: AppRole) -> str:
    found = (
        await conn.execute(
            text("SELECT rolsuper, rolcreaterole, rolcreatedb FROM pg_roles WHERE rolname = :n"),
            {"n": app.name},
        )
    ).first()
    if found is not None and any(found):
        raise RoleError(
            f"the role {app.name!r} may create roles or databases or is a superuser: it could "
            "rewrite the audit log; give the application a role of its own"
        )
    secret = f" PASSWORD {_literal(app.password)}" if app.password else ""
    if found is None:
        statement = f"CREATE ROLE {_ident(app.name)} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE"
    elif secret:
        statement = f"ALTER ROLE {_ident(app.name)} WITH LOGIN"
    else:
        return f"-- role {app.name} exists"
    await conn.exec_driver_sql(statement + secret)
    return statement + (" PASSWORD '…'" if secret else "")


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(value: str) -> str:
    # Utility statements take no bound parameters; standard_conforming_strings is on.
    return "'" + value.replace("'", "''") + "'"
