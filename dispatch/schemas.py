"""Input and output building blocks shared by every domain's schemas.

Bounds live in the types so every endpoint rejects the same bad input with a 422 that
names the field, before anything reaches the database. The ``Input`` base refuses, in
every field of every request body (new fields included, without anyone remembering to):
non-finite numbers (``NaN``, ``Infinity``, ``1e309``), text with control characters or
unpaired surrogates (PostgreSQL stores neither NUL nor surrogates), integers the database
cannot hold, and dates or times outside ``EARLIEST``..``LATEST`` (near year 1 or 9999 a
time-zone shift overflows). Query and path parameters use the same checks through the
types below (``Timestamp``, ``Day``, ``QueryText``, ``QueryId``).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Annotated, Any, ClassVar

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
)

MAX_DB_INT = 2_147_483_647
MIN_DB_INT = -2_147_483_648
#: The span of dates and times accepted anywhere (birth dates included, far from the
#: edges where a ±14:00 offset leaves the range Python and the databases can represent).
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)

#: C0 controls except tab, newline and carriage return; DEL and the C1 controls; unpaired
#: UTF-16 surrogates (JSON ``"\ud800"``), which cannot be encoded for the database.
_FORBIDDEN_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def no_control_chars(value: str) -> str:
    if _FORBIDDEN_CHARS.search(value):
        raise ValueError("control characters and unpaired surrogates are not allowed")
    return value


def check_text(field: str, value: str, *, max_length: int = 256, location: str = "body") -> str:
    """The same rule for text FastAPI does not validate through a model (form fields)."""
    from dispatch.errors import InvalidInput

    if len(value) > max_length:
        raise InvalidInput(field, f"at most {max_length} characters", location=location)
    try:
        return no_control_chars(value)
    except ValueError as exc:
        raise InvalidInput(field, str(exc), location=location) from None


def bounded_datetime(value: datetime) -> datetime:
    """Refuse times the server could not shift between time zones or store."""
    try:
        utc = value.astimezone(UTC) if value.tzinfo is not None else value.replace(tzinfo=UTC)
    except (OverflowError, ValueError):
        utc = None
    if utc is None or not EARLIEST <= utc < LATEST:
        raise ValueError(
            f"must be between {EARLIEST.date().isoformat()} and {LATEST.date().isoformat()}"
        )
    return value


def bounded_date(value: date) -> date:
    if not EARLIEST.date() <= value < LATEST.date():
        raise ValueError(
            f"must be between {EARLIEST.date().isoformat()} and {LATEST.date().isoformat()}"
        )
    return value


def storable(value: Any) -> Any:
    """The checks every ``Input`` field gets (containers of plain values included)."""
    kind = type(value)
    if kind is str:
        return no_control_chars(value)
    if kind is int:
        if not MIN_DB_INT <= value <= MAX_DB_INT:
            raise ValueError(f"must be between {MIN_DB_INT} and {MAX_DB_INT}")
    elif kind is datetime:
        bounded_datetime(value)
    elif kind is date:
        bounded_date(value)
    elif kind is list or kind is tuple or kind is set or kind is frozenset:
        for item in value:
            storable(item)
    elif kind is dict:
        for key, item in value.items():
            storable(key)
            storable(item)
    return value


Latitude = Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False)]
Longitude = Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False)]
Id = Annotated[int, Field(ge=1, le=MAX_DB_INT)]
Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    AfterValidator(no_control_chars),
]
Address = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=500), AfterValidator(no_control_chars)
]
Notes = Annotated[str, StringConstraints(max_length=4000), AfterValidator(no_control_chars)]
Phone = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=3, max_length=32, pattern=r"^\+?[0-9 ()\-]+$"
    ),
]
#: A moment with its time zone, within ``EARLIEST``..``LATEST`` (bodies and queries).
Timestamp = Annotated[AwareDatetime, AfterValidator(bounded_datetime)]
#: A calendar day within the same span (``service_date`` and friends).
Day = Annotated[date, AfterValidator(bounded_date)]
#: Free text in a query string: bounded, without control characters.
QueryText = Annotated[str, StringConstraints(max_length=200), AfterValidator(no_control_chars)]
#: A version counter (optimistic locking), as the database holds it.
Version = Annotated[int, Field(ge=1, le=MAX_DB_INT)]


class Input(BaseModel):
    """Request bodies: unknown fields are an error, so a typo is not silently ignored;
    non-finite numbers are refused by the config, everything ``storable`` refuses by the
    validator below, in every field of every subclass."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    @field_validator("*", mode="after")
    @classmethod
    def _storable(cls, value: Any) -> Any:
        return storable(value)


def _null_only_where_allowed(schema: dict[str, Any], model: type[BaseModel]) -> None:
    """The OpenAPI schema of an ``Update``: null is documented only where it is allowed."""
    nullable: frozenset[str] = getattr(model, "nullable", frozenset())
    for name, prop in schema.get("properties", {}).items():
        branches = prop.get("anyOf")
        if name in nullable or not isinstance(branches, list):
            continue
        kept = [b for b in branches if b != {"type": "null"}]
        if prop.get("default", 0) is None:
            del prop["default"]
        if len(kept) == 1:
            del prop["anyOf"]
            prop.update(kept[0])
        else:
            prop["anyOf"] = kept


class Update(Input):
    """A partial update: an omitted field keeps its value. ``null`` clears a field only
    where the record may be without it (``nullable``); anywhere else it is refused with a
    422 naming the field, rather than stored and breaking every later read."""

    nullable: ClassVar[frozenset[str]] = frozenset()
    model_config = ConfigDict(json_schema_extra=_null_only_where_allowed)

    @field_validator("*", mode="before")
    @classmethod
    def _null_allowed(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None and info.field_name not in cls.nullable:
            raise ValueError("may not be null: omit the field to keep its value")
        return value


class Output(BaseModel):
    model_config = ConfigDict(from_attributes=True)
