"""Decoding GPS reports: the OsmAnd / Traccar Client variants and what is refused."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from dispatch.realtime.fixes import (
    KNOTS_TO_MPS,
    FixError,
    decode_osmand_json,
    decode_osmand_params,
    make_fix,
    parse_timestamp,
)

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
T = datetime(2026, 11, 23, 7, 59, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    "raw",
    [
        str(int(T.timestamp())),  # epoch seconds
        str(int(T.timestamp() * 1000)),  # epoch milliseconds
        "2026-11-23T07:59:30Z",  # ISO-8601
        "2026-11-23T14:59:30+07:00",  # ISO-8601 with an offset
        "2026-11-23 07:59:30",  # yyyy-MM-dd HH:mm:ss (UTC)
    ],
)
def test_all_timestamp_forms(raw: str) -> None:
    assert parse_timestamp(raw) == T


@pytest.mark.parametrize("raw", ["", "yesterday", "2026-13-45 99:00:00", "1e400", "NaN"])
def test_bad_timestamps(raw: str) -> None:
    with pytest.raises(FixError) as err:
        parse_timestamp(raw)
    assert err.value.field == "timestamp"


def test_query_parameters_with_knots_and_extras() -> None:
    report = decode_osmand_params(
        {
            "id": "phone-a1",
            "lat": "13.7463",
            "lon": "100.5347",
            "timestamp": "1795420770",
            "speed": "10",
            "bearing": "87.5",
            "altitude": "4.2",
            "accuracy": "6",
            "batt": "81",
            "charge": "true",
        },
        NOW,
    )
    fix = report.to_fix(7, NOW)
    assert (fix.vehicle_id, fix.lat, fix.lon) == (7, 13.7463, 100.5347)
    assert fix.speed_mps == pytest.approx(10 * KNOTS_TO_MPS)
    assert fix.heading == 87.5 and fix.accuracy_m == 6 and fix.battery_pct == 81
    assert fix.attributes == {"charge": "true", "altitude": 4.2}
    assert fix.recorded_at == datetime.fromtimestamp(1795420770, UTC)


def test_location_parameter_and_deviceid_alias() -> None:
    report = decode_osmand_params(
        {"deviceid": "phone-b2", "location": "13.75,100.53", "timestamp": "2026-11-23 07:59:30"},
        NOW,
    )
    assert report.device_id == "phone-b2"
    fix = report.to_fix(1, NOW)
    assert (fix.lat, fix.lon, fix.recorded_at) == (13.75, 100.53, T)


def test_missing_timestamp_means_now() -> None:
    report = decode_osmand_params({"id": "x1", "lat": "13.7", "lon": "100.5"}, NOW)
    assert report.recorded_at == NOW


def test_json_body_of_newer_clients() -> None:
    body = json.dumps(
        {
            "device_id": "phone-a1",
            "location": {
                "timestamp": "2026-11-23T07:59:30.000Z",
                "coords": {
                    "latitude": 13.7463,
                    "longitude": 100.5347,
                    "accuracy": 5.0,
                    "speed": 8.3,
                    "heading": 271.0,
                    "altitude": 3.0,
                },
                "battery": {"level": 0.64, "is_charging": False},
                "is_moving": True,
                "event": "motionchange",
            },
        }
    ).encode()
    [report] = decode_osmand_json(body, NOW)
    fix = report.to_fix(3, NOW)
    assert fix.recorded_at == T
    assert fix.speed_mps == 8.3  # already metres per second in the JSON form
    assert fix.battery_pct == 64.0 and fix.heading == 271.0
    assert fix.attributes == {
        "is_moving": True,
        "event": "motionchange",
        "altitude": 3.0,
        "charging": False,
    }


def test_json_body_with_unknown_speed_and_a_list() -> None:
    body = json.dumps(
        {
            "device_id": 12345,
            "location": [
                {
                    "timestamp": "2026-11-23T07:59:00Z",
                    "coords": {"latitude": 13.7, "longitude": 100.5, "speed": -1, "heading": -1},
                },
                {
                    "timestamp": "2026-11-23T07:59:30Z",
                    "coords": {"latitude": 13.71, "longitude": 100.5},
                },
            ],
        }
    ).encode()
    reports = decode_osmand_json(body, NOW)
    assert [r.device_id for r in reports] == ["12345", "12345"]
    assert reports[0].speed_mps is None and reports[0].heading is None


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"lat": "13.7", "lon": "100.5"}, "id"),
        ({"id": "x1", "lat": "13.7"}, "lat"),
        ({"id": "x1", "lat": "93", "lon": "100.5"}, "lat"),
        ({"id": "x1", "lat": "13.7", "lon": "190"}, "lon"),
        ({"id": "x1", "lat": "nan", "lon": "100.5"}, "lat"),
        ({"id": "x1", "lat": "0", "lon": "0"}, "lat"),
        ({"id": "x1", "lat": "abc", "lon": "100.5"}, "lat"),
        ({"id": "x1", "lat": "13.7", "lon": "100.5", "speed": "-3"}, "speed"),
        ({"id": "x1", "lat": "13.7", "lon": "100.5", "batt": "140"}, "batt"),
        ({"id": "x1", "lat": "13.7", "lon": "100.5", "timestamp": "4102444800"}, "timestamp"),
    ],
)
def test_rejected_reports_name_the_field(params: dict[str, str], field: str) -> None:
    with pytest.raises(FixError) as err:
        decode_osmand_params(params, NOW).to_fix(1, NOW)
    assert err.value.field in (field, "battery")


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"location": {}}',
        b'{"device_id": "a", "location": {}}',
        b'{"device_id": "a", "location": {"coords": {"latitude": 1}}}',
    ],
)
def test_rejected_json_bodies(body: bytes) -> None:
    with pytest.raises(FixError):
        for report in decode_osmand_json(body, NOW):
            report.to_fix(1, NOW)


def test_time_limits() -> None:
    make_fix(1, NOW + timedelta(minutes=4), 13.7, 100.5, now=NOW)
    with pytest.raises(FixError, match="future"):
        make_fix(1, NOW + timedelta(minutes=6), 13.7, 100.5, now=NOW)
    with pytest.raises(FixError, match="7 days"):
        make_fix(1, NOW - timedelta(days=8), 13.7, 100.5, now=NOW)
