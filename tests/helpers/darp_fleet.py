"""Two depots, two rides and two vans (tests of the scheduler's fleet costs)."""

from __future__ import annotations

import numpy as np

from dispatch.routing.darp import Request, TimeWindow, Vehicle

H, M = 3600, 60
# Depots 0 (west) and 1 (east); ride A from 2 to 3 in the west, ride B from 4 to 5 in the
# east. West and east are 20 minutes apart; every place is 5 minutes from its neighbours.
WEST, EAST = [0, 2, 3], [1, 4, 5]
TRAVEL = np.full((6, 6), 20 * M, dtype=np.int64)
for side in (WEST, EAST):
    for a in side:
        for b in side:
            TRAVEL[a, b] = 5 * M
np.fill_diagonal(TRAVEL, 0)
RIDES = (
    Request(
        "A", 2, 3, {"seated": 1}, pickup_window=TimeWindow(8 * H, 8 * H + 15 * M), max_ride=15 * M
    ),
    Request(
        "B", 4, 5, {"seated": 1}, pickup_window=TimeWindow(10 * H, 10 * H + 15 * M), max_ride=15 * M
    ),
)
SHIFT = TimeWindow(7 * H, 16 * H)


def vans(cost_min: float) -> tuple[Vehicle, ...]:
    return tuple(
        Vehicle(name, {"seated": 2}, depot, depot, SHIFT, fixed_cost=cost_min * M)
        for name, depot in (("west", 0), ("east", 1))
    )
