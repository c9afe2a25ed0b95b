"""Plan stop ids are never reused (SQLite AUTOINCREMENT).

A re-plan deletes a day's planned stops and writes new ones. SQLite hands the highest
deleted rowids out again, so a crew's report on a stop that a re-plan removed could land
on another stop (of its own vehicle: the wrong ride marked done). PostgreSQL's sequences
never reuse ids; there is nothing to do there.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _recreate(autoincrement: bool) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    with op.batch_alter_table(
        "plan_stops", recreate="always", table_kwargs={"sqlite_autoincrement": autoincrement}
    ):
        pass


def upgrade() -> None:
    _recreate(True)


def downgrade() -> None:
    _recreate(False)
