"""The phones' HTTP senders against scripted local servers: failed uploads stay queued,
go out again oldest first and fail over to the next URL; and the stored-track check
counts every stored row once across pages."""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

import httpx

from simulator.fixes import MAX_BATCH, FixPoint, Track, iso_ms
from simulator.fleet import SimVehicle
from simulator.movement import Mover
from simulator.senders import HttpSender, Phone
from simulator.storage import epoch_ms, fetch_track, verify_storage
from simulator.timetable import Clock, Ledger, Plan


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
