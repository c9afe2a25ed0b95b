"""Privacy: audit log without personal values, application role (issue 17).

Until now the audit log copied whole rows: a caller's phone and address, a triage reason
("HIV positive"), a booking's addresses and notes. From this revision the code logs
personal fields by name only (``dispatch.models.privacy``); this migration redacts the
entries written before, the same way, and appends one entry saying so. The append-only
guard is lifted for that one statement, inside this transaction, by the owner role the
migrations run as (the application role cannot: it does not own the table).

No schema change: the application role and its grants are ``dispatch db create-roles``
(roles belong to the whole PostgreSQL cluster, not to one database's migrations).

The redacted values cannot come back: downgrade leaves the entries as they are.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06
"""

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REDACTED = "[personal]"

#: The personal columns as this revision knows them (frozen here: later model changes
#: must not change what this migration did), plus keys earlier code wrote by hand.
PERSONAL: dict[str, frozenset[str]] = {
    "incidents": frozenset(
        {
            "caller_phone",
            "lat",
            "lon",
            "address_text",
            "triage_override_reason",
            "cancel_reason",
            "notes",
            "reason",  # incident.triage_overridden wrote the override reason under this key
        }
    ),
    "patients": frozenset(
        {"full_name", "phone", "date_of_birth", "home_lat", "home_lon", "home_address", "notes"}
    ),
    "transport_bookings": frozenset(
        {
            "pickup_lat",
            "pickup_lon",
            "pickup_address",
            "destination_lat",
            "destination_lon",
            "destination_address",
            "notes",
        }
    ),
    "plan_stops": frozenset({"lat", "lon"}),
    "users": frozenset({"full_name"}),
}

_JSON = sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")
_log = sa.table(
    "audit_log",
    sa.column("id", sa.BigInteger),
    sa.column("at", sa.DateTime(timezone=True)),
    sa.column("actor", sa.String),
    sa.column("action", sa.String),
    sa.column("entity_type", sa.String),
    sa.column("before", _JSON),
    sa.column("after", _JSON),
)


def _redact(data: dict[str, Any] | None, personal: frozenset[str]) -> dict[str, Any] | None:
    if data is None:
        return None
    return {k: REDACTED if k in personal and v is not None else v for k, v in data.items()}


def upgrade() -> None:
    conn = op.get_bind()
    rows = conn.execute(
        sa.select(_log.c.id, _log.c.entity_type, _log.c.before, _log.c.after).where(
            _log.c.entity_type.in_(sorted(PERSONAL))
        )
    ).all()
    changes = []
    for row in rows:
        personal = PERSONAL[row.entity_type]
        before, after = _redact(row.before, personal), _redact(row.after, personal)
        if (before, after) != (row.before, row.after):
            changes.append({"entry_id": row.id, "new_before": before, "new_after": after})
    if not changes:
        return
    with _append_only_lifted(conn):
        conn.execute(
            _log.update()
            .where(_log.c.id == sa.bindparam("entry_id"))
            .values(before=sa.bindparam("new_before"), after=sa.bindparam("new_after")),
            changes,
        )
    # The log says what happened to it (SQLite stores naive UTC, PostgreSQL timestamptz).
    now = datetime.now(UTC)
    conn.execute(
        _log.insert().values(
            at=now.replace(tzinfo=None) if conn.dialect.name == "sqlite" else now,
            actor="migration:0009",
            action="audit.redacted",
            entity_type="audit_log",
            after={"entries": len(changes), "personal_fields": "names kept, values removed"},
        )
    )


@contextmanager
def _append_only_lifted(conn: sa.Connection) -> Iterator[None]:
    """The append-only triggers lifted for the block, inside this transaction."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only"))
        yield
        conn.execute(sa.text("ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only"))
        return
    guard = conn.execute(
        sa.text(
            "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = 'audit_log_no_update'"
        )
    ).scalar_one()
    conn.execute(sa.text("DROP TRIGGER audit_log_no_update"))
    yield
    conn.execute(sa.text(guard))


def downgrade() -> None:
    pass  # redacted values are gone for good; the schema did not change
