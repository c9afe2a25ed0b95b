from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from dispatch.models.base import Base
from dispatch.models.privacy import PERSONAL
from dispatch.models.types import BigIntPK, JSONType, UTCDateTime, utcnow


class OutboxEvent(Base):
    """An event written in the same transaction as the change it announces, deleted once
    published. A worker that dies between commit and publish (or a bus outage) leaves it
    here for the relay, so a committed assignment is always announced."""

    __tablename__ = "event_outbox"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    event_type: Mapped[str] = mapped_column(String(64))
    #: An event's payload (may name a caller's address); kept only until published.
    data: Mapped[dict[str, Any]] = mapped_column(JSONType, info=PERSONAL)
