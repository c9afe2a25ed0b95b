"""A short-lived cache of resolved bearer tokens for the GPS hot path: a phone posting
fixes every second need not cost a database lookup each time. A revoked token keeps
working for at most ``ttl_s`` on this path."""

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

    @staticmethod
    def _key(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()  # never keep tokens in memory

    def get(self, token: str) -> Principal | None:
        hit = self._entries.get(self._key(token))
        if hit is None or hit[1] < self.clock.monotonic():
            return None
        return hit[0]

    def put(self, token: str, principal: Principal) -> None:
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
        self._entries[self._key(token)] = (principal, self.clock.monotonic() + self.ttl_s)

    def clear(self) -> None:
        self._entries.clear()
