"""Which vehicle a Traccar Client / OsmAnd device identifier belongs to, cached briefly so
thousands of one-fix requests per second do not each cost a database query."""

from __future__ import annotations

from sqlalchemy import select

from dispatch.clock import SYSTEM_CLOCK, Clock
from dispatch.db.session import Database
from dispatch.models import Vehicle


class DeviceDirectory:
    def __init__(
        self,
        db: Database,
        ttl_s: float = 30.0,
        max_entries: int = 100_000,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.db = db
        self.clock = clock
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._cache: dict[str, tuple[int | None, float]] = {}

    async def vehicle_for(self, device_id: str) -> int | None:
        """The vehicle id, or None for an unknown device (cached too, against floods)."""
        now = self.clock.monotonic()
        hit = self._cache.get(device_id)
        if hit is not None and hit[1] > now:
            return hit[0]
        async with self.db.unit_of_work(read_only=True) as uow:
            vehicle_id = await uow.session.scalar(
                select(Vehicle.id).where(Vehicle.device_id == device_id)
            )
        if len(self._cache) >= self.max_entries:
            self._cache.clear()
        self._cache[device_id] = (vehicle_id, now + self.ttl_s)
        return vehicle_id

    def forget(self, device_id: str | None = None) -> None:
        if device_id is None:
            self._cache.clear()
        else:
            self._cache.pop(device_id, None)
