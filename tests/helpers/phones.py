"""Talking to the GPS doors as phones do, and reading what the server counted.

``DropCount`` reads ``dispatch_fixes_dropped_total`` from the process's registry (the
app under test runs in the test's process, in-process or on uvicorn in the same loop):
take one before an action, then ``delta()`` is exactly what that action added, by reason.
"""

from __future__ import annotations

from datetime import datetime

import httpx
from prometheus_client import REGISTRY

from dispatch.realtime.fixes import DROP_REASONS
from tests.helpers.world import World

METRIC = "dispatch_fixes_dropped_total"


def dropped_so_far(reason: str) -> float:
    return REGISTRY.get_sample_value(METRIC, {"reason": reason}) or 0.0


class DropCount:
    """The dropped counter per reason at creation; ``delta()`` is the increase since."""

    def __init__(self) -> None:
        self.start = {reason: dropped_so_far(reason) for reason in DROP_REASONS}

    def delta(self) -> dict[str, int]:
        """Only the reasons that rose, e.g. ``{"too_old": 1}``."""
        rises = {r: int(dropped_so_far(r) - before) for r, before in self.start.items()}
        return {reason: n for reason, n in rises.items() if n}


async def pair(
    client: httpx.AsyncClient,
    world: World,
    unit: str,
    device: str,
    speed_unit: str | None = None,
) -> int:
    """Pair a Traccar Client / OsmAnd identifier with a unit (as a supervisor does)."""
    vehicle_id = world.vehicle_ids[unit]
    body: dict[str, str] = {"device_id": device}
    if speed_unit is not None:
        body["speed_unit"] = speed_unit
    response = await client.patch(
        f"/vehicles/{vehicle_id}", json=body, headers=world.headers("supervisor")
    )
    assert response.status_code == 200, response.text
    return vehicle_id


def epoch(at: datetime) -> str:
    return str(int(at.timestamp()))
