"""Offers: a job proposed to a station (one of its units) that the station accepts or
declines within a timer, instead of a dispatcher phoning station after station.

Why a row per offer (not a flag on the incident): the chain of offers of a call (who was
asked, who said "busy", who did not answer) is what the control room follows live, what
the per-station figures are counted from, and what survives a worker's restart; the
timers are the rows' ``expires_at`` read against the server's clock, so a restarted
worker (or a simulated clock) moves an unanswered offer on exactly as the first would."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from dispatch.models.base import Base
from dispatch.models.enums import DeclineReason, OfferStatus, Triage
from dispatch.models.privacy import NOT_PERSONAL, PERSONAL
from dispatch.models.types import UTCDateTime, str_enum, utcnow

_PENDING = text("status = 'pending'")


class Offer(Base):
    """One unit of one station offered one call. At most one pending offer per call and
    per unit (partial unique indexes): the database itself refuses a second."""

    __tablename__ = "offers"
    __table_args__ = (
        Index(
            "uq_offers_incident_pending",
            "incident_id",
            unique=True,
            sqlite_where=_PENDING,
            postgresql_where=_PENDING,
        ),
        Index(
            "uq_offers_vehicle_pending",
            "vehicle_id",
            unique=True,
            sqlite_where=_PENDING,
            postgresql_where=_PENDING,
        ),
        Index("ix_offers_status_expires_at", "status", "expires_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    #: The centre the call belonged to when offered (the figures are per centre too).
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    vehicle_id: Mapped[int] = mapped_column(
        ForeignKey("vehicles.id", ondelete="CASCADE"), index=True
    )
    station_id: Mapped[int | None] = mapped_column(
        ForeignKey("stations.id", ondelete="SET NULL"), index=True
    )
    #: The first offer of this chain (its own id for the first): "next best" skips every
    #: unit and station tried since the chain began.
    chain_id: Mapped[int | None] = mapped_column(Integer, index=True)
    step: Mapped[int] = mapped_column(Integer, default=1)
    triage: Mapped[Triage] = mapped_column(str_enum(Triage, "offer_triage"))
    status: Mapped[OfferStatus] = mapped_column(
        str_enum(OfferStatus, "offer_status"), default=OfferStatus.PENDING
    )
    #: Position in the recommendation it came from (1 = best) and the ETA it was shown with.
    recommended_rank: Mapped[int | None] = mapped_column(Integer)
    eta_s: Mapped[int | None] = mapped_column(Integer)
    #: What the unit showed when offered ("available", "returning"): a station that says
    #: "busy" for a unit it shows available is flagged on the availability board.
    unit_state: Mapped[str] = mapped_column(String(32), info=NOT_PERSONAL)
    auto: Mapped[bool] = mapped_column(Boolean, default=False)
    offered_by: Mapped[str] = mapped_column(String(200), info=NOT_PERSONAL)
    offered_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    answered_by: Mapped[str | None] = mapped_column(String(200), info=NOT_PERSONAL)
    decline_reason: Mapped[DeclineReason | None] = mapped_column(
        str_enum(DeclineReason, "decline_reason"), info=NOT_PERSONAL
    )
    #: Free text a station or dispatcher adds (may repeat what a caller said).
    note: Mapped[str | None] = mapped_column(String(500), info=PERSONAL)
    assignment_id: Mapped[int | None] = mapped_column(ForeignKey("assignments.id"))
