"""GPS fixes: one validated shape for every way in (JSON batch, driver websocket,
Traccar Client / OsmAnd), and the OsmAnd decoder.

Phones never stall. Traccar Client resends its oldest buffered fix until it gets a 2xx, so
refusing a fix stops that phone for good. A fix the server cannot use (no position, 0,0,
out of the history window, an unreadable time) is therefore *dropped*: acknowledged, not
stored, and counted by reason (``Dropped``); an unreadable optional value (speed, battery
…) is left out of a fix that is stored all the same. Only a report that names no device is
refused (``FixError``), because nothing can be done with it.

Validation stays strict where a bad value would mislead a dispatcher (impossible
coordinates, a time far in the future that would pin the live position) and lenient where
phones differ (optional fields, ``-1`` for "unknown", four timestamp formats).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from dispatch.realtime import wirejson

KNOTS_TO_MPS = 0.514444
#: A phone clock may run a little fast; a fix further ahead than this is dropped.
MAX_FUTURE = timedelta(minutes=5)
#: Phones queue fixes while offline; older than this (the history window) is dropped.
MAX_AGE = timedelta(days=7)
#: Extra attributes kept per fix, and the longest text value kept.
MAX_ATTRIBUTES = 24
MAX_ATTRIBUTE_CHARS = 200

# Why a fix was dropped: the ``reason`` label of ``dispatch_fixes_dropped_total``.
NO_POSITION = "no_position"  # a heartbeat or an alarm without a fix
ZERO_POSITION = "zero_position"  # 0,0: a GPS failure, not a position
BAD_POSITION = "bad_position"  # coordinates unreadable or out of range
BAD_TIME = "bad_time"  # an unreadable time, a negative or absurd epoch
TOO_OLD = "too_old"  # older than the history window
FUTURE = "future"  # ahead of the server's clock by more than MAX_FUTURE
BAD_VALUE = "bad_value"  # the fix was stored without an unreadable optional value
DROP_REASONS = (NO_POSITION, ZERO_POSITION, BAD_POSITION, BAD_TIME, TOO_OLD, FUTURE, BAD_VALUE)


class FixError(ValueError):
    """A report that must be refused; ``field`` names the offending input."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class Dropped(FixError):
    """A fix the server acknowledges but cannot use; ``reason`` is one of DROP_REASONS."""

    def __init__(self, reason: str, field: str, message: str) -> None:
        super().__init__(field, message)
        self.reason = reason


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


def _number(name: str, value: Any, low: float, high: float, reason: str = BAD_VALUE) -> float:
    if isinstance(value, bool):
        raise Dropped(reason, name, "not a number: a boolean")
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        raise Dropped(reason, name, f"not a number: {str(value)[:40]!r}") from None
    if not math.isfinite(number):
        raise Dropped(reason, name, "must be a finite number")
    if number < low or number > high:
        raise Dropped(reason, name, f"{number} is outside {low}..{high}")
    return number


def _optional(name: str, value: Any, low: float, high: float) -> float | None:
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
    """Validate and build a fix; raises ``Dropped`` naming the field and the reason."""
    latitude = _number("lat", lat, -90, 90, BAD_POSITION)
    longitude = _number("lon", lon, -180, 180, BAD_POSITION)
    if latitude == 0 and longitude == 0:
        raise Dropped(ZERO_POSITION, "lat", "0,0 is a GPS failure, not a position")
    if recorded_at.tzinfo is None or recorded_at.utcoffset() is None:
        raise Dropped(BAD_TIME, "timestamp", "must carry a time zone")
    if recorded_at > now + MAX_FUTURE:
        raise Dropped(FUTURE, "timestamp", "is in the future; check the phone's clock")
    if recorded_at < now - MAX_AGE:
        raise Dropped(TOO_OLD, "timestamp", f"is more than {MAX_AGE.days} days old")
    return Fix(
        vehicle_id=vehicle_id,
        recorded_at=recorded_at.astimezone(UTC),
        received_at=now,
        lat=latitude,
        lon=longitude,
        speed_mps=_optional("speed", speed_mps, 0, 400),
        heading=_optional("heading", heading, 0, 360),
        accuracy_m=_optional("accuracy", accuracy_m, 0, 100_000),
        battery_pct=_optional("battery", battery_pct, 0, 100),
        attributes=dict(attributes or {}),
    )


def usable_position(lat: Any, lon: Any) -> tuple[float, float] | None:
    """``(lat, lon)`` when they make a position (in range, not 0,0), otherwise None."""
    try:
        latitude = _number("lat", lat, -90, 90, BAD_POSITION)
        longitude = _number("lon", lon, -180, 180, BAD_POSITION)
    except Dropped:
        return None
    return None if latitude == longitude == 0 else (latitude, longitude)


# --- OsmAnd / Traccar Client --------------------------------------------------------------

_EPOCH = re.compile(r"-?\d{1,20}(\.\d{1,9})?")


def parse_timestamp(raw: Any, tz: tzinfo = UTC) -> datetime:
    """Epoch seconds, epoch milliseconds, ISO-8601, or ``yyyy-MM-dd HH:mm:ss``. A time
    without a zone is the organisation's local time ``tz`` (phones report wall-clock
    time). Anything unusable raises ``Dropped`` (``bad_time``), never another error."""
    text = str(raw).strip()
    if not text:
        raise Dropped(BAD_TIME, "timestamp", "is empty")
    if len(text) > 40:
        raise Dropped(BAD_TIME, "timestamp", "is too long to be a time")
    if _EPOCH.fullmatch(text):
        value = float(text)
        if value < 0 or value > 1e14:
            raise Dropped(BAD_TIME, "timestamp", f"not a plausible epoch time: {text!r}")
        seconds = value / 1000 if value > 1e11 else value  # ms since 1973 vs s until 5138
        try:
            return datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            raise Dropped(BAD_TIME, "timestamp", f"not a plausible epoch time: {text!r}") from None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        try:
            parsed = datetime.strptime(text, "%Y-%m-%d %H:%M:%S")
        except ValueError:
            raise Dropped(BAD_TIME, "timestamp", f"unrecognised format: {text!r}") from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        return parsed.replace(tzinfo=tz)
    return parsed


_KNOWN = frozenset(
    {"id", "deviceid", "lat", "lon", "location", "timestamp", "speed", "bearing", "heading"}
    | {"accuracy", "batt", "valid"}
)
#: Numeric attributes with the range they must fall in to be kept.
_NUMERIC = {"altitude": (-1000.0, 20_000.0), "hdop": (0.0, 1000.0), "odometer": (0.0, 1e10)}
_BOOLEAN = frozenset({"charge", "motion"})
_TRUE, _FALSE = frozenset({"true", "1", "yes"}), frozenset({"false", "0", "no"})


@dataclass(frozen=True, slots=True)
class OsmAndReport:
    """A decoded OsmAnd request before the device is mapped to a vehicle. Problems with
    the position or the time are kept here and become ``Dropped`` in ``to_fix``, once the
    report is known to come from a paired phone."""

    device_id: str
    recorded_at: datetime | None
    lat: Any
    lon: Any
    #: As reported, in ``speed_unit``; None: no usable speed.
    speed: float | None
    #: "knots" or "mps"; None: the vehicle's setting decides (query and form reports).
    speed_unit: str | None
    heading: float | None
    accuracy_m: float | None
    battery_pct: float | None
    attributes: dict[str, Any]
    #: "sos" when the phone raised a crew-safety alarm with this report.
    alarm: str | None = None
    time_error: str | None = None
    #: Optional values left out because they could not be read (counted as ``bad_value``).
    bad_values: tuple[str, ...] = ()

    def to_fix(self, vehicle_id: int, now: datetime, speed_unit: str = "knots") -> Fix:
        if self.lat is None or self.lon is None:
            raise Dropped(NO_POSITION, "lat", "no position (a heartbeat or an alarm alone)")
        if self.time_error is not None or self.recorded_at is None:
            raise Dropped(BAD_TIME, "timestamp", self.time_error or "is missing")
        unit = self.speed_unit or speed_unit
        speed = self.speed
        if speed is not None and unit == "knots":
            speed *= KNOTS_TO_MPS
        return make_fix(
            vehicle_id,
            self.recorded_at,
            self.lat,
            self.lon,
            now=now,
            speed_mps=speed,
            heading=self.heading,
            accuracy_m=self.accuracy_m,
            battery_pct=self.battery_pct,
            attributes=self.attributes,
        )


def _clean(name: str, value: Any, low: float, high: float, bad: list[str]) -> float | None:
    """An optional number, or None when absent, ``-1`` ("unknown", as iOS and the JSON
    client send) or unusable (then ``name`` goes to ``bad``)."""
    if value is None or value == "":
        return None
    try:
        if not isinstance(value, bool) and float(value) == -1:
            return None
        return _number(name, value, low, high)
    except (Dropped, TypeError, ValueError, OverflowError):
        bad.append(name)
        return None


def _text(value: str) -> str:
    """Text as both databases store it: no NUL (PostgreSQL's jsonb refuses it, and one bad
    attribute would fail the whole group commit) and no lone surrogates."""
    cleaned = value[:MAX_ATTRIBUTE_CHARS].replace("\x00", "")
    return cleaned.encode("utf-8", "replace").decode("utf-8")


def _scalar(value: Any) -> Any:
    """A value worth keeping as an attribute, or None (nested values are not kept)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        try:
            return value if math.isfinite(value) else None
        except OverflowError:  # an integer beyond any float
            return None
    if isinstance(value, str):
        return _text(value)
    return None


def _attribute(key: str, value: Any, into: dict[str, Any], bad: list[str]) -> None:
    """Keep one extra attribute, typed like Traccar does (numbers, booleans, text)."""
    if len(into) >= MAX_ATTRIBUTES or not key or len(key) > 64:
        return
    key = _text(key)
    if key in into:
        return
    if key in _NUMERIC:
        number = _clean(key, value, *_NUMERIC[key], bad)
        if number is not None:
            into[key] = number
        return
    if isinstance(value, str):
        word = value.strip().lower()
        if key in _BOOLEAN or word in ("true", "false"):
            if word in _TRUE or word in _FALSE:
                into[key] = word in _TRUE
            elif key in _BOOLEAN:
                bad.append(key)
            else:
                into[key] = _text(value)
            return
        try:
            number = float(value)
        except ValueError:
            into[key] = _text(value)
            return
        into[key] = number if math.isfinite(number) else _text(value)
        return
    kept = _scalar(value)
    if kept is not None and kept != "":
        into[key] = kept


def _alarm(*values: Any) -> str | None:
    for value in values:
        if isinstance(value, str) and value.strip().lower() == "sos":
            return "sos"
    return None


def _time(raw: Any, now: datetime, tz: tzinfo) -> tuple[datetime | None, str | None]:
    if raw is None or raw == "":
        return now, None
    try:
        return parse_timestamp(raw, tz), None
    except Dropped as exc:
        return None, exc.message


def decode_osmand_params(
    params: Mapping[str, str], now: datetime, tz: tzinfo = UTC
) -> OsmAndReport:
    """Query-string or form parameters (Traccar's OsmAnd protocol). Raises ``FixError``
    only when no device is named."""
    device = (params.get("id") or params.get("deviceid") or "").strip()
    if not device:
        raise FixError("id", "the device identifier is missing")
    lat: str | None = params.get("lat") or None
    lon: str | None = params.get("lon") or None
    if (lat is None or lon is None) and params.get("location"):
        lat, _, lon = params["location"].partition(",")
    recorded, time_error = _time(params.get("timestamp"), now, tz)
    bad: list[str] = []
    attributes: dict[str, Any] = {}
    for key, value in params.items():
        if key not in _KNOWN:
            _attribute(key, value, attributes, bad)
    return OsmAndReport(
        device_id=device[:128],
        recorded_at=recorded,
        lat=lat,
        lon=lon,
        speed=_clean("speed", params.get("speed"), 0, 400, bad),
        speed_unit=None,
        heading=_clean("bearing", params.get("bearing") or params.get("heading"), 0, 360, bad),
        accuracy_m=_clean("accuracy", params.get("accuracy"), 0, 100_000, bad),
        battery_pct=_clean("batt", params.get("batt"), 0, 100, bad),
        attributes=attributes,
        alarm=_alarm(params.get("alarm")),
        time_error=time_error,
        bad_values=tuple(bad),
    )


def _json_report(device: str, item: Any, now: datetime, tz: tzinfo) -> OsmAndReport:
    """One location of the JSON body (speed in m/s by the client's specification)."""
    item = item if isinstance(item, dict) else {}
    coords = item.get("coords") if isinstance(item.get("coords"), dict) else {}
    battery = item.get("battery") if isinstance(item.get("battery"), dict) else {}
    extras = item.get("extras") if isinstance(item.get("extras"), dict) else {}
    activity = item.get("activity") if isinstance(item.get("activity"), dict) else {}
    bad: list[str] = []
    attributes: dict[str, Any] = {}
    for key, value in (
        ("altitude", coords.get("altitude")),
        ("motion", item.get("is_moving")),
        ("charge", battery.get("is_charging")),
        ("event", item.get("event") or None),
        ("odometer", item.get("odometer")),
        ("activity", activity.get("type") or None),
        ("alarm", item.get("alarm")),
    ):
        if value is not None:
            _attribute(key, value, attributes, bad)
    for key in ("altitude_accuracy", "speed_accuracy", "heading_accuracy"):
        kept = _scalar(coords.get(key))
        if kept is not None and not isinstance(kept, bool):
            attributes[key] = kept
    for key, value in list(extras.items())[:MAX_ATTRIBUTES]:
        _attribute(str(key), value, attributes, bad)
    level = _clean("battery.level", battery.get("level"), 0, 1, bad)
    recorded, time_error = _time(item.get("timestamp"), now, tz)
    return OsmAndReport(
        device_id=device,
        recorded_at=recorded,
        lat=coords.get("latitude"),
        lon=coords.get("longitude"),
        speed=_clean("speed", coords.get("speed"), 0, 400, bad),
        speed_unit="mps",
        heading=_clean("heading", coords.get("heading"), 0, 360, bad),
        accuracy_m=_clean("accuracy", coords.get("accuracy"), 0, 100_000, bad),
        battery_pct=None if level is None else round(level * 100, 1),
        attributes=attributes,
        alarm=_alarm(item.get("alarm"), extras.get("alarm"), item.get("event")),
        time_error=time_error,
        bad_values=tuple(bad),
    )


def decode_osmand_json(body: bytes, now: datetime, tz: tzinfo = UTC) -> list[OsmAndReport]:
    """The JSON body of newer Traccar Client apps (one location, a list of them, or none:
    a heartbeat). Raises ``FixError`` only when no device can be read from it."""
    try:
        doc = wirejson.loads(body, max_depth=wirejson.MAX_DEPTH)
    except ValueError as exc:
        reason = str(exc) if isinstance(exc, wirejson.TooDeep) else "is not valid JSON"
        raise FixError("body", reason) from None
    if not isinstance(doc, dict):
        raise FixError("body", "must be a JSON object")
    device = doc.get("device_id")
    if isinstance(device, bool) or not isinstance(device, str | int) or not str(device).strip():
        raise FixError("device_id", "the device identifier is missing")
    device_id = str(device).strip()[:128]
    locations = doc.get("location")
    if not isinstance(locations, list) or not locations:
        locations = [locations]  # one location, or none at all (a heartbeat)
    return [_json_report(device_id, item, now, tz) for item in locations[:1000]]
