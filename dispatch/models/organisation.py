from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from dispatch.models.base import Base
from dispatch.models.enums import CentreLevel, MoveUpMode, OrganisationKind
from dispatch.models.privacy import NOT_PERSONAL
from dispatch.models.types import JSONType, UTCDateTime, str_enum, utcnow


class Organisation(Base):
    """A tenant: a dispatch centre, a care centre or a hospital operator."""

    __tablename__ = "organisations"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), info=NOT_PERSONAL)
    kind: Mapped[OrganisationKind] = mapped_column(str_enum(OrganisationKind, "organisation_kind"))
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Bangkok")
    #: What happens to the move-up suggestions for this centre's units: ``off`` (none),
    #: ``suggest`` (a dispatcher accepts or rejects each), ``auto`` (accepted at once).
    moveup_mode: Mapped[MoveUpMode] = mapped_column(
        str_enum(MoveUpMode, "moveup_mode"), default=MoveUpMode.SUGGEST, server_default="suggest"
    )
    #: The centre above this one (province above district above sub-district): a centre
    #: sees and dispatches its own area and everything below it.
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisations.id", ondelete="SET NULL"), index=True
    )
    level: Mapped[CentreLevel | None] = mapped_column(str_enum(CentreLevel, "centre_level"))
    #: Seconds a station has to answer an offer, per triage level, where this centre's
    #: differ from the deployment's (``DISPATCH_OFFER_TIMEOUTS_S``).
    offer_timeouts_s: Mapped[dict[str, Any] | None] = mapped_column(JSONType, info=NOT_PERSONAL)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
