"""``simulator load``: set up a fleet, drive it against running servers, measure, report.

The run has fixed phases so every figure means one thing:

1. setup through the API (login, vehicles, device tokens, OsmAnd pairing), not timed;
2. connect the control screens (and the crews' websockets), then read the server's memory:
   the *before* figure excludes the connections, the *after* figure includes them all;
3. send for ``duration`` seconds; the first ``warmup`` seconds are not measured; with
   ``retry`` the phones then flush their backlogs for at most ``flush_timeout`` seconds;
4. drain: in-flight requests finish (bounded by their timeout), trailing position frames
   arrive for a moment, the server's memory is read again, the stalled screens are
   examined, everything closes. Nothing loops past these bounds;
5. unless told not to, read every SIM vehicle's stored track back and compare it fix by
   fix with what was acknowledged (``simulator.storage``).

The settings are ``simulator.load_config``; the server-process figures and the human
table of the report, ``simulator.load_report``.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections import Counter
from typing import Any

import httpx

from simulator import procinfo
from simulator.calls import Calls
from simulator.controls import ControlClient
from simulator.driver_socket import DriverSocket
from simulator.fixes import Track
from simulator.fleet import (
    Fleet,
    SetupError,
    complaint_codes,
    last_fix_times,
    login,
    setup_fleet,
)
from simulator.load_config import LoadConfig
from simulator.load_report import machine_busy, server_figures
from simulator.movement import Mover
from simulator.senders import HttpSender, Phone
from simulator.stats import Histogram, error_kind, rate
from simulator.storage import last_fix_check, verify_storage
from simulator.timetable import Clock, Ledger, Plan, timetable

DRAIN_S = 1.5
#: The stored-track check reads from this long before the run's first fix (clock skew
#: between phone and server does not matter, but a fix stamped a moment early must count).
VERIFY_MARGIN_MS = 5_000
VERIFY_CONCURRENCY = 16


def _say(cfg: LoadConfig, text: str) -> None:
    if not cfg.quiet:
        print(text, file=sys.stderr, flush=True)


async def _answering(urls: list[str]) -> list[str]:
    """The URLs whose server answers HTTP at all (any status); raises the first one's
    transport error when none does."""
    answering: list[str] = []
    first: httpx.TransportError | None = None
    async with httpx.AsyncClient(timeout=5.0) as client:
        for url in urls:
            try:
                await client.get(f"{url}/readyz")
            except httpx.TransportError as exc:
                first = first or exc
                continue
            answering.append(url)
    if not answering:
        assert first is not None
        raise first
    return answering


async def _gather_bounded(jobs: list[Any], limit: int) -> list[Any]:
    """Run coroutines at most ``limit`` at a time (connection storms make servers refuse)."""
    gate = asyncio.Semaphore(limit)

    async def one(job: Any) -> Any:
        async with gate:
            return await job

    return list(await asyncio.gather(*(one(j) for j in jobs)))


def _progress_line(clock: Clock, ledger: Ledger, controls: list[ControlClient]) -> str:
    t = ledger.total
    positions = sum(c.stats.positions for c in controls if not c.stalled)
    latency = Histogram()
    for c in controls:
        if not c.stalled:
            latency.merge(c.stats.latency_ms)
    p = latency.summary()
    return (
        f"[{time.monotonic() - clock.start:6.1f}s] sent {t.fixes_sent} fixes in {t.requests} "
        f"requests, ok {t.fixes_ok}, resent {t.fixes_resent}, errors {sum(t.errors.values())}, "
        f"skipped slots {t.skipped_slots}, positions seen {positions}, "
        f"latency p50 {p['p50']} p99 {p['p99']} ms"
    )


async def _progress(cfg: LoadConfig, clock: Clock, ledger: Ledger, controls: list[Any]) -> None:
    while True:  # cancelled after the drain
        await asyncio.sleep(cfg.progress_s)
        _say(cfg, _progress_line(clock, ledger, controls))


async def run_load(cfg: LoadConfig) -> dict[str, Any]:
    cfg.check()
    urls = cfg.urls
    osmand_urls = cfg.osmand_urls or [u.rstrip("/") + "/osmand" for u in urls]
    timeout = httpx.Timeout(60.0)
    # Setup, screens, crews' sockets and the storage check use the servers that answer
    # now; the phones get every URL, so one that is down exercises their failover.
    live = await _answering(urls)
    async with contextlib.AsyncExitStack() as stack:
        setup = await stack.enter_async_context(
            httpx.AsyncClient(base_url=live[0], timeout=timeout)
        )
        # --- 1. setup ---------------------------------------------------------------------
        token = cfg.setup_token
        if token is None:
            assert cfg.username is not None and cfg.password is not None
            token = await login(setup, cfg.username, cfg.password)
        auth = {"Authorization": f"Bearer {token}"}
        setup.headers.update(auth)
        _say(cfg, f"setting up {cfg.vehicles} vehicles through {live[0]} …")
        fleet: Fleet = await setup_fleet(
            setup,
            cfg.vehicles,
            tokens=cfg.protocol in ("batch", "websocket"),
            pair_devices=cfg.protocol == "osmand",
        )
        _say(cfg, f"fleet ready in {fleet.seconds:.1f} s: {fleet.as_dict()}")
        sim_ids = {v.vehicle_id for v in fleet.vehicles}
        codes = await complaint_codes(setup) if cfg.calls_per_min > 0 else []

        # --- 2. connections, memory before ----------------------------------------------
        pids = procinfo.find_server_pids(urls + (osmand_urls if cfg.protocol == "osmand" else []))
        before = procinfo.sample(pids)
        mover = Mover(seed=cfg.seed)
        now = time.time()
        tracks = [Track(mover, mover.spawn(now)) for _ in fleet.vehicles]
        controls = [
            ControlClient(
                j,
                live[j % len(live)],
                token,
                stalled=j < cfg.stalled,
                sim_ids=sim_ids,
                compression=cfg.compression,
            )
            for j in range(cfg.controls)
        ]
        _say(cfg, f"opening {cfg.controls} control screens ({cfg.stalled} will stall) …")
        await _gather_bounded([c.open() for c in controls], cfg.connect_concurrency)
        drivers: list[DriverSocket] = []
        if cfg.protocol == "websocket":
            drivers = [
                DriverSocket(v, tr, live[i % len(live)], compression=cfg.compression)
                for i, (v, tr) in enumerate(zip(fleet.vehicles, tracks, strict=True))
            ]
            _say(cfg, f"opening {len(drivers)} crew websockets …")
            await _gather_bounded([d.open() for d in drivers], cfg.connect_concurrency)
        connect_errors = Counter(
            [f"control: {c.error}" for c in controls if c.error]
            + [f"driver: {d.connect_error}" for d in drivers if d.connect_error]
        )
        connected = sum(c.opened for c in controls) + sum(d.ws is not None for d in drivers)

        # --- 3. the run -------------------------------------------------------------------
        cpu0, machine0 = time.process_time(), procinfo.machine_cpu()
        server0 = procinfo.sample(pids)
        clock = Clock(cfg.warmup_s, cfg.duration_s)
        ledger = Ledger(clock)
        plan = Plan(clock, ledger, cfg.rate_hz, cfg.batch_size, cfg.vehicles)
        for c in controls:
            c.start(clock)
        tasks: list[asyncio.Task[None]] = []
        senders: list[HttpSender] = []
        if cfg.protocol == "websocket":
            tasks = [asyncio.create_task(d.run(plan)) for d in drivers]
        else:
            pool = min(cfg.senders or cfg.vehicles, cfg.vehicles)
            shares: list[list[Phone]] = [[] for _ in range(pool)]
            targets = urls if cfg.protocol == "batch" else osmand_urls
            for i, (v, tr) in enumerate(zip(fleet.vehicles, tracks, strict=True)):
                shares[i % pool].append(Phone(v, tr, i % len(targets)))
            senders = [
                HttpSender(
                    plan,
                    share,
                    targets,
                    osmand=cfg.protocol == "osmand",
                    timeout_s=cfg.request_timeout_s,
                    retry=cfg.retry,
                    flush_s=cfg.flush_timeout_s,
                )
                for share in shares
            ]
            tasks = [asyncio.create_task(s.run()) for s in senders]
        calls: Calls | None = None
        call_clients: list[httpx.AsyncClient] = []
        if cfg.calls_per_min > 0:
            for u in live:
                call_clients.append(
                    await stack.enter_async_context(
                        httpx.AsyncClient(base_url=u, timeout=timeout, headers=auth)
                    )
                )
            calls = Calls(call_clients, codes, cfg.seed)
            call_plan = Plan(clock, Ledger(clock), cfg.calls_per_min / 60.0, 1, 1)
            tasks.append(asyncio.create_task(timetable(call_plan, [(clock.start, 0)], calls.send)))
        progress = asyncio.create_task(_progress(cfg, clock, ledger, controls))
        _say(cfg, f"sending for {cfg.duration_s:g} s (warm-up {cfg.warmup_s:g} s) …")
        # Sending, then (with retry) the flush, then one last request's timeout.
        flush_s = cfg.flush_timeout_s if cfg.retry else 0.0
        hard_limit = cfg.duration_s + flush_s + cfg.request_timeout_s + 5.0
        _done, late = await asyncio.wait(tasks, timeout=hard_limit) if tasks else (set(), set())
        for task in late:
            task.cancel()
        if late:
            await asyncio.gather(*late, return_exceptions=True)
        flushed_s = max(0.0, time.monotonic() - clock.end)
        await asyncio.gather(*(d.finish(timeout_s=5.0) for d in drivers))

        # --- 4. drain and measure ---------------------------------------------------------
        await asyncio.sleep(DRAIN_S)
        progress.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await progress
        run_wall = time.monotonic() - clock.start
        cpu1, machine1 = time.process_time(), procinfo.machine_cpu()
        after = procinfo.sample(pids)
        for c in controls:
            await c.stop()
        fates = await asyncio.gather(*(c.stalled_fate() for c in controls if c.stalled))
        await asyncio.gather(*(c.close() for c in controls))
        try:
            stored = await last_fix_times(setup)
            durability: dict[str, Any] = last_fix_check(
                stored, ledger.last_acked_ms, [v.vehicle_id for v in fleet.vehicles]
            )
        except (SetupError, httpx.HTTPError) as exc:
            durability = {"error": f"{error_kind(exc)}: {exc}"[:200]}
        stored_check: dict[str, Any] = {
            "counted": False,
            "note": "storage verification skipped (--no-verify-storage)",
        }
        if cfg.verify_storage:
            _say(cfg, "reading the stored tracks back …")
            first_ms = min((t[0] for t in ledger.sent_ms.values() if t), default=0)
            since_ms = min(clock.start_wall_ms, first_ms or clock.start_wall_ms)
            readers = [setup] + [
                await stack.enter_async_context(
                    httpx.AsyncClient(base_url=u, timeout=timeout, headers=auth)
                )
                for u in live[1:]
            ]
            stored_check = await verify_storage(
                readers,
                [v.vehicle_id for v in fleet.vehicles],
                ledger.sent_ms,
                ledger.acked_ms,
                since_ms=since_ms - VERIFY_MARGIN_MS,
                until_ms=int(time.time() * 1000) + 60_000,
                window_ms=(clock.warm_end_wall_ms, clock.end_wall_ms),
                concurrency=VERIFY_CONCURRENCY,
            )

    # --- 5. report -------------------------------------------------------------------------
    window = clock.window_s
    healthy = [c for c in controls if not c.stalled]
    latency = Histogram()
    for c in healthy:
        latency.merge(c.stats.latency_ms)
    per_client_p99 = [
        {
            "client": c.number,
            "p99_ms": c.stats.latency_ms.summary()["p99"],
            "positions": c.stats.positions,
        }
        for c in healthy
    ]
    report: dict[str, Any] = {
        "config": {
            "urls": urls,
            "unanswering_urls": [u for u in urls if u not in live],
            "osmand_urls": osmand_urls if cfg.protocol == "osmand" else None,
            "protocol": cfg.protocol,
            "vehicles": cfg.vehicles,
            "rate_hz": cfg.rate_hz,
            "batch_size": cfg.batch_size,
            "senders": len(drivers)
            if cfg.protocol == "websocket"
            else min(cfg.senders or cfg.vehicles, cfg.vehicles),
            "controls": cfg.controls,
            "stalled": cfg.stalled,
            "duration_s": cfg.duration_s,
            "warmup_s": cfg.warmup_s,
            "calls_per_min": cfg.calls_per_min,
            "seed": cfg.seed,
            "compression": cfg.compression,
            "retry": cfg.retry,
            "verify_storage": cfg.verify_storage,
            "offered_fixes_per_s": round(cfg.vehicles * cfg.rate_hz, 1),
        },
        "setup": fleet.as_dict(),
        "connections": {"opened": connected, "errors": dict(connect_errors)},
        "ingest": {
            "window": ledger.window.as_dict(window),
            "whole_run": ledger.total.as_dict(cfg.duration_s),
        },
        "retry": {
            "enabled": cfg.retry,
            "fixes_resent": ledger.total.fixes_resent,
            "failovers": ledger.failovers,
            "flush_timeout_s": cfg.flush_timeout_s if cfg.retry else None,
            "flush_s": round(flushed_s, 2) if cfg.retry else None,
            # Fixes the phones still held at the end: never acknowledged.
            "final_backlog": sum(s.backlog for s in senders),
        },
        "stored": {
            **stored_check,
            # Counted by request start in the window (stored_fixes_per_s goes by fix time);
            # "new" = rows the server reported inserting.
            "acknowledged_new_fixes_per_s": rate(ledger.window.accepted, window)
            if cfg.protocol != "osmand"
            else None,
            "acknowledged_fixes_per_s": rate(ledger.window.fixes_ok, window),
            "last_fix_check": durability,
        },
        "controls": {
            "healthy": len(healthy),
            "stalled": cfg.stalled,
            "latency_ms": latency.summary(),
            "per_client_p99_ms": per_client_p99,
            "positions_received": sum(c.stats.positions for c in healthy),
            "positions_measured": sum(c.stats.positions_measured for c in healthy),
            "clients": [c.summary() for c in controls],
            "stalled_fate": list(fates),
        },
        "calls": calls.as_dict() if calls is not None else None,
        "server_process": server_figures(
            before, server0, after, cfg.vehicles + cfg.controls, run_wall
        ),
        "generator": {
            "cpu_s": round(cpu1 - cpu0, 2),
            "cpu_cores_used": round((cpu1 - cpu0) / run_wall, 2) if run_wall > 0 else None,
            "machine_cpu_busy": machine_busy(machine0, machine1),
            "wall_s": round(run_wall, 2),
        },
    }
    return report
