from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, func, text
from sqlalchemy.orm import Mapped, mapped_column

from dispatch.models.base import Base
from dispatch.models.enums import Role
from dispatch.models.privacy import NOT_PERSONAL, PERSONAL, SECRET
from dispatch.models.types import UTCDateTime, str_enum, utcnow


class User(Base):
    """A person who logs in. A driver is tied to the vehicle they crew."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    username: Mapped[str] = mapped_column(String(64), unique=True, info=NOT_PERSONAL)
    full_name: Mapped[str] = mapped_column(String(200), info=PERSONAL)
    role: Mapped[Role] = mapped_column(str_enum(Role, "role"))
    password_hash: Mapped[str] = mapped_column(String(255), info=SECRET)
    vehicle_id: Mapped[int | None] = mapped_column(
        ForeignKey("vehicles.id", ondelete="SET NULL"), index=True
    )
    #: Station staff act for this station (its offers and its units' service).
    station_id: Mapped[int | None] = mapped_column(
        ForeignKey("stations.id", ondelete="SET NULL"), index=True
    )
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    #: Every access token carries the version it was issued under; raising it (password
    #: reset, "log out everywhere", deactivation) ends all of the user's sessions at once.
    session_version: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


# "Somchai" and "somchai" are one person: names are unique whatever their case, and a login
# looks the name up through the same expression (so through this index).
Index("uq_users_username_lower", func.lower(User.username), unique=True)
