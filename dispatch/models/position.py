from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index
from sqlalchemy.orm import Mapped, mapped_column

from dispatch.models.base import Base
from dispatch.models.types import UTCDateTime


class PositionFix(Base):
    """GPS history. The key (vehicle, recorded_at) makes a resent fix a no-op, because
    phones resend until they see a 2xx."""

    __tablename__ = "position_fixes"
    __table_args__ = (Index("ix_position_fixes_recorded_at", "recorded_at"),)

    vehicle_id: Mapped[int] = mapped_column(
        ForeignKey("vehicles.id", ondelete="CASCADE"), primary_key=True
    )
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    lat: Mapped[float] = mapped_column()
    lon: Mapped[float] = mapped_column()
    speed_mps: Mapped[float | None] = mapped_column()
    heading: Mapped[float | None] = mapped_column()
    accuracy_m: Mapped[float | None] = mapped_column()
    battery_pct: Mapped[float | None] = mapped_column()
