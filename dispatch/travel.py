"""Build the deployment's travel-time provider from settings, so that ``routing`` itself
stays free of configuration, database and web concerns."""

from __future__ import annotations

from dispatch.config import Settings
from dispatch.routing.base import TravelTimeProvider
from dispatch.routing.factory import build_provider
from dispatch.routing.speeds import DEFAULT_CLASS_SPEEDS_KMH
from dispatch.routing.timeofday import parse_rush_windows


def provider_from_settings(settings: Settings) -> TravelTimeProvider:
    speeds = dict(DEFAULT_CLASS_SPEEDS_KMH)
    speeds.update(settings.road_speeds_kmh or {})
    return build_provider(
        settings.osm_path,
        settings.osrm_url,
        settings.cache_dir,
        settings.timezone,
        rush_windows=parse_rush_windows(settings.rush_hours),
        class_speeds_kmh=speeds,
        max_snap_m=settings.max_snap_m,
    )
