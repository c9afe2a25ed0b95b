"""A short-lived cache of resolved bearer tokens for the GPS hot path: a phone posting
fixes every second need not cost a database lookup each time.

A revoked token, a deactivated user or a password reset is announced to every worker
(``DeviceTokenRevoked`` / ``UserSessionsEnded`` through the bus; ``realtime.hub``), which
drops the matching entries here within moments. ``ttl_s`` is the fallback for when that
announcement cannot arrive (the bus is down): no entry outlives it."""

from __future__ import annotations

import hashlib

from dispatch.auth.principal import Principal
from dispatch.clock import SYSTEM_CLOCK, Clock


class PrincipalCache:
    def __init__(
        self, ttl_s: float = 30.0, max_entries: int = 50_000, clock: Clock = SYSTEM_CLOCK
    ) -> None:
        self.ttl_s = ttl_s
        self.clock = clock
        self.max_entries = max_entries
        self._entries: dict[str, tuple[Principal, float]] = {}
        #: Raised by every ``forget`` / ``clear``: a lookup that began before a revocation
        #: was handled must not put back what the revocation just dropped.
        self.generation = 0

    @staticmethod
    def _key(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()  # never keep tokens in memory

    def get(self, token: str) -> Principal | None:
        hit = self._entries.get(self._key(token))
        if hit is None or hit[1] < self.clock.monotonic():
            return None
        return hit[0]

    def put(self, token: str, principal: Principal, *, seen: int | None = None) -> None:
        """Cache ``principal``, unless a revocation was handled since ``seen`` (the
        ``generation`` read before the database lookup that found it)."""
        if seen is not None and seen != self.generation:
            return
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
        self._entries[self._key(token)] = (principal, self.clock.monotonic() + self.ttl_s)

    def forget(self, *, device_of: int | None = None, user_id: int | None = None) -> int:
        """Drop the device token of vehicle ``device_of`` and every token of ``user_id``;
        how many entries went (a scan: revocations are rare, lookups are not)."""
        doomed = [
            key
            for key, (p, _expires) in self._entries.items()
            if (p.is_device and device_of is not None and p.vehicle_id == device_of)
            or (user_id is not None and p.user_id == user_id)
        ]
        self.generation += 1
        for key in doomed:
            del self._entries[key]
        return len(doomed)

    def clear(self) -> None:
        self.generation += 1
        self._entries.clear()
