from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field, StringConstraints

from dispatch.models.enums import Role
from dispatch.schemas import Id, Input, Name, Output

Username = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=3, max_length=64, pattern=r"^[\w.@-]+$"),
]
Password = Annotated[str, Field(min_length=10, max_length=256)]


class TokenOut(Output):
    access_token: str
    token_type: str = "bearer"
    expires_at: datetime
    role: Role


class UserCreate(Input):
    username: Username
    full_name: Name
    password: Password
    role: Role
    organisation_id: Id
    vehicle_id: Id | None = Field(default=None, description="Drivers: the vehicle they crew")
    station_id: Id | None = Field(default=None, description="Station staff: their station")


class PasswordReset(Input):
    password: Password = Field(description="The new password (every session on the old ends)")


class UserOut(Output):
    id: int
    username: str
    full_name: str
    role: Role
    organisation_id: int
    vehicle_id: int | None
    station_id: int | None = None
    is_active: bool


class MeOut(Output):
    kind: str  # "user" or "device"
    role: Role
    organisation_id: int
    user_id: int | None
    vehicle_id: int | None
    station_id: int | None = None
    name: str
