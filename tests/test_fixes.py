"""Decoding GPS reports: the OsmAnd / Traccar Client variants, what is dropped (and why),
and the only thing refused: a report that names no device."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from dispatch.realtime import wirejson
from dispatch.realtime.fixes import (
    BAD_POSITION,
    BAD_TIME,
    FUTURE,
    KNOTS_TO_MPS,
    NO_POSITION,
    TOO_OLD,
    ZERO_POSITION,
    Dropped,
    FixError,
    decode_osmand_json,
    decode_osmand_params,
    make_fix,
    parse_timestamp,
)

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
T = datetime(2026, 11, 23, 7, 59, 30, tzinfo=UTC)
BANGKOK = ZoneInfo("Asia/Bangkok")


@pytest.mark.parametrize(
    "raw",
    [
        str(int(T.timestamp())),  # epoch seconds
        str(int(T.timestamp() * 1000)),  # epoch milliseconds
        "2026-11-23T07:59:30Z",  # ISO-8601
        "2026-11-23T14:59:30+07:00",  # ISO-8601 with an offset
        "2026-11-23 07:59:30",  # yyyy-MM-dd HH:mm:ss, here in a UTC organisation
    ],
)
def test_all_timestamp_forms(raw: str) -> None:
    assert parse_timestamp(raw) == T


def test_times_without_a_zone_are_the_organisations_local_time() -> None:
    """Bangkok is UTC+7: a phone's 14:59:30 wall-clock time is 07:59:30 UTC."""
    assert parse_timestamp("2026-11-23 14:59:30", BANGKOK) == T
    assert parse_timestamp("2026-11-23T14:59:30", BANGKOK) == T  # ISO without a zone too
    assert parse_timestamp("2026-11-23T07:59:30Z", BANGKOK) == T  # a zone given wins
    report = decode_osmand_params(
        {"id": "x1", "lat": "13.7", "lon": "100.5", "timestamp": "2026-11-23 14:59:30"},
        NOW,
        BANGKOK,
    )
    assert report.to_fix(1, NOW).recorded_at == T


@pytest.mark.parametrize(
    "raw",
    ["", "yesterday", "2026-13-45 99:00:00", "1e400", "NaN", "-1", "-1795420770", "1e14",
     "99999999999999999999", "123456789012345678.5", "9" * 300],
)  # fmt: skip
def test_unusable_timestamps_are_bad_time_never_another_error(raw: str) -> None:
    with pytest.raises(Dropped) as err:
        parse_timestamp(raw)
    assert (err.value.field, err.value.reason) == ("timestamp", BAD_TIME)


def test_query_parameters_in_knots_with_typed_extras() -> None:
    params = {
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
        "motion": "false",
        "hdop": "0.9",
        "odometer": "12034.5",
        "event": "motionchange",
        "driverUniqueId": "crew-7",
    }
    report = decode_osmand_params(params, NOW)
    fix = report.to_fix(7, NOW)
    assert (fix.vehicle_id, fix.lat, fix.lon) == (7, 13.7463, 100.5347)
    assert fix.speed_mps == pytest.approx(10 * KNOTS_TO_MPS)
    assert fix.heading == 87.5 and fix.accuracy_m == 6 and fix.battery_pct == 81
    assert fix.attributes == {
        "charge": True,
        "motion": False,
        "altitude": 4.2,
        "hdop": 0.9,
        "odometer": 12034.5,
        "event": "motionchange",
        "driverUniqueId": "crew-7",
    }
    assert fix.recorded_at == datetime.fromtimestamp(1795420770, UTC)
    assert report.bad_values == ()


def test_the_vehicles_speed_unit_decides_what_query_speed_means() -> None:
    report = decode_osmand_params({"id": "x1", "lat": "13.7", "lon": "100.5", "speed": "10"}, NOW)
    assert report.to_fix(1, NOW, "knots").speed_mps == pytest.approx(5.14444)
    assert report.to_fix(1, NOW, "mps").speed_mps == 10.0  # OsmAnd's own app
    body = {
        "device_id": "x1",
        "location": {"timestamp": T.isoformat(), "coords": {"latitude": 13.7, "longitude": 100.5,
                                                            "speed": 10}},
    }  # fmt: skip
    [from_json] = decode_osmand_json(json.dumps(body).encode(), NOW)
    assert from_json.to_fix(1, NOW, "knots").speed_mps == 10.0  # the JSON body is m/s by spec


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
                    "altitude_accuracy": 4.5,
                },
                "battery": {"level": 0.64, "is_charging": False},
                "is_moving": True,
                "odometer": 1520.5,
                "event": "motionchange",
                "activity": {"type": "in_vehicle"},
                "extras": {"heartbeat": True, "nested": {"ignored": 1}},
                "_": "&id=phone-a1&lat=13.7463&",
            },
        }
    ).encode()
    [report] = decode_osmand_json(body, NOW)
    fix = report.to_fix(3, NOW)
    assert fix.recorded_at == T
    assert fix.speed_mps == 8.3  # already metres per second in the JSON form
    assert fix.battery_pct == 64.0 and fix.heading == 271.0 and fix.accuracy_m == 5.0
    assert fix.attributes == {
        "altitude": 3.0,
        "motion": True,
        "charge": False,
        "event": "motionchange",
        "odometer": 1520.5,
        "activity": "in_vehicle",
        "altitude_accuracy": 4.5,
        "heartbeat": True,
    }
    assert report.alarm is None and report.bad_values == ()


def test_minus_one_means_unknown_not_bad() -> None:
    """iOS reports battery.level -1 (and the SDK speed/heading -1) when it does not know:
    the fix is stored without the value, and nothing is counted as unreadable."""
    body = json.dumps(
        {
            "device_id": 12345,
            "location": [
                {
                    "timestamp": "2026-11-23T07:59:00Z",
                    "coords": {"latitude": 13.7, "longitude": 100.5, "speed": -1, "heading": -1},
                    "battery": {"level": -1, "is_charging": True},
                },
                {"timestamp": "2026-11-23T07:59:30Z", "coords": {"latitude": 13.71,
                                                                 "longitude": 100.5}},
            ],
        }
    ).encode()  # fmt: skip
    reports = decode_osmand_json(body, NOW)
    assert [r.device_id for r in reports] == ["12345", "12345"]
    fix = reports[0].to_fix(1, NOW)
    assert (fix.speed_mps, fix.heading, fix.battery_pct) == (None, None, None)
    assert fix.attributes == {"charge": True}
    assert reports[0].bad_values == ()


@pytest.mark.parametrize(
    ("params", "bad"),
    [
        ({"speed": "fast"}, ("speed",)),
        ({"speed": "-3"}, ("speed",)),
        ({"batt": "140"}, ("batt",)),
        ({"bearing": "north", "accuracy": "1e999"}, ("bearing", "accuracy")),
        ({"altitude": "high"}, ("altitude",)),
        ({"charge": "maybe"}, ("charge",)),
    ],
)
def test_unreadable_optional_values_are_left_out_of_a_stored_fix(
    params: dict[str, str], bad: tuple[str, ...]
) -> None:
    report = decode_osmand_params({"id": "x1", "lat": "13.7", "lon": "100.5", **params}, NOW)
    fix = report.to_fix(1, NOW)  # the fix itself is fine
    assert (fix.lat, fix.lon) == (13.7, 100.5)
    assert sorted(report.bad_values) == sorted(bad)
    assert not set(params) & set(fix.attributes)


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({}, NO_POSITION),  # a heartbeat
        ({"batt": "50", "alarm": "sos"}, NO_POSITION),  # an alarm without a fix
        ({"lat": "13.7"}, NO_POSITION),
        ({"lat": "0", "lon": "0"}, ZERO_POSITION),
        ({"location": "0.0,0.0"}, ZERO_POSITION),
        ({"lat": "93", "lon": "100.5"}, BAD_POSITION),
        ({"lat": "13.7", "lon": "190"}, BAD_POSITION),
        ({"lat": "nan", "lon": "100.5"}, BAD_POSITION),
        ({"lat": "abc", "lon": "100.5"}, BAD_POSITION),
        ({"lat": "13.7", "lon": "100.5", "timestamp": "4102444800"}, FUTURE),
        ({"lat": "13.7", "lon": "100.5", "timestamp": "1000000000"}, TOO_OLD),
        ({"lat": "13.7", "lon": "100.5", "timestamp": "0"}, TOO_OLD),
        ({"lat": "13.7", "lon": "100.5", "timestamp": "-86400"}, BAD_TIME),
        ({"lat": "13.7", "lon": "100.5", "timestamp": "1" * 45}, BAD_TIME),
        ({"lat": "13.7", "lon": "100.5", "timestamp": "99999999999999"}, FUTURE),
        ({"lat": "13.7", "lon": "100.5", "timestamp": "soon"}, BAD_TIME),
    ],
)
def test_unusable_reports_are_dropped_with_a_reason(params: dict[str, str], reason: str) -> None:
    report = decode_osmand_params({"id": "x1", **params}, NOW)  # decoding never refuses
    with pytest.raises(Dropped) as err:
        report.to_fix(1, NOW)
    assert err.value.reason == reason and err.value.field and err.value.message


@pytest.mark.parametrize(
    "body",
    [
        b'{"device_id": "a"}',  # a heartbeat: no location at all
        b'{"device_id": "a", "location": {}}',
        b'{"device_id": "a", "location": [1, "x", null]}',
        b'{"device_id": "a", "location": {"coords": {"latitude": 1}}}',
        b'{"device_id": "a", "location": {"coords": {"latitude": true, "longitude": 5}}}',
    ],
)
def test_json_bodies_without_a_usable_position_are_dropped(body: bytes) -> None:
    reports = decode_osmand_json(body, NOW)
    assert reports
    for report in reports:
        with pytest.raises(Dropped):
            report.to_fix(1, NOW)


@pytest.mark.parametrize(
    ("params", "field"),
    [({"lat": "13.7", "lon": "100.5"}, "id"), ({"id": "  ", "lat": "13.7"}, "id")],
)
def test_only_a_report_without_a_device_is_refused(params: dict[str, str], field: str) -> None:
    with pytest.raises(FixError) as err:
        decode_osmand_params(params, NOW)
    assert err.value.field == field and not isinstance(err.value, Dropped)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"not json", "body"),
        (b"\xff\xfe", "body"),
        (b"[]", "body"),
        (b'{"location": {}}', "device_id"),
        (b'{"device_id": true}', "device_id"),
        (b"[" * 100_000 + b"]" * 100_000, "body"),
        (b'{"device_id": "a", "location": ' + b"[" * 5000 + b"]" * 5000 + b"}", "body"),
    ],
)
def test_json_bodies_that_name_no_device_are_refused(body: bytes, field: str) -> None:
    with pytest.raises(FixError) as err:
        decode_osmand_json(body, NOW)
    assert err.value.field == field


def test_sos_is_recognised_in_every_form() -> None:
    query = decode_osmand_params({"id": "x1", "alarm": "SOS", "lat": "13.7", "lon": "100.5"}, NOW)
    assert query.alarm == "sos" and query.attributes["alarm"] == "SOS"
    assert decode_osmand_params({"id": "x1", "alarm": "lowBattery"}, NOW).alarm is None
    for location in ({"alarm": "sos"}, {"event": "sos"}, {"extras": {"alarm": "sos"}}):
        body = json.dumps({"device_id": "x1", "location": location}).encode()
        assert decode_osmand_json(body, NOW)[0].alarm == "sos", location


def test_time_limits() -> None:
    make_fix(1, NOW + timedelta(minutes=4), 13.7, 100.5, now=NOW)
    with pytest.raises(Dropped, match="future"):
        make_fix(1, NOW + timedelta(minutes=6), 13.7, 100.5, now=NOW)
    with pytest.raises(Dropped, match="7 days"):
        make_fix(1, NOW - timedelta(days=8), 13.7, 100.5, now=NOW)


def test_extras_are_bounded() -> None:
    params = {"id": "x1", "lat": "13.7", "lon": "100.5"}
    params.update({f"extra{n}": "v" * 1000 for n in range(100)})
    params["k" * 100] = "long key"
    fix = decode_osmand_params(params, NOW).to_fix(1, NOW)
    assert len(fix.attributes) == 24
    assert all(len(v) == 200 for v in fix.attributes.values())


# --- bounded JSON -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ('{"fixes": [{"lat": 1}, {"lat": 2}]}', True),
        ('"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["', True),  # brackets inside a string
        ('{"a": "\\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["}', True),  # and escaped quotes
        ("[" * 17 + "]" * 17, False),
        ("[" * 100_000 + "]" * 100_000, False),
        ("[" * 40, False),  # unbalanced
    ],
)
def test_nesting_is_measured_without_recursion(text: str, ok: bool) -> None:
    assert wirejson.nesting_within(text, 16) is ok


def test_a_100000_deep_document_is_refused_fast() -> None:
    text = "[" * 100_000 + "]" * 100_000
    started = time.perf_counter()
    with pytest.raises(wirejson.TooDeep):
        wirejson.loads(text)
    assert time.perf_counter() - started < 0.5  # measured ~10 ms; no recursion either way
    assert wirejson.loads('{"type": "hello"}') == {"type": "hello"}
