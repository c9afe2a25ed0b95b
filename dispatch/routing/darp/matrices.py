"""From places and policies to the plain numbers the scheduler takes.

The scheduler works on location indices and whole seconds; these helpers turn LatLon points
into a travel-time matrix through any :class:`~dispatch.routing.base.TravelTimeProvider`
(one matrix call, so a road graph or OSRM answers it in one batch), and a ride-time policy
into the absolute limit a :class:`~.model.Request` carries.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta

import numpy as np
import numpy.typing as npt

from dispatch.routing.base import IntArray, LatLon, TravelTimeProvider
from dispatch.routing.darp.rush import TravelBands, bands_from_profile
from dispatch.routing.timeofday import TimeOfDayProfile


def euclidean(xy: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Distances between every pair of rows of ``xy`` (benchmark instances' coordinates)."""
    diff = xy[:, None, :] - xy[None, :, :]
    out: npt.NDArray[np.float64] = np.sqrt((diff**2).sum(axis=2))
    return out


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


def timed_matrix(
    provider: TravelTimeProvider,
    points: Sequence[LatLon],
    origin: datetime,
    depart_at: datetime,
    span: timedelta = timedelta(days=2),
) -> tuple[IntArray, TravelBands | None]:
    """Free-flow seconds between ``points`` and the provider's rush hours as bands on the
    axis of seconds since ``origin``, so each leg is timed when it leaves.

    One matrix call at ``depart_at``, divided by that moment's factor. A provider without
    a time-of-day profile gives its matrix as is and no bands (every leg at ``depart_at``).
    """
    profile = getattr(provider, "time_profile", None)
    if not isinstance(profile, TimeOfDayProfile):
        return travel_matrix(provider, points, depart_at), None
    factor = profile.multiplier(depart_at)
    seconds = np.asarray(provider.matrix(points, points, depart_at), dtype=np.float64)
    if seconds.shape != (len(points), len(points)):
        raise ValueError(f"provider returned shape {seconds.shape} for {len(points)} points")
    free: IntArray = np.maximum(np.rint(seconds / factor), 0).astype(np.int64)
    np.fill_diagonal(free, 0)
    return free, bands_from_profile(profile, origin, span)


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
