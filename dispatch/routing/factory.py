"""Choose a travel-time provider from plain configuration values.

Order: a road graph when an OSM extract is configured, else an OSRM server, else straight
lines. A configured but missing OSM file raises instead of silently degrading to straight-line
ETAs: a wrong map path is a deployment error that must show at start-up.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

from dispatch.routing.base import TravelTimeProvider
from dispatch.routing.osrm import OsrmProvider
from dispatch.routing.roadgraph import RoadGraphProvider
from dispatch.routing.speeds import DEFAULT_CLASS_SPEEDS_KMH, SpeedTable
from dispatch.routing.straight import StraightLineProvider
from dispatch.routing.timeofday import DEFAULT_RUSH_WINDOWS, RushWindow, TimeOfDayProfile

log = logging.getLogger(__name__)


def build_provider(
    osm_path: Path | None,
    osrm_url: str | None,
    cache_dir: Path,
    timezone: str = "Asia/Bangkok",
    *,
    rush_windows: Sequence[RushWindow] = DEFAULT_RUSH_WINDOWS,
    class_speeds_kmh: Mapping[str, float] = DEFAULT_CLASS_SPEEDS_KMH,
    max_snap_m: float = 1000.0,
    offroad_kmh: float = 10.0,
    osrm_timeout_s: float = 2.0,
    straight_speed_kmh: float = 25.0,
    detour_factor: float = 1.4,
) -> TravelTimeProvider:
    """The provider for this deployment; building a road graph may take seconds when uncached."""
    profile = TimeOfDayProfile(windows=tuple(rush_windows), timezone=timezone)
    straight = StraightLineProvider(
        profile, speed_kmh=straight_speed_kmh, detour_factor=detour_factor
    )
    if osm_path is not None:
        if not osm_path.is_file():
            raise FileNotFoundError(f"OSM extract not found: {osm_path}")
        provider = RoadGraphProvider.from_osm(
            osm_path,
            cache_dir,
            speeds=SpeedTable(class_kmh=class_speeds_kmh),
            time_profile=profile,
            max_snap_m=max_snap_m,
            offroad_kmh=offroad_kmh,
        )
        log.info("travel times: road graph from %s", osm_path)
        return provider
    if osrm_url:
        log.info("travel times: OSRM at %s (straight-line fallback)", osrm_url)
        return OsrmProvider(osrm_url, straight, timeout_s=osrm_timeout_s, time_profile=profile)
    log.info("travel times: straight line x %.2f at %.0f km/h", detour_factor, straight_speed_kmh)
    return straight
