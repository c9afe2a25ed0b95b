"""Standby posts and move-up suggestions (issue 18), and each centre's move-up mode.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_KINDS = ("hospital", "fire_station", "parking", "other")
_STATUSES = ("suggested", "accepted", "arrived", "rejected", "expired", "ended")
_OPEN = sa.text("status IN ('suggested', 'accepted')")


def _enum(name: str, *values: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=32)


def upgrade() -> None:
    with op.batch_alter_table("organisations", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "moveup_mode",
                _enum("moveup_mode", "off", "suggest", "auto"),
                server_default="suggest",
                nullable=False,
            )
        )
    op.create_table(
        "standby_posts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", _enum("post_kind", *_KINDS), nullable=False),
        sa.Column("lat", sa.Double(), nullable=False),
        sa.Column("lon", sa.Double(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_standby_posts_organisation_id_organisations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_standby_posts")),
    )
    op.create_index(
        op.f("ix_standby_posts_organisation_id"), "standby_posts", ["organisation_id"], unique=False
    )
    op.create_table(
        "moveups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("vehicle_id", sa.Integer(), nullable=False),
        sa.Column("site_key", sa.String(length=32), nullable=False),
        sa.Column("site_name", sa.String(length=200), nullable=False),
        sa.Column("lat", sa.Double(), nullable=False),
        sa.Column("lon", sa.Double(), nullable=False),
        sa.Column("gain", sa.Float(), nullable=False),
        sa.Column(
            "gain_rows", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("drive_s", sa.Integer(), nullable=True),
        sa.Column(
            "status",
            _enum("moveup_status", *_STATUSES),
            nullable=False,
        ),
        sa.Column("auto", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by_user_id", sa.Integer(), nullable=True),
        sa.Column("decided_by", sa.String(length=200), nullable=True),
        sa.Column("note", sa.String(length=500), nullable=True),
        sa.Column("arrived_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["decided_by_user_id"],
            ["users.id"],
            name=op.f("fk_moveups_decided_by_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_moveups_organisation_id_organisations"),
        ),
        sa.ForeignKeyConstraint(
            ["vehicle_id"],
            ["vehicles.id"],
            name=op.f("fk_moveups_vehicle_id_vehicles"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_moveups")),
    )
    op.create_index(op.f("ix_moveups_created_at"), "moveups", ["created_at"], unique=False)
    op.create_index(
        op.f("ix_moveups_organisation_id"), "moveups", ["organisation_id"], unique=False
    )
    op.create_index(op.f("ix_moveups_status"), "moveups", ["status"], unique=False)
    op.create_index(op.f("ix_moveups_vehicle_id"), "moveups", ["vehicle_id"], unique=False)
    op.create_index(
        "uq_moveups_vehicle_open",
        "moveups",
        ["vehicle_id"],
        unique=True,
        sqlite_where=_OPEN,
        postgresql_where=_OPEN,
    )


def downgrade() -> None:
    op.drop_index(
        "uq_moveups_vehicle_open", table_name="moveups", sqlite_where=_OPEN, postgresql_where=_OPEN
    )
    op.drop_index(op.f("ix_moveups_vehicle_id"), table_name="moveups")
    op.drop_index(op.f("ix_moveups_status"), table_name="moveups")
    op.drop_index(op.f("ix_moveups_organisation_id"), table_name="moveups")
    op.drop_index(op.f("ix_moveups_created_at"), table_name="moveups")
    op.drop_table("moveups")
    op.drop_index(op.f("ix_standby_posts_organisation_id"), table_name="standby_posts")
    op.drop_table("standby_posts")
    with op.batch_alter_table("organisations", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_organisations_moveup_mode"), type_="check")
        batch_op.drop_column("moveup_mode")
