"""Transport planning: shifts with depots and breaks, recurring series, the service
day and unserved reason of a ride, and the planned stops (manifests).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "transport_shifts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("vehicle_id", sa.Integer(), nullable=False),
        sa.Column("service_date", sa.Date(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("depot_lat", sa.Double(), nullable=False),
        sa.Column("depot_lon", sa.Double(), nullable=False),
        sa.Column(
            "breaks", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.CheckConstraint(
            "ends_at > starts_at", name=op.f("ck_transport_shifts_ends_after_start")
        ),
        sa.ForeignKeyConstraint(
            ["vehicle_id"],
            ["vehicles.id"],
            name=op.f("fk_transport_shifts_vehicle_id_vehicles"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transport_shifts")),
        sa.UniqueConstraint(
            "vehicle_id", "service_date", name=op.f("uq_transport_shifts_vehicle_id_service_date")
        ),
    )
    with op.batch_alter_table("transport_shifts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_transport_shifts_service_date"), ["service_date"], unique=False
        )

    op.create_table(
        "plan_stops",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("service_date", sa.Date(), nullable=False),
        sa.Column("vehicle_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("booking_id", sa.Integer(), nullable=True),
        sa.Column("lat", sa.Double(), nullable=True),
        sa.Column("lon", sa.Double(), nullable=True),
        sa.Column("planned_arrival", sa.DateTime(timezone=True), nullable=False),
        sa.Column("planned_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("planned_departure", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["booking_id"],
            ["transport_bookings.id"],
            name=op.f("fk_plan_stops_booking_id_transport_bookings"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["vehicle_id"],
            ["vehicles.id"],
            name=op.f("fk_plan_stops_vehicle_id_vehicles"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plan_stops")),
    )
    with op.batch_alter_table("plan_stops", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_plan_stops_booking_id"), ["booking_id"], unique=False)
        batch_op.create_index(
            "ix_plan_stops_day_vehicle", ["service_date", "vehicle_id", "seq"], unique=False
        )

    with op.batch_alter_table("transport_bookings", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("is_series", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column("series_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("service_date", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("unserved_reason", sa.String(length=500), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_transport_bookings_series_id"), ["series_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_transport_bookings_service_date"), ["service_date"], unique=False
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_transport_bookings_series_id_transport_bookings"),
            "transport_bookings",
            ["series_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("transport_bookings", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_transport_bookings_series_id_transport_bookings"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_transport_bookings_service_date"))
        batch_op.drop_index(batch_op.f("ix_transport_bookings_series_id"))
        batch_op.drop_column("unserved_reason")
        batch_op.drop_column("service_date")
        batch_op.drop_column("series_id")
        batch_op.drop_column("is_series")

    with op.batch_alter_table("plan_stops", schema=None) as batch_op:
        batch_op.drop_index("ix_plan_stops_day_vehicle")
        batch_op.drop_index(batch_op.f("ix_plan_stops_booking_id"))

    op.drop_table("plan_stops")
    with op.batch_alter_table("transport_shifts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_transport_shifts_service_date"))

    op.drop_table("transport_shifts")
