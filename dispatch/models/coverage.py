"""Standby posts and move-up suggestions: where idle units may wait besides their station,
and each relocation the system proposed, who decided it and whether the crew got there.

Why a row per suggestion (not just a unit's current post): every suggestion and decision
is audited, the control screen lists the open ones after a reload, and the limits that
stop ping-pong (a unit not moved again within minutes, moves per hour) are counted from
these rows, identically on every worker."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Float, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from dispatch.models.base import Base
from dispatch.models.privacy import NOT_PERSONAL
from dispatch.models.types import JSONType, UTCDateTime, str_enum, utcnow


class PostKind(enum.StrEnum):
    HOSPITAL = "hospital"
    FIRE_STATION = "fire_station"
    PARKING = "parking"
    OTHER = "other"


class StandbyPost(Base):
    """A place an idle unit may be sent to wait (a hospital bay, a fire station, a safe
    parking spot): a *site* of the coverage model next to the stations."""

    __tablename__ = "standby_posts"

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    name: Mapped[str] = mapped_column(String(200), info=NOT_PERSONAL)
    kind: Mapped[PostKind] = mapped_column(str_enum(PostKind, "post_kind"))
    lat: Mapped[float] = mapped_column(info=NOT_PERSONAL)
    lon: Mapped[float] = mapped_column(info=NOT_PERSONAL)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class MoveUpStatus(enum.StrEnum):
    SUGGESTED = "suggested"  # waiting for a dispatcher
    ACCEPTED = "accepted"  # the crew is told to go (or is on its way)
    ARRIVED = "arrived"  # the unit waits at the post
    REJECTED = "rejected"  # a dispatcher said no
    EXPIRED = "expired"  # overtaken by events before anyone decided
    ENDED = "ended"  # the unit left the post or the move (a job, off duty, a newer move)


#: Moves that may still change. A unit has at most one suggested or accepted move (a
#: partial unique index keeps it so) and the service ends a reached post when it moves on.
OPEN_MOVE_STATES = (MoveUpStatus.SUGGESTED, MoveUpStatus.ACCEPTED, MoveUpStatus.ARRIVED)


class MoveUp(Base):
    """One suggested relocation of an idle unit to a site (``station:3`` or ``post:7``)."""

    __tablename__ = "moveups"
    __table_args__ = (
        Index(
            "uq_moveups_vehicle_open",
            "vehicle_id",
            unique=True,
            sqlite_where=text("status IN ('suggested', 'accepted')"),
            postgresql_where=text("status IN ('suggested', 'accepted')"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    vehicle_id: Mapped[int] = mapped_column(
        ForeignKey("vehicles.id", ondelete="CASCADE"), index=True
    )
    site_key: Mapped[str] = mapped_column(String(32))
    site_name: Mapped[str] = mapped_column(String(200), info=NOT_PERSONAL)
    lat: Mapped[float] = mapped_column(info=NOT_PERSONAL)
    lon: Mapped[float] = mapped_column(info=NOT_PERSONAL)
    #: Weighted coverage value gained, and per row ("red": +0.06 is six points of red calls).
    gain: Mapped[float] = mapped_column(Float)
    gain_rows: Mapped[dict[str, Any]] = mapped_column(JSONType, info=NOT_PERSONAL)
    #: The sentence the dispatcher reads ("+6 % red coverage near Din Daeng").
    reason: Mapped[str] = mapped_column(String(500), info=NOT_PERSONAL)
    drive_s: Mapped[int | None] = mapped_column()
    status: Mapped[MoveUpStatus] = mapped_column(
        str_enum(MoveUpStatus, "moveup_status"), default=MoveUpStatus.SUGGESTED, index=True
    )
    auto: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decided_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    decided_by: Mapped[str | None] = mapped_column(String(200), info=NOT_PERSONAL)
    #: Why it was rejected or ended (the dispatcher's words are operational, not personal).
    note: Mapped[str | None] = mapped_column(String(500), info=NOT_PERSONAL)
    arrived_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
