from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated, Any, Self

from pydantic import (
    AfterValidator,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from dispatch.models.enums import BookingOutcome, BookingStatus, Mobility
from dispatch.schemas import (
    Address,
    Day,
    Id,
    Input,
    Latitude,
    Longitude,
    Name,
    Notes,
    Output,
    Phone,
    Timestamp,
    Update,
    Version,
    bounded_date,
)
from dispatch.transports import recurrence


def _rule(value: str) -> str:
    rule = recurrence.parse(value)
    if rule.until is not None:
        try:
            bounded_date(rule.until)  # year 1 would not even print back as YYYYMMDD
        except ValueError as exc:
            raise ValueError(f"UNTIL {exc}") from None
    return str(rule)


RecurrenceRule = Annotated[str, Field(max_length=200), AfterValidator(_rule)]
Companions = Annotated[int, Field(ge=0, le=4)]


class PatientCreate(Input):
    full_name: Name
    phone: Phone | None = None
    date_of_birth: Day | None = None
    mobility: Mobility
    needs_escort: bool = False
    home_lat: Latitude | None = None
    home_lon: Longitude | None = None
    home_address: Address | None = None
    notes: Notes | None = None
    organisation_id: Id | None = Field(
        default=None, description="Dispatch staff booking for a centre"
    )


class PatientUpdate(Update):
    """``null`` clears the phone, the home place or the notes; name, mobility and escort
    cannot be emptied."""

    nullable = frozenset({"phone", "home_lat", "home_lon", "home_address", "notes"})
    full_name: Name | None = None
    phone: Phone | None = None
    mobility: Mobility | None = None
    needs_escort: bool | None = None
    home_lat: Latitude | None = None
    home_lon: Longitude | None = None
    home_address: Address | None = None
    notes: Notes | None = None


class PatientOut(Output):
    id: int
    organisation_id: int
    full_name: str
    phone: str | None
    date_of_birth: date | None
    mobility: Mobility
    needs_escort: bool
    home_lat: float | None
    home_lon: float | None
    home_address: str | None
    notes: str | None


class _BookingTimes(Input):
    appointment_at: Timestamp | None = None
    pickup_window_start: Timestamp | None = None
    pickup_window_end: Timestamp | None = None

    @field_validator("pickup_window_end")
    @classmethod
    def _end_after_start(cls, end: datetime | None, info: ValidationInfo) -> datetime | None:
        start = info.data.get("pickup_window_start")
        if end is not None and start is not None and end < start:
            raise ValueError("the pickup window ends before it starts")
        return end

    def _check_times(self, *, require: bool) -> None:
        start, end = self.pickup_window_start, self.pickup_window_end
        if (start is None) != (end is None):
            missing = "pickup_window_end" if end is None else "pickup_window_start"
            raise ValueError(f"{missing} is required when the other end of the window is given")
        if require and self.appointment_at is None and start is None:
            raise ValueError("give appointment_at (arrive by) or a pickup window")


class BookingCreate(_BookingTimes):
    patient_id: Id
    pickup_lat: Latitude
    pickup_lon: Longitude
    pickup_address: Address | None = None
    destination_hospital_id: Id | None = None
    destination_lat: Latitude | None = None
    destination_lon: Longitude | None = None
    destination_address: Address | None = None
    return_of_id: Id | None = None
    return_pickup_window_start: Timestamp | None = Field(
        default=None, description="Book the way home too: pick up again within this window"
    )
    return_pickup_window_end: Timestamp | None = Field(default=None, validate_default=True)
    recurrence_rule: RecurrenceRule | None = None
    companions: Companions = 0
    notes: Notes | None = None
    allow_duplicate: bool = Field(
        default=False,
        description="Book even though the same ride was booked for this patient moments ago "
        "(otherwise 409 duplicate_booking naming it)",
    )

    @field_validator("return_pickup_window_end")
    @classmethod
    def _return_end_after_start(cls, end: datetime | None, info: ValidationInfo) -> datetime | None:
        start = info.data.get("return_pickup_window_start")
        if (end is None) != (start is None):
            raise ValueError("give both ends of the return pickup window")
        if end is not None and start is not None and end < start:
            raise ValueError("the return pickup window ends before it starts")
        return end

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        self._check_times(require=True)
        has_point = self.destination_lat is not None and self.destination_lon is not None
        if self.destination_hospital_id is None and not has_point:
            raise ValueError("give destination_hospital_id or destination_lat and destination_lon")
        if (self.destination_lat is None) != (self.destination_lon is None):
            raise ValueError("destination_lat and destination_lon go together")
        return self


class BookingUpdate(_BookingTimes, Update):
    """``null`` clears a time (give the other kind with it), an address or the notes; the
    pickup place and the companions cannot be emptied."""

    nullable = frozenset(
        {
            "appointment_at",
            "pickup_window_start",
            "pickup_window_end",
            "pickup_address",
            "destination_address",
            "notes",
        }
    )
    pickup_lat: Latitude | None = None
    pickup_lon: Longitude | None = None
    pickup_address: Address | None = None
    destination_address: Address | None = None
    companions: Companions | None = None
    notes: Notes | None = None
    version: Version | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        self._check_times(require=False)
        if (self.pickup_lat is None) != (self.pickup_lon is None):
            raise ValueError("pickup_lat and pickup_lon go together")
        return self


class BookingOut(Output):
    id: int
    organisation_id: int
    patient_id: int
    pickup_lat: float
    pickup_lon: float
    pickup_address: str | None
    destination_hospital_id: int | None
    destination_lat: float
    destination_lon: float
    destination_address: str | None
    appointment_at: datetime | None
    pickup_window_start: datetime | None
    pickup_window_end: datetime | None
    return_of_id: int | None
    recurrence_rule: str | None
    companions: int
    notes: str | None
    status: BookingStatus
    outcome: BookingOutcome | None
    planned_pickup_at: datetime | None
    vehicle_id: int | None
    release_reason: str | None
    is_series: bool
    series_id: int | None
    service_date: date | None
    unserved_reason: str | None
    version: int


class BookingCreatedOut(BookingOut):
    return_booking_id: int | None = None
    generated_ids: list[int] = Field(
        default_factory=list, description="Rides generated ahead of time for a recurring series"
    )


class BreakIn(Input):
    earliest: Timestamp
    latest: Timestamp
    minutes: Annotated[int, Field(ge=5, le=180)]

    @field_validator("latest")
    @classmethod
    def _ordered(cls, latest: datetime, info: ValidationInfo) -> datetime:
        earliest = info.data.get("earliest")
        if earliest is not None and latest < earliest:
            raise ValueError("the break's latest start is before its earliest start")
        return latest


class ShiftCreate(Input):
    vehicle_id: Id
    starts_at: Timestamp
    ends_at: Timestamp
    depot_lat: Latitude | None = Field(default=None, description="Default: the unit's station")
    depot_lon: Longitude | None = None
    breaks: list[BreakIn] = Field(default_factory=list, max_length=6)

    @field_validator("ends_at")
    @classmethod
    def _ends_after_start(cls, ends_at: datetime, info: ValidationInfo) -> datetime:
        starts_at = info.data.get("starts_at")
        if starts_at is not None and ends_at <= starts_at:
            raise ValueError("the shift ends before it starts")
        if starts_at is not None and ends_at - starts_at > timedelta(hours=24):
            raise ValueError("a shift is at most 24 hours")
        return ends_at


class ShiftOut(Output):
    id: int
    vehicle_id: int
    service_date: date
    starts_at: datetime
    ends_at: datetime
    depot_lat: float
    depot_lon: float
    breaks: list[dict[str, Any]]


class ManifestStopOut(Output):
    id: int
    seq: int
    kind: str
    status: str
    booking_id: int | None
    patient_name: str | None = None
    mobility: Mobility | None = None
    companions: int | None = None
    address: str | None = None
    lat: float | None
    lon: float | None
    planned_arrival: datetime
    planned_start: datetime
    planned_departure: datetime


class ManifestOut(Output):
    vehicle_id: int
    service_date: date
    stops: list[ManifestStopOut]


class StopStatusIn(Input):
    status: Annotated[str, Field(pattern=r"^(under_way|done|no_show)$")]


class EtaOut(Output):
    booking_id: int
    vehicle_id: int
    eta_at: datetime
    eta_s: int
    position_age_s: float | None


class ImportErrorOut(Output):
    column: str = Field(description="The file's column (or 'row' for the row as a whole)")
    message: str


class ImportRowOut(Output):
    row: int = Field(description="The spreadsheet's row number (the header is row 1)")
    errors: list[ImportErrorOut]
    patient: str
    patient_id: int | None = Field(description="Null for a patient the import will create")
    new_patient: bool
    destination: str
    appointment_at: datetime | None
    pickup_window_start: datetime | None
    pickup_window_end: datetime | None
    duplicate_of: int | None = Field(description="The booking this ride already is (skipped)")
    booking_id: int | None = Field(description="The booking made (committed imports)")


class ImportOut(Output):
    committed: bool = Field(description="False for a dry run: nothing was written")
    rows: int
    valid: int = Field(description="Rows that are (or, in a dry run, would be) booked")
    created: int
    duplicates: int
    failed: int
    ignored_columns: list[str] = Field(description="Columns the import does not read")
    results: list[ImportRowOut]
