"""Where a simulated vehicle is at a given time.

A load test needs plausible, moving, distinct positions, not a road network: each vehicle
drives in a straight line at about 30 km/h, turning a little at random, and bounces off
the edges of a box in central Bangkok so it never leaves the service area.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

#: Central Bangkok: (min_lat, max_lat, min_lon, max_lon).
BANGKOK_BOX = (13.70, 13.80, 100.49, 100.58)
EARTH_RADIUS_M = 6_371_000.0
DEFAULT_SPEED_MPS = 30 / 3.6
#: Standard deviation of the heading change over one second, degrees (a random walk).
TURN_SD_DEG_PER_SQRT_S = 4.0


@dataclass(slots=True)
class Vehicle:
    """One vehicle's motion state; ``t`` is the time (seconds) of ``lat``/``lon``."""

    lat: float
    lon: float
    heading: float  # degrees clockwise from north, 0..360
    speed_mps: float
    t: float


class Mover:
    """Moves every vehicle of a fleet forward in time, reproducibly for a given seed."""

    def __init__(
        self,
        box: tuple[float, float, float, float] = BANGKOK_BOX,
        *,
        seed: int | None = None,
        speed_mps: float = DEFAULT_SPEED_MPS,
    ) -> None:
        self.box = box
        self.speed_mps = speed_mps
        self.rng = random.Random(seed)

    def spawn(self, t: float) -> Vehicle:
        min_lat, max_lat, min_lon, max_lon = self.box
        return Vehicle(
            lat=self.rng.uniform(min_lat, max_lat),
            lon=self.rng.uniform(min_lon, max_lon),
            heading=self.rng.uniform(0.0, 360.0),
            speed_mps=self.speed_mps * self.rng.uniform(0.85, 1.15),
            t=t,
        )

    def advance(self, v: Vehicle, t: float) -> Vehicle:
        """Move ``v`` (in place) to time ``t``; a time not after ``v.t`` leaves it still."""
        dt = t - v.t
        if dt <= 0:
            return v
        v.heading = (v.heading + self.rng.gauss(0.0, TURN_SD_DEG_PER_SQRT_S * math.sqrt(dt))) % 360
        distance = v.speed_mps * dt
        rad = math.radians(v.heading)
        dlat = math.degrees(distance * math.cos(rad) / EARTH_RADIUS_M)
        dlon = math.degrees(
            distance * math.sin(rad) / (EARTH_RADIUS_M * math.cos(math.radians(v.lat)))
        )
        v.lat, flip_lat = _reflect(v.lat + dlat, self.box[0], self.box[1])
        v.lon, flip_lon = _reflect(v.lon + dlon, self.box[2], self.box[3])
        if flip_lat:  # bounced off the north or south edge: mirror the heading
            v.heading = (180.0 - v.heading) % 360
        if flip_lon:  # east or west edge
            v.heading = (360.0 - v.heading) % 360
        v.t = t
        return v


def _reflect(x: float, low: float, high: float) -> tuple[float, bool]:
    """Fold ``x`` back into [low, high] like a ball off a wall; True when it bounced an odd
    number of times (the direction along this axis is then reversed)."""
    span = high - low
    offset = (x - low) % (2 * span)
    if offset <= span:
        return low + offset, False
    return high - (offset - span), True
