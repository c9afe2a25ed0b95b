"""GPS fixes: one validated shape for every way in (JSON batch, driver websocket,
Traccar Client / OsmAnd), and the OsmAnd decoder.

Validation is strict where a bad value would mislead a dispatcher (impossible
coordinates, a time far in the future that would pin the live position) and lenient
where phones differ (optional fields, four timestamp formats).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

KNOTS_TO_MPS = 0.514444
#: A phone clock may run a little fast; a fix further ahead than this is refused.
MAX_FUTURE = timedelta(minutes=5)
#: Phones queue fixes while offline; older than this is refused as certainly wrong.
MAX_AGE = timedelta(days=7)


class FixError(ValueError):
    """A fix that must be refused; ``field`` names the offending input."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True, slots=True)
class Fix:
    """One position report. ``recorded_at`` is the phone's time of the fix (the identity of
    the fix together with the vehicle); ``received_at`` is when the server got it."""

    vehicle_id: int
    recorded_at: datetime
    received_at: datetime
    lat: float
    lon: float
    speed_mps: float | None = None
    heading: float | None = None
    accuracy_m: float | None = None
    battery_pct: float | None = None
    attributes: Mapping[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> tuple[int, datetime]:
        return self.vehicle_id, self.recorded_at


def _number(name: str, value: Any, low: float | None = None, high: float | None = None) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise FixError(name, f"not a number: {str(value)[:40]!r}") from None
    if not math.isfinite(number):
        raise FixError(name, "must be a finite number")
    if (low is not None and number < low) or (high is not None and number > high):
        raise FixError(name, f"{number} is outside {low}..{high}")
    return number


def _optional(
    name: str, value: Any, low: float | None = None, high: float | None = None
) -> float | None:
    if value is None or value == "":
        return None
    return _number(name, value, low, high)


def make_fix(
    vehicle_id: int,
    recorded_at: datetime,
    lat: Any,
    lon: Any,
    *,
    now: datetime,
    speed_mps: Any = None,
    heading: Any = None,
    accuracy_m: Any = None,
    battery_pct: Any = None,
    attributes: Mapping[str, Any] | None = None,
) -> Fix:
    """Validate and build a fix; raises ``FixError`` naming the field."""
    latitude = _number("lat", lat, -90, 90)
    longitude = _number("lon", lon, -180, 180)
    if latitude == 0 and longitude == 0:
        raise FixError("lat", "0,0 is a GPS failure, not a position")
    if recorded_at.tzinfo is None:
        raise FixError("timestamp", "must carry a time zone")
    if recorded_at > now + MAX_FUTURE:
        raise FixError("timestamp", "is in the future; check the phone's clock")
    if recorded_at < now - MAX_AGE:
        raise FixError("timestamp", "is more than 7 days old")
    return Fix(
        vehicle_id=vehicle_id,
        recorded_at=recorded_at.astimezone(UTC),
        received_at=now,
        lat=latitude,
        lon=longitude,
        speed_mps=_optional("speed", speed_mps, 0, 200),
        heading=_optional("heading", heading, 0, 360),
        accuracy_m=_optional("accuracy", accuracy_m, 0, 100_000),
        battery_pct=_optional("battery", battery_pct, 0, 100),
        attributes=dict(attributes or {}),
    )


# --- OsmAnd / Traccar Client --------------------------------------------------------------


def parse_timestamp(raw: Any) -> datetime:
    """Epoch seconds, epoch milliseconds, ISO-8601, or ``yyyy-MM-dd HH:mm:ss`` (UTC)."""
    text = str(raw).strip()
    if not text:
        raise FixError("timestamp", "is empty")
    if text.lstrip("-").replace(".", "", 1).isdigit():
        value = float(text)
        if not math.isfinite(value) or abs(value) > 1e14:
            raise FixError("timestamp", f"not a plausible epoch time: {text[:40]!r}")
        seconds = value / 1000 if abs(value) > 1e11 else value  # ms since 1973 vs s until 5138
        return datetime.fromtimestamp(seconds, UTC)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        try:
            parsed = datetime.strptime(text, "%Y-%m-%d %H:%M:%S")
        except ValueError:
            raise FixError("timestamp", f"unrecognised format: {text[:40]!r}") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


_KNOWN = {
    "id",
    "deviceid",
    "lat",
    "lon",
    "location",
    "timestamp",
    "speed",
    "bearing",
    "heading",
    "altitude",
    "accuracy",
    "batt",
    "valid",
}


@dataclass(frozen=True, slots=True)
class OsmAndReport:
    """A decoded OsmAnd request before the device is mapped to a vehicle."""

    device_id: str
    recorded_at: datetime
    lat: Any
    lon: Any
    speed_mps: float | None
    heading: Any
    accuracy_m: Any
    battery_pct: float | None
    attributes: dict[str, Any]

    def to_fix(self, vehicle_id: int, now: datetime) -> Fix:
        return make_fix(
            vehicle_id,
            self.recorded_at,
            self.lat,
            self.lon,
            now=now,
            speed_mps=self.speed_mps,
            heading=self.heading,
            accuracy_m=self.accuracy_m,
            battery_pct=self.battery_pct,
            attributes=self.attributes,
        )


def decode_osmand_params(params: Mapping[str, str], now: datetime) -> OsmAndReport:
    """Query-string or form parameters (Traccar's OsmAnd protocol)."""
    device = (params.get("id") or params.get("deviceid") or "").strip()
    if not device:
        raise FixError("id", "the device identifier is missing")
    lat, lon = params.get("lat"), params.get("lon")
    if (lat is None or lon is None) and params.get("location"):
        lat, _, lon = params["location"].partition(",")
    if lat is None or lon is None:
        raise FixError("lat", "lat and lon (or location=lat,lon) are required")
    recorded = parse_timestamp(params["timestamp"]) if params.get("timestamp") else now
    knots = _optional("speed", params.get("speed"), 0, 400)
    heading = params.get("bearing") or params.get("heading")
    attributes: dict[str, Any] = {k: v[:200] for k, v in params.items() if k not in _KNOWN}
    if params.get("altitude"):
        attributes["altitude"] = _number("altitude", params["altitude"], -1000, 20_000)
    return OsmAndReport(
        device_id=device[:128],
        recorded_at=recorded,
        lat=lat,
        lon=lon,
        speed_mps=None if knots is None else knots * KNOTS_TO_MPS,
        heading=heading,
        accuracy_m=params.get("accuracy"),
        battery_pct=_optional("batt", params.get("batt"), 0, 100),
        attributes=attributes,
    )


def decode_osmand_json(body: bytes, now: datetime) -> list[OsmAndReport]:
    """The JSON body of newer Traccar Client apps (one location or a list of them)."""
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise FixError("body", "is not valid JSON") from None
    if not isinstance(doc, dict):
        raise FixError("body", "must be a JSON object")
    device = doc.get("device_id")
    if not isinstance(device, str | int) or not str(device).strip():
        raise FixError("device_id", "the device identifier is missing")
    locations = doc.get("location")
    if isinstance(locations, dict):
        locations = [locations]
    if not isinstance(locations, list) or not locations:
        raise FixError("location", "is missing")
    reports = []
    for item in locations[:1000]:
        if not isinstance(item, dict) or not isinstance(item.get("coords"), dict):
            raise FixError("location.coords", "is missing")
        coords = item["coords"]
        raw_battery = item.get("battery")
        battery: dict[str, Any] = raw_battery if isinstance(raw_battery, dict) else {}
        level = _optional("battery.level", battery.get("level"), 0, 1)
        attributes = {k: item[k] for k in ("is_moving", "event", "odometer") if k in item}
        if "altitude" in coords and coords["altitude"] is not None:
            attributes["altitude"] = _number("altitude", coords["altitude"], -1000, 20_000)
        if "is_charging" in battery:
            attributes["charging"] = bool(battery["is_charging"])
        speed = _optional("speed", coords.get("speed"), -1, 200)
        reports.append(
            OsmAndReport(
                device_id=str(device).strip()[:128],
                recorded_at=parse_timestamp(item["timestamp"]) if item.get("timestamp") else now,
                lat=coords.get("latitude"),
                lon=coords.get("longitude"),
                speed_mps=None if speed is None or speed < 0 else speed,  # -1 = unknown
                heading=None if coords.get("heading") in (None, -1) else coords.get("heading"),
                accuracy_m=coords.get("accuracy"),
                battery_pct=None if level is None else round(level * 100, 1),
                attributes=attributes,
            )
        )
    return reports
