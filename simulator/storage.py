"""After a run: read every SIM vehicle's stored track back through the API and compare it,
fix by fix, with what the server acknowledged.

A 2xx reply promises the fixes are committed; this is where that promise is checked from
outside, across whatever happened during the run (a worker restart, a failover): an
acknowledged fix that is not stored is a lost fix, and one vehicle+time returned twice is
a duplicate. Stored fixes that were never acknowledged are allowed (the reply was lost
after the commit; the phone would resend them and the server would call them duplicates).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from simulator.fixes import iso_ms
from simulator.stats import error_kind, rate

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
PAGE_LIMIT = 5000
MAX_LIMIT = 50_000  # the endpoint's largest page
EXAMPLES = 5


class TrackError(Exception):
    """The track could not be read; the message says why."""


def epoch_ms(text: str) -> int:
    """Milliseconds since the epoch from the server's ISO time, in integers (exact)."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return (moment - EPOCH + timedelta(microseconds=500)) // timedelta(milliseconds=1)


async def fetch_track(
    clients: Sequence[httpx.AsyncClient],
    vehicle_id: int,
    since_ms: int,
    until_ms: int,
    *,
    limit: int = PAGE_LIMIT,
) -> list[int]:
    """Every stored fix time of one vehicle in ``[since_ms, until_ms)``, in order, a row
    per stored fix (a duplicate row shows as a repeated time). Pages on ``truncated``: the
    next page starts at the last time seen (inclusive), so the rows at that time already
    counted are skipped, and only those (a page holding nothing but one time is asked for
    again, twice as large). A server that cannot be reached is replaced by the next of
    ``clients`` (the run may have ended with a worker down)."""
    times: list[int] = []
    since = since_ms
    while True:
        response = await _get(
            clients,
            f"/vehicles/{vehicle_id}/track",
            {"since": iso_ms(since), "until": iso_ms(until_ms), "limit": limit},
        )
        if response.status_code != 200:
            raise TrackError(f"HTTP {response.status_code}: {response.text[:200]}")
        page = response.json()
        rows = [epoch_ms(f["recorded_at"]) for f in page["fixes"]]
        if page["truncated"] and (not rows or rows[-1] == since):
            # A full page of one time would start over forever: ask for a bigger one.
            if limit >= MAX_LIMIT:
                raise TrackError(f"more than {limit} fixes share one time; cannot page")
            limit = min(limit * 2, MAX_LIMIT)
            continue
        seen_at_since = 0
        if times and times[-1] == since:
            for t in reversed(times):
                if t != since:
                    break
                seen_at_since += 1
        skip = 0
        while skip < len(rows) and skip < seen_at_since and rows[skip] == since:
            skip += 1
        times.extend(rows[skip:])
        if not page["truncated"]:
            return times
        since = rows[-1]


async def _get(
    clients: Sequence[httpx.AsyncClient], path: str, params: dict[str, Any]
) -> httpx.Response:
    for client in clients[:-1]:
        try:
            return await client.get(path, params=params)
        except httpx.TransportError:
            continue
    return await clients[-1].get(path, params=params)


async def verify_storage(
    clients: Sequence[httpx.AsyncClient],
    vehicle_ids: Sequence[int],
    sent_ms: Mapping[int, Sequence[int]],
    acked_ms: Mapping[int, Sequence[int]],
    *,
    since_ms: int,
    until_ms: int,
    window_ms: tuple[int, int],
    concurrency: int = 16,
    limit: int = PAGE_LIMIT,
) -> dict[str, Any]:
    """The ``stored`` figures of the report. ``clients`` (one per server, tried in
    order) carry a supervisor's token.
    Stored fixes this run never sent (an earlier run's tail inside the time range) are
    reported apart and counted nowhere else."""
    gate = asyncio.Semaphore(concurrency)

    async def one(vehicle_id: int) -> list[int] | str:
        async with gate:
            try:
                return await fetch_track(clients, vehicle_id, since_ms, until_ms, limit=limit)
            except (TrackError, httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
                return f"vehicle {vehicle_id}: {error_kind(exc)}: {exc}"[:200]

    results = await asyncio.gather(*(one(v) for v in vehicle_ids))
    errors = [r for r in results if isinstance(r, str)]
    start_ms, end_ms = window_ms
    stored = in_window = duplicates = foreign = 0
    acked_total = acked_missing = stored_unacked = never_stored = 0
    missing_examples: list[dict[str, Any]] = []
    duplicate_examples: list[dict[str, Any]] = []
    for vehicle_id, rows in zip(vehicle_ids, results, strict=True):
        if isinstance(rows, str):
            continue
        sent = set(sent_ms.get(vehicle_id, ()))
        acked = set(acked_ms.get(vehicle_id, ()))
        unique = set(rows)
        if len(unique) != len(rows):
            seen: set[int] = set()
            for t in rows:
                if t in seen and len(duplicate_examples) < EXAMPLES:
                    duplicate_examples.append({"vehicle_id": vehicle_id, "recorded_at": iso_ms(t)})
                seen.add(t)
            duplicates += len(rows) - len(unique)
        ours = unique & (sent | acked)
        foreign += len(unique) - len(ours)
        stored += len(ours)
        in_window += sum(1 for t in ours if start_ms <= t < end_ms)
        acked_total += len(acked)
        missing = acked - unique
        acked_missing += len(missing)
        for t in sorted(missing)[: max(0, EXAMPLES - len(missing_examples))]:
            missing_examples.append({"vehicle_id": vehicle_id, "recorded_at": iso_ms(t)})
        stored_unacked += len(ours - acked)
        never_stored += len(sent - acked - unique)
    window_s = (end_ms - start_ms) / 1000
    out: dict[str, Any] = {
        "counted": not errors,
        "vehicles_checked": len(vehicle_ids) - len(errors),
        "range": {"since": iso_ms(since_ms), "until": iso_ms(until_ms)},
        "fixes": stored,
        "fixes_in_window": in_window,
        "stored_fixes_per_s": rate(in_window, window_s),
        "acknowledged": acked_total,
        "acked_missing": acked_missing,
        "acked_missing_examples": missing_examples,
        "duplicates": duplicates,
        "duplicate_examples": duplicate_examples,
        "stored_unacknowledged": stored_unacked,
        "never_stored_unacked": never_stored,
        "not_from_this_run": foreign,
    }
    if errors:
        out["errors"] = errors[:EXAMPLES]
        out["errors_total"] = len(errors)
    return out


def last_fix_check(
    stored: dict[int, str | None], acked: dict[int, int], sim_ids: list[int]
) -> dict[str, Any]:
    """Compare each vehicle's last stored fix time (``GET /vehicles``) with the newest fix
    the server acknowledged to us: stored at or after it means the acknowledgement was
    durable at least for that vehicle's newest fix."""
    checked = behind = 0
    for vid in sim_ids:
        if vid not in acked:
            continue
        checked += 1
        raw = stored.get(vid)
        stored_ms = (
            int(datetime.fromisoformat(raw.replace("Z", "+00:00")).timestamp() * 1000 + 0.5)
            if raw
            else 0
        )
        if stored_ms < acked[vid]:
            behind += 1
    return {"vehicles_checked": checked, "newest_fix_stored": checked - behind, "behind": behind}
