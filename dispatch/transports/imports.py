"""A day of rides from a care centre's spreadsheet: checked row by row, shown before anything
is written, then booked in one unit of work (one re-plan per affected day, not one per ride).

A row names its patient (``patient``: the full name, with ``date_of_birth`` to tell two
namesakes apart, or ``patient_id``); a patient the centre does not have yet is created from
the same row (``mobility`` is then required; the pickup place becomes their home). The
destination is a hospital by name (English or local) or id, or a place (``destination_lat``,
``destination_lon``). Times are the centre's local time, as a clerk types them: ISO
(``2026-12-07 09:30``), day first (``07/12/2026 09:30``, Buddhist-era years such as 2569
too) or a spreadsheet date. Every problem is reported with its row and column; the rows
without one are booked, so a clerk fixes only the few that failed and imports those again.
A ride already booked (same patient, times and places, not cancelled) is skipped and named,
so importing the same file twice books nothing twice.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select

from dispatch import clock
from dispatch.auth.principal import Principal
from dispatch.db.session import UnitOfWork
from dispatch.errors import InvalidInput
from dispatch.models import Hospital, Patient, TransportBooking
from dispatch.models.enums import BookingStatus
from dispatch.transports import service
from dispatch.transports.config import TransportConfig
from dispatch.transports.duplicates import same_ride
from dispatch.transports.schemas import BookingCreate, PatientCreate
from dispatch.transports.tables import excel_day

#: The columns a file may have; any other is reported as ignored.
COLUMNS = (
    "patient",
    "patient_id",
    "date_of_birth",
    "phone",
    "mobility",
    "needs_escort",
    "pickup_address",
    "pickup_lat",
    "pickup_lon",
    "hospital",
    "destination_address",
    "destination_lat",
    "destination_lon",
    "appointment_at",
    "pickup_window_start",
    "pickup_window_end",
    "return_pickup_window_start",
    "return_pickup_window_end",
    "companions",
    "notes",
)
TIME_COLUMNS = (
    "appointment_at",
    "pickup_window_start",
    "pickup_window_end",
    "return_pickup_window_start",
    "return_pickup_window_end",
)
_PATIENT_FIELDS = {
    "full_name": "patient",
    "date_of_birth": "date_of_birth",
    "phone": "phone",
    "mobility": "mobility",
    "needs_escort": "needs_escort",
    "home_lat": "pickup_lat",
    "home_lon": "pickup_lon",
    "home_address": "pickup_address",
}
_BOOKING_FIELDS = {
    "patient_id": "patient",
    "destination_hospital_id": "hospital",
    **{c: c for c in COLUMNS if c not in ("patient", "patient_id", "hospital")},
}
_YES = {"yes", "y", "true", "1", "x", "ใช่", "có"}
_NO = {"", "no", "n", "false", "0", "ไม่", "không"}
_DAY_FIRST = re.compile(r"^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})(?:[ T](\d{1,2})[:.](\d{2}))?$")
TIME_HINT = "give the local time as 2026-12-07 09:30 or 07/12/2026 09:30"

#: Checks that a place can be served (raises ``InvalidInput`` naming the field).
PlaceCheck = Callable[[float, float, str], None]


@dataclass
class RowResult:
    row: int  # the spreadsheet's row number (the header is row 1)
    errors: list[dict[str, str]] = field(default_factory=list)
    patient: str = ""
    patient_id: int | None = None
    new_patient: bool = False
    destination: str = ""
    appointment_at: datetime | None = None
    pickup_window_start: datetime | None = None
    pickup_window_end: datetime | None = None
    duplicate_of: int | None = None
    booking_id: int | None = None

    def fail(self, column: str, message: str) -> None:
        self.errors.append({"column": column, "message": message})


@dataclass
class ImportResult:
    rows: list[RowResult]
    ignored_columns: list[str]
    committed: bool

    @property
    def valid(self) -> int:
        return sum(1 for r in self.rows if not r.errors and r.duplicate_of is None)

    @property
    def created(self) -> int:
        return sum(1 for r in self.rows if r.booking_id is not None)


@dataclass
class _Plan:
    """What a valid row will write."""

    result: RowResult
    patient: PatientCreate | None
    booking: dict[str, Any]


async def import_bookings(
    uow: UnitOfWork,
    actor: Principal,
    rows: list[dict[str, str]],
    cfg: TransportConfig,
    *,
    commit: bool,
    check_place: PlaceCheck,
    organisation_id: int | None = None,
    now: datetime | None = None,
) -> ImportResult:
    """Check every row; with ``commit``, book the rows that passed (see the module)."""
    now = now or clock.now()
    owner = await service.owner_organisation(uow, actor, organisation_id)
    tz = await service.centre_timezone(uow, owner)
    columns = list(rows[0]) if rows else []
    ignored = [c for c in columns if c not in COLUMNS]
    patients = await _patients(uow, owner)
    hospitals = await _hospitals(uow)
    known = await _active_bookings(uow, owner)
    plans: list[_Plan] = []
    results: list[RowResult] = []
    seen: list[tuple[int, dict[str, Any]]] = []  # rides of this file, for twins inside it
    for index, row in enumerate(rows, start=2):
        result = RowResult(row=index)
        results.append(result)
        plan = _check_row(row, result, tz, patients, hospitals, check_place, now)
        if plan is None:
            continue
        values = plan.booking
        twin = _twin(values, known) if result.patient_id is not None else None
        if twin is not None:
            result.duplicate_of = twin
            continue
        earlier = next((r for r, v in seen if _same(values, v)), None)
        if earlier is not None:
            result.fail("patient", f"The same ride as row {earlier}.")
            continue
        seen.append((index, values))
        plans.append(plan)
    if commit:
        await _write(uow, actor, owner, plans, cfg, now)
    return ImportResult(results, ignored, commit)


def _check_row(
    row: dict[str, str],
    result: RowResult,
    tz: tzinfo,
    patients: dict[tuple[str, date | None], list[Patient]],
    hospitals: dict[str, Hospital],
    check_place: PlaceCheck,
    now: datetime,
) -> _Plan | None:
    raw: dict[str, Any] = {c: row.get(c, "") for c in COLUMNS}
    times: dict[str, str] = {}
    for column in TIME_COLUMNS:
        if raw[column]:
            parsed = parse_local_time(raw[column], tz)
            if parsed is None:
                result.fail(column, f"'{raw[column]}' is not a time: {TIME_HINT}.")
            else:
                times[column] = parsed.isoformat()
    birth = _day(raw["date_of_birth"])
    if raw["date_of_birth"] and birth is None:
        result.fail("date_of_birth", "Give the date as 1948-03-21 or 21/03/1948.")
    result.patient = raw["patient"]
    patient = _find_patient(raw, birth, patients, result)
    hospital = None
    if raw["hospital"]:
        hospital = hospitals.get(_key(raw["hospital"]))
        if hospital is None:
            result.fail("hospital", f"No hospital is called '{raw['hospital']}'.")
        else:
            result.destination = hospital.name
    elif raw["destination_address"]:
        result.destination = raw["destination_address"]
    pickup = {k: raw[k] or None for k in ("pickup_lat", "pickup_lon", "pickup_address")}
    if patient is not None and pickup["pickup_lat"] is None and pickup["pickup_lon"] is None:
        pickup.update(pickup_lat=patient.home_lat, pickup_lon=patient.home_lon)
        pickup["pickup_address"] = pickup["pickup_address"] or patient.home_address
        if patient.home_lat is None:
            result.fail("pickup_lat", "Give the pickup place: the patient has no home place.")
    new_patient = None
    if patient is None and raw["patient"] and not result.errors:
        new_patient = _new_patient(raw, birth, result)
    if result.errors:
        return None
    body: dict[str, Any] = {
        "patient_id": patient.id if patient is not None else 1,  # the new one's, once made
        **pickup,
        "destination_hospital_id": hospital.id if hospital is not None else None,
        "companions": raw["companions"] or 0,
        **{k: raw[k] or None for k in ("destination_lat", "destination_lon", "notes")},
        "destination_address": raw["destination_address"] or None,
        **times,
    }
    try:
        booking = BookingCreate.model_validate(body)
        service.check_future(booking, now)
    except ValidationError as exc:
        for error in exc.errors():
            column = _BOOKING_FIELDS.get(str(error["loc"][0]) if error["loc"] else "", "row")
            result.fail(column, str(error["msg"]).removeprefix("Value error, "))
        return None
    except (InvalidInput, ValueError) as exc:
        column = _BOOKING_FIELDS.get(getattr(exc, "field", ""), "appointment_at")
        result.fail(column, str(exc))
        return None
    for lat, lon, name in (
        (booking.pickup_lat, booking.pickup_lon, "pickup_lat"),
        (booking.destination_lat, booking.destination_lon, "destination_lat"),
    ):
        if lat is not None and lon is not None:
            try:
                check_place(lat, lon, name)
            except InvalidInput as exc:
                result.fail(name, str(exc))
    if booking.destination_hospital_id is None and booking.destination_lat is None:
        result.fail("hospital", "Give the hospital (or destination_lat and destination_lon).")
    if result.errors:
        return None
    result.appointment_at = booking.appointment_at
    result.pickup_window_start = booking.pickup_window_start
    result.pickup_window_end = booking.pickup_window_end
    values = booking.model_dump()
    if hospital is not None and values["destination_lat"] is None:
        values.update(destination_lat=hospital.lat, destination_lon=hospital.lon)
    return _Plan(result, new_patient, values)


def _find_patient(
    raw: dict[str, Any],
    birth: date | None,
    patients: dict[tuple[str, date | None], list[Patient]],
    result: RowResult,
) -> Patient | None:
    if raw["patient_id"]:
        wanted = raw["patient_id"]
        found = next((p for ps in patients.values() for p in ps if str(p.id) == wanted), None)
        if found is None:
            result.fail("patient_id", f"The centre has no patient {wanted}.")
            return None
        result.patient, result.patient_id = found.full_name, found.id
        return found
    if not raw["patient"]:
        result.fail("patient", "Name the patient (or give patient_id).")
        return None
    name = _key(raw["patient"])
    matches = patients.get((name, birth), []) if birth else _by_name(patients, name)
    if len(matches) > 1:
        result.fail("date_of_birth", "Two patients have this name: give the date of birth.")
        return None
    if matches:
        result.patient_id = matches[0].id
        return matches[0]
    return None


def _by_name(patients: dict[tuple[str, date | None], list[Patient]], name: str) -> list[Patient]:
    return [p for (n, _), ps in patients.items() if n == name for p in ps]


def _new_patient(
    raw: dict[str, Any], birth: date | None, result: RowResult
) -> PatientCreate | None:
    if not raw["mobility"]:
        result.fail(
            "mobility", "A new patient needs their mobility (ambulatory, wheelchair, stretcher)."
        )
        return None
    escort = raw["needs_escort"].strip().lower()
    if escort not in _YES | _NO:
        result.fail("needs_escort", "Write yes or no.")
        return None
    body = {
        "full_name": raw["patient"],
        "date_of_birth": birth.isoformat() if birth else None,
        "phone": raw["phone"] or None,
        "mobility": raw["mobility"].strip().lower(),
        "needs_escort": escort in _YES,
        "home_lat": raw["pickup_lat"] or None,
        "home_lon": raw["pickup_lon"] or None,
        "home_address": raw["pickup_address"] or None,
    }
    try:
        patient = PatientCreate.model_validate(body)
    except ValidationError as exc:
        for error in exc.errors():
            column = _PATIENT_FIELDS.get(str(error["loc"][0]) if error["loc"] else "", "row")
            result.fail(column, str(error["msg"]).removeprefix("Value error, "))
        return None
    result.new_patient = True
    return patient


async def _write(
    uow: UnitOfWork,
    actor: Principal,
    owner: int,
    plans: list[_Plan],
    cfg: TransportConfig,
    now: datetime,
) -> None:
    made: dict[tuple[str, date | None], int] = {}
    for plan in plans:
        result, values = plan.result, dict(plan.booking)
        if plan.patient is not None:
            key = (_key(plan.patient.full_name), plan.patient.date_of_birth)
            if key not in made:
                data = plan.patient.model_copy(update={"organisation_id": owner})
                made[key] = (await service.create_patient(uow, actor, data)).id
            result.patient_id = made[key]
        values["patient_id"] = result.patient_id
        values["allow_duplicate"] = True  # twins were looked for above, over every date
        created = await service.create_booking(
            uow, actor, BookingCreate.model_validate(values), cfg, now=now
        )
        result.booking_id = created.booking.id


async def _patients(uow: UnitOfWork, owner: int) -> dict[tuple[str, date | None], list[Patient]]:
    found: dict[tuple[str, date | None], list[Patient]] = {}
    for patient in await uow.session.scalars(
        select(Patient).where(Patient.organisation_id == owner).order_by(Patient.id)
    ):
        found.setdefault((_key(patient.full_name), patient.date_of_birth), []).append(patient)
    return found


async def _hospitals(uow: UnitOfWork) -> dict[str, Hospital]:
    found: dict[str, Hospital] = {}
    for hospital in await uow.session.scalars(select(Hospital).order_by(Hospital.id)):
        for name in (str(hospital.id), hospital.name, hospital.name_local):
            if name:
                found.setdefault(_key(name), hospital)
    return found


async def _active_bookings(uow: UnitOfWork, owner: int) -> list[TransportBooking]:
    return list(
        await uow.session.scalars(
            select(TransportBooking).where(
                TransportBooking.organisation_id == owner,
                TransportBooking.status.not_in(
                    (BookingStatus.CANCELLED, BookingStatus.COMPLETED, BookingStatus.NO_SHOW)
                ),
                TransportBooking.return_of_id.is_(None),
            )
        )
    )


def _twin(values: dict[str, Any], known: list[TransportBooking]) -> int | None:
    for booking in known:
        if booking.patient_id == values["patient_id"] and same_ride(booking, values):
            return booking.id
    return None


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    keys = ("patient_id", "appointment_at", "pickup_window_start", "destination_hospital_id")
    same_patient = a["patient_id"] == b["patient_id"] if a.get("patient_id") else False
    return same_patient and all(a.get(k) == b.get(k) for k in keys[1:])


def _key(text: str) -> str:
    return " ".join(text.split()).casefold()


def _day(text: str) -> date | None:
    text = text.strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        pass
    match = _DAY_FIRST.match(text)
    if match:
        day, month, year = (int(match.group(i)) for i in (1, 2, 3))
        try:
            return date(year - 543 if year > 2400 else year, month, day)
        except ValueError:
            return None
    serial = excel_day(text)
    return serial.date() if serial else None


def parse_local_time(text: str, tz: tzinfo) -> datetime | None:
    """A time as a clerk writes it, in the centre's zone (see the module's docstring)."""
    parsed = _naive_or_aware(text.strip())
    if parsed is None:
        return None
    if parsed.year > 2400:  # a Buddhist-era year written the ISO way
        parsed = parsed.replace(year=parsed.year - 543)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=tz)
    return parsed.replace(microsecond=0)


def _naive_or_aware(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        pass
    match = _DAY_FIRST.match(text)
    if match and match.group(4) is not None:
        day, month, year, hour, minute = (int(match.group(i)) for i in range(1, 6))
        try:
            return datetime(year - 543 if year > 2400 else year, month, day, hour, minute)
        except ValueError:
            return None
    return excel_day(text)
