"""Vehicles carry the identifier their Traccar Client / OsmAnd phone reports.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("vehicles", schema=None) as batch_op:
        batch_op.add_column(sa.Column("device_id", sa.String(length=128), nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_vehicles_device_id"), ["device_id"])


def downgrade() -> None:
    with op.batch_alter_table("vehicles", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_vehicles_device_id"), type_="unique")
        batch_op.drop_column("device_id")
