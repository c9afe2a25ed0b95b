"""Point-to-point road routes from the deployment's travel-time provider.

Why it exists: the city simulator (``python -m simulator city``) must drive its crews
along the same roads and at the same speeds as the ETAs the recommendation ranks by, yet
it may not import ``dispatch``. This module answers one route through the configured
provider (road graph, OSRM or straight line) so the thin router in ``api/routes.py`` can
serve it; ``routing/`` stays pure and unchanged.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated

from pydantic import Field

from dispatch import clock
from dispatch.errors import InvalidInput
from dispatch.routing.base import LatLon, PointOutsideNetworkError, TravelTimeProvider
from dispatch.schemas import Output

#: Longest polyline returned; longer ones are thinned evenly (ends kept) to bound the reply.
MAX_POINTS = 2000


class RouteOut(Output):
    seconds: int
    meters: float
    depart_at: datetime
    # Fixed-length lists, not tuples: tuples become JSON Schema ``prefixItems``, which
    # OpenAPI tooling still handles unevenly.
    polyline: list[Annotated[list[float], Field(min_length=2, max_length=2)]]


def _thin(points: list[tuple[float, float]], limit: int) -> list[tuple[float, float]]:
    if len(points) <= limit:
        return points
    step = (len(points) - 1) / (limit - 1)
    return [points[round(i * step)] for i in range(limit)]


async def find_route(
    travel: TravelTimeProvider, a: LatLon, b: LatLon, depart_at: datetime | None
) -> RouteOut:
    """The fastest route from ``a`` to ``b``; a point off the network is a 422 naming it.
    The provider runs in a thread (a graph search or an OSRM call must not block)."""
    when = depart_at or clock.now()
    if when.tzinfo is None:
        raise InvalidInput(
            "depart_at", "Give a time zone, e.g. 2026-11-23T08:00:00+07:00.", location="query"
        )
    try:
        route = await asyncio.to_thread(travel.route, a, b, when)
    except PointOutsideNetworkError as exc:
        field = "from" if exc.point == a else "to"
        raise InvalidInput(f"{field}_lat", str(exc), location="query") from exc
    return RouteOut(
        seconds=route.seconds,
        meters=round(route.meters, 1),
        depart_at=when,
        polyline=[[round(lat, 6), round(lon, 6)] for lat, lon in _thin(route.polyline, MAX_POINTS)],
    )
