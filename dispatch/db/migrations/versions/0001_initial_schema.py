"""Initial schema: organisations, users, fleet, hospitals, incidents, assignments,
patients, transport bookings, GPS history and the append-only audit log.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "organisations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "dispatch_centre",
                "care_centre",
                "hospital_operator",
                name="organisation_kind",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organisations")),
    )
    op.create_table(
        "hospitals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("name_local", sa.String(length=200), nullable=True),
        sa.Column("lat", sa.Double(), nullable=False),
        sa.Column("lon", sa.Double(), nullable=False),
        sa.Column("address", sa.String(length=500), nullable=True),
        sa.Column("has_emergency_department", sa.Boolean(), nullable=False),
        sa.Column(
            "capabilities", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column("on_diversion", sa.Boolean(), nullable=False),
        sa.Column("diversion_reason", sa.String(length=500), nullable=True),
        sa.Column("available_er_beds", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_hospitals_organisation_id_organisations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hospitals")),
    )
    op.create_index(
        op.f("ix_hospitals_organisation_id"), "hospitals", ["organisation_id"], unique=False
    )
    op.create_table(
        "patients",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("full_name", sa.String(length=200), nullable=False),
        sa.Column("phone", sa.String(length=32), nullable=True),
        sa.Column("date_of_birth", sa.Date(), nullable=True),
        sa.Column(
            "mobility",
            sa.Enum(
                "ambulatory",
                "wheelchair",
                "stretcher",
                name="mobility",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("needs_escort", sa.Boolean(), nullable=False),
        sa.Column("home_lat", sa.Double(), nullable=True),
        sa.Column("home_lon", sa.Double(), nullable=True),
        sa.Column("home_address", sa.String(length=500), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_patients_organisation_id_organisations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_patients")),
    )
    op.create_index(
        op.f("ix_patients_organisation_id"), "patients", ["organisation_id"], unique=False
    )
    op.create_table(
        "stations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("lat", sa.Double(), nullable=False),
        sa.Column("lon", sa.Double(), nullable=False),
        sa.Column("address", sa.String(length=500), nullable=True),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_stations_organisation_id_organisations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stations")),
    )
    op.create_index(
        op.f("ix_stations_organisation_id"), "stations", ["organisation_id"], unique=False
    )
    op.create_table(
        "vehicles",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("call_sign", sa.String(length=32), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "als",
                "bls",
                "transport_van",
                "motorbike",
                name="vehicle_kind",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("registration", sa.String(length=32), nullable=True),
        sa.Column("seats_seated", sa.Integer(), nullable=False),
        sa.Column("seats_wheelchair", sa.Integer(), nullable=False),
        sa.Column("seats_stretcher", sa.Integer(), nullable=False),
        sa.Column("station_id", sa.Integer(), nullable=True),
        sa.Column(
            "state",
            sa.Enum(
                "off_duty",
                "available",
                "dispatched",
                "en_route",
                "on_scene",
                "transporting",
                "at_destination",
                "returning",
                name="vehicle_state",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("serves_transports", sa.Boolean(), nullable=False),
        sa.Column("device_token_hash", sa.String(length=64), nullable=True),
        sa.Column("device_token_issued_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_lat", sa.Double(), nullable=True),
        sa.Column("last_lon", sa.Double(), nullable=True),
        sa.Column("last_fix_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "seats_seated >= 0 AND seats_wheelchair >= 0 AND seats_stretcher >= 0",
            name=op.f("ck_vehicles_seats_non_negative"),
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_vehicles_organisation_id_organisations"),
        ),
        sa.ForeignKeyConstraint(
            ["station_id"],
            ["stations.id"],
            name=op.f("fk_vehicles_station_id_stations"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vehicles")),
        sa.UniqueConstraint("device_token_hash", name=op.f("uq_vehicles_device_token_hash")),
        sa.UniqueConstraint(
            "organisation_id", "call_sign", name=op.f("uq_vehicles_organisation_id_call_sign")
        ),
    )
    op.create_index(
        op.f("ix_vehicles_organisation_id"), "vehicles", ["organisation_id"], unique=False
    )
    op.create_index(op.f("ix_vehicles_station_id"), "vehicles", ["station_id"], unique=False)
    op.create_table(
        "position_fixes",
        sa.Column("vehicle_id", sa.Integer(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lat", sa.Double(), nullable=False),
        sa.Column("lon", sa.Double(), nullable=False),
        sa.Column("speed_mps", sa.Double(), nullable=True),
        sa.Column("heading", sa.Double(), nullable=True),
        sa.Column("accuracy_m", sa.Double(), nullable=True),
        sa.Column("battery_pct", sa.Double(), nullable=True),
        sa.ForeignKeyConstraint(
            ["vehicle_id"],
            ["vehicles.id"],
            name=op.f("fk_position_fixes_vehicle_id_vehicles"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("vehicle_id", "recorded_at", name=op.f("pk_position_fixes")),
    )
    op.create_index(
        "ix_position_fixes_recorded_at", "position_fixes", ["recorded_at"], unique=False
    )
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("full_name", sa.String(length=200), nullable=False),
        sa.Column(
            "role",
            sa.Enum(
                "dispatcher",
                "supervisor",
                "driver",
                "care_centre",
                "admin",
                name="role",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("vehicle_id", sa.Integer(), nullable=True),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_users_organisation_id_organisations"),
        ),
        sa.ForeignKeyConstraint(
            ["vehicle_id"],
            ["vehicles.id"],
            name=op.f("fk_users_vehicle_id_vehicles"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("username", name=op.f("uq_users_username")),
    )
    op.create_index(op.f("ix_users_organisation_id"), "users", ["organisation_id"], unique=False)
    op.create_index(op.f("ix_users_vehicle_id"), "users", ["vehicle_id"], unique=False)
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_user_id", sa.Integer(), nullable=True),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("entity_type", sa.String(length=64), nullable=False),
        sa.Column("entity_id", sa.BigInteger(), nullable=True),
        sa.Column(
            "before", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=True
        ),
        sa.Column("after", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=True),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["actor_user_id"], ["users.id"], name=op.f("fk_audit_log_actor_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index(op.f("ix_audit_log_at"), "audit_log", ["at"], unique=False)
    op.create_index("ix_audit_log_entity", "audit_log", ["entity_type", "entity_id"], unique=False)
    op.create_table(
        "incidents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("caller_phone", sa.String(length=32), nullable=True),
        sa.Column("lat", sa.Double(), nullable=False),
        sa.Column("lon", sa.Double(), nullable=False),
        sa.Column("address_text", sa.String(length=500), nullable=True),
        sa.Column("chief_complaint", sa.String(length=100), nullable=False),
        sa.Column(
            "triage",
            sa.Enum(
                "red",
                "yellow",
                "green",
                "white",
                "black",
                name="triage",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("patient_count", sa.Integer(), nullable=False),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "dispatched",
                "on_scene",
                "transporting",
                "closed",
                "cancelled",
                name="incident_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "patient_count >= 0", name=op.f("ck_incidents_patient_count_non_negative")
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_incidents_created_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_incidents_organisation_id_organisations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incidents")),
    )
    op.create_index(
        op.f("ix_incidents_organisation_id"), "incidents", ["organisation_id"], unique=False
    )
    op.create_index(
        "ix_incidents_status_created_at", "incidents", ["status", "created_at"], unique=False
    )
    op.create_table(
        "transport_bookings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("pickup_lat", sa.Double(), nullable=False),
        sa.Column("pickup_lon", sa.Double(), nullable=False),
        sa.Column("pickup_address", sa.String(length=500), nullable=True),
        sa.Column("destination_hospital_id", sa.Integer(), nullable=True),
        sa.Column("destination_lat", sa.Double(), nullable=False),
        sa.Column("destination_lon", sa.Double(), nullable=False),
        sa.Column("destination_address", sa.String(length=500), nullable=True),
        sa.Column("appointment_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("pickup_window_start", sa.DateTime(timezone=True), nullable=True),
        sa.Column("pickup_window_end", sa.DateTime(timezone=True), nullable=True),
        sa.Column("return_of_id", sa.Integer(), nullable=True),
        sa.Column("recurrence_rule", sa.String(length=200), nullable=True),
        sa.Column("companions", sa.Integer(), nullable=False),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "requested",
                "planned",
                "vehicle_en_route",
                "on_board",
                "completed",
                "cancelled",
                "no_show",
                name="booking_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "outcome",
            sa.Enum(
                "completed",
                "no_show",
                "cancelled",
                "late_cancel",
                name="booking_outcome",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=True,
        ),
        sa.Column("planned_pickup_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "appointment_at IS NOT NULL OR "
            "(pickup_window_start IS NOT NULL AND pickup_window_end IS NOT NULL)",
            name=op.f("ck_transport_bookings_has_time"),
        ),
        sa.CheckConstraint(
            "companions >= 0", name=op.f("ck_transport_bookings_companions_non_negative")
        ),
        sa.CheckConstraint(
            "pickup_window_end IS NULL OR pickup_window_start IS NULL "
            "OR pickup_window_end >= pickup_window_start",
            name=op.f("ck_transport_bookings_window_ordered"),
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_transport_bookings_created_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["destination_hospital_id"],
            ["hospitals.id"],
            name=op.f("fk_transport_bookings_destination_hospital_id_hospitals"),
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_transport_bookings_organisation_id_organisations"),
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patients.id"], name=op.f("fk_transport_bookings_patient_id_patients")
        ),
        sa.ForeignKeyConstraint(
            ["return_of_id"],
            ["transport_bookings.id"],
            name=op.f("fk_transport_bookings_return_of_id_transport_bookings"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transport_bookings")),
    )
    op.create_index(
        op.f("ix_transport_bookings_organisation_id"),
        "transport_bookings",
        ["organisation_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_transport_bookings_patient_id"), "transport_bookings", ["patient_id"], unique=False
    )
    op.create_index(
        op.f("ix_transport_bookings_return_of_id"),
        "transport_bookings",
        ["return_of_id"],
        unique=False,
    )
    op.create_table(
        "assignments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("vehicle_id", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "notified",
                "acknowledged",
                "en_route",
                "on_scene",
                "at_patient",
                "left_scene",
                "at_destination",
                "handed_over",
                "back_in_service",
                "cancelled",
                name="assignment_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("assigned_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("notified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("notified_received_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_received_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("en_route_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("en_route_received_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("on_scene_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("on_scene_received_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("at_patient_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("at_patient_received_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("left_scene_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("left_scene_received_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("at_destination_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("at_destination_received_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("handed_over_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("handed_over_received_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("back_in_service_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("back_in_service_received_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancelled_received_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["assigned_by_id"], ["users.id"], name=op.f("fk_assignments_assigned_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incidents.id"], name=op.f("fk_assignments_incident_id_incidents")
        ),
        sa.ForeignKeyConstraint(
            ["vehicle_id"], ["vehicles.id"], name=op.f("fk_assignments_vehicle_id_vehicles")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assignments")),
    )
    op.create_index(
        op.f("ix_assignments_incident_id"), "assignments", ["incident_id"], unique=False
    )
    op.create_index(op.f("ix_assignments_vehicle_id"), "assignments", ["vehicle_id"], unique=False)
    op.create_index(
        "uq_assignments_vehicle_active",
        "assignments",
        ["vehicle_id"],
        unique=True,
        sqlite_where=sa.text("is_active"),
        postgresql_where=sa.text("is_active"),
    )

    _create_audit_guard()


AUDIT_GUARD_MESSAGE = "audit_log is append-only"


def _create_audit_guard() -> None:
    """Refuse UPDATE and DELETE on the audit log inside the database itself, so no code
    path, however buggy, can rewrite history."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN RAISE EXCEPTION '{AUDIT_GUARD_MESSAGE}'; END $$"
        )
        op.execute(
            "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log "
            "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()"
        )
    else:
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_log_no_{verb.lower()} BEFORE {verb} ON audit_log "
                f"BEGIN SELECT RAISE(ABORT, '{AUDIT_GUARD_MESSAGE}'); END"
            )


def _drop_audit_guard() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log")
        op.execute("DROP FUNCTION IF EXISTS audit_log_append_only()")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_delete")


def downgrade() -> None:
    _drop_audit_guard()
    op.drop_index(
        "uq_assignments_vehicle_active",
        "assignments",
        sqlite_where=sa.text("is_active"),
        postgresql_where=sa.text("is_active"),
    )
    op.drop_index(op.f("ix_assignments_vehicle_id"), "assignments")
    op.drop_index(op.f("ix_assignments_incident_id"), "assignments")
    op.drop_table("assignments")
    op.drop_index(op.f("ix_transport_bookings_return_of_id"), "transport_bookings")
    op.drop_index(op.f("ix_transport_bookings_patient_id"), "transport_bookings")
    op.drop_index(op.f("ix_transport_bookings_organisation_id"), "transport_bookings")
    op.drop_table("transport_bookings")
    op.drop_index("ix_incidents_status_created_at", "incidents")
    op.drop_index(op.f("ix_incidents_organisation_id"), "incidents")
    op.drop_table("incidents")
    op.drop_index("ix_audit_log_entity", "audit_log")
    op.drop_index(op.f("ix_audit_log_at"), "audit_log")
    op.drop_table("audit_log")
    op.drop_index(op.f("ix_users_vehicle_id"), "users")
    op.drop_index(op.f("ix_users_organisation_id"), "users")
    op.drop_table("users")
    op.drop_index("ix_position_fixes_recorded_at", "position_fixes")
    op.drop_table("position_fixes")
    op.drop_index(op.f("ix_vehicles_station_id"), "vehicles")
    op.drop_index(op.f("ix_vehicles_organisation_id"), "vehicles")
    op.drop_table("vehicles")
    op.drop_index(op.f("ix_stations_organisation_id"), "stations")
    op.drop_table("stations")
    op.drop_index(op.f("ix_patients_organisation_id"), "patients")
    op.drop_table("patients")
    op.drop_index(op.f("ix_hospitals_organisation_id"), "hospitals")
    op.drop_table("hospitals")
    op.drop_table("organisations")
