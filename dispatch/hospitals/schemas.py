from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field, StringConstraints

from dispatch.schemas import Address, Id, Input, Latitude, Longitude, Name, Output, Update

Capability = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=32, pattern=r"^[a-z_]+$")
]
Beds = Annotated[int, Field(ge=0, le=10_000)]


class HospitalCreate(Input):
    name: Name
    name_local: Name | None = None
    lat: Latitude
    lon: Longitude
    address: Address | None = None
    has_emergency_department: bool = True
    capabilities: list[Capability] = Field(default_factory=list, max_length=32)
    available_er_beds: Beds | None = None
    organisation_id: Id | None = None


class HospitalUpdate(Update):
    """Diversion and bed state; ``null`` clears the reason or the bed count (unknown)."""

    nullable = frozenset({"diversion_reason", "available_er_beds"})
    on_diversion: bool | None = None
    diversion_reason: Address | None = None
    available_er_beds: Beds | None = None
    capabilities: list[Capability] | None = Field(default=None, max_length=32)


class HospitalOut(Output):
    id: int
    name: str
    name_local: str | None
    lat: float
    lon: float
    address: str | None
    has_emergency_department: bool
    capabilities: list[str]
    on_diversion: bool
    diversion_reason: str | None
    available_er_beds: int | None
    updated_at: datetime
