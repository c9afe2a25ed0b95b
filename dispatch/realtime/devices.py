"""Which vehicle a Traccar Client / OsmAnd device identifier belongs to (and in which unit
its phone reports speed), cached briefly so thousands of one-fix requests per second do not
each cost a database query; and a limit on unknown identifiers per client address, so the
identifier (the protocol's only credential) cannot be guessed by trying them all."""

from __future__ import annotations

import math
from dataclasses import dataclass

from sqlalchemy import select

from dispatch.clock import SYSTEM_CLOCK, Clock
from dispatch.db.session import Database
from dispatch.models import Vehicle


@dataclass(frozen=True, slots=True)
class PairedDevice:
    vehicle_id: int
    #: What ``speed`` in this phone's query/form reports means: "knots" or "mps".
    speed_unit: str


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
        self._cache: dict[str, tuple[PairedDevice | None, float]] = {}
        #: Bumped by ``forget``: a lookup that read the database before a pairing changed
        #: must not cache what it read after the change was announced.
        self._generation = 0

    def cached(self, device_id: str) -> tuple[bool, PairedDevice | None]:
        """``(True, device)`` when the cache knows the identifier (device None: known to be
        unpaired), ``(False, None)`` when only the database can tell."""
        hit = self._cache.get(device_id)
        if hit is not None and hit[1] > self.clock.monotonic():
            return True, hit[0]
        return False, None

    async def lookup(self, device_id: str) -> PairedDevice | None:
        """The paired vehicle, or None for an unknown device (cached too, against floods)."""
        known, device = self.cached(device_id)
        if known:
            return device
        generation = self._generation
        async with self.db.unit_of_work(read_only=True) as uow:
            row = (
                await uow.session.execute(
                    select(Vehicle.id, Vehicle.speed_unit).where(Vehicle.device_id == device_id)
                )
            ).first()
        device = None if row is None else PairedDevice(row[0], str(row[1]))
        if generation != self._generation:
            return device  # answered, but not remembered: the pairing changed meanwhile
        if len(self._cache) >= self.max_entries:
            self._cache.clear()
        self._cache[device_id] = (device, self.clock.monotonic() + self.ttl_s)
        return device

    async def vehicle_for(self, device_id: str) -> int | None:
        device = await self.lookup(device_id)
        return None if device is None else device.vehicle_id

    def forget(self, device_id: str | None = None) -> None:
        self._generation += 1
        if device_id is None:
            self._cache.clear()
        else:
            self._cache.pop(device_id, None)


class UnknownDeviceLimiter:
    """At most ``per_window`` distinct unknown identifiers per client address per window.

    A default Traccar identifier has six to eight digits: unlimited, a script finds paired
    ones in minutes. Past the limit the address is answered 429 before any database
    lookup (phones whose pairing is already cached keep working behind the same NAT).
    Distinct identifiers are counted, so one misconfigured phone resending its own unknown
    identifier does not lock out its neighbours. Counts live in this process, like the
    other rate limits (``auth/ratelimit.py``)."""

    def __init__(
        self,
        per_window: int = 20,
        window_s: float = 60.0,
        max_addresses: int = 10_000,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.per_window = per_window
        self.window_s = window_s
        self.max_addresses = max_addresses
        self.clock = clock
        self._seen: dict[str, tuple[int, set[str]]] = {}  # address -> (window, ids)

    def _current(self, address: str) -> tuple[int, set[str]]:
        window = int(self.clock.monotonic() // self.window_s)
        entry = self._seen.get(address)
        if entry is None or entry[0] != window:
            return window, set()
        return entry

    def _wait(self, window: int) -> int:
        return max(1, math.ceil((window + 1) * self.window_s - self.clock.monotonic()))

    def blocked(self, address: str) -> int | None:
        """Seconds until ``address`` may try an unknown identifier again, or None."""
        window, ids = self._current(address)
        return self._wait(window) if len(ids) >= self.per_window else None

    def unknown(self, address: str, device_id: str) -> None:
        """Count an identifier that belongs to no vehicle."""
        window, ids = self._current(address)
        if len(self._seen) >= self.max_addresses and address not in self._seen:
            self._seen.clear()  # bounded memory under a flood of addresses
        ids.add(device_id)
        self._seen[address] = (window, ids)
