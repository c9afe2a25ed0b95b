"""The control room's full picture, sent when a screen connects or must reload."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from dispatch.db.session import Database
from dispatch.fleet.schemas import VehicleOut
from dispatch.hospitals.schemas import HospitalOut
from dispatch.incidents.schemas import AssignmentOut, IncidentOut
from dispatch.models import Assignment, Hospital, Incident, Vehicle
from dispatch.models.enums import OPEN_INCIDENT_STATUSES


async def build(db: Database) -> dict[str, Any]:
    async with db.unit_of_work(read_only=True) as uow:
        s = uow.session
        vehicles = (await s.scalars(select(Vehicle).order_by(Vehicle.call_sign))).all()
        incidents = (
            await s.scalars(
                select(Incident)
                .where(Incident.status.in_(OPEN_INCIDENT_STATUSES))
                .order_by(Incident.created_at)
            )
        ).all()
        assignments = (
            await s.scalars(select(Assignment).where(Assignment.is_active.is_(True)))
        ).all()
        hospitals = (await s.scalars(select(Hospital).order_by(Hospital.name))).all()
    return {
        "vehicles": [VehicleOut.model_validate(v).model_dump(mode="json") for v in vehicles],
        "incidents": [IncidentOut.model_validate(i).model_dump(mode="json") for i in incidents],
        "assignments": [
            AssignmentOut.model_validate(a).model_dump(mode="json") for a in assignments
        ],
        "hospitals": [HospitalOut.model_validate(h).model_dump(mode="json") for h in hospitals],
    }
