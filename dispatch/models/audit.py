from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from dispatch.models.base import Base
from dispatch.models.privacy import NOT_PERSONAL
from dispatch.models.types import BigIntPK, JSONType, UTCDateTime, utcnow


class AuditEntry(Base):
    """Who changed what, when, and from what to what. Append-only: database triggers
    (created by the migration) refuse UPDATE and DELETE."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_entity", "entity_type", "entity_id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    actor: Mapped[str] = mapped_column(String(100), info=NOT_PERSONAL)  # a login name
    action: Mapped[str] = mapped_column(String(64))
    entity_type: Mapped[str] = mapped_column(String(64))
    entity_id: Mapped[int | None] = mapped_column(BigInteger)
    #: Personal fields appear by name only (``dispatch.audit.service.record``).
    before: Mapped[dict[str, Any] | None] = mapped_column(JSONType, info=NOT_PERSONAL)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSONType, info=NOT_PERSONAL)
    request_id: Mapped[str | None] = mapped_column(String(64))
