"""Input and output building blocks shared by every domain's schemas.

Bounds live in the types so every endpoint rejects the same bad input with a 422 that
names the field, before anything reaches the database.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

MAX_DB_INT = 2_147_483_647


def _no_control_chars(value: str) -> str:
    # PostgreSQL cannot store NUL; other C0 controls in names or notes are never intended.
    if any(ord(ch) < 32 and ch not in "\t\n\r" for ch in value):
        raise ValueError("control characters are not allowed")
    return value


Latitude = Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False)]
Longitude = Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False)]
Id = Annotated[int, Field(ge=1, le=MAX_DB_INT)]
Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    AfterValidator(_no_control_chars),
]
Address = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=500), AfterValidator(_no_control_chars)
]
Notes = Annotated[str, StringConstraints(max_length=4000), AfterValidator(_no_control_chars)]
Phone = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=3, max_length=32, pattern=r"^\+?[0-9 ()\-]+$"
    ),
]


class Input(BaseModel):
    """Request bodies: unknown fields are an error, so a typo is not silently ignored."""

    model_config = ConfigDict(extra="forbid")


class Output(BaseModel):
    model_config = ConfigDict(from_attributes=True)
