"""Cordeau (2006) dial-a-ride instances mapped onto the scheduler's model.

The file gives coordinates; distance is Euclidean in double precision and travel time equals
distance. The solver needs integers, so :func:`to_problem` scales by ``scale`` and rounds
travel *up* (a schedule feasible with rounded-up legs is feasible with the true ones) and cost
to nearest. :func:`to_problem` with ``scale=None`` keeps floats: the problem in the instance's
own units on which plans are re-timed and verified.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from dispatch.routing.darp.matrices import euclidean
from dispatch.routing.darp.model import Problem, Request, TimeWindow, Vehicle

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class CordeauInstance:
    """Rows are node ids of the file: 0 start depot, 1..n pickups, n+i drop-offs, 2n+1 end."""

    name: str
    vehicles: int
    requests: int
    max_duration: float
    capacity: int
    max_ride: float
    xy: FloatArray
    service: FloatArray
    load: npt.NDArray[np.int64]
    earliest: FloatArray
    latest: FloatArray

    @property
    def distance(self) -> FloatArray:
        return euclidean(self.xy)


def read_cordeau(path: Path) -> CordeauInstance:
    """Parse ``aM-N.txt``: header ``m n T Q L`` then ``id x y service load earliest latest``."""
    lines = [ln.split() for ln in path.read_text().splitlines() if ln.strip()]
    m, n = int(lines[0][0]), int(lines[0][1])
    t_max, q, l_max = float(lines[0][2]), int(lines[0][3]), float(lines[0][4])
    rows = np.array([[float(x) for x in ln[:7]] for ln in lines[1 : 2 * n + 3]], dtype=np.float64)
    if rows.shape != (2 * n + 2, 7) or not np.array_equal(rows[:, 0], np.arange(2 * n + 2)):
        raise ValueError(f"{path.name}: expected {2 * n + 2} node lines numbered 0..{2 * n + 1}")
    return CordeauInstance(
        name=path.stem,
        vehicles=m,
        requests=n,
        max_duration=t_max,
        capacity=q,
        max_ride=l_max,
        xy=rows[:, 1:3].copy(),
        service=rows[:, 3].copy(),
        load=rows[:, 4].astype(np.int64),
        earliest=rows[:, 5].copy(),
        latest=rows[:, 6].copy(),
    )


def to_problem(inst: CordeauInstance, scale: int | None = 1000) -> Problem:
    """The instance as a :class:`Problem` (integers × ``scale``, or floats when None)."""
    n = inst.requests
    dist = inst.distance

    def t(x: float) -> float:
        return x if scale is None else round(x * scale)

    if scale is None:
        travel: npt.NDArray[np.int64] | FloatArray = dist
        cost: npt.NDArray[np.int64] | FloatArray = dist
    else:
        travel = np.ceil(dist * scale - 1e-7).astype(np.int64)
        cost = np.rint(dist * scale).astype(np.int64)
    requests = tuple(
        Request(
            id=str(i),
            pickup=i,
            dropoff=n + i,
            load={"seated": int(inst.load[i])},
            pickup_window=TimeWindow(t(inst.earliest[i]), t(inst.latest[i])),
            dropoff_window=TimeWindow(t(inst.earliest[n + i]), t(inst.latest[n + i])),
            max_ride=t(inst.max_ride),
            pickup_service=t(inst.service[i]),
            dropoff_service=t(inst.service[n + i]),
        )
        for i in range(1, n + 1)
    )
    end = 2 * n + 1
    shift = TimeWindow(
        t(max(inst.earliest[0], inst.earliest[end])), t(min(inst.latest[0], inst.latest[end]))
    )
    vehicles = tuple(
        Vehicle(
            id=str(k),
            capacity={"seated": inst.capacity},
            start=0,
            end=end,
            shift=shift,
            max_duration=t(inst.max_duration),
        )
        for k in range(inst.vehicles)
    )
    return Problem(requests=requests, vehicles=vehicles, travel=travel, cost=cost)


def route_cost(inst: CordeauInstance, routes: list[list[int]]) -> float:
    """Total Euclidean length of routes given as node ids (depots included)."""
    dist = inst.distance
    return math.fsum(float(dist[a, b]) for r in routes for a, b in itertools.pairwise(r))
