"""``/metrics`` scraped from a real server: every series an operator needs is there and
moves with the work done (fixes, recommendations, solver runs, screens, pool)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from prometheus_client.parser import text_string_to_metric_families
from websockets.asyncio.client import connect

from dispatch.db.session import Database
from dispatch.models.enums import Mobility
from dispatch.transports import planning
from tests.helpers.rides import BANGKOK, CFG, DAY, TRAVEL, book_ride, give_shifts
from tests.helpers.server import LiveServer
from tests.helpers.world import World
from tests.helpers.ws import SCENE, hello, recv, token

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(http: httpx.AsyncClient) -> Samples:
    response = await http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for s in family.samples:
            samples[(s.name, frozenset(s.labels.items()))] = s.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    key = (name, frozenset(labels.items()))
    assert key in samples, f"{name}{labels} missing from /metrics"
    return samples[key]


async def test_metrics_cover_ingest_websockets_recommendations_solver_and_pool(
    live: LiveServer, world: World, db: Database
) -> None:
    now = datetime.now(UTC)
    fixes = [
        {"lat": 13.746 + i / 1000, "lon": 100.534, "recorded_at": (now - timedelta(seconds=i))}
        for i in range(3)
    ]
    body = {"fixes": [{**f, "recorded_at": f["recorded_at"].isoformat()} for f in fixes]}
    async with (
        httpx.AsyncClient(base_url=live.base_url) as http,
        connect(f"{live.ws_url}/ws/control") as screen,
    ):
        await hello(screen, token(world, "dispatcher"))
        snapshot = await recv(screen, "snapshot")
        before = await scrape(http)

        url = f"/vehicles/{world.vehicle_ids['A1']}/fixes"
        first = await http.post(url, json=body, headers=world.headers("device:A1"))
        again = await http.post(url, json=body, headers=world.headers("device:A1"))
        assert first.json() == {"accepted": 3, "duplicates": 0}
        assert again.json() == {"accepted": 0, "duplicates": 3}
        incident = (
            await http.post("/incidents", json=SCENE, headers=world.headers("dispatcher"))
        ).json()
        ranked = await http.post(
            f"/incidents/{incident['id']}/recommendations", headers=world.headers("dispatcher")
        )
        assert ranked.status_code == 200
        await give_shifts(db, world)
        await book_ride(db, world, Mobility.AMBULATORY, 10, 13.75)
        async with db.unit_of_work() as uow:
            await planning.plan(uow, None, DAY, BANGKOK, TRAVEL, CFG, time_limit_s=0.5)

        after = await scrape(http)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - before.get((name, frozenset(labels.items())), 0.0)

    # GPS in: counted per batch (two requests, one group commit each), by outcome.
    assert grew("dispatch_fixes_ingested_total", outcome="stored") == 3
    assert grew("dispatch_fixes_ingested_total", outcome="duplicate") == 3
    assert grew("dispatch_ingest_batch_seconds_count") == 2
    assert grew("dispatch_ingest_batch_fixes_count") == 2
    assert grew("dispatch_ingest_batch_fixes_sum") == 6
    assert grew("dispatch_ingest_batch_failures_total") == 0
    for reason in ("no_position", "zero_position", "too_old", "future", "bad_value"):
        assert grew("dispatch_fixes_dropped_total", reason=reason) == 0, reason  # exposed
    assert value(after, "dispatch_history_pending_fixes") == 0  # durable before each reply
    # Websockets: one screen on this worker, reading, so nothing waits in its queues; one
    # position update (the newest of the batch) and nothing coalesced, dropped or cut off.
    assert value(after, "dispatch_websocket_clients", channel="control") == 1
    assert value(after, "dispatch_websocket_clients", channel="driver") == 0
    for kind in ("events", "positions", "driver"):
        assert value(after, "dispatch_websocket_queued", kind=kind) == 0, kind
    assert value(after, "dispatch_websocket_queue_max_events") == 0
    assert value(after, "dispatch_positions_coalesced_total") == 0
    for reason in ("position_out_of_order", "driver_outbox_full", "live_publish_failed"):
        assert value(after, "dispatch_updates_dropped_total", reason=reason) == 0, reason
    assert value(after, "dispatch_websocket_resync_disconnects_total") == 0
    # Decisions: one recommendation, one day plan.
    assert grew("dispatch_recommendation_seconds_count") == 1
    assert grew("dispatch_recommendation_seconds_bucket", le="+Inf") == 1
    assert grew("dispatch_solver_seconds_count", kind="plan") == 1
    # Database pool (SQLite file and PostgreSQL both use a queue pool): the connection(s)
    # opened so far are checked out or idle, and a test this light never overflows.
    size = live.app.state.dispatch.settings.db_pool_size
    assert value(after, "dispatch_db_pool_size") == size
    opened = sum(
        value(after, "dispatch_db_pool_connections", state=state)
        for state in ("checked_out", "idle")
    )
    assert 1 <= opened <= size
    assert value(after, "dispatch_db_pool_connections", state="overflow") == 0
    # HTTP by route template, not by raw path.
    route = "/incidents/{incident_id}/recommendations"
    assert (
        grew("dispatch_http_request_seconds_count", method="POST", route=route, status="200") == 1
    )
    assert (
        grew("dispatch_http_request_seconds_count", method="POST", route="/incidents", status="201")
        == 1
    )
    assert value(after, "dispatch_draining") == 0
    # The one event of this test (the call taken; the plan ran outside the server).
    assert value(after, "dispatch_event_seq") == snapshot["seq"] + 1
