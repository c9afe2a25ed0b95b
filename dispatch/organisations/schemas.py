from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, Field

from dispatch.models.enums import CentreLevel, OrganisationKind
from dispatch.schemas import Id, Input, Name, Output, Update


def _timezone(value: str) -> str:
    from zoneinfo import ZoneInfo

    try:
        ZoneInfo(value)
    except Exception as exc:
        raise ValueError(f"unknown time zone {value!r}") from exc
    return value


TimeZone = Annotated[str, AfterValidator(_timezone)]


OfferTimeouts = dict[
    Literal["red", "yellow", "green", "white", "black"], Annotated[int, Field(ge=5, le=3600)]
]


class OrganisationCreate(Input):
    name: Name
    kind: OrganisationKind
    timezone: TimeZone | None = Field(
        default=None,
        description="IANA time zone of its service days (default: the server's DISPATCH_TIMEZONE)",
    )
    parent_id: Id | None = Field(
        default=None, description="The dispatch centre above this one (dispatch centres only)"
    )
    level: CentreLevel | None = None
    offer_timeouts_s: OfferTimeouts | None = Field(
        default=None,
        description="Seconds a station has to answer an offer, per triage level, where this "
        "centre's differ from the deployment's",
    )


class CentreUpdate(Update):
    """What an administrator may change of a dispatch centre's place and timers; null
    makes it a root centre, without a level, or on the deployment's timers."""

    nullable: ClassVar[frozenset[str]] = frozenset({"parent_id", "level", "offer_timeouts_s"})

    parent_id: Id | None = None
    level: CentreLevel | None = None
    offer_timeouts_s: OfferTimeouts | None = None


class OrganisationOut(Output):
    id: int
    name: str
    kind: OrganisationKind
    timezone: str
    parent_id: int | None = None
    level: CentreLevel | None = None
    offer_timeouts_s: dict[str, Any] | None = None
    created_at: datetime
