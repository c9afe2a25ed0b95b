"""Two roles on PostgreSQL: migrations run as the owner, the application connects as a
role that cannot empty, alter or drop the audit log, and the application works as it.

Its own scratch database and role (roles belong to the whole server, so the name is
unique per run), both dropped afterwards."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from dispatch.app import create_app
from dispatch.db import migrate
from dispatch.db.roles import AppRole, RoleError
from dispatch.db.session import Database
from tests.helpers.cli import cli_env, dispatch_cli
from tests.helpers.stacks import PG_URL, REDIS_URL, Stack, require_production_stack
from tests.helpers.world import build_world

pytestmark = pytest.mark.slow

#: Quotes, a colon and a percent sign: the password must reach PostgreSQL as typed.
PASSWORD = "it's:100%-secret"


@dataclass(frozen=True)
class Roles:
    owner_url: str
    app_url: str
    app_role: str

    def env(self, **overrides: str) -> dict[str, str]:
        values = {
            "DISPATCH_DATABASE_URL": self.app_url,
            "DISPATCH_MIGRATION_DATABASE_URL": self.owner_url,
        }
        return cli_env(**{**values, **overrides})


@pytest.fixture(scope="module")
async def roles() -> AsyncIterator[Roles]:
    """A scratch database migrated by ``dispatch db upgrade`` as the owner, and an
    application role created by ``dispatch db create-roles`` (once for the module)."""
    require_production_stack()
    assert PG_URL is not None
    base, name = PG_URL.rsplit("/", 1)
    scratch, role = f"{name}_roles", f"dispatch_app_{secrets.token_hex(4)}"
    server = Database(PG_URL)

    async def admin(*statements: str) -> None:
        async with server.engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            for statement in statements:
                await conn.execute(text(statement))

    await admin(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)', f'CREATE DATABASE "{scratch}"')
    owner_url = f"{base}/{scratch}"
    app_url = make_url(owner_url).set(username=role, password=PASSWORD)
    found = Roles(owner_url, app_url.render_as_string(hide_password=False), role)
    try:
        # the application's role does not exist yet: this works only as the owner
        upgraded = await dispatch_cli(["db", "upgrade"], found.env())
        assert upgraded.returncode == 0, upgraded.stderr
        created = await dispatch_cli(["db", "create-roles"], found.env())
        assert created.returncode == 0, created.stderr
        assert f'CREATE ROLE "{role}"' in created.stdout and PASSWORD not in created.stdout
        yield found
    finally:
        await admin(
            f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)', f'DROP ROLE IF EXISTS "{role}"'
        )
        await server.dispose()


async def _refused(db: Database, statement: str) -> str:
    with pytest.raises(DBAPIError) as refused:
        async with db.engine.begin() as conn:
            await conn.execute(text(statement))
    return str(refused.value.orig)


async def test_the_application_role_cannot_empty_alter_or_drop_the_audit_log(
    roles: Roles,
) -> None:
    app = Database(roles.app_url)
    try:
        async with app.engine.begin() as conn:  # what the application does: append, read
            await conn.execute(
                text(
                    "INSERT INTO audit_log (at, actor, action, entity_type) "
                    "VALUES (now(), 'user:test', 'x.created', 'x')"
                )
            )
            assert (await conn.execute(text("SELECT count(*) FROM audit_log"))).scalar() == 1
        assert "permission denied" in await _refused(app, "TRUNCATE audit_log")
        for statement in (
            "ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only",
            "ALTER TABLE audit_log DROP COLUMN actor",
            "DROP TABLE audit_log",
        ):
            assert "must be owner" in await _refused(app, statement), statement
        for statement in ("UPDATE audit_log SET actor = 'mallory'", "DELETE FROM audit_log"):
            assert "permission denied" in await _refused(app, statement), statement
        # nor the schema's record, nor new tables of its own
        assert "permission denied" in await _refused(
            app, "UPDATE alembic_version SET version_num = '0001'"
        )
        assert "permission denied" in await _refused(app, "CREATE TABLE mine (id int)")
        assert await migrate.current(app.engine) == migrate.heads()[0]  # `serve` checks this
    finally:
        await app.dispose()
    # A table a later migration creates (as the owner) is the application's to use at once.
    owner = Database(roles.owner_url)
    try:
        async with owner.engine.begin() as conn:
            await conn.execute(text("CREATE TABLE later_feature (id bigserial PRIMARY KEY)"))
    finally:
        await owner.dispose()
    app = Database(roles.app_url)
    try:
        async with app.engine.begin() as conn:
            await conn.execute(text("INSERT INTO later_feature DEFAULT VALUES"))
            await conn.execute(text("DELETE FROM later_feature"))
    finally:
        await app.dispose()


async def test_the_application_works_as_its_role(roles: Roles, tmp_path: Path) -> None:
    """A call taken, a unit sent and on its way, a patient booked, the log read, a patient
    erased: everything the serving process does, connected as the application role."""
    db = Database(roles.app_url)
    try:
        world = await build_world(db)
    finally:
        await db.dispose()
    stack = Stack("postgresql", roles.app_url, REDIS_URL)
    application = create_app(stack.settings())
    async with (
        application.router.lifespan_context(application),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=application), base_url="http://test"
        ) as client,
    ):
        dispatcher = world.headers("dispatcher")
        incident = await client.post(
            "/incidents",
            json={"lat": 13.746, "lon": 100.534, "chief_complaint": "stroke"},
            headers=dispatcher,
        )
        assert incident.status_code == 201, incident.text
        sent = await client.post(
            f"/incidents/{incident.json()['id']}/assignments",
            json={"vehicle_id": world.vehicle_ids["A1"]},
            headers=dispatcher,
        )
        assert sent.status_code == 201, sent.text
        moving = await client.post(
            f"/assignments/{sent.json()['id']}/status",
            json={"status": "en_route"},
            headers=world.headers("device:A1"),
        )
        assert moving.status_code == 200, moving.text
        patient = await client.post(
            "/patients",
            json={"full_name": "Malee", "mobility": "ambulatory"},
            headers=world.headers("care_a"),
        )
        assert patient.status_code == 201, patient.text
        trail = await client.get("/audit?limit=100", headers=world.headers("supervisor"))
        assert trail.status_code == 200
        assert {"incident.created", "assignment.created", "patient.created"} <= {
            e["action"] for e in trail.json()
        }
    erased = await dispatch_cli(
        ["patient", "erase", str(patient.json()["id"]), "--by", "dpo"], roles.env()
    )
    assert erased.returncode == 0, erased.stderr


async def test_create_roles_is_repeatable_and_refuses_the_owner_as_application(
    roles: Roles,
) -> None:
    again = await dispatch_cli(["db", "create-roles"], roles.env())
    assert again.returncode == 0, again.stderr
    assert f'ALTER ROLE "{roles.app_role}" WITH LOGIN PASSWORD' in again.stdout
    same = await dispatch_cli(
        ["db", "create-roles"], roles.env(DISPATCH_DATABASE_URL=roles.owner_url)
    )
    assert same.returncode == 2
    assert "must connect as a role that does not own the tables" in same.stderr


def test_an_empty_password_is_a_forgotten_setting_not_a_password() -> None:
    with pytest.raises(RoleError, match="DISPATCH_APP_DB_PASSWORD"):
        AppRole.from_url("postgresql+asyncpg://dispatch_app:@postgres/dispatch")
    assert AppRole.from_url("postgresql+asyncpg://app@db/x") == AppRole("app", None)  # trust


async def test_sqlite_has_no_roles_to_create(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'one.sqlite3'}"
    done = await dispatch_cli(["db", "create-roles"], cli_env(DISPATCH_DATABASE_URL=url))
    assert done.returncode == 0 and "nothing to do" in done.stdout
