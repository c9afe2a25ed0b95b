"""The load generator: its pure pieces, and a real run of ``python -m simulator load``
against a real ``dispatch serve`` for each way a phone sends fixes."""

from __future__ import annotations

import asyncio
import json
import os
import random
import socket
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import numpy as np
import pytest

from simulator import procinfo
from simulator.cli import _urls, build_parser
from simulator.fleet import SimVehicle
from simulator.load import LoadConfig
from simulator.movement import BANGKOK_BOX, Mover, _reflect
from simulator.senders import (
    MAX_BATCH,
    Clock,
    FixPoint,
    HttpSender,
    Ledger,
    Phone,
    Plan,
    Track,
    iso_ms,
    osmand_query,
)
from simulator.stats import Histogram, percentile
from simulator.storage import epoch_ms, fetch_track, verify_storage

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


# --- retry, backlog and failover against scripted local servers ------------------------------


class FakeServer:
    """A tiny HTTP/1.1 server that records every request and answers with the next scripted
    action: an int status (with a fix-ingest reply on 200), or "drop" to close the
    connection without answering (what a worker killed mid-request does). ``handler``
    replaces the script when given."""

    def __init__(
        self,
        script: list[int | str] | None = None,
        handler: Callable[[str, str], tuple[int, bytes]] | None = None,
    ) -> None:
        self.script = deque(script or [])
        self.handler = handler
        self.requests: list[tuple[str, list[int]]] = []  # (path, fix times sent)
        self.writers: set[asyncio.StreamWriter] = set()
        self.server: asyncio.Server | None = None
        self.url = ""

    async def __aenter__(self) -> FakeServer:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *_exc: object) -> None:
        assert self.server is not None
        self.server.close()
        for writer in self.writers:  # idle keep-alive connections: let their handlers end
            writer.close()
        await self.server.wait_closed()
        await asyncio.sleep(0.05)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.add(writer)
        try:
            while True:
                head = (await reader.readuntil(b"\r\n\r\n")).decode()
                method, target = head.split(" ")[:2]
                length = 0
                for line in head.split("\r\n")[1:]:
                    name, _, value = line.partition(":")
                    if name.lower() == "content-length":
                        length = int(value)
                body = await reader.readexactly(length) if length else b""
                if body:
                    times = [epoch_ms(f["recorded_at"]) for f in json.loads(body)["fixes"]]
                else:
                    query = parse_qs(urlsplit(target).query)
                    times = [int(t) for t in query.get("timestamp", [])]
                self.requests.append((target, times))
                if self.handler is not None:
                    status, reply = self.handler(method, target)
                else:
                    action = self.script.popleft() if self.script else 200
                    if action == "drop":
                        writer.close()
                        return
                    assert isinstance(action, int)
                    status = action
                    reply = json.dumps({"accepted": len(times), "duplicates": 0}).encode()
                writer.write(
                    b"HTTP/1.1 %d X\r\nContent-Length: %d\r\nContent-Type: application/json"
                    b"\r\n\r\n%s" % (status, len(reply), reply)
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()


def _sender(urls: list[str], fixes: int, *, osmand: bool = False) -> tuple[HttpSender, Phone]:
    clock = Clock(0.0, 60.0)
    plan = Plan(clock, Ledger(clock), 1.0, 1, 1)
    vehicle = SimVehicle(1, 7, "SIM-00001", "sim-00001", token="dvt_test")
    mover = Mover(seed=1)
    phone = Phone(vehicle, Track(mover, mover.spawn(0.0)), 0)
    base = 1_700_000_000_000
    phone.backlog.extend(FixPoint(base + 100 * i, 13.7, 100.5, 5.0, 90.0) for i in range(fixes))
    sender = HttpSender(plan, [phone], urls, osmand=osmand, timeout_s=5.0, retry=True)
    return sender, phone


async def test_failed_uploads_stay_queued_and_fail_over_to_the_next_url() -> None:
    async with FakeServer([503, "drop"]) as first, FakeServer([200, 503]) as second:
        sender, phone = _sender([first.url, second.url], 1200)
        all_times = [p.t_ms for p in phone.backlog]
        ledger = sender.plan.ledger
        deadline = time.monotonic() + 30

        # 503: nothing acknowledged, the oldest 500 stay queued, same server next time.
        assert await sender.upload(phone, deadline) is False
        assert len(phone.backlog) == 1200 and phone.target == 0
        # The connection dies unanswered: still queued, and the phone moves to the next URL.
        assert await sender.upload(phone, deadline) is False
        assert len(phone.backlog) == 1200 and phone.target == 1 and ledger.failovers == 1
        assert [t for _path, t in first.requests] == [all_times[:MAX_BATCH]] * 2
        # The next server takes the oldest 500; then a 503 there keeps the next 500 queued
        # without another failover (the server answered), and the flush sends the rest.
        assert await sender.upload(phone, deadline) is True
        assert len(phone.backlog) == 700
        await sender.flush(time.monotonic() + 10)
        assert not phone.backlog and sender.backlog == 0
        assert phone.target == 1 and ledger.failovers == 1

    sent_to_second = [t for _path, t in second.requests]
    assert [len(t) for t in sent_to_second] == [500, 500, 500, 200]
    assert sent_to_second[1] == sent_to_second[2]  # the 503'd batch went out again, whole
    acked = [t for i, times in enumerate(sent_to_second) if i != 1 for t in times]
    assert acked == all_times  # every fix acknowledged exactly once, oldest first
    assert list(ledger.acked_ms[7]) == all_times
    assert list(ledger.sent_ms[7]) == all_times  # each fix recorded as sent once
    total = ledger.total
    assert total.fixes_resent == 500 + 500 + 500  # two repeats on the first URL, one on the second
    assert total.fixes_sent == 1200 + total.fixes_resent
    assert total.errors == {"http_503": 2, "IncompleteReadError": 1}


async def test_osmand_retry_sends_one_fix_a_request_oldest_first_and_drops_refused() -> None:
    async with FakeServer([200, 500, 200, 400]) as server:
        sender, phone = _sender([server.url + "/osmand"], 4, osmand=True)
        times = [p.t_ms for p in phone.backlog]
        assert await sender.upload(phone, time.monotonic() + 30) is False  # 200, then 500
        assert [p.t_ms for p in phone.backlog] == times[1:]
        # 200 for the resent fix, 400 (refused for good: dropped), then 200.
        assert await sender.upload(phone, time.monotonic() + 30) is True
        assert not phone.backlog
    assert [t for _path, t in server.requests] == [[t] for t in (times[:2] + times[1:])]
    assert all(path.startswith("/osmand?id=sim-00001&") for path, _t in server.requests)
    ledger = sender.plan.ledger
    assert list(ledger.acked_ms[7]) == [times[0], times[1], times[3]]
    assert ledger.total.errors == {"http_500": 1, "http_400": 1}
    assert ledger.failovers == 0  # one URL: nowhere to go


async def test_track_paging_counts_every_stored_row_once() -> None:
    """Rows sharing a time across a page boundary: the repeat from the inclusive ``since``
    is skipped, a genuine duplicate row is kept and reported."""
    stored = [1000, 2000, 3000, 3000, 3000, 4000, 5000, 6000]

    def track(_method: str, target: str) -> tuple[int, bytes]:
        q = {k: v[0] for k, v in parse_qs(urlsplit(target).query).items()}
        since, until, limit = epoch_ms(q["since"]), epoch_ms(q["until"]), int(q["limit"])
        rows = [t for t in stored if since <= t < until]
        page = [{"recorded_at": iso_ms(t).replace("+00:00", "Z")} for t in rows[:limit]]
        return 200, json.dumps({"fixes": page, "truncated": len(rows) > limit}).encode()

    async with FakeServer(handler=track) as server, httpx.AsyncClient(base_url=server.url) as c:
        for limit in (2, 3, 4, 100):
            assert await fetch_track([c], 7, 0, 10_000, limit=limit) == stored
        assert len(server.requests) > 4  # the small limits did page
        report = await verify_storage(
            [c],
            [7],
            {7: [1000, 2000, 3000, 4000, 5000, 6000, 7000]},
            {7: [1000, 2000, 3000, 4000, 7000]},
            since_ms=0,
            until_ms=10_000,
            window_ms=(2000, 6000),
            limit=2,
        )
    assert report["counted"] is True
    assert report["duplicates"] == 2
    assert report["duplicate_examples"][0] == {"vehicle_id": 7, "recorded_at": iso_ms(3000)}
    assert report["fixes"] == 6 and report["fixes_in_window"] == 4
    assert report["stored_fixes_per_s"] == 1.0
    assert report["acked_missing"] == 1
    assert report["acked_missing_examples"] == [{"vehicle_id": 7, "recorded_at": iso_ms(7000)}]
    assert report["stored_unacknowledged"] == 2  # 5000 and 6000
    assert report["never_stored_unacked"] == 0


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


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _env(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DISPATCH_")}
    env.update(values)
    return env


def _dispatch(args: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "dispatch.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real server on a free port with a fresh SQLite database and a supervisor."""
    tmp = tmp_path_factory.mktemp("simulator")
    env = _env(
        DISPATCH_DATABASE_URL=f"sqlite+aiosqlite:///{tmp / 'x.sqlite3'}",
        DISPATCH_SECRET_KEY=SECRET,
        DISPATCH_OSMAND_PORT="0",
        DISPATCH_ALERT_INTERVAL_S="3600",
        DISPATCH_CACHE_DIR=str(tmp / "cache"),
        DISPATCH_LOG_LEVEL="WARNING",
    )
    _dispatch(["db", "upgrade"], env)
    _dispatch(["org", "create", "--name", "T", "--kind", "dispatch_centre"], env)
    _dispatch(
        ["user", "create", "--username", "sup", "--role", "supervisor", "--organisation-id", "1"],
        {**env, "DISPATCH_NEW_USER_PASSWORD": PASSWORD},
    )
    port = _free_port()
    log = (tmp / "server.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "dispatch.cli", "serve", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, (tmp / "server.log").read_text()[-3000:]
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server did not become ready"
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


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
        env=_env(),
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
    dead = f"http://127.0.0.1:{_free_port()}"
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
