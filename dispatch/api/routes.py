"""``GET /route``: one road route with its duration, length and geometry (dispatch staff).

Used by the city simulator to drive crews at the same road-graph speeds the ranking uses."""

from __future__ import annotations

from fastapi import APIRouter, Query

from dispatch.api.deps import Operational, State
from dispatch.directions import RouteOut, find_route
from dispatch.routing.base import LatLon
from dispatch.schemas import Timestamp

router = APIRouter(tags=["routing"])


@router.get(
    "/route",
    response_model=RouteOut,
    summary="The fastest road route between two points (seconds, metres, polyline)",
)
async def route(
    state: State,
    _actor: Operational,
    from_lat: float = Query(ge=-90, le=90, allow_inf_nan=False),
    from_lon: float = Query(ge=-180, le=180, allow_inf_nan=False),
    to_lat: float = Query(ge=-90, le=90, allow_inf_nan=False),
    to_lon: float = Query(ge=-180, le=180, allow_inf_nan=False),
    depart_at: Timestamp | None = Query(
        default=None, description="Departure (time zone required) for rush hours; default now"
    ),
) -> RouteOut:
    return await find_route(
        state.travel, LatLon(from_lat, from_lon), LatLon(to_lat, to_lon), depart_at
    )
