from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from dispatch.models.base import Base
from dispatch.models.privacy import NOT_PERSONAL
from dispatch.models.types import JSONType, UTCDateTime, utcnow


class Hospital(Base):
    """A destination for patients, with the state a dispatcher routes by."""

    __tablename__ = "hospitals"

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"), index=True)
    name: Mapped[str] = mapped_column(String(200), info=NOT_PERSONAL)
    name_local: Mapped[str | None] = mapped_column(String(200), info=NOT_PERSONAL)
    lat: Mapped[float] = mapped_column(info=NOT_PERSONAL)
    lon: Mapped[float] = mapped_column(info=NOT_PERSONAL)
    address: Mapped[str | None] = mapped_column(String(500), info=NOT_PERSONAL)
    has_emergency_department: Mapped[bool] = mapped_column(Boolean, default=True)
    #: e.g. ["trauma", "stroke", "cardiac", "paediatric", "burns"]
    capabilities: Mapped[list[Any]] = mapped_column(JSONType, default=list, info=NOT_PERSONAL)
    on_diversion: Mapped[bool] = mapped_column(Boolean, default=False)
    diversion_reason: Mapped[str | None] = mapped_column(String(500), info=NOT_PERSONAL)
    available_er_beds: Mapped[int | None] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
