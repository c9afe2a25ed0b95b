from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from dispatch.models.base import Base
from dispatch.models.enums import MoveUpMode, OrganisationKind
from dispatch.models.privacy import NOT_PERSONAL
from dispatch.models.types import UTCDateTime, str_enum, utcnow


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
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
