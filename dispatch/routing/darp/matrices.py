"""From places and policies to the plain numbers the scheduler takes.

The scheduler works on location indices and whole seconds; these helpers turn LatLon points
into a travel-time matrix through any :class:`~dispatch.routing.base.TravelTimeProvider`
(one matrix call, so a road graph or OSRM answers it in one batch), and a ride-time policy
into the absolute limit a :class:`~.model.Request` carries.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime

import numpy as np

from dispatch.routing.base import IntArray, LatLon, TravelTimeProvider


def travel_matrix(
    provider: TravelTimeProvider, points: Sequence[LatLon], depart_at: datetime
) -> IntArray:
    """Whole seconds between every pair of ``points`` (rows from, columns to).

    One departure time for the whole day: providers apply their time-of-day factor to the
    whole matrix. Plans spanning rush hour can use the busiest hour to stay on the safe side.
    """
    seconds = np.asarray(provider.matrix(points, points, depart_at), dtype=np.int64)
    if seconds.shape != (len(points), len(points)):
        raise ValueError(f"provider returned shape {seconds.shape} for {len(points)} points")
    out: IntArray = np.maximum(seconds, 0)
    np.fill_diagonal(out, 0)
    return out


def ride_limit(
    direct_s: float, *, minutes: float | None = None, factor: float | None = None
) -> int | None:
    """The absolute ride-time limit in seconds from a policy, or None for no limit.

    ``minutes`` is an absolute cap, ``factor`` a multiple of the direct trip; with both, the
    stricter applies. A limit below the direct trip is returned as is: the scheduler reports
    such a request as unserved with that reason rather than silently stretching the policy.
    """
    caps = []
    if minutes is not None:
        caps.append(minutes * 60.0)
    if factor is not None:
        caps.append(factor * direct_s)
    return None if not caps else math.floor(min(caps))
