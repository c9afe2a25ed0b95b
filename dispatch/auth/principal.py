"""Who is calling: a logged-in person or a vehicle's phone."""

from __future__ import annotations

from dataclasses import dataclass

from dispatch.models.enums import Role

OPERATIONAL_ROLES = frozenset({Role.DISPATCHER, Role.SUPERVISOR, Role.ADMIN})
MANAGER_ROLES = frozenset({Role.SUPERVISOR, Role.ADMIN})


@dataclass(frozen=True, slots=True)
class Principal:
    role: Role
    organisation_id: int
    user_id: int | None = None  # None for a device (vehicle phone)
    vehicle_id: int | None = None  # the driver's or device's own vehicle
    station_id: int | None = None  # station staff's station
    name: str = ""

    @property
    def is_device(self) -> bool:
        return self.user_id is None

    @property
    def is_operational(self) -> bool:
        """Dispatchers, supervisors and admins see everything operational."""
        return self.role in OPERATIONAL_ROLES

    @property
    def label(self) -> str:
        """How the audit log names the actor."""
        if self.is_device:
            return f"device:vehicle-{self.vehicle_id}"
        return f"user:{self.name or self.user_id}"
