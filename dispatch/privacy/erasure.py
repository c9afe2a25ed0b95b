"""Erasing a patient's personal data (Thailand PDPA s.33, Vietnam Decree 13/2023 art. 16).

What goes is exactly what the models declare personal (``dispatch.models.privacy``), on
the patient, on every booking of theirs and on the planned stops of those bookings:
names, phone, date of birth, addresses, notes, a home's and a planned stop's coordinates
become empty; what may not be empty is replaced: a name by ``[erased]``, a ride's pickup
and destination by coordinates coarsened to two decimals (about 1 km), so the rides still
count in the statistics (distances, punctuality, who drove) without pointing at a home.
Ids, times, statuses and mobility stay: the operational records and the audit trail
(which never held the values) remain consistent. Answers kept for a resent write
(``Idempotency-Key``, 24 hours) are erased the same way, so a resend gets the patient as
the API now shows them, and the write still is not done twice.

The audit log records that an erasure happened, by whom, under which request reference,
and which fields were cleared; never a value. Erasing twice changes nothing the second
time and logs nothing more.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Final

from sqlalchemy import Float, select
from sqlalchemy.orm import DeclarativeBase

from dispatch.audit import service as audit
from dispatch.db.session import UnitOfWork
from dispatch.errors import Conflict, InvalidInput, NotFound
from dispatch.models import IdempotencyRecord, Patient, PlanStop, TransportBooking
from dispatch.models.enums import BookingStatus
from dispatch.models.privacy import is_personal

#: What a personal text that may not be empty becomes.
ERASED: Final = "[erased]"
#: Decimals coordinates keep: 0.01° is about 1.1 km.
COORDINATE_DECIMALS: Final = 2
#: A request reference (a ticket number), never a name or a sentence.
REFERENCE = re.compile(r"^[\w.:/#-]{1,64}$")

_OPEN = frozenset(
    {
        BookingStatus.REQUESTED,
        BookingStatus.PLANNED,
        BookingStatus.VEHICLE_EN_ROUTE,
        BookingStatus.ON_BOARD,
    }
)


@dataclass(frozen=True)
class Operator:
    """Who erases, from the command line: an administrator of the server, not a login."""

    name: str
    user_id: int | None = None

    @property
    def label(self) -> str:
        return f"cli:{self.name}"


@dataclass
class Erasure:
    patient_id: int
    booking_ids: list[int] = field(default_factory=list)
    plan_stops: int = 0
    #: Answers kept for resent writes that held the patient's data.
    stored_answers: int = 0
    #: Fields actually cleared, per table (empty: the patient had been erased already).
    fields: dict[str, list[str]] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return bool(self.fields)


def erased_value(column: Any, value: Any) -> Any:
    """What a personal column's value becomes."""
    if value is None or column.nullable:
        return None
    if isinstance(column.type, Float):
        return round(value, COORDINATE_DECIMALS)
    return ERASED


def anonymise(row: DeclarativeBase) -> set[str]:
    """Erase ``row``'s personal columns in place; the names of those that changed."""
    changed = set()
    for column in type(row).__table__.columns:
        if not is_personal(column):
            continue
        value = getattr(row, column.key)
        new = erased_value(column, value)
        if new != value:
            setattr(row, column.key, new)
            changed.add(column.key)
    return changed


async def erase_patient(
    uow: UnitOfWork, actor: audit.Actor, patient_id: int, *, reference: str | None = None
) -> Erasure:
    """Erase one patient's personal data. Open rides (requested, planned, under way) must
    be cancelled or finished first: a ride cannot be driven to an erased address."""
    if reference is not None and not REFERENCE.match(reference):
        raise InvalidInput(
            "reference", "A request reference is a ticket number (letters, digits, ./:#-_)."
        )
    patient = await uow.session.scalar(
        uow.strategy.lock_for_update(select(Patient).where(Patient.id == patient_id))
    )
    if patient is None:
        raise NotFound(f"Patient {patient_id} does not exist.")
    bookings = list(
        await uow.session.scalars(
            select(TransportBooking)
            .where(TransportBooking.patient_id == patient_id)
            .order_by(TransportBooking.id)
        )
    )
    still_open = [b.id for b in bookings if b.status in _OPEN]
    if still_open:
        raise Conflict(
            f"Patient {patient_id} still has open rides ({', '.join(map(str, still_open))}): "
            "cancel them first, then erase.",
            open_booking_ids=still_open,
        )
    result = Erasure(patient_id, booking_ids=[b.id for b in bookings])
    fields: dict[str, set[str]] = {}
    fields.setdefault("patients", set()).update(anonymise(patient))
    for booking in bookings:
        changed = anonymise(booking)
        fields.setdefault("transport_bookings", set()).update(changed)
        if changed:
            audit.record(
                uow,
                actor,
                "booking.erased",
                booking,
                after={"patient_id": patient_id, "fields": sorted(changed), "reference": reference},
            )
    if bookings:
        stops = await uow.session.scalars(
            select(PlanStop).where(PlanStop.booking_id.in_(result.booking_ids))
        )
        for stop in stops:
            changed = anonymise(stop)
            result.plan_stops += bool(changed)
            fields.setdefault("plan_stops", set()).update(changed)
    result.stored_answers = await _erase_stored_answers(uow, patient_id)
    if result.stored_answers:
        fields.setdefault("idempotency_keys", set()).add("body")
    result.fields = {table: sorted(names) for table, names in fields.items() if names}
    if result.changed:
        await uow.session.flush()
        audit.record(
            uow,
            actor,
            "patient.erased",
            patient,
            after={
                "patient_id": patient_id,
                "booking_ids": result.booking_ids,
                "plan_stops": result.plan_stops,
                "fields": result.fields,
                "reference": reference,
            },
        )
    return result


def _personal_keys(model: type[DeclarativeBase]) -> dict[str, Any]:
    return {c.key: c for c in model.__table__.columns if is_personal(c)}


_RIDE_KEYS: Final = _personal_keys(TransportBooking)
_PATIENT_KEYS: Final = _personal_keys(Patient)


def _erase_json(node: Any, patient_id: int, is_patient: bool) -> bool:
    """Erase, in a JSON answer, the patient (when ``is_patient``: an answer about
    ``/patients``) and every object with the patient's ``patient_id`` (their rides);
    whether anything changed."""
    changed = False
    if isinstance(node, list):
        for item in node:
            changed |= _erase_json(item, patient_id, is_patient)
        return changed
    if not isinstance(node, dict):
        return False
    columns = None
    if node.get("patient_id") == patient_id:
        columns = _RIDE_KEYS
    elif is_patient and node.get("id") == patient_id:
        columns = _PATIENT_KEYS
    for key, value in node.items():
        if columns is not None and key in columns:
            new = erased_value(columns[key], value)
            if new != value:
                node[key] = new
                changed = True
        elif isinstance(value, dict | list):
            changed |= _erase_json(value, patient_id, is_patient)
    return changed


async def _erase_stored_answers(uow: UnitOfWork, patient_id: int) -> int:
    """Erase the patient from every kept answer (they live 24 hours: the table is small);
    how many changed."""
    changed = 0
    records = await uow.session.scalars(
        select(IdempotencyRecord).where(IdempotencyRecord.body.is_not(None))
    )
    for record in records:
        try:
            answer = json.loads(record.body or b"")
        except ValueError:
            continue
        about_patients = record.request_line.split(" ", 1)[-1].startswith("/patients")
        if _erase_json(answer, patient_id, about_patients):
            # as the API writes JSON, so a resend gets the same bytes as a fresh answer
            record.body = json.dumps(answer, ensure_ascii=False, separators=(",", ":")).encode()
            changed += 1
    return changed
