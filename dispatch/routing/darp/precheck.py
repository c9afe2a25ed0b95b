"""Reasons a request cannot be served by any vehicle, found before the solver runs.

A booking that no vehicle could ever serve would only come back from the solver as
"unserved" with no explanation; these bounds (each a necessary condition, so they never reject
a servable request) give the dispatcher a reason to act on: add a stretcher vehicle, widen a
window, relax a ride limit. All checks are array operations over requests × vehicles.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from dispatch.routing.darp.commitments import is_mandatory
from dispatch.routing.darp.model import (
    DROPOFF_UNREACHABLE,
    NO_SEAT_KIND,
    NO_VEHICLE_FITS,
    PICKUP_UNREACHABLE,
    RIDE_BELOW_DIRECT,
    RIDE_WINDOWS,
    SHIFT_TOO_SHORT,
    Problem,
    Request,
    Unserved,
    clock_text,
    minutes_text,
)

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


def _seats(load: dict[str, int]) -> str:
    return " + ".join(f"{q} {kind}" for kind, q in load.items() if q > 0) or "no seats"


def fitting_vehicles(problem: Problem, requests: list[Request]) -> BoolArray:
    """``fits[r, v]``: vehicle ``v`` has enough seats of every kind for request ``r``."""
    kinds = problem.seat_kinds
    load = np.array([[r.load.get(k, 0) for k in kinds] for r in requests], dtype=np.int64)
    cap = np.array(
        [[v.capacity.get(k, 0) for k in kinds] for v in problem.vehicles], dtype=np.int64
    )
    load = load.reshape(len(requests), len(kinds))
    cap = cap.reshape(len(problem.vehicles), len(kinds))
    fits: BoolArray = np.asarray((load[:, None, :] <= cap[None, :, :]).all(axis=2))
    return fits


def precheck(problem: Problem) -> dict[str, Unserved]:
    """Requests (not committed ones) that no vehicle can serve, each with its first reason."""
    requests = [r for r in problem.requests if not is_mandatory(problem, r)]
    if not requests:
        return {}
    out: dict[str, Unserved] = {}
    vehicles = problem.vehicles
    travel = problem.travel.astype(np.float64)
    if problem.bands is not None:
        travel = travel * min(problem.bands.factors)  # the fastest any leg can be
    fits = fitting_vehicles(problem, requests)
    p = np.array([r.pickup for r in requests])
    d = np.array([r.dropoff for r in requests])
    e_p = np.array([r.pickup_window.earliest for r in requests], dtype=np.float64)
    l_p = np.array([r.pickup_window.latest for r in requests], dtype=np.float64)
    e_d = np.array([r.dropoff_window.earliest for r in requests], dtype=np.float64)
    l_d = np.array([r.dropoff_window.latest for r in requests], dtype=np.float64)
    s_p = np.array([r.pickup_service for r in requests], dtype=np.float64)
    s_d = np.array([r.dropoff_service for r in requests], dtype=np.float64)
    limit = np.array(
        [np.inf if r.max_ride is None else r.max_ride for r in requests], dtype=np.float64
    )
    direct = travel[p, d]
    starts = np.array([v.start for v in vehicles], dtype=np.int64)
    ends = np.array([v.end for v in vehicles], dtype=np.int64)
    depart = np.array([v.earliest_departure for v in vehicles], dtype=np.float64)
    close = np.array([v.shift.latest for v in vehicles], dtype=np.float64)
    longest = np.array(
        [np.inf if v.max_duration is None else v.max_duration for v in vehicles], dtype=np.float64
    )
    # Earliest service start at pickup and drop-off, per request and vehicle.
    at_p = np.maximum(depart[None, :] + travel[np.ix_(starts, p)].T, e_p[:, None])
    reach_p = at_p <= l_p[:, None]
    at_d = np.maximum(at_p + (s_p + direct)[:, None], e_d[:, None])
    reach_d = at_d <= l_d[:, None]
    back = at_d + s_d[:, None] + travel[np.ix_(d, ends)]
    span = travel[np.ix_(starts, p)].T + (s_p + direct + s_d)[:, None] + travel[np.ix_(d, ends)]
    in_shift = (back <= close[None, :]) & (span <= longest[None, :])
    min_ride = np.maximum(direct, e_d - (l_p + s_p))
    available = {k for v in vehicles for k, q in v.capacity.items() if q > 0}
    for i, r in enumerate(requests):
        missing = sorted(k for k, q in r.load.items() if q > 0 and k not in available)
        if missing:
            out[r.id] = Unserved(r.id, NO_SEAT_KIND, f"no vehicle has a {missing[0]} seat")
        elif not fits[i].any():
            out[r.id] = Unserved(
                r.id, NO_VEHICLE_FITS, f"no vehicle has room for {_seats(dict(r.load))} at once"
            )
        elif limit[i] < direct[i]:
            out[r.id] = Unserved(
                r.id,
                RIDE_BELOW_DIRECT,
                f"the ride-time limit ({minutes_text(limit[i])}) is shorter than the direct "
                f"trip ({minutes_text(direct[i])})",
            )
        elif limit[i] < min_ride[i]:
            out[r.id] = Unserved(
                r.id,
                RIDE_WINDOWS,
                f"the windows force a ride of at least {minutes_text(min_ride[i])}, above the "
                f"limit of {minutes_text(limit[i])}",
            )
        elif not (fits[i] & reach_p[i]).any():
            soonest = float(np.min(np.where(fits[i], at_p[i], np.inf)))
            out[r.id] = Unserved(
                r.id,
                PICKUP_UNREACHABLE,
                f"no vehicle can reach the pickup in time: its window closes at "
                f"{clock_text(l_p[i])}, the soonest arrival is {clock_text(soonest)}",
            )
        elif not (fits[i] & reach_p[i] & reach_d[i]).any():
            out[r.id] = Unserved(
                r.id,
                DROPOFF_UNREACHABLE,
                f"no vehicle can arrive by {clock_text(l_d[i])} after the pickup",
            )
        elif not (fits[i] & reach_p[i] & reach_d[i] & in_shift[i]).any():
            out[r.id] = Unserved(
                r.id, SHIFT_TOO_SHORT, "no vehicle's shift is long enough for this trip"
            )
    return out
