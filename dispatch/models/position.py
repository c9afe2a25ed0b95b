from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Dialect, ForeignKey, Index, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import TypeDecorator, TypeEngine

from dispatch.models.base import Base
from dispatch.models.privacy import NOT_PERSONAL
from dispatch.models.types import UTCDateTime


def encode_attributes(attributes: Mapping[str, Any] | None) -> str | None:
    """A fix's attributes as the compact JSON text both databases are given (serialised
    once per fix, on the writer's hot path; no attributes is NULL)."""
    if not attributes:
        return None
    return json.dumps(dict(attributes), separators=(",", ":"), ensure_ascii=False)


class FixAttributes(TypeDecorator[dict[str, Any]]):
    """A JSON object: JSONB on PostgreSQL, TEXT on SQLite.

    The history writer hands over text already serialised (``encode_attributes``): the
    PostgreSQL bulk path sends it as is (asyncpg's jsonb codec takes text) and SQLite stores
    it as is, so neither serialises twice. Reads give back a dict either way."""

    impl = Text
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(JSONB())
        return dialect.type_descriptor(Text())

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if dialect.name == "postgresql":  # JSONB's own bind processor serialises
            return json.loads(value) if isinstance(value, str) else value
        return value if isinstance(value, str) else encode_attributes(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> dict[str, Any] | None:
        if value is None:
            return None
        if isinstance(value, str):
            loaded: dict[str, Any] = json.loads(value)
            return loaded
        return dict(value)


class PositionFix(Base):
    """GPS history. The key (vehicle, recorded_at) makes a resent fix a no-op, because
    phones resend until they see a 2xx. ``attributes`` keeps what a phone reported beyond
    the columns (charging, motion, event, altitude, hdop, odometer …)."""

    __tablename__ = "position_fixes"
    __table_args__ = (Index("ix_position_fixes_recorded_at", "recorded_at"),)

    vehicle_id: Mapped[int] = mapped_column(
        ForeignKey("vehicles.id", ondelete="CASCADE"), primary_key=True
    )
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: The unit's position (operational; kept as long as the retention period says).
    lat: Mapped[float] = mapped_column(info=NOT_PERSONAL)
    lon: Mapped[float] = mapped_column(info=NOT_PERSONAL)
    speed_mps: Mapped[float | None] = mapped_column()
    heading: Mapped[float | None] = mapped_column()
    accuracy_m: Mapped[float | None] = mapped_column()
    battery_pct: Mapped[float | None] = mapped_column()
    #: The phone's telemetry of the unit (charge, motion, hdop …), not a person's: deleted
    #: with the fix by the retention run.
    attributes: Mapped[dict[str, Any] | None] = mapped_column(FixAttributes(), info=NOT_PERSONAL)
