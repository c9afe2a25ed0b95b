"""Centres in a hierarchy, stations' operators and types, station staff, mutual aid, and
offers (issue 19).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ROLES_BEFORE = ("dispatcher", "supervisor", "driver", "care_centre", "admin")
_ROLES = (*_ROLES_BEFORE, "station")
_TRIAGE = ("red", "yellow", "green", "white", "black")
_OFFER_STATUSES = ("pending", "accepted", "declined", "timed_out", "withdrawn")
_REASONS = ("busy", "no_crew", "vehicle_fault", "too_far", "other")
_PENDING = sa.text("status = 'pending'")
_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _enum(name: str, *values: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=32)


def _username_index() -> None:
    op.create_index(
        "uq_users_username_lower", "users", [sa.literal_column("lower(username)")], unique=True
    )


def upgrade() -> None:
    with op.batch_alter_table("organisations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("parent_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column(
                "level", _enum("centre_level", "province", "district", "subdistrict"), nullable=True
            )
        )
        batch_op.add_column(sa.Column("offer_timeouts_s", _JSON, nullable=True))
        batch_op.create_index(batch_op.f("ix_organisations_parent_id"), ["parent_id"])
        batch_op.create_foreign_key(
            batch_op.f("fk_organisations_parent_id_organisations"),
            "organisations",
            ["parent_id"],
            ["id"],
            ondelete="SET NULL",
        )
    with op.batch_alter_table("stations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("operator_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column(
                "station_type",
                _enum("station_type", "hospital", "shared", "centre"),
                server_default="centre",
                nullable=False,
            )
        )
        batch_op.create_index(batch_op.f("ix_stations_operator_id"), ["operator_id"])
        batch_op.create_foreign_key(
            batch_op.f("fk_stations_operator_id_organisations"),
            "organisations",
            ["operator_id"],
            ["id"],
            ondelete="SET NULL",
        )
    with op.batch_alter_table("vehicles", schema=None) as batch_op:
        batch_op.add_column(sa.Column("out_of_service_reason", sa.String(length=200)))
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("mutual_aid", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    # SQLite rebuilds the table in a batch and would lose this expression index.
    op.drop_index("uq_users_username_lower", table_name="users")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("station_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_users_station_id"), ["station_id"])
        batch_op.create_foreign_key(
            batch_op.f("fk_users_station_id_stations"),
            "stations",
            ["station_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch_op.drop_constraint(batch_op.f("ck_users_role"), type_="check")
        batch_op.create_check_constraint(batch_op.f("ck_users_role"), sa.column("role").in_(_ROLES))
    _username_index()
    op.create_table(
        "offers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("vehicle_id", sa.Integer(), nullable=False),
        sa.Column("station_id", sa.Integer(), nullable=True),
        sa.Column("chain_id", sa.Integer(), nullable=True),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("triage", _enum("offer_triage", *_TRIAGE), nullable=False),
        sa.Column("status", _enum("offer_status", *_OFFER_STATUSES), nullable=False),
        sa.Column("recommended_rank", sa.Integer(), nullable=True),
        sa.Column("eta_s", sa.Integer(), nullable=True),
        sa.Column("unit_state", sa.String(length=32), nullable=False),
        sa.Column("auto", sa.Boolean(), nullable=False),
        sa.Column("offered_by", sa.String(length=200), nullable=False),
        sa.Column("offered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("answered_by", sa.String(length=200), nullable=True),
        sa.Column("decline_reason", _enum("decline_reason", *_REASONS), nullable=True),
        sa.Column("note", sa.String(length=500), nullable=True),
        sa.Column("assignment_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["assignment_id"], ["assignments.id"], name=op.f("fk_offers_assignment_id_assignments")
        ),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incidents.id"], name=op.f("fk_offers_incident_id_incidents")
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_offers_organisation_id_organisations"),
        ),
        sa.ForeignKeyConstraint(
            ["station_id"],
            ["stations.id"],
            name=op.f("fk_offers_station_id_stations"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["vehicle_id"],
            ["vehicles.id"],
            name=op.f("fk_offers_vehicle_id_vehicles"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_offers")),
    )
    for column in ("chain_id", "incident_id", "organisation_id", "station_id", "vehicle_id"):
        op.create_index(op.f(f"ix_offers_{column}"), "offers", [column], unique=False)
    op.create_index("ix_offers_status_expires_at", "offers", ["status", "expires_at"])
    for column in ("incident_id", "vehicle_id"):
        op.create_index(
            f"uq_offers_{column.removesuffix('_id')}_pending",
            "offers",
            [column],
            unique=True,
            sqlite_where=_PENDING,
            postgresql_where=_PENDING,
        )


def downgrade() -> None:
    for column in ("incident_id", "vehicle_id"):
        op.drop_index(
            f"uq_offers_{column.removesuffix('_id')}_pending",
            table_name="offers",
            sqlite_where=_PENDING,
            postgresql_where=_PENDING,
        )
    op.drop_index("ix_offers_status_expires_at", table_name="offers")
    for column in ("chain_id", "incident_id", "organisation_id", "station_id", "vehicle_id"):
        op.drop_index(op.f(f"ix_offers_{column}"), table_name="offers")
    op.drop_table("offers")
    op.drop_index("uq_users_username_lower", table_name="users")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_users_role"), type_="check")
        batch_op.create_check_constraint(
            batch_op.f("ck_users_role"), sa.column("role").in_(_ROLES_BEFORE)
        )
        batch_op.drop_constraint(batch_op.f("fk_users_station_id_stations"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_users_station_id"))
        batch_op.drop_column("station_id")
    _username_index()
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.drop_column("mutual_aid")
    with op.batch_alter_table("vehicles", schema=None) as batch_op:
        batch_op.drop_column("out_of_service_reason")
    with op.batch_alter_table("stations", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_stations_operator_id_organisations"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_stations_operator_id"))
        batch_op.drop_constraint(batch_op.f("ck_stations_station_type"), type_="check")
        batch_op.drop_column("station_type")
        batch_op.drop_column("operator_id")
    with op.batch_alter_table("organisations", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_organisations_parent_id_organisations"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_organisations_parent_id"))
        batch_op.drop_constraint(batch_op.f("ck_organisations_centre_level"), type_="check")
        batch_op.drop_column("offer_timeouts_s")
        batch_op.drop_column("level")
        batch_op.drop_column("parent_id")
