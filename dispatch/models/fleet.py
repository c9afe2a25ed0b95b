from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from dispatch.models.base import Base
from dispatch.models.enums import StationType, VehicleKind, VehicleState
from dispatch.models.privacy import NOT_PERSONAL, SECRET
from dispatch.models.types import UTCDateTime, str_enum, utcnow


class Station(Base):
    """Where units are based and return to. ``organisation_id`` is the dispatch centre the
    station works for; ``operator_id`` the organisation that runs it (a hospital, or the
    centre itself), which its ``station_type`` names."""

    __tablename__ = "stations"

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    operator_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisations.id", ondelete="SET NULL"), index=True
    )
    station_type: Mapped[StationType] = mapped_column(
        str_enum(StationType, "station_type"), default=StationType.CENTRE, server_default="centre"
    )
    name: Mapped[str] = mapped_column(String(200), info=NOT_PERSONAL)
    lat: Mapped[float] = mapped_column(info=NOT_PERSONAL)
    lon: Mapped[float] = mapped_column(info=NOT_PERSONAL)
    address: Mapped[str | None] = mapped_column(String(500), info=NOT_PERSONAL)


class SpeedUnit(enum.StrEnum):
    """What ``speed`` in a phone's OsmAnd query or form means (the JSON body is m/s)."""

    KNOTS = "knots"  # Traccar Client
    MPS = "mps"  # OsmAnd's own app: metres per second


class Vehicle(Base):
    """A unit of the fleet. ``version`` guards against lost updates between dispatchers."""

    __tablename__ = "vehicles"
    __table_args__ = (
        UniqueConstraint("organisation_id", "call_sign"),
        CheckConstraint(
            "seats_seated >= 0 AND seats_wheelchair >= 0 AND seats_stretcher >= 0",
            name="seats_non_negative",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    call_sign: Mapped[str] = mapped_column(String(32))
    kind: Mapped[VehicleKind] = mapped_column(str_enum(VehicleKind, "vehicle_kind"))
    registration: Mapped[str | None] = mapped_column(String(32))
    seats_seated: Mapped[int] = mapped_column(Integer, default=0)
    seats_wheelchair: Mapped[int] = mapped_column(Integer, default=0)
    seats_stretcher: Mapped[int] = mapped_column(Integer, default=0)
    station_id: Mapped[int | None] = mapped_column(
        ForeignKey("stations.id", ondelete="SET NULL"), index=True
    )
    state: Mapped[VehicleState] = mapped_column(
        str_enum(VehicleState, "vehicle_state"), default=VehicleState.OFF_DUTY
    )
    serves_transports: Mapped[bool] = mapped_column(Boolean, default=False)
    device_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True, info=SECRET)
    #: The identifier a Traccar Client / OsmAnd phone reports as ``id``.
    device_id: Mapped[str | None] = mapped_column(String(128), unique=True, info=NOT_PERSONAL)
    device_token_issued_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    speed_unit: Mapped[SpeedUnit] = mapped_column(
        str_enum(SpeedUnit, "speed_unit"), default=SpeedUnit.KNOTS, server_default="knots"
    )
    last_lat: Mapped[float | None] = mapped_column(info=NOT_PERSONAL)
    last_lon: Mapped[float | None] = mapped_column(info=NOT_PERSONAL)
    last_fix_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: Why the unit is off duty when its station took it out of service ("no crew").
    out_of_service_reason: Mapped[str | None] = mapped_column(String(200), info=NOT_PERSONAL)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012

    @property
    def has_device_token(self) -> bool:
        return self.device_token_hash is not None
