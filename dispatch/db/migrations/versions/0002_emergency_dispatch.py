"""Emergency dispatch: triage suggestion and override, assignment decisions and ack
alerts, the vehicle a booked ride is planned on.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("assignments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("recommended_rank", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("auto_dispatched", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(
            sa.Column(
                "preempted_booking_ids",
                sa.JSON().with_variant(postgresql.JSONB(), "postgresql"),
                nullable=True,
            )
        )
        batch_op.add_column(sa.Column("destination_hospital_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("ack_alerted_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_assignments_destination_hospital_id_hospitals"),
            "hospitals",
            ["destination_hospital_id"],
            ["id"],
        )

    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "triage_suggested",
                sa.Enum(
                    "red",
                    "yellow",
                    "green",
                    "white",
                    "black",
                    name="triage_suggested",
                    native_enum=False,
                    create_constraint=True,
                    length=32,
                ),
                nullable=True,
            )
        )
        batch_op.add_column(
            sa.Column("triage_override_reason", sa.String(length=500), nullable=True)
        )
        batch_op.add_column(
            sa.Column(
                "required_capability",
                sa.Enum(
                    "als",
                    "bls",
                    "any",
                    name="capability",
                    native_enum=False,
                    create_constraint=True,
                    length=32,
                ),
                nullable=False,
                server_default="any",
            )
        )
        batch_op.add_column(
            sa.Column("needs_stretcher", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column("cancel_reason", sa.String(length=500), nullable=True))

    with op.batch_alter_table("transport_bookings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("vehicle_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("release_reason", sa.String(length=500), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_transport_bookings_vehicle_id"), ["vehicle_id"], unique=False
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_transport_bookings_vehicle_id_vehicles"),
            "vehicles",
            ["vehicle_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("transport_bookings", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_transport_bookings_vehicle_id_vehicles"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_transport_bookings_vehicle_id"))
        batch_op.drop_column("release_reason")
        batch_op.drop_column("vehicle_id")

    with op.batch_alter_table("incidents", schema=None) as batch_op:
        # The CHECK constraints name the columns; SQLite's table copy needs them gone first.
        batch_op.drop_constraint(op.f("ck_incidents_capability"), type_="check")
        batch_op.drop_constraint(op.f("ck_incidents_triage_suggested"), type_="check")
        batch_op.drop_column("cancel_reason")
        batch_op.drop_column("needs_stretcher")
        batch_op.drop_column("required_capability")
        batch_op.drop_column("triage_override_reason")
        batch_op.drop_column("triage_suggested")

    with op.batch_alter_table("assignments", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_assignments_destination_hospital_id_hospitals"), type_="foreignkey"
        )
        batch_op.drop_column("ack_alerted_at")
        batch_op.drop_column("destination_hospital_id")
        batch_op.drop_column("preempted_booking_ids")
        batch_op.drop_column("auto_dispatched")
        batch_op.drop_column("recommended_rank")
