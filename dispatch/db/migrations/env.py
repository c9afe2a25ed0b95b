"""Alembic environment: always driven from dispatch.db.migrate with a live connection."""

from __future__ import annotations

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
with context.begin_transaction():
    context.run_migrations()
