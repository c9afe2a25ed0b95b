from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, text
from sqlalchemy.orm import Mapped, mapped_column

from dispatch.models.base import Base
from dispatch.models.enums import AssignmentStatus
from dispatch.models.privacy import NOT_PERSONAL
from dispatch.models.types import JSONType, UTCDateTime, str_enum, utcnow

#: NEMSIS-style milestones that carry a time. Each has ``<name>_at`` (the time the device
#: recorded, which may be hours earlier if the phone was offline) and
#: ``<name>_received_at`` (when the server learned of it).
MILESTONES = (
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
)


class Assignment(Base):
    """One unit sent to one incident. At most one *active* assignment per vehicle: a
    partial unique index makes the database itself refuse a double booking."""

    __tablename__ = "assignments"
    __table_args__ = (
        Index(
            "uq_assignments_vehicle_active",
            "vehicle_id",
            unique=True,
            sqlite_where=text("is_active"),
            postgresql_where=text("is_active"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    vehicle_id: Mapped[int] = mapped_column(ForeignKey("vehicles.id"), index=True)
    status: Mapped[AssignmentStatus] = mapped_column(
        str_enum(AssignmentStatus, "assignment_status"), default=AssignmentStatus.NOTIFIED
    )
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    assigned_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    #: Position of the unit in the recommendation it was chosen from (1 = best), if any.
    recommended_rank: Mapped[int | None] = mapped_column(Integer)
    auto_dispatched: Mapped[bool] = mapped_column(Boolean, default=False)
    preempted_booking_ids: Mapped[list[Any] | None] = mapped_column(JSONType, info=NOT_PERSONAL)
    destination_hospital_id: Mapped[int | None] = mapped_column(ForeignKey("hospitals.id"))
    #: Set once when dispatchers were alerted that the crew did not acknowledge in time.
    ack_alerted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    notified_received_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    acknowledged_received_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    en_route_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    en_route_received_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    on_scene_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    on_scene_received_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    at_patient_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    at_patient_received_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    left_scene_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    left_scene_received_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    at_destination_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    at_destination_received_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    handed_over_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    handed_over_received_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    back_in_service_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    back_in_service_received_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cancelled_received_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
