"""Seeded dial-a-ride instances shaped like Cordeau's "a" family, at sizes it does not have.

Why: the shared benchmark stops at 96 requests, and the solver's weak spot is past 100. The
instances keep the family's shape so figures stay comparable: points uniform in a 20 × 20
square around the depot, distance = travel time in minutes, 3 minutes of service, one seat
per passenger, 3 seats per vehicle, 30 minutes at most on board, a 15-minute window on one
end of each ride (the pickup for the first half of the requests, the drop-off for the
other) and the whole day on the other end, and about 12 requests per vehicle on a 12-hour
horizon. Windows are placed so that every ride alone fits a vehicle's day. The same size
and seed give the same instance on every machine (:class:`random.Random`, no numpy RNG).
"""

from __future__ import annotations

import math
import random

import numpy as np

from dispatch.routing.darp.cordeau import CordeauInstance

HORIZON = 720.0  # minutes a vehicle may be out (the family's largest)
PER_VEHICLE = 12  # requests per vehicle, as in a8-96
HALF_SIDE = 10.0
SERVICE = 3.0
CAPACITY = 3
MAX_RIDE = 30.0
WINDOW = 15.0
WHOLE_DAY = 1440.0


def generate_cordeau(requests: int, seed: int, vehicles: int | None = None) -> CordeauInstance:
    """An instance named ``g{vehicles}-{requests}-s{seed}``."""
    if requests < 2:
        raise ValueError("at least 2 requests")
    m = vehicles if vehicles is not None else math.ceil(requests / PER_VEHICLE)
    rng = random.Random(f"cordeau-style:{requests}:{seed}")
    n = requests
    xy = np.zeros((2 * n + 2, 2), dtype=np.float64)
    for row in range(1, 2 * n + 1):
        xy[row] = (
            round(rng.uniform(-HALF_SIDE, HALF_SIDE), 3),
            round(rng.uniform(-HALF_SIDE, HALF_SIDE), 3),
        )
    service = np.full(2 * n + 2, SERVICE)
    service[[0, 2 * n + 1]] = 0.0
    load = np.zeros(2 * n + 2, dtype=np.int64)
    load[1 : n + 1] = 1
    load[n + 1 : 2 * n + 1] = -1
    earliest = np.zeros(2 * n + 2)
    latest = np.full(2 * n + 2, WHOLE_DAY)
    latest[[0, 2 * n + 1]] = HORIZON
    # Bounds keep a lone ride feasible: reach the pickup from the depot, ride, go back.
    longest = 2 * HALF_SIDE * math.sqrt(2)
    half = longest / 2
    for i in range(1, n + 1):
        if i <= n // 2:  # the pickup is booked: leave home at a time
            opens = rng.randint(
                math.ceil(half), int(HORIZON - WINDOW - 2 * SERVICE - longest - half)
            )
            earliest[i], latest[i] = opens, opens + WINDOW
        else:  # the drop-off is booked: be there by a time
            low = math.ceil(half + SERVICE + longest)
            opens = rng.randint(low, int(HORIZON - WINDOW - SERVICE - half))
            earliest[n + i], latest[n + i] = opens, opens + WINDOW
    return CordeauInstance(
        name=f"g{m}-{n}-s{seed}",
        vehicles=m,
        requests=n,
        max_duration=HORIZON,
        capacity=CAPACITY,
        max_ride=MAX_RIDE,
        xy=xy,
        service=service,
        load=load,
        earliest=earliest,
        latest=latest,
    )


def format_cordeau(inst: CordeauInstance) -> str:
    """The instance in the family's text format (read back by :func:`.cordeau.read_cordeau`)."""
    head = (
        f"{inst.vehicles} {inst.requests} {inst.max_duration:g} {inst.capacity} {inst.max_ride:g}"
    )
    lines = [head]
    for row in range(2 * inst.requests + 2):
        x, y = inst.xy[row]
        lines.append(
            f"{row} {x:.3f} {y:.3f} {inst.service[row]:g} {int(inst.load[row])} "
            f"{inst.earliest[row]:g} {inst.latest[row]:g}"
        )
    return "\n".join(lines) + "\n"
