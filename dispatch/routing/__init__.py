"""Pure routing: travel times (and later ranking and scheduling). No DB, no web, no settings.

Travel times: :mod:`~dispatch.routing.base` (interface), :mod:`~dispatch.routing.factory`
(choose a provider), :mod:`~dispatch.routing.roadgraph` (OpenStreetMap road graph),
:mod:`~dispatch.routing.osrm` (OSRM server), :mod:`~dispatch.routing.straight` (fallback),
:mod:`~dispatch.routing.bench` (benchmark). Only the light interface types are re-exported
here so that importing the package stays cheap.
"""

from dispatch.routing.base import (
    LatLon,
    PointOutsideNetworkError,
    Route,
    RoutingError,
    TravelTimeProvider,
)

__all__ = ["LatLon", "PointOutsideNetworkError", "Route", "RoutingError", "TravelTimeProvider"]
