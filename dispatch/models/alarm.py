from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from dispatch.models.base import Base
from dispatch.models.privacy import NOT_PERSONAL
from dispatch.models.types import UTCDateTime


class CrewAlarm(Base):
    """A crew-safety alarm (SOS) from a unit's phone, open until a dispatcher acknowledges
    it. At most one *open* alarm per vehicle: a partial unique index makes the database
    itself fold a repeated SOS into the open one (``repeats``) instead of a second alert."""

    __tablename__ = "crew_alarms"
    __table_args__ = (
        Index(
            "uq_crew_alarms_vehicle_open",
            "vehicle_id",
            unique=True,
            sqlite_where=text("is_open"),
            postgresql_where=text("is_open"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    vehicle_id: Mapped[int] = mapped_column(
        ForeignKey("vehicles.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(32))  # "sos"
    #: How it came: "osmand" (Traccar Client / OsmAnd) or "crew" (the crew page's button).
    source: Mapped[str] = mapped_column(String(16))
    is_open: Mapped[bool] = mapped_column(Boolean, default=True)
    raised_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    #: The phone's own time of the alarm, when it sent one (a resend carries the same).
    device_time: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_at: Mapped[datetime] = mapped_column(UTCDateTime())
    repeats: Mapped[int] = mapped_column(Integer, default=0)
    #: Where the unit was (operational, like its fixes).
    lat: Mapped[float | None] = mapped_column(info=NOT_PERSONAL)
    lon: Mapped[float | None] = mapped_column(info=NOT_PERSONAL)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    acknowledged_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    #: The dispatcher's login name: how the log names who acted, like ``users.username``.
    acknowledged_by: Mapped[str | None] = mapped_column(String(200), info=NOT_PERSONAL)
