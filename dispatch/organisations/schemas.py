from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, Field

from dispatch.models.enums import OrganisationKind
from dispatch.schemas import Input, Name, Output


def _timezone(value: str) -> str:
    from zoneinfo import ZoneInfo

    try:
        ZoneInfo(value)
    except Exception as exc:
        raise ValueError(f"unknown time zone {value!r}") from exc
    return value


TimeZone = Annotated[str, AfterValidator(_timezone)]


class OrganisationCreate(Input):
    name: Name
    kind: OrganisationKind
    timezone: TimeZone | None = Field(
        default=None,
        description="IANA time zone of its service days (default: the server's DISPATCH_TIMEZONE)",
    )


class OrganisationOut(Output):
    id: int
    name: str
    kind: OrganisationKind
    timezone: str
    created_at: datetime
