"""Map data for the screens: the loaded road network, drawn when tiles are unreachable."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter
from pydantic import Field

from dispatch.api.deps import CurrentPrincipal, State
from dispatch.maps import road_lines, street_labels
from dispatch.schemas import Output

router = APIRouter(prefix="/map", tags=["map"])


# Lists of fixed length rather than tuples: tuples become JSON Schema ``prefixItems``,
# which OpenAPI clients and generated validators still handle unevenly.
Point = Annotated[list[float], Field(min_length=2, max_length=2, description="lat, lon")]


class StreetLabelOut(Output):
    lat: float
    lon: float
    angle: float = Field(description="Degrees clockwise from east on a north-up map, -90..90")
    names: dict[str, str] = Field(
        description="'local' (OSM name) and, when the map has them, 'en', 'th', 'vi'"
    )


class RoadsOut(Output):
    source: str
    bbox: (
        Annotated[
            list[float],
            Field(min_length=4, max_length=4, description="min_lat, min_lon, max_lat, max_lon"),
        ]
        | None
    )
    lines: list[list[Point]]
    labels: list[StreetLabelOut] = Field(
        description="Where to write street names on the drawn network (longest roads first)"
    )


@router.get(
    "/roads",
    response_model=RoadsOut,
    summary="The road network used for ETAs, as (lat, lon) polylines, with its street names "
    "(empty without a map)",
)
async def roads(state: State, _actor: CurrentPrincipal) -> RoadsOut:
    # The first call walks the whole graph: keep the event loop free meanwhile.
    found = await asyncio.to_thread(road_lines, state.travel)
    labels = await asyncio.to_thread(street_labels, state.travel, state.settings.osm_path)
    return RoadsOut(
        source=found.source,
        bbox=list(found.bbox) if found.bbox else None,
        lines=[[[lat, lon] for lat, lon in line] for line in found.lines],
        labels=[
            StreetLabelOut(lat=label.lat, lon=label.lon, angle=label.angle, names=label.names)
            for label in labels
        ],
    )
