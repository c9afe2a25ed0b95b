"""The load a benchmark sends: emergency calls over HTTP, checked and timed."""

from __future__ import annotations

import time
from collections.abc import Coroutine
from typing import Any, TypeVar

import httpx
import numpy as np

from dispatch.routing.base import LatLon

T = TypeVar("T")

#: A mix of red, yellow and green calls (codes of the default complaint table).
COMPLAINTS = (
    "cardiac_arrest",
    "stroke",
    "chest_pain",
    "major_trauma",
    "breathing_difficulty",
    "road_traffic_accident",
    "seizure",
    "fall",
    "abdominal_pain",
    "fever",
)


def expect(response: httpx.Response, status: int) -> dict[str, Any]:
    """The JSON body of ``response``; a wrong status fails the run (figures of failed calls
    would be meaningless)."""
    if response.status_code != status:
        raise RuntimeError(
            f"{response.request.method} {response.request.url.path}: expected {status}, "
            f"got {response.status_code}: {response.text[:500]}"
        )
    body: dict[str, Any] = response.json()
    return body


def emergency_call(point: LatLon, rng: np.random.Generator) -> dict[str, Any]:
    """The body of ``POST /incidents`` for a call at ``point`` with a random complaint."""
    return {
        "lat": point.lat,
        "lon": point.lon,
        "chief_complaint": str(rng.choice(COMPLAINTS)),
        "address_text": "benchmark call",
    }


async def timed(call: Coroutine[Any, Any, T]) -> tuple[T, float]:
    """The result of ``call`` and its wall-clock seconds."""
    started = time.perf_counter()
    result = await call
    return result, time.perf_counter() - started
