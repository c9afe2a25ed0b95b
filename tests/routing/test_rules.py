"""Unit rules: OSM tag interpretation, speeds, rush-hour profile, points."""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pytest

from dispatch.routing.base import LatLon, Route, ceil_seconds, require_aware
from dispatch.routing.osm import is_open_to_cars, way_directions
from dispatch.routing.osrm import decode_polyline
from dispatch.routing.speeds import SpeedTable, parse_maxspeed
from dispatch.routing.timeofday import RushWindow, TimeOfDayProfile

BKK = ZoneInfo("Asia/Bangkok")


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        ({"highway": "primary"}, (True, True)),
        ({"highway": "primary", "oneway": "yes"}, (True, False)),
        ({"highway": "primary", "oneway": "true"}, (True, False)),
        ({"highway": "primary", "oneway": "1"}, (True, False)),
        ({"highway": "primary", "oneway": "-1"}, (False, True)),
        ({"highway": "primary", "junction": "roundabout"}, (True, False)),
        ({"highway": "primary", "junction": "circular"}, (True, False)),
        ({"highway": "primary", "junction": "roundabout", "oneway": "no"}, (True, True)),
        ({"highway": "motorway"}, (True, False)),
        ({"highway": "motorway_link"}, (True, False)),
        ({"highway": "motorway", "oneway": "no"}, (True, True)),
        ({"highway": "motorway_link", "oneway": "-1"}, (False, True)),
        ({"highway": "trunk"}, (True, True)),
        ({"highway": "primary", "oneway": "reversible"}, None),
    ],
)
def test_way_directions(tags: dict[str, str], expected: tuple[bool, bool] | None) -> None:
    assert way_directions(tags) == expected


@pytest.mark.parametrize(
    ("tags", "open_"),
    [
        ({}, True),
        ({"access": "private"}, True),
        ({"access": "no"}, False),
        ({"access": "no", "motor_vehicle": "yes"}, True),
        ({"motor_vehicle": "no"}, False),
        ({"access": "no", "emergency": "yes"}, True),
        ({"area": "yes"}, False),
    ],
)
def test_access(tags: dict[str, str], open_: bool) -> None:
    assert is_open_to_cars(tags) is open_


@pytest.mark.parametrize(
    ("value", "kmh"),
    [
        ("60", 60.0),
        ("60 km/h", 60.0),
        ("60kmh", 60.0),
        ("30 mph", 30 * 1.609344),
        ("30mph", 30 * 1.609344),
        ("80;60", 60.0),
        ("TH:urban", None),
        ("none", None),
        ("signals", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_maxspeed(value: str | None, kmh: float | None) -> None:
    result = parse_maxspeed(value)
    if kmh is None:
        assert result is None
    else:
        assert result == pytest.approx(kmh)


def test_speed_is_min_of_class_and_plausible_maxspeed() -> None:
    table = SpeedTable()
    assert table.speed_kmh("primary", None) == 30.0
    assert table.speed_kmh("primary", "20") == 20.0  # limit below traffic speed caps it
    assert table.speed_kmh("primary", "80") == 30.0  # a high limit never beats traffic
    assert table.speed_kmh("primary", "1") == 30.0  # implausible tag ignored
    assert table.speed_kmh("footway", None) is None
    assert table.speed_kmh("cycleway", None) is None
    assert table.speed_kmh("steps", None) is None
    assert table.speed_kmh("construction", None) is None
    fast = SpeedTable(class_kmh={"primary": 100.0})
    assert fast.speed_kmh("primary", "30 mph") == pytest.approx(48.28032)
    assert fast.speed_kmh("residential", None) is None


def test_speed_table_fingerprint_tracks_the_table() -> None:
    assert SpeedTable().fingerprint() == SpeedTable().fingerprint()
    assert SpeedTable().fingerprint() != SpeedTable(class_kmh={"primary": 31.0}).fingerprint()
    with pytest.raises(ValueError, match="positive"):
        SpeedTable(class_kmh={"primary": 0.0})


def test_rush_profile_reads_local_time() -> None:
    profile = TimeOfDayProfile()
    assert profile.multiplier(datetime(2026, 3, 18, 8, 0, tzinfo=BKK)) == 1.5
    assert profile.multiplier(datetime(2026, 3, 18, 7, 0, tzinfo=BKK)) == 1.5
    assert profile.multiplier(datetime(2026, 3, 18, 17, 30, tzinfo=BKK)) == 1.5
    assert profile.multiplier(datetime(2026, 3, 18, 6, 59, tzinfo=BKK)) == 1.0
    assert profile.multiplier(datetime(2026, 3, 18, 9, 0, tzinfo=BKK)) == 1.0
    assert profile.multiplier(datetime(2026, 3, 18, 12, 0, tzinfo=BKK)) == 1.0
    assert profile.multiplier(datetime(2026, 3, 18, 19, 0, tzinfo=BKK)) == 1.0
    # 01:00 UTC is 08:00 in Bangkok; 08:00 UTC is 15:00 there
    assert profile.multiplier(datetime(2026, 3, 18, 1, 0, tzinfo=UTC)) == 1.5
    assert profile.multiplier(datetime(2026, 3, 18, 8, 0, tzinfo=UTC)) == 1.0
    london = TimeOfDayProfile(timezone="Europe/London")
    assert london.multiplier(datetime(2026, 3, 18, 8, 0, tzinfo=UTC)) == 1.5
    with pytest.raises(ValueError, match="timezone-aware"):
        profile.multiplier(datetime(2026, 3, 18, 8, 0))


def test_rush_window_wraps_midnight_and_overlaps_take_max() -> None:
    night = RushWindow(time(22, 0), time(2, 0), 1.2)
    assert night.contains(time(23, 0)) and night.contains(time(1, 59))
    assert not night.contains(time(2, 0)) and not night.contains(time(12, 0))
    profile = TimeOfDayProfile(windows=(night, RushWindow(time(23, 0), time(23, 30), 2.0)))
    assert profile.multiplier(datetime(2026, 3, 18, 23, 10, tzinfo=BKK)) == 2.0
    assert profile.multiplier(datetime(2026, 3, 18, 22, 10, tzinfo=BKK)) == 1.2
    with pytest.raises(ZoneInfoNotFoundError):
        TimeOfDayProfile(timezone="Asia/Atlantis")
    with pytest.raises(ValueError):
        RushWindow(time(7), time(9), 0.0)


def test_latlon_validates_and_helpers() -> None:
    with pytest.raises(ValueError):
        LatLon(91.0, 0.0)
    with pytest.raises(ValueError):
        LatLon(0.0, float("nan"))
    with pytest.raises(ValueError):
        require_aware(datetime(2026, 1, 1))
    rounded = ceil_seconds(np.array([0.0, 1.2, 2.0000000001, 7.9]))
    assert rounded.dtype == np.int64
    assert rounded.tolist() == [0, 2, 2, 8]
    assert Route(5, 1.0).polyline == []


def test_decode_polyline_reference_example() -> None:
    # the worked example of Google's encoded polyline algorithm documentation
    points = decode_polyline("_p~iF~ps|U_ulLnnqC_mqNvxq`@")
    expected = [38.5, -120.2, 40.7, -120.95, 43.252, -126.453]
    assert [c for p in points for c in p] == pytest.approx(expected)
