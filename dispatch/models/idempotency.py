from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from dispatch.models.base import Base
from dispatch.models.privacy import NOT_PERSONAL, PERSONAL
from dispatch.models.types import BigIntPK, UTCDateTime


class IdempotencyRecord(Base):
    """The first answer to a write sent with an ``Idempotency-Key`` (README, "Idempotent
    writes"), kept for 24 hours so a resent request gets it again instead of doing the
    write twice.

    Written in the same transaction as the write itself: the unique constraint on
    (principal, key) is what makes a concurrent duplicate wait for the first request's
    outcome, and a rolled-back write leaves no record behind (the key stays usable)."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("principal", "key"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    #: Whose key: ``user:<id>`` or ``device:<vehicle id>`` (keys are per caller).
    principal: Mapped[str] = mapped_column(String(64), info=NOT_PERSONAL)
    key: Mapped[str] = mapped_column(String(255), info=NOT_PERSONAL)
    #: SHA-256 of method, path and body: the same key with another request is refused.
    fingerprint: Mapped[str] = mapped_column(String(64), info=NOT_PERSONAL)
    #: ``POST /incidents``: named in the refusal when the key is reused for another request.
    request_line: Mapped[str] = mapped_column(String(300), info=NOT_PERSONAL)
    #: None only inside the first request's own transaction (never committed so).
    status_code: Mapped[int | None] = mapped_column(Integer)
    media_type: Mapped[str | None] = mapped_column(String(100), info=NOT_PERSONAL)
    #: The response body byte for byte (a patient's details, a caller's address …).
    body: Mapped[bytes | None] = mapped_column(LargeBinary, info=PERSONAL)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
