"""OSRM adapter against a local HTTP server speaking OSRM's documented JSON."""

from __future__ import annotations

import json
import logging
import math
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest

from dispatch.routing.base import LatLon, TravelTimeProvider
from dispatch.routing.osrm import OsrmProvider
from dispatch.routing.straight import StraightLineProvider
from dispatch.routing.timeofday import TimeOfDayProfile

BKK = ZoneInfo("Asia/Bangkok")
NOON = datetime(2026, 3, 18, 12, 0, tzinfo=BKK)
RUSH = datetime(2026, 3, 18, 8, 0, tzinfo=BKK)

Reply = tuple[int, Any, float]  # status, JSON body (or raw bytes), delay in seconds


def point(k: int) -> LatLon:
    """Point number k; the fake server recovers k from the latitude."""
    return LatLon(13.700 + k * 0.001, 100.500 + k * 0.002)


def k_of(lon: float, lat: float) -> int:
    k = round((lat - 13.700) / 0.001)
    assert abs(lon - (100.500 + k * 0.002)) < 1e-6, "coordinates must be sent as lon,lat"
    return k


def osrm_like(path: str) -> Reply:
    """A table answer of 10*k_src + k_dst + 0.4 seconds; a fixed route."""
    url = urlsplit(path)
    parts = url.path.split("/")  # ['', service, 'v1', profile, coords]
    service, coords = parts[1], parts[4]
    ks = [k_of(*map(float, c.split(","))) for c in coords.split(";")]
    query = parse_qs(url.query)
    if service == "table":
        src = [ks[int(i)] for i in query["sources"][0].split(";")]
        dst = [ks[int(i)] for i in query["destinations"][0].split(";")]
        durations = [[10.0 * s + d + 0.4 for d in dst] for s in src]
        distances = [[100.0 * s + d for d in dst] for s in src]
        body = {"code": "Ok", "durations": durations, "distances": distances}
        return 200, body, 0.0
    route = {
        "duration": 123.4,
        "distance": 2345.6,
        "geometry": {"type": "LineString", "coordinates": [[100.5, 13.7], [100.51, 13.71]]},
        "legs": [],
    }
    return 200, {"code": "Ok", "routes": [route], "waypoints": []}, 0.0


class FakeOsrm:
    def __init__(self) -> None:
        self.paths: list[str] = []
        self.respond: Callable[[str], Reply] = osrm_like
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                fake.paths.append(self.path)
                status, body, delay = fake.respond(self.path)
                time.sleep(delay)
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:  # the client gave up (timeout test)
                    pass

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def fake() -> Iterator[FakeOsrm]:
    server = FakeOsrm()
    thread = threading.Thread(target=server.server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()
    thread.join(timeout=5)


FALLBACK = StraightLineProvider()


def provider(url: str, **kwargs: Any) -> OsrmProvider:
    return OsrmProvider(url, FALLBACK, **kwargs)


def test_table_maps_sources_and_destinations(fake: FakeOsrm) -> None:
    pts = [point(k) for k in range(3)]
    with provider(fake.url) as p:
        assert isinstance(p, TravelTimeProvider)
        m = p.matrix(pts[:2], pts, NOON)
        assert m.tolist() == [[1, 2, 3], [11, 12, 13]]  # ceil(10*i + j + 0.4)
        assert p.many_to_one(pts, pts[2], NOON).tolist() == [3, 13, 23]
        assert p.one_to_many(pts[1], pts, NOON).tolist() == [11, 12, 13]
    path = fake.paths[0]
    assert path.startswith("/table/v1/driving/100.500000,13.700000;")
    assert "sources=0;1&destinations=2;3;4" in path


def test_large_tables_are_split_into_blocks(fake: FakeOsrm) -> None:
    pts = [point(k) for k in range(5)]
    with provider(fake.url, max_table_size=2) as p:
        m = p.matrix(pts, pts, NOON)
    assert m.tolist() == [[10 * i + j + 1 for j in range(5)] for i in range(5)]
    assert len(fake.paths) == 9  # 3 x 3 blocks


def test_time_profile_scales_osrm_durations(fake: FakeOsrm) -> None:
    pts = [point(k) for k in range(2)]
    with provider(fake.url, time_profile=TimeOfDayProfile()) as p:
        assert p.matrix(pts, pts, RUSH).tolist() == [
            [math.ceil(0.4 * 1.5), math.ceil(1.4 * 1.5)],
            [math.ceil(10.4 * 1.5), math.ceil(11.4 * 1.5)],
        ]
        assert p.route(pts[0], pts[1], RUSH).seconds == math.ceil(123.4 * 1.5)


def test_route_geojson_to_latlon(fake: FakeOsrm) -> None:
    with provider(fake.url) as p:
        r = p.route(point(0), point(1), NOON)
    assert (r.seconds, r.meters) == (124, 2345.6)
    assert r.polyline == [(13.7, 100.5), (13.71, 100.51)]
    assert "overview=full" in fake.paths[0] and "geometries=geojson" in fake.paths[0]


def test_route_with_encoded_polyline_geometry(fake: FakeOsrm) -> None:
    route = {"duration": 10.0, "distance": 50.0, "geometry": "_p~iF~ps|U_ulLnnqC"}
    fake.respond = lambda path: (200, {"code": "Ok", "routes": [route]}, 0.0)
    with provider(fake.url) as p:
        r = p.route(point(0), point(1), NOON)
    assert r.seconds == 10
    assert [c for xy in r.polyline for c in xy] == pytest.approx([38.5, -120.2, 40.7, -120.95])


def test_unreachable_cells_come_from_the_fallback(fake: FakeOsrm) -> None:
    pts = [point(k) for k in range(2)]
    body = {"code": "Ok", "durations": [[0.0, None], [5.0, 0.0]]}
    fake.respond = lambda path: (200, body, 0.0)
    with provider(fake.url) as p:
        m = p.matrix(pts, pts, NOON)
    assert m[0, 1] == FALLBACK.matrix(pts, pts, NOON)[0, 1] and m[1, 0] == 5


@pytest.mark.parametrize(
    "reply",
    [
        (500, {"code": "Error"}, 0.0),
        (400, {"code": "InvalidQuery", "message": "Query string malformed"}, 0.0),
        (200, {"code": "NoTable"}, 0.0),
        (200, b"<html>proxy error</html>", 0.0),
        (200, {"code": "Ok", "durations": [[1.0]]}, 0.0),  # wrong shape
    ],
)
def test_bad_answers_fall_back_to_straight_line(
    fake: FakeOsrm, reply: Reply, caplog: pytest.LogCaptureFixture
) -> None:
    fake.respond = lambda path: reply
    pts = [point(k) for k in range(3)]
    with caplog.at_level(logging.WARNING), provider(fake.url) as p:
        assert (p.matrix(pts, pts, NOON) == FALLBACK.matrix(pts, pts, NOON)).all()
        assert p.route(pts[0], pts[2], NOON) == FALLBACK.route(pts[0], pts[2], NOON)
    assert "OSRM table failed" in caplog.text and "OSRM route failed" in caplog.text


def test_slow_server_times_out_to_fallback(fake: FakeOsrm) -> None:
    fake.respond = lambda path: (*osrm_like(path)[:2], 1.0)
    pts = [point(k) for k in range(2)]
    started = time.perf_counter()
    with provider(fake.url, timeout_s=0.2) as p:
        m = p.matrix(pts, pts, NOON)
    assert time.perf_counter() - started < 0.9
    assert (m == FALLBACK.matrix(pts, pts, NOON)).all()


def test_server_down_falls_back(caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as s:  # a port that nothing listens on any more
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    pts = [point(k) for k in range(2)]
    with provider(f"http://127.0.0.1:{port}", timeout_s=0.5) as p:
        assert (p.matrix(pts, pts, NOON) == FALLBACK.matrix(pts, pts, NOON)).all()
        assert p.route(pts[0], pts[1], NOON).polyline == [
            (pts[0].lat, pts[0].lon),
            (pts[1].lat, pts[1].lon),
        ]
    assert "ConnectError" in caplog.text
