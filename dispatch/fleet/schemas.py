from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field, StringConstraints

from dispatch.models.enums import StationType, VehicleKind, VehicleState
from dispatch.models.fleet import SpeedUnit
from dispatch.schemas import (
    Address,
    Id,
    Input,
    Latitude,
    Longitude,
    Name,
    Output,
    Update,
    Version,
)

CallSign = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=32, pattern=r"^[\w .\-/]+$"),
]
Seats = Annotated[int, Field(ge=0, le=60)]


class StationCreate(Input):
    name: Name
    lat: Latitude
    lon: Longitude
    address: Address | None = None
    organisation_id: Id | None = Field(
        default=None, description="The dispatch centre it works for; defaults to your own"
    )
    operator_id: Id | None = Field(
        default=None, description="Who runs it (a hospital operator); defaults to the centre"
    )
    station_type: StationType = StationType.CENTRE


class StationOut(Output):
    id: int
    organisation_id: int
    operator_id: int | None
    station_type: StationType
    name: str
    lat: float
    lon: float
    address: str | None


DeviceId = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=4, max_length=128, pattern=r"^[\w.:-]+$"),
]


class VehicleCreate(Input):
    call_sign: CallSign
    kind: VehicleKind
    registration: Annotated[str, StringConstraints(strip_whitespace=True, max_length=32)] | None = (
        None
    )
    seats_seated: Seats = 0
    seats_wheelchair: Seats = 0
    seats_stretcher: Seats = 0
    station_id: Id | None = None
    serves_transports: bool = False
    device_id: DeviceId | None = Field(
        default=None, description="Identifier its Traccar Client / OsmAnd phone reports"
    )
    speed_unit: SpeedUnit = Field(
        default=SpeedUnit.KNOTS, description="knots (Traccar Client) or mps (OsmAnd's own app)"
    )
    organisation_id: Id | None = Field(default=None, description="Defaults to your own")


class VehicleUpdate(Update):
    """Partial update. ``version`` (from the last read) turns a concurrent edit into a 409
    instead of silently overwriting it. ``null`` takes the unit off its station or unpairs
    its phone; other fields cannot be emptied."""

    nullable = frozenset({"station_id", "device_id"})

    state: VehicleState | None = None
    station_id: Id | None = None
    serves_transports: bool | None = None
    seats_seated: Seats | None = None
    seats_wheelchair: Seats | None = None
    seats_stretcher: Seats | None = None
    device_id: DeviceId | None = None
    speed_unit: SpeedUnit | None = Field(
        default=None,
        description="What `speed` in its phone's OsmAnd query/form means: knots (Traccar "
        "Client) or mps (OsmAnd's own app); the JSON body is always m/s",
    )
    version: Version | None = None


class VehicleOut(Output):
    id: int
    organisation_id: int
    call_sign: str
    kind: VehicleKind
    registration: str | None
    seats_seated: int
    seats_wheelchair: int
    seats_stretcher: int
    station_id: int | None
    state: VehicleState
    serves_transports: bool
    last_lat: float | None
    last_lon: float | None
    last_fix_at: datetime | None
    out_of_service_reason: str | None = None
    has_device_token: bool
    device_id: str | None
    speed_unit: SpeedUnit
    version: int


class DeviceTokenOut(Output):
    vehicle_id: int
    device_token: str = Field(description="Shown once; configure it in the crew's phone")
    issued_at: datetime


class DeviceOut(Output):
    """A unit's phones as a supervisor sees them (the identifier itself is a credential:
    only its last characters are shown)."""

    vehicle_id: int
    call_sign: str
    kind: VehicleKind
    state: VehicleState
    station: str | None
    phone_paired: bool = Field(description="A Traccar Client phone is paired (device id set)")
    device_id_end: str | None = Field(description="The paired id's last 4 characters")
    crew_token: bool = Field(description="A device token for the crew page is issued")
    crew_token_issued_at: datetime | None
    last_fix_at: datetime | None
    gps_age_s: float | None
    battery_pct: float | None = Field(description="Reported with the latest fix")


class PhonePairingOut(Output):
    vehicle_id: int
    device_id: str = Field(description="Shown once here and in the code")
    server_url: str = Field(description="Where the phone reports (the OsmAnd door)")
    link: str = Field(description="org.traccar.client://config?… (what the code holds)")
    qr_svg: str = Field(description="The code as inline SVG")


class CrewLinkOut(Output):
    vehicle_id: int
    link: str = Field(description="The crew page with a fresh device token in its fragment")
    qr_svg: str
    issued_at: datetime
