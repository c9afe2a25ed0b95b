"""After the day: read back what the server stored for the run and compare it with what
the simulator recorded, so the report's figures are known to be the server's figures.

The server's stamps are read on each policy's clock (``Clock.virtual``) and must map back
to exactly the moments the simulator acted at; booked rides must end in the statuses the
crews reported, and the server must have released the rides the simulator saw released.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from simulator.city.api import Api
from simulator.city.clock import Clock
from simulator.city.records import CaseRecord
from simulator.city.transports import Transports


async def verify_run(
    api: Api,
    clocks: dict[str, Clock],
    run_id: str,
    records: list[CaseRecord],
    since: float,
    transports: Transports | None,
) -> dict[str, Any]:
    """Read back what the server stored for this run's incidents (each by id: the list
    endpoint shows only the latest 200) and compare with what the simulator recorded."""
    by_id = {r.incident_id: r for r in records if r.incident_id is not None}
    gate = asyncio.Semaphore(16)
    incidents: list[dict[str, Any]] = []
    stored: dict[int, list[dict[str, Any]]] = {}

    async def fetch(incident_id: int) -> None:
        async with gate:
            incident = (await api.send("GET", f"/incidents/{incident_id}")).json()
            if f"run={run_id} " not in (incident.get("notes") or ""):
                return
            response = await api.send("GET", f"/incidents/{incident_id}/assignments")
            incidents.append(incident)
            stored[incident_id] = response.json()

    await asyncio.gather(*(fetch(i) for i in by_id if i is not None))
    diffs: list[float] = []
    notify_diffs: list[float] = []
    per_policy: dict[str, dict[str, int]] = {}
    closed = 0
    preempted = 0
    released: dict[str, set[int]] = {}
    for incident in incidents:
        rec = by_id.get(int(incident["id"]))
        policy = rec.policy if rec is not None else "unknown"
        counts = per_policy.setdefault(policy, {"incidents": 0, "assignments": 0})
        counts["incidents"] += 1
        units = stored[int(incident["id"])]
        counts["assignments"] += len(units)
        preempted += sum(1 for a in units if a.get("preempted_booking_ids"))
        for a in units:
            released.setdefault(policy, set()).update(a.get("preempted_booking_ids") or [])
        closed += incident["status"] == "closed"
        if rec is None:
            continue
        # the server's stamps, read on the policy's clock, against the simulator's moments
        clock = clocks[rec.policy]
        scene = [clock.virtual(a["on_scene_at"]) for a in units if a.get("on_scene_at")]
        if rec.response_s is not None and scene:
            server_s = min(scene) - clock.virtual(incident["created_at"])
            diffs.append(abs(server_s - rec.response_s))
        mine = [a for a in units if a["id"] == rec.assignment_id]
        if mine and rec.notified_v is not None:
            notify_diffs.append(abs(clock.virtual(mine[0]["notified_at"]) - rec.notified_v))
    kpis = (
        await api.send(
            "GET",
            "/kpis",
            params={
                "since": datetime.fromtimestamp(since, UTC).isoformat(),
                "until": datetime.now(UTC).isoformat(),
            },
        )
    ).json()
    return {
        "incidents_stored": len(incidents),
        "incidents_closed": closed,
        "by_policy": per_policy,
        "preempting_assignments": preempted,
        "response_compared": len(diffs),
        "response_max_abs_diff_s": round(max(diffs), 3) if diffs else None,
        "notified_compared": len(notify_diffs),
        "notified_max_abs_diff_s": round(max(notify_diffs), 3) if notify_diffs else None,
        "kpis_window_calls": sum(int(level["calls"]) for level in kpis["levels"]),
        "kpis_window_reached": sum(int(level["reached"]) for level in kpis["levels"]),
        "transports": (
            await verify_rides(api, transports, released) if transports is not None else None
        ),
    }


async def verify_rides(
    api: Api, transports: Transports, released: dict[str, set[int]]
) -> dict[str, Any]:
    """What the server stored for each policy's rides against what its crews did: every
    booking's final status, and the rides the server released for emergencies (from the
    stored assignments) against those the simulator saw released."""
    out: dict[str, Any] = {}
    for name, day in transports.days.items():
        params = {"service_date": day.day.isoformat()}
        stored = {int(b["id"]): b for b in await api.get_all("/bookings", params=params)}
        expected: dict[int, str] = {}
        for booking_id, rec in day.by_booking.items():
            if rec.completed:
                expected[booking_id] = "completed"
            elif rec.no_show:
                expected[booking_id] = "no_show"
        statuses: dict[str, int] = {}
        mismatched: list[int] = []
        for booking_id in day.by_booking:
            status = stored[booking_id]["status"] if booking_id in stored else "missing"
            statuses[status] = statuses.get(status, 0) + 1
            finished = status in ("completed", "no_show")
            if expected.get(booking_id) != (status if finished else None):
                mismatched.append(booking_id)
        seen = {b for b, rec in day.by_booking.items() if rec.released}
        out[name] = {
            "service_date": day.day.isoformat(),
            "bookings": len(day.by_booking),
            "stored_statuses": dict(sorted(statuses.items())),
            "status_mismatches": sorted(mismatched),
            "released_by_server": len(released.get(name, set())),
            "released_seen": len(seen),
            "released_agree": released.get(name, set()) == seen,
        }
    return out
