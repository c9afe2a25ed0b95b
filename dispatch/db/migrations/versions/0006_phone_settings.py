"""Phones: per-vehicle speed unit, fix attributes, crew-safety alarms (issue 17).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("vehicles", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "speed_unit",
                sa.Enum(
                    "knots",
                    "mps",
                    name="speed_unit",
                    native_enum=False,
                    create_constraint=True,
                    length=32,
                ),
                server_default="knots",
                nullable=False,
            )
        )
    # Nullable, no default: instant on PostgreSQL however large the history is.
    with op.batch_alter_table("position_fixes", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "attributes",
                sa.Text().with_variant(postgresql.JSONB(), "postgresql"),
                nullable=True,
            )
        )
    op.create_table(
        "crew_alarms",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("vehicle_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("is_open", sa.Boolean(), nullable=False),
        sa.Column("raised_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("device_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("repeats", sa.Integer(), nullable=False),
        sa.Column("lat", sa.Double(), nullable=True),
        sa.Column("lon", sa.Double(), nullable=True),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_by_user_id", sa.Integer(), nullable=True),
        sa.Column("acknowledged_by", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["acknowledged_by_user_id"],
            ["users.id"],
            name=op.f("fk_crew_alarms_acknowledged_by_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["vehicle_id"],
            ["vehicles.id"],
            name=op.f("fk_crew_alarms_vehicle_id_vehicles"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_crew_alarms")),
    )
    op.create_index(op.f("ix_crew_alarms_raised_at"), "crew_alarms", ["raised_at"], unique=False)
    op.create_index(op.f("ix_crew_alarms_vehicle_id"), "crew_alarms", ["vehicle_id"], unique=False)
    op.create_index(
        "uq_crew_alarms_vehicle_open",
        "crew_alarms",
        ["vehicle_id"],
        unique=True,
        sqlite_where=sa.text("is_open"),
        postgresql_where=sa.text("is_open"),
    )


def downgrade() -> None:
    op.drop_index(
        "uq_crew_alarms_vehicle_open",
        table_name="crew_alarms",
        sqlite_where=sa.text("is_open"),
        postgresql_where=sa.text("is_open"),
    )
    op.drop_index(op.f("ix_crew_alarms_vehicle_id"), table_name="crew_alarms")
    op.drop_index(op.f("ix_crew_alarms_raised_at"), table_name="crew_alarms")
    op.drop_table("crew_alarms")
    with op.batch_alter_table("position_fixes", schema=None) as batch_op:
        batch_op.drop_column("attributes")
    with op.batch_alter_table("vehicles", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_vehicles_speed_unit"), type_="check")
        batch_op.drop_column("speed_unit")
