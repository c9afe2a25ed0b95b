"""End-to-end latency of a call: incident created over HTTP, units recommended, the best one
assigned, and the ``assignment.created`` event received by the crew's subscription."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import httpx
import numpy as np
from sqlalchemy import func, select

from dispatch.benchmarks.events import EventKey, subscribed
from dispatch.benchmarks.load import emergency_call, expect
from dispatch.benchmarks.report import latency_ms
from dispatch.models import Assignment
from dispatch.routing.base import LatLon
from dispatch.state import AppState

#: Waiting longer than this for an assignment event means it was lost: the run fails.
EVENT_TIMEOUT_S = 10.0


async def bench_end_to_end(
    http: httpx.AsyncClient,
    state: AppState,
    points: Sequence[LatLon],
    rng: np.random.Generator,
    warmup: int,
) -> dict[str, Any]:
    """Call taken → recommended → best unit assigned → crew's event received, per call.

    ``e2e`` ends when both the assignment's 201 and its event are in (the event may arrive
    first: it is published after the commit, before the response is sent).
    Each unit is stood down afterwards, untimed, so the fleet never runs dry.
    """
    e2e: list[float] = []
    assign_to_event: list[float] = []
    steps: dict[str, list[float]] = {"create": [], "recommend": [], "assign": []}
    measured: list[EventKey] = []
    async with subscribed(state) as clock:
        for i, point in enumerate(points):
            call = emergency_call(point, rng)
            t0 = time.perf_counter()
            incident = expect(await http.post("/incidents", json=call), 201)
            t_created = time.perf_counter()
            rec = expect(await http.post(f"/incidents/{incident['id']}/recommendations"), 200)
            t_recommended = time.perf_counter()
            if not rec["candidates"]:
                raise RuntimeError(f"no unit could be recommended for incident {incident['id']}")
            best = rec["candidates"][0]
            t_sent = time.perf_counter()
            assignment = expect(
                await http.post(
                    f"/incidents/{incident['id']}/assignments",
                    json={"vehicle_id": best["vehicle_id"], "recommended_rank": best["rank"]},
                ),
                201,
            )
            t_assigned = time.perf_counter()
            key = (assignment["id"], incident["id"], assignment["vehicle_id"])
            t_event = await clock.wait(key, EVENT_TIMEOUT_S)
            t1 = max(t_event, t_assigned)
            if i >= warmup:
                measured.append(key)
                e2e.append(t1 - t0)
                assign_to_event.append(t_event - t_sent)
                steps["create"].append(t_created - t0)
                steps["recommend"].append(t_recommended - t_created)
                steps["assign"].append(t_assigned - t_sent)
            expect(
                await http.post(
                    f"/assignments/{assignment['id']}/status", json={"status": "cancelled"}
                ),
                200,
            )
        seen = sum(clock.seen(key) for key in measured)
    async with state.db.unit_of_work(read_only=True) as uow:
        committed = await uow.session.scalar(
            select(func.count())
            .select_from(Assignment)
            .where(Assignment.id.in_([assignment_id for assignment_id, _, _ in measured]))
        )
    return {
        "e2e_ms": latency_ms(e2e),
        "assign_to_event_ms": latency_ms(assign_to_event),
        "e2e_steps_http_ms": {name: latency_ms(values) for name, values in steps.items()},
        "assignments_seen_via_events": seen,
        "assignments_committed": int(committed or 0),
    }
