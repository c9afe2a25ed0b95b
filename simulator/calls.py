"""The dispatcher of a load run: incidents created at a steady rate beside the GPS load,
so the server's write path for calls is measured under it."""

from __future__ import annotations

import random
import time
from collections import Counter
from typing import Any

import httpx

from simulator.movement import BANGKOK_BOX
from simulator.stats import Histogram, error_kind


class Calls:
    """A dispatcher taking calls at a steady rate (``POST /incidents``)."""

    def __init__(self, clients: list[httpx.AsyncClient], codes: list[str], seed: int | None):
        self.clients = clients
        self.codes = codes
        self.rng = random.Random(seed)
        self.created = 0
        self.errors: Counter[str] = Counter()
        self.latency_ms = Histogram()
        self._n = 0

    async def send(self, _item: int) -> None:
        client = self.clients[self._n % len(self.clients)]
        self._n += 1
        min_lat, max_lat, min_lon, max_lon = BANGKOK_BOX
        body = {
            "lat": round(self.rng.uniform(min_lat, max_lat), 6),
            "lon": round(self.rng.uniform(min_lon, max_lon), 6),
            "chief_complaint": self.rng.choice(self.codes),
        }
        started = time.monotonic()
        try:
            response = await client.post("/incidents", json=body)
        except httpx.HTTPError as exc:
            self.errors[error_kind(exc)] += 1
            return
        if response.status_code == 201:
            self.created += 1
            self.latency_ms.add(round((time.monotonic() - started) * 1000))
        else:
            self.errors[f"http_{response.status_code}"] += 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "created": self.created,
            "errors": dict(self.errors),
            "latency_ms": self.latency_ms.summary(),
        }
