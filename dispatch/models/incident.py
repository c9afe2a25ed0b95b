from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, Integer, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column

from dispatch.models.base import Base
from dispatch.models.enums import Capability, IncidentStatus, Triage
from dispatch.models.privacy import NOT_PERSONAL, PERSONAL
from dispatch.models.types import UTCDateTime, str_enum, utcnow


class Incident(Base):
    """An emergency call and the case that follows it."""

    __tablename__ = "incidents"
    __table_args__ = (
        CheckConstraint("patient_count >= 0", name="patient_count_non_negative"),
        Index("ix_incidents_status_created_at", "status", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    caller_phone: Mapped[str | None] = mapped_column(String(32), info=PERSONAL)
    #: Where the patient is: often their home, so personal.
    lat: Mapped[float] = mapped_column(info=PERSONAL)
    lon: Mapped[float] = mapped_column(info=PERSONAL)
    address_text: Mapped[str | None] = mapped_column(String(500), info=PERSONAL)
    chief_complaint: Mapped[str] = mapped_column(String(100), info=NOT_PERSONAL)  # a code
    triage: Mapped[Triage] = mapped_column(str_enum(Triage, "triage"))
    #: What the complaint table suggested; differs from ``triage`` when overridden.
    triage_suggested: Mapped[Triage | None] = mapped_column(str_enum(Triage, "triage_suggested"))
    triage_override_reason: Mapped[str | None] = mapped_column(String(500), info=PERSONAL)
    required_capability: Mapped[Capability] = mapped_column(
        str_enum(Capability, "capability"), default=Capability.ANY
    )
    needs_stretcher: Mapped[bool] = mapped_column(Boolean, default=False)
    cancel_reason: Mapped[str | None] = mapped_column(String(500), info=PERSONAL)
    patient_count: Mapped[int] = mapped_column(Integer, default=1)
    notes: Mapped[str | None] = mapped_column(Text, info=PERSONAL)
    status: Mapped[IncidentStatus] = mapped_column(
        str_enum(IncidentStatus, "incident_status"), default=IncidentStatus.PENDING
    )
    #: Mutual aid: units of every centre may be recommended, not only the owning centre's.
    mutual_aid: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
