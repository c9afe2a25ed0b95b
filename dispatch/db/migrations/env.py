"""Alembic environment: always driven from dispatch.db.migrate with a live connection."""

from __future__ import annotations

import warnings

from alembic import context

import dispatch.models  # noqa: F401  (registers every table)
from dispatch.models.base import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with `dispatch db upgrade` (dispatch.db.migrate)")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction(), warnings.catch_warnings():
    # SQLite's batch mode reflects tables and cannot read the expression index on
    # lower(username) (0007 creates it with SQL); it is kept, the warning is noise.
    warnings.filterwarnings(
        "ignore", message="Skipped unsupported reflection of expression-based index"
    )
    context.run_migrations()
