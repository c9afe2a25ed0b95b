"""Personal data is declared on every column that could hold it, and nothing declared
personal or secret reaches the audit log, whoever writes the entry; entries written before
revision 0009 are redacted by it."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import JSON, Column, Date, DateTime, Enum, Float, String, Text, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.types import TypeDecorator

import dispatch.models  # noqa: F401  (registers every table)
from dispatch.audit import service as audit
from dispatch.db import migrate
from dispatch.db.session import Database
from dispatch.models.base import Base
from dispatch.models.privacy import is_declared, is_personal, is_secret
from tests.helpers.stacks import PG_URL, require_production_stack

#: Column names that suggest a person, or free text about one.
LOOKS_PERSONAL = re.compile(
    r"(^|_)(name|names|phone|mobile|address|addr|note|notes|birth|dob|email|lat|lon|lng|ip|"
    r"comment|comments|reason|description|remark|remarks|contact|passport|national|citizen|"
    r"gender|sex|diagnosis|medical|allergy|allergies|medication|insurance|text|message|body|"
    r"agent)($|_)"
)
LOOKS_SECRET = re.compile(r"(^|_)(password|hash|token|secret|salt)($|_)")
#: Strings longer than this are free text (codes, call signs and statuses are shorter).
FREE_TEXT_LENGTH = 64


def _type(column: Column[Any]) -> Any:
    kind = column.type
    return kind.impl if isinstance(kind, TypeDecorator) else kind


def _looks_secret(column: Column[Any]) -> bool:
    return isinstance(_type(column), String) and bool(LOOKS_SECRET.search(column.name))


def _looks_personal(column: Column[Any]) -> bool:
    kind = _type(column)
    if LOOKS_PERSONAL.search(column.name) or isinstance(kind, Text | JSON):
        return True
    return (
        isinstance(kind, String)
        and not isinstance(kind, Enum)
        and (kind.length is None or kind.length > FREE_TEXT_LENGTH)
    )


def _columns() -> list[Column[Any]]:
    return [c for table in Base.metadata.sorted_tables for c in table.columns]


def test_every_column_that_looks_personal_says_whether_it_is() -> None:
    undeclared = [
        f"{c.table.name}.{c.name}"
        for c in _columns()
        if (_looks_personal(c) or _looks_secret(c)) and not is_declared(c)
    ]
    assert not undeclared, (
        "declare these columns with info=PERSONAL, NOT_PERSONAL or SECRET "
        f"(dispatch/models/privacy.py): {', '.join(undeclared)}"
    )
    secrets = [
        f"{c.table.name}.{c.name}" for c in _columns() if _looks_secret(c) and not is_secret(c)
    ]
    assert not secrets, f"credentials must be info=SECRET: {', '.join(secrets)}"


def test_the_declarations_cover_what_the_issue_names() -> None:
    personal = {f"{c.table.name}.{c.name}" for c in _columns() if is_personal(c)}
    assert {
        "incidents.caller_phone",
        "incidents.address_text",
        "incidents.notes",
        "patients.full_name",
        "patients.phone",
        "patients.date_of_birth",
        "patients.home_address",
        "patients.notes",
        "transport_bookings.pickup_address",
        "transport_bookings.notes",
        "users.full_name",
    } <= personal
    readable = {f"{c.table.name}.{c.name}" for c in _columns() if not is_personal(c)}
    assert {"incidents.status", "incidents.triage", "assignments.vehicle_id"} <= readable


def _sentinel(column: Column[Any], n: int) -> Any:
    kind = column.type
    if isinstance(kind, Float) or column.name.endswith(("lat", "lon")):
        return 10 + n / 1_000_003
    if isinstance(kind, Date):
        return date(1950, 1, 1 + n % 28)
    if isinstance(kind, DateTime):
        return datetime(1950, 1, 1 + n % 28, tzinfo=UTC)
    if isinstance(kind, JSON):
        return {"secret-words": f"HIV positive {n}"}
    return f"HIV positive {n}"


class _Session:
    def __init__(self) -> None:
        self.added: list[Any] = []

    def add(self, obj: Any) -> None:
        self.added.append(obj)


class _UoW:
    def __init__(self) -> None:
        self.session = _Session()


def _hidden(cls: Any) -> list[Column[Any]]:
    return [c for c in cls.__table__.columns if is_personal(c) or is_secret(c)]


@pytest.mark.parametrize(
    "cls",
    [m.class_ for m in Base.registry.mappers if _hidden(m.class_)],
    ids=lambda cls: cls.__name__,
)
def test_no_personal_or_secret_value_reaches_an_entry_however_it_is_written(cls: Any) -> None:
    """Every model, its personal and secret columns filled with recognisable values: the
    default entry, a diff of two snapshots and hand-written dicts naming the columns (even
    nested under other keys) keep the field names and none of the values."""
    hidden = _hidden(cls)
    obj = cls()
    before = audit.snapshot(obj)
    values = {c.key: _sentinel(c, i) for i, c in enumerate(hidden)}
    for key, value in values.items():
        setattr(obj, key, value)
    after = audit.snapshot(obj)
    old, new = audit.changed(before, after)
    uow: Any = _UoW()
    entries = [
        audit.record(uow, None, "x.created", obj),
        audit.record(uow, None, "x.updated", obj, before=old, after=new),
        audit.record(uow, None, "x.by_hand", obj, after={**values, "nested": {"row": after}}),
    ]
    logged = json.dumps([(e.before, e.after) for e in entries], default=str)
    for value in values.values():
        shown = json.dumps(value, default=str).strip('"{}')
        assert shown not in logged, f"{cls.__name__}: {shown} reached the audit log"
    personal = {c.key for c in hidden if is_personal(c)}
    assert personal <= set(new)  # the changed fields are named …
    assert all(entries[1].after[k] == audit.REDACTED for k in personal)  # … not shown
    assert not {c.key for c in hidden if is_secret(c)} & set(entries[0].after)


def test_a_personal_value_is_never_printed() -> None:
    wrapped = audit.Personal("+66 81 234 5678")
    assert "5678" not in repr(wrapped) and "5678" not in str({"phone": wrapped})
    with pytest.raises(TypeError):
        json.dumps({"phone": wrapped})
    assert audit.plain({"phone": wrapped, "triage": "red"}) == {
        "phone": "+66 81 234 5678",
        "triage": "red",
    }


# --- revision 0009 redacts what was logged before -------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
async def scratch(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    """An empty database of each kind, dropped afterwards."""
    if request.param == "sqlite":
        db = Database(f"sqlite+aiosqlite:///{tmp_path / 'privacy.sqlite3'}")
        yield db
        await db.dispose()
        return
    require_production_stack()
    assert PG_URL is not None
    base, name = PG_URL.rsplit("/", 1)
    scratch_name = f"{name}_privacy"
    admin = Database(PG_URL)
    async with admin.engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{scratch_name}" WITH (FORCE)'))
        await conn.execute(text(f'CREATE DATABASE "{scratch_name}"'))
    db = Database(f"{base}/{scratch_name}")
    yield db
    await db.dispose()
    async with admin.engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{scratch_name}" WITH (FORCE)'))
    await admin.dispose()


OLD_ENTRIES = [
    # what the code logged before 0009: whole rows and a hand-written override reason
    (
        "incident.created",
        "incidents",
        None,
        {"status": "pending", "caller_phone": "0812345678", "notes": "HIV positive", "lat": 13.7},
    ),
    ("incident.triage_overridden", "incidents", None, {"triage": "red", "reason": "on warfarin"}),
    (
        "booking.updated",
        "transport_bookings",
        {"pickup_address": "12 Soi Ari", "companions": 0},
        {"pickup_address": "14 Soi Ari", "companions": 1},
    ),
    ("vehicle.updated", "vehicles", {"state": "available"}, {"state": "off_duty"}),
]


async def test_revision_0009_redacts_entries_written_before_it(scratch: Database) -> None:
    db = scratch
    await migrate.upgrade(db.engine, "0008")
    async with db.engine.begin() as conn:
        for action, entity_type, before, after in OLD_ENTRIES:
            await conn.execute(
                text(
                    "INSERT INTO audit_log (at, actor, action, entity_type, entity_id, before, "
                    "after) VALUES (CURRENT_TIMESTAMP, 'user:old', :a, :t, 1, :b, :f)"
                ),
                {
                    "a": action,
                    "t": entity_type,
                    "b": None if before is None else json.dumps(before),
                    "f": json.dumps(after),
                },
            )
    await migrate.upgrade(db.engine)
    async with db.unit_of_work(read_only=True) as uow:
        entries = {e.action: e for e in await audit.list_entries(uow, limit=100)}
    logged = json.dumps([(e.before, e.after) for e in entries.values()])
    for value in ("0812345678", "HIV", "warfarin", "Soi Ari", "13.7"):
        assert value not in logged
    assert entries["incident.created"].after == {
        "status": "pending",
        "caller_phone": audit.REDACTED,
        "notes": audit.REDACTED,
        "lat": audit.REDACTED,
    }
    assert entries["booking.updated"].after == {"pickup_address": audit.REDACTED, "companions": 1}
    assert entries["vehicle.updated"].after == {"state": "off_duty"}  # operational: as it was
    assert entries["audit.redacted"].after is not None
    assert entries["audit.redacted"].after["entries"] == 3
    # and the log is append-only again
    with pytest.raises(DBAPIError, match="append-only"):
        async with db.unit_of_work() as uow:
            await uow.session.execute(text("UPDATE audit_log SET actor = 'mallory'"))
    await migrate.downgrade(db.engine, "0008")  # nothing to undo, nothing breaks
