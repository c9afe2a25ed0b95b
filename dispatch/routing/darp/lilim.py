"""Li & Lim (2001) pickup-and-delivery instances with time windows, on the scheduler's model.

The file: line 1 ``K Q speed``; then one line per node ``id x y demand earliest latest
service pickup_id delivery_id`` (node 0 the depot; a pickup names its delivery, a delivery
its pickup). Distance is Euclidean and travel time equals it. The objective is fewest
vehicles first, then total distance: each vehicle gets a fixed cost above any route's
length, so the scheduler's fleet cost does the first and its arc cost the second. As for
Cordeau's instances, :func:`to_problem` scales and rounds travel up for the solver, and with
``scale=None`` keeps the instance's own units for re-timing and checking.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from dispatch.routing.darp.matrices import euclidean
from dispatch.routing.darp.model import Problem, Request, TimeWindow, Vehicle

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class LiLimInstance:
    name: str
    vehicles: int
    capacity: int
    xy: FloatArray
    demand: npt.NDArray[np.int64]
    earliest: FloatArray
    latest: FloatArray
    service: FloatArray
    #: (pickup node, delivery node) per request, in file order of the pickups.
    pairs: tuple[tuple[int, int], ...]

    @property
    def requests(self) -> int:
        return len(self.pairs)

    def distance(self) -> FloatArray:
        return euclidean(self.xy)


def read_lilim(path: Path) -> LiLimInstance:
    lines = [ln.split() for ln in path.read_text().splitlines() if ln.strip()]
    k, q = int(lines[0][0]), int(lines[0][1])
    rows = sorted((tuple(float(x) for x in ln[:9]) for ln in lines[1:]), key=lambda r: r[0])
    if [int(r[0]) for r in rows] != list(range(len(rows))):
        raise ValueError(f"{path.name}: node ids must be 0..n")
    pairs = tuple((int(r[0]), int(r[8])) for r in rows[1:] if int(r[8]) > 0)
    return LiLimInstance(
        name=path.stem,
        vehicles=k,
        capacity=q,
        xy=np.array([[r[1], r[2]] for r in rows], dtype=np.float64),
        demand=np.array([int(r[3]) for r in rows], dtype=np.int64),
        earliest=np.array([r[4] for r in rows], dtype=np.float64),
        latest=np.array([r[5] for r in rows], dtype=np.float64),
        service=np.array([r[6] for r in rows], dtype=np.float64),
        pairs=pairs,
    )


def to_problem(inst: LiLimInstance, scale: float | None) -> Problem:
    """The instance as a problem; ``scale``: integers (travel rounded up) for the solver."""
    dist = inst.distance()
    factor = 1.0 if scale is None else scale
    if scale is None:
        travel: npt.NDArray[np.int64] | FloatArray = dist
        cost: npt.NDArray[np.int64] | FloatArray = dist
    else:
        travel = np.ceil(dist * scale - 1e-9).astype(np.int64)
        cost = np.rint(dist * scale).astype(np.int64)
    # fewest vehicles first: one vehicle costs more than any plan's whole length
    fixed = math.ceil(float(dist.sum(axis=1).max()) * factor * 2 + 1)

    def window(node: int) -> TimeWindow:
        return TimeWindow(inst.earliest[node] * factor, inst.latest[node] * factor)

    requests = tuple(
        Request(
            id=str(p),
            pickup=p,
            dropoff=d,
            load={"seated": int(inst.demand[p])},
            pickup_window=window(p),
            dropoff_window=window(d),
            pickup_service=float(inst.service[p]) * factor,
            dropoff_service=float(inst.service[d]) * factor,
        )
        for p, d in inst.pairs
    )
    vehicles = tuple(
        Vehicle(
            id=f"v{i}",
            capacity={"seated": inst.capacity},
            start=0,
            end=0,
            shift=window(0),
            fixed_cost=fixed,
        )
        for i in range(inst.vehicles)
    )
    return Problem(requests=requests, vehicles=vehicles, travel=travel, cost=cost)
