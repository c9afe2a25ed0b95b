"""The writes that take an ``Idempotency-Key``, as a test sends them, and what each one
creates (to count): shared by the idempotency tests."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import func, select

from dispatch.db.session import Database
from dispatch.models import Assignment, IdempotencyRecord, Incident, Patient, TransportBooking
from dispatch.models.base import Base
from tests.helpers.world import World

SCENE = {"lat": 13.7460, "lon": 100.5340, "chief_complaint": "cardiac_arrest"}


@dataclass(frozen=True)
class Write:
    """One keyed write: where, what, as whom, and the table it adds a row to."""

    path: str
    body: dict[str, Any]
    who: str
    creates: type[Base]


def new_key() -> str:
    return str(uuid.uuid4())


def keyed(world: World, who: str, key: str) -> dict[str, str]:
    return {**world.headers(who), "Idempotency-Key": key}


async def count(db: Database, model: type[Base]) -> int:
    async with db.unit_of_work(read_only=True) as uow:
        return int(await uow.session.scalar(select(func.count()).select_from(model)) or 0)


async def key_records(db: Database) -> int:
    return await count(db, IdempotencyRecord)


async def write_for(name: str, client: httpx.AsyncClient, world: World) -> Write:
    """The write called ``name`` (incident, assignment, patient, booking), ready to send."""
    if name == "incident":
        return Write("/incidents", dict(SCENE), "dispatcher", Incident)
    if name == "assignment":
        made = await client.post("/incidents", json=SCENE, headers=world.headers("dispatcher"))
        assert made.status_code == 201, made.text
        path = f"/incidents/{made.json()['id']}/assignments"
        return Write(path, {"vehicle_id": world.vehicle_ids["B1"]}, "dispatcher", Assignment)
    if name == "patient":
        body = {"full_name": "Somchai P.", "mobility": "wheelchair", "phone": "+66 81 234 5678"}
        return Write("/patients", body, "care_a", Patient)
    if name == "booking":
        start = (datetime.now(UTC) + timedelta(days=2)).replace(
            hour=2, minute=0, second=0, microsecond=0
        )
        body = {
            "patient_id": world.patient_a_id,
            "pickup_lat": 13.73,
            "pickup_lon": 100.55,
            "destination_lat": 13.7327,
            "destination_lon": 100.5354,
            "pickup_window_start": start.isoformat(),
            "pickup_window_end": (start + timedelta(minutes=30)).isoformat(),
        }
        return Write("/bookings", body, "care_a", TransportBooking)
    raise ValueError(name)


WRITES = ("incident", "assignment", "patient", "booking")
