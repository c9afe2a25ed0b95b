"""ORM classes, one module per aggregate. Importing this package registers every table."""

from dispatch.models.alarm import CrewAlarm
from dispatch.models.assignment import Assignment
from dispatch.models.audit import AuditEntry
from dispatch.models.coverage import MoveUp, StandbyPost
from dispatch.models.fleet import Station, Vehicle
from dispatch.models.hospital import Hospital
from dispatch.models.idempotency import IdempotencyRecord
from dispatch.models.incident import Incident
from dispatch.models.offer import Offer
from dispatch.models.organisation import Organisation
from dispatch.models.outbox import OutboxEvent
from dispatch.models.position import PositionFix
from dispatch.models.transport import Patient, PlanStop, TransportBooking, TransportShift
from dispatch.models.user import User

__all__ = [
    "Assignment",
    "AuditEntry",
    "CrewAlarm",
    "Hospital",
    "IdempotencyRecord",
    "Incident",
    "MoveUp",
    "Offer",
    "Organisation",
    "OutboxEvent",
    "Patient",
    "PlanStop",
    "PositionFix",
    "StandbyPost",
    "Station",
    "TransportBooking",
    "TransportShift",
    "User",
    "Vehicle",
]
