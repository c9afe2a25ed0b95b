"""Response-time KPIs on hand-checked cases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from dispatch.db.session import Database
from dispatch.incidents.kpis import CallTimes, compute, percentile
from dispatch.models import Assignment, Incident
from dispatch.models.enums import AssignmentStatus, IncidentStatus, Triage
from tests.helpers.world import World

T0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def test_nearest_rank_percentiles() -> None:
    values = [300.0, 420.0, 480.0, 600.0, 900.0]
    assert percentile(values, 0.5) == 480.0
    assert percentile(values, 0.9) == 900.0
    assert percentile(list(range(1, 11)), 0.9) == 9
    assert percentile([5.0], 0.5) == 5.0
    assert percentile([], 0.5) is None
    with pytest.raises(ValueError):
        percentile(values, 0)


def _call(
    triage: str,
    on_scene_after: float | None,
    notify_after: float = 30.0,
    en_route_after: float | None = 60.0,
) -> CallTimes:
    return CallTimes(
        triage=triage,
        created_at=T0,
        first_notified_at=T0 + timedelta(seconds=notify_after),
        first_en_route_at=None
        if en_route_after is None
        else T0 + timedelta(seconds=en_route_after),
        first_on_scene_at=None
        if on_scene_after is None
        else T0 + timedelta(seconds=on_scene_after),
        notify_to_en_route_s=None if en_route_after is None else en_route_after - notify_after,
    )


def test_kpis_per_triage_level() -> None:
    calls = [
        _call("red", 300),
        _call("red", 420),
        _call("red", 480),
        _call("red", 600),
        _call("red", 900),
        _call("red", None),  # never reached (stood down)
        _call("yellow", 1000, notify_after=120, en_route_after=300),
        _call("green", 1200),
    ]
    red, yellow, green = compute(calls, {"red": 480, "yellow": 900})
    assert (red.triage, red.calls, red.reached) == ("red", 6, 5)
    assert (red.response.p50_s, red.response.p90_s) == (480.0, 900.0)
    assert red.within_target == 3 and red.share_within_target == 0.6
    assert red.call_to_notify.p50_s == 30.0 and red.notify_to_en_route.p50_s == 30.0
    assert yellow.within_target == 0 and yellow.share_within_target == 0.0
    assert yellow.notify_to_en_route.p90_s == 180.0
    assert green.target_s is None and green.share_within_target is None


async def test_kpi_endpoint_reads_the_timelines(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    async with db.unit_of_work() as uow:
        for n, (triage, minutes) in enumerate(
            [(Triage.RED, 5), (Triage.RED, 12), (Triage.YELLOW, 14)]
        ):
            created = T0 + timedelta(minutes=10 * n)
            incident = Incident(
                organisation_id=world.centre_id,
                lat=13.74,
                lon=100.53,
                chief_complaint="stroke",
                triage=triage,
                status=IncidentStatus.CLOSED,
                created_at=created,
            )
            uow.session.add(incident)
            await uow.session.flush()
            uow.session.add(
                Assignment(
                    incident_id=incident.id,
                    vehicle_id=world.vehicle_ids["A1"],
                    is_active=False,
                    status=AssignmentStatus.BACK_IN_SERVICE,
                    notified_at=created + timedelta(seconds=45),
                    en_route_at=created + timedelta(seconds=105),
                    on_scene_at=created + timedelta(minutes=minutes),
                )
            )
        cancelled = Incident(
            organisation_id=world.centre_id,
            lat=13.74,
            lon=100.53,
            chief_complaint="stroke",
            triage=Triage.RED,
            status=IncidentStatus.CANCELLED,
            created_at=T0,
        )
        uow.session.add(cancelled)
    response = await client.get(
        "/kpis",
        params={
            "since": (T0 - timedelta(hours=1)).isoformat(),
            "until": (T0 + timedelta(hours=1)).isoformat(),
        },
        headers=world.headers("supervisor"),
    )
    assert response.status_code == 200, response.text
    levels = {level["triage"]: level for level in response.json()["levels"]}
    red = levels["red"]
    assert red["calls"] == 2  # the cancelled call is not counted
    assert red["response"] == {"count": 2, "p50_s": 300.0, "p90_s": 720.0}
    assert red["within_target"] == 1 and red["share_within_target"] == 0.5
    assert red["call_to_notify"]["p50_s"] == 45.0 and red["notify_to_en_route"]["p50_s"] == 60.0
    assert levels["yellow"]["within_target"] == 1
    bad = await client.get(
        "/kpis",
        params={"since": T0.isoformat(), "until": T0.isoformat()},
        headers=world.headers("supervisor"),
    )
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["query", "until"]
