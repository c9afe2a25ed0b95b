"""A GPS fix as the simulated phones send it, and the bodies of the three ways to send it.

Each fix carries the moment it is sent as ``recorded_at`` (earlier fixes of a batch are
back-dated at the recording interval, as a phone that buffered them would), so a control
screen can measure GPS-sent→screen-received latency from the fix time ``t`` it receives.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from simulator.movement import Mover
from simulator.movement import Vehicle as Motion

KNOTS_PER_MPS = 1 / 0.514444
MAX_BATCH = 500


@dataclass(frozen=True, slots=True)
class FixPoint:
    t_ms: int
    lat: float
    lon: float
    speed_mps: float
    heading: float


def iso_ms(t_ms: int) -> str:
    """ISO-8601 UTC with milliseconds, from integer milliseconds (no float rounding, so the
    server reads back exactly ``t_ms``)."""
    moment = datetime.fromtimestamp(t_ms // 1000, UTC).replace(microsecond=(t_ms % 1000) * 1000)
    return moment.isoformat(timespec="milliseconds")


class Track:
    """One vehicle's motion and the time of its last fix (kept strictly increasing, since
    the server treats a repeated (vehicle, time) as a duplicate)."""

    def __init__(self, mover: Mover, motion: Motion) -> None:
        self.mover = mover
        self.motion = motion
        self.last_ms = 0

    def take(self, now_ms: int, count: int, period_ms: float) -> list[FixPoint]:
        """``count`` fixes, the newest at ``now_ms``, earlier ones ``period_ms`` apart."""
        out: list[FixPoint] = []
        for j in range(count):
            t = max(now_ms - round((count - 1 - j) * period_ms), self.last_ms + 1)
            self.last_ms = t
            m = self.mover.advance(self.motion, t / 1000)
            out.append(FixPoint(t, round(m.lat, 6), round(m.lon, 6), m.speed_mps, m.heading))
        return out


def batch_body(points: list[FixPoint]) -> bytes:
    return json.dumps({"fixes": [fix_json(p) for p in points]}, separators=(",", ":")).encode()


def fix_json(p: FixPoint) -> dict[str, Any]:
    return {
        "lat": p.lat,
        "lon": p.lon,
        "recorded_at": iso_ms(p.t_ms),
        "speed_mps": round(p.speed_mps, 2),
        "heading": round(p.heading, 1),
        "accuracy_m": 5.0,
        "battery_pct": 80.0,
    }


def osmand_query(device: str, p: FixPoint) -> str:
    """Traccar Client's OsmAnd parameters; speed in knots, time in epoch milliseconds."""
    return (
        f"id={device}&lat={p.lat:.6f}&lon={p.lon:.6f}&timestamp={p.t_ms}"
        f"&speed={p.speed_mps * KNOTS_PER_MPS:.2f}&bearing={p.heading:.1f}&accuracy=5&batt=80"
    )
