"""Recommendation latency: the HTTP round trip of ``POST /incidents/{id}/recommendations``
and the service call alone, on the same incidents, so the two can be told apart."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx
import numpy as np

from dispatch.benchmarks.load import emergency_call, expect, timed
from dispatch.benchmarks.report import latency_ms
from dispatch.incidents.recommend import recommend
from dispatch.models import Incident
from dispatch.routing.base import LatLon
from dispatch.state import AppState


async def bench_recommend(
    http: httpx.AsyncClient,
    state: AppState,
    points: Sequence[LatLon],
    rng: np.random.Generator,
    warmup: int,
    units: int,
) -> dict[str, Any]:
    """Recommendations for the same incidents, over HTTP and as a direct service call."""
    incident_ids = [
        expect(await http.post("/incidents", json=emergency_call(p, rng)), 201)["id"]
        for p in points
    ]
    http_s: list[float] = []
    shown: list[int] = []
    for i, incident_id in enumerate(incident_ids):
        response, elapsed = await timed(http.post(f"/incidents/{incident_id}/recommendations"))
        body = expect(response, 200)
        if i >= warmup:
            http_s.append(elapsed)
            shown.append(len(body["candidates"]))
    service_s: list[float] = []
    etas: list[int] = []
    for i, incident_id in enumerate(incident_ids):
        async with state.db.unit_of_work() as uow:
            incident = await uow.session.get(Incident, incident_id)
            assert incident is not None
            rec, elapsed = await timed(recommend(uow, incident, state.emergency))
            if i >= warmup:
                service_s.append(elapsed)
                # Units given an ETA: neither off duty nor excluded (busy, van, off-map …).
                etas.append(units - rec.off_duty - len(rec.excluded))
    return {
        "recommend_service_ms": {
            **latency_ms(service_s),
            "units_with_eta": int(np.median(etas)),
            "shown": int(np.median(shown)),
        },
        "recommend_http_ms": {**latency_ms(http_s), "shown": int(np.median(shown))},
    }
