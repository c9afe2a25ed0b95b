"""The load generator: its pure pieces, and a real run of ``python -m simulator load``
against a real ``dispatch serve`` for each way a phone sends fixes (the senders' retry
and failover against scripted servers: tests/test_simulator_senders.py)."""

from __future__ import annotations

import json
import os
import random
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import numpy as np
import pytest

from simulator import procinfo
from simulator.cli import _urls, build_parser
from simulator.fixes import Track, iso_ms, osmand_query
from simulator.load_config import LoadConfig
from simulator.movement import BANGKOK_BOX, Mover, _reflect
from simulator.stats import Histogram, percentile
from tests.helpers.simulator_server import (
    clean_env,
    dispatch_cli,
    free_port,
    start_server,
    stop_server,
)

SECRET = "simulator-test-secret-key-long-enough-for-hs256"
PASSWORD = "sim-supervisor-password-1"


# --- pure pieces ----------------------------------------------------------------------------


@pytest.mark.parametrize("q", [0, 1, 25, 50, 90, 95, 99, 99.9, 100])
def test_percentile_matches_numpy(q: float) -> None:
    rng = random.Random(7)
    for size in (1, 2, 3, 10, 1001):
        values = sorted(rng.uniform(0, 500) for _ in range(size))
        assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)))


def test_histogram_percentiles_equal_those_of_the_expanded_sample() -> None:
    rng = random.Random(3)
    samples = [int(rng.expovariate(1 / 40)) for _ in range(5000)]
    hist = Histogram()
    hist.extend(samples)
    for q in (50, 95, 99, 100):
        assert hist.percentile(q) == pytest.approx(float(np.percentile(samples, q)))
    summary = hist.summary()
    assert summary["count"] == 5000
    assert summary["max"] == max(samples)
    assert summary["p99"] >= summary["p50"]
    other = Histogram()
    other.add(10_000)
    hist.merge(other)
    assert hist.total == 5001 and hist.max == 10_000


def test_empty_statistics_say_so() -> None:
    assert Histogram().summary() == {
        "count": 0,
        "p50": None,
        "p95": None,
        "p99": None,
        "max": None,
        "mean": None,
    }
    with pytest.raises(ValueError):
        percentile([], 50)
    with pytest.raises(ValueError):
        percentile([1.0], 101)


def test_vehicles_keep_moving_inside_the_box() -> None:
    min_lat, max_lat, min_lon, max_lon = BANGKOK_BOX
    mover = Mover(seed=1)
    fleet = [mover.spawn(0.0) for _ in range(50)]
    start = [(v.lat, v.lon) for v in fleet]
    for step in range(1, 400):
        for v in fleet:
            mover.advance(v, step * 30.0)  # 30 s steps: ~250 m each, many bounces
            assert min_lat <= v.lat <= max_lat and min_lon <= v.lon <= max_lon
            assert 0 <= v.heading < 360
    assert all((v.lat, v.lon) != s for v, s in zip(fleet, start, strict=True))


def test_one_second_of_driving_is_about_30_kmh() -> None:
    mover = Mover(seed=2)
    v = mover.spawn(0.0)
    v.lat, v.lon = 13.75, 100.53  # the middle of the box: no bounce in one second
    mover.advance(v, 1.0)
    dlat_m = (v.lat - 13.75) * 111_195
    dlon_m = (v.lon - 100.53) * 111_195 * np.cos(np.radians(13.75))
    assert 6.5 < float(np.hypot(dlat_m, dlon_m)) < 10.0


def test_reflection_folds_back_and_reports_the_bounce() -> None:
    assert _reflect(5.0, 0.0, 10.0) == (5.0, False)
    assert _reflect(11.0, 0.0, 10.0) == (9.0, True)
    assert _reflect(-1.0, 0.0, 10.0) == (1.0, True)
    assert _reflect(21.0, 0.0, 10.0) == (1.0, False)


def test_fix_times_strictly_increase_and_read_back_exactly() -> None:
    mover = Mover(seed=5)
    track = Track(mover, mover.spawn(1_700_000_000.0))
    first = track.take(1_700_000_000_500, 5, 100.0)
    assert [p.t_ms for p in first] == [1_700_000_000_100 + 100 * i for i in range(5)]
    again = track.take(1_700_000_000_500, 3, 100.0)  # same clock reading: still increasing
    times = [p.t_ms for p in first + again]
    assert times == sorted(set(times))
    for t in times:
        assert round(datetime.fromisoformat(iso_ms(t)).timestamp() * 1000) == t
    assert iso_ms(1_700_000_000_123).endswith(".123+00:00")
    assert "timestamp=1700000000500" in osmand_query("sim-00001", first[-1])


def test_urls_and_settings_are_checked() -> None:
    assert _urls(["http://127.0.0.1:1/,http://127.0.0.1:2", "http://127.0.0.1:3"]) == [
        "http://127.0.0.1:1",
        "http://127.0.0.1:2",
        "http://127.0.0.1:3",
    ]
    args = build_parser().parse_args(["load", "--vehicles", "3", "--protocol", "osmand"])
    assert args.vehicles == 3 and args.protocol == "osmand"
    base: dict[str, Any] = {"urls": ["http://127.0.0.1:1"], "username": "u", "password": "p"}
    LoadConfig(**base).check()
    bad: dict[str, Any]
    for bad in (
        {"stalled": 6, "controls": 5},
        {"warmup_s": 5.0, "duration_s": 5.0},
        {"protocol": "osmand", "batch_size": 10},
        {"batch_size": 501},
        {"username": None},
        {"protocol": "websocket", "retry": True},
        {"retry": True, "flush_timeout_s": -1.0},
    ):
        with pytest.raises(ValueError):
            LoadConfig(**{**base, **bad}).check()


def test_procinfo_finds_the_process_listening_on_a_port() -> None:
    assert procinfo.local_port("http://127.0.0.1:8123/x") == 8123
    assert procinfo.local_port("https://localhost") == 443
    assert procinfo.local_port("http://192.0.2.1:80") is None
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        pids = procinfo.find_server_pids([f"http://127.0.0.1:{port}"])
        assert os.getpid() in pids
        figures = procinfo.sample(pids)
        assert figures.rss_total > 0 and figures.cpu_total > 0


# --- a real run -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real server on a free port with a fresh SQLite database and a supervisor."""
    tmp = tmp_path_factory.mktemp("simulator")
    env = clean_env(
        DISPATCH_DATABASE_URL=f"sqlite+aiosqlite:///{tmp / 'x.sqlite3'}",
        DISPATCH_SECRET_KEY=SECRET,
        DISPATCH_OSMAND_PORT="0",
        DISPATCH_ALERT_INTERVAL_S="3600",
        DISPATCH_CACHE_DIR=str(tmp / "cache"),
        DISPATCH_LOG_LEVEL="WARNING",
    )
    dispatch_cli(["db", "upgrade"], env)
    dispatch_cli(["org", "create", "--name", "T", "--kind", "dispatch_centre"], env)
    dispatch_cli(
        ["user", "create", "--username", "sup", "--role", "supervisor", "--organisation-id", "1"],
        {**env, "DISPATCH_NEW_USER_PASSWORD": PASSWORD},
    )
    proc, url = start_server(env, tmp / "server.log")
    try:
        yield url
    finally:
        stop_server(proc)


def _load(url: str, protocol: str, *extra: str) -> dict[str, Any]:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "simulator",
            "load",
            "--url",
            url,
            "--username",
            "sup",
            "--password",
            PASSWORD,
            "--protocol",
            protocol,
            "--vehicles",
            "10",
            "--rate",
            "2",
            "--controls",
            "2",
            "--stalled",
            "1",
            "--duration",
            "4",
            "--seed",
            "1",
            "--json",
            *extra,
        ],
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def _assert_stored_exactly_once(report: dict[str, Any]) -> None:
    """Every acknowledged fix is stored, none twice, and (no failures left) every sent fix."""
    stored = report["stored"]
    whole = report["ingest"]["whole_run"]
    assert stored["counted"] is True and stored["vehicles_checked"] == 10
    assert stored["acked_missing"] == 0 and stored["acked_missing_examples"] == []
    assert stored["duplicates"] == 0
    assert stored["acknowledged"] == whole["fixes_acknowledged"] > 0  # each acked once
    assert stored["fixes"] >= stored["acknowledged"]
    assert stored["stored_unacknowledged"] == 0 and stored["never_stored_unacked"] == 0
    assert 0 < stored["fixes_in_window"] <= stored["fixes"]
    assert stored["stored_fixes_per_s"] > 0


@pytest.mark.slow
@pytest.mark.parametrize(
    ("protocol", "extra"), [("batch", ()), ("websocket", ()), ("osmand", ("--retry",))]
)
def test_load_run_sends_fixes_and_healthy_screens_see_them(
    server: str, protocol: str, extra: tuple[str, ...]
) -> None:
    report = _load(server, protocol, *extra)
    assert report["setup"]["vehicles"] == 10
    assert report["connections"]["errors"] == {}
    window = report["ingest"]["window"]
    whole = report["ingest"]["whole_run"]
    assert window["fixes_acknowledged"] > 0
    assert whole["errors"] == {}
    assert whole["fixes_acknowledged"] == whole["fixes_sent"]
    if protocol == "osmand":
        assert window["server_accepted"] is None  # OsmAnd replies carry no counts
    else:
        assert window["server_accepted"] > 0
        assert window["server_duplicates"] == 0  # every fix has a new time
    check = report["stored"]["last_fix_check"]
    assert check["vehicles_checked"] == 10 and check["behind"] == 0
    _assert_stored_exactly_once(report)
    assert report["retry"]["enabled"] is bool(extra) and report["retry"]["final_backlog"] == 0

    controls = report["controls"]
    assert controls["healthy"] == 1 and controls["stalled"] == 1
    # The stalled screen did not hold up the healthy one.
    healthy = [c for c in controls["clients"] if not c["stalled"]]
    assert healthy[0]["positions"] > 0
    assert controls["positions_received"] > 0
    latency = controls["latency_ms"]
    assert latency["count"] > 0
    assert latency["p99"] >= latency["p50"]
    assert controls["per_client_p99_ms"][0]["p99_ms"] is not None
    fate = controls["stalled_fate"]
    assert len(fate) == 1 and fate[0]["state"] in ("open", "closed", "open_still_draining")
    assert report["server_process"]["best_effort"] is True


@pytest.mark.slow
def test_retrying_phones_fail_over_from_a_dead_url_and_lose_nothing(server: str) -> None:
    """Half the phones start on a URL that refuses connections: their first upload fails,
    stays queued, goes out again to the live server with the next one, and in the end every
    fix is stored exactly once."""
    dead = f"http://127.0.0.1:{free_port()}"
    report = _load(
        f"{dead},{server}", "batch", "--retry", "--batch-size", "2", "--stalled", "0"
    )  # (later options win: no stalled screen to wait for)
    assert report["config"]["unanswering_urls"] == [dead]
    whole = report["ingest"]["whole_run"]
    assert whole["errors"] == {"ConnectionRefusedError": 5}  # vehicles 1, 3, 5, 7, 9
    retry = report["retry"]
    assert retry["failovers"] == 5 and retry["final_backlog"] == 0
    assert whole["fixes_resent"] == retry["fixes_resent"] == 5 * 2  # each lost batch once
    assert whole["fixes_acknowledged"] == whole["fixes_sent"] - whole["fixes_resent"]
    _assert_stored_exactly_once(report)
