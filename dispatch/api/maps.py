"""Map data for the screens: the loaded road network, drawn when tiles are unreachable."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter

from dispatch.api.deps import CurrentPrincipal, State
from dispatch.maps import road_lines
from dispatch.schemas import Output

router = APIRouter(prefix="/map", tags=["map"])


class RoadsOut(Output):
    source: str
    bbox: tuple[float, float, float, float] | None
    lines: list[list[tuple[float, float]]]


@router.get(
    "/roads",
    response_model=RoadsOut,
    summary="The road network used for ETAs, as (lat, lon) polylines (empty without a map)",
)
async def roads(state: State, _actor: CurrentPrincipal) -> RoadsOut:
    # The first call walks the whole graph: keep the event loop free meanwhile.
    found = await asyncio.to_thread(road_lines, state.travel)
    return RoadsOut(source=found.source, bbox=found.bbox, lines=found.lines)
