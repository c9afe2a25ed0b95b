"""Which part of the live picture a control screen sees: the calls and units of its
dispatchers' area (their centre and every centre below it), as the REST API does.

The hub learns each call's and unit's centre once (from the database when a scoped screen
connects, then from the events: a new call carries its centre, a hand-over changes it),
so filtering an event is two dictionary lookups. A screen whose area is every centre (an
administrator, the root of the tree, a one-centre deployment) has no scope at all and
costs nothing. What the hub does not know (a unit created after the screen connected) is
not shown until the screen reconnects: a scoped screen never shows another area's data."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import or_, select

from dispatch import clock
from dispatch.db.session import Database
from dispatch.events import IncidentCreated, IncidentUpdated
from dispatch.models import Incident, Vehicle
from dispatch.models.enums import OPEN_INCIDENT_STATUSES
from dispatch.realtime.protocol import LogEntry

#: Closed calls this recent still get events (a late report, a reopened timeline).
RECENT = timedelta(days=2)


@dataclass
class CentreMap:
    """Each known call's and unit's centre, shared by a worker's scoped screens."""

    units: dict[int, int] = field(default_factory=dict)
    calls: dict[int, int] = field(default_factory=dict)

    async def load(self, db: Database) -> None:
        since = clock.now() - RECENT
        async with db.unit_of_work(read_only=True) as uow:
            units = await uow.session.execute(select(Vehicle.id, Vehicle.organisation_id))
            calls = await uow.session.execute(
                select(Incident.id, Incident.organisation_id).where(
                    or_(Incident.status.in_(OPEN_INCIDENT_STATUSES), Incident.created_at >= since)
                )
            )
            self.units.update({row[0]: row[1] for row in units})
            self.calls.update({row[0]: row[1] for row in calls})

    def learn(self, message: LogEntry) -> None:
        data = message["data"]
        if message["type"] in (IncidentCreated.NAME, IncidentUpdated.NAME):
            centre = data.get("organisation_id")
            if isinstance(centre, int) and isinstance(data.get("incident_id"), int):
                self.calls[data["incident_id"]] = centre


@dataclass(frozen=True)
class Scope:
    centres: frozenset[int]
    known: CentreMap

    def sees_vehicle(self, vehicle_id: int) -> bool:
        return self.known.units.get(vehicle_id) in self.centres

    def sees_event(self, message: LogEntry) -> bool:
        """An event about a call of the area, or (about no call) a unit of the area;
        events about neither (hospitals, standby posts) are everyone's. A unit of the
        area sent to a neighbour's call under mutual aid shows its state, not the call."""
        data = message["data"]
        incident_id, vehicle_id = data.get("incident_id"), data.get("vehicle_id")
        if isinstance(incident_id, int):
            return self.known.calls.get(incident_id) in self.centres
        if isinstance(vehicle_id, int):
            return self.sees_vehicle(vehicle_id)
        return True

    def picture(self, picture: dict[str, Any]) -> dict[str, Any]:
        """The connect-time snapshot cut to the area."""
        calls = {i["id"] for i in picture["incidents"] if i["organisation_id"] in self.centres}
        units = {v["id"] for v in picture["vehicles"] if v["organisation_id"] in self.centres}
        return {
            **picture,
            "vehicles": [v for v in picture["vehicles"] if v["id"] in units],
            "incidents": [i for i in picture["incidents"] if i["id"] in calls],
            "assignments": [a for a in picture["assignments"] if a["incident_id"] in calls],
        }
