"""Dispatchers hear at once when a crew does not acknowledge, with the next unit to send."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.exc import IntegrityError

from dispatch.app import create_app
from dispatch.db.session import Database
from dispatch.incidents.alerts import (
    PhoneActor,
    acknowledge_crew_alarm,
    raise_ack_alerts,
    raise_crew_alarm,
)
from dispatch.models import CrewAlarm
from dispatch.realtime.broker import InProcessBus
from tests.helpers.stacks import Stack
from tests.helpers.waiting import DEADLINE_S
from tests.helpers.world import World, dispatch_config, place

SCENE = {"lat": 13.7460, "lon": 100.5340, "chief_complaint": "stroke"}


async def test_unacknowledged_assignment_alerts_once_with_next_unit(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    await place(db, world.vehicle_ids["A1"], 13.7470, 100.5340)
    await place(db, world.vehicle_ids["B1"], 13.7500, 100.5340)
    incident = (
        await client.post("/incidents", json=SCENE, headers=world.headers("dispatcher"))
    ).json()
    assignment = (
        await client.post(
            f"/incidents/{incident['id']}/assignments",
            json={"vehicle_id": world.vehicle_ids["A1"]},
            headers=world.headers("dispatcher"),
        )
    ).json()
    cfg = dispatch_config(ack_timeout=timedelta(seconds=60))
    broker = InProcessBus()
    events: list[dict[str, object]] = []

    async def check(now: datetime) -> int:
        async with db.unit_of_work(publish=broker.publish) as uow:
            return len(await raise_ack_alerts(uow, cfg, now))

    async with broker.subscribe() as messages:
        assert await check(datetime.now(UTC) + timedelta(seconds=30)) == 0  # not late yet
        late = datetime.now(UTC) + timedelta(seconds=90)
        # Two workers checking at the same moment: exactly one announces it.
        assert sorted(await asyncio.gather(check(late), check(late))) == [0, 1]
        assert await check(late + timedelta(seconds=30)) == 0  # and never again
        events.append(await asyncio.wait_for(anext(aiter(messages)), 1))
    alert = events[0]
    assert alert["type"] == "alert.raised"
    data = alert["data"]
    assert isinstance(data, dict)
    assert data["kind"] == "unacknowledged_assignment" and data["severity"] == "critical"
    assert data["assignment_id"] == assignment["id"]
    assert data["next_unit"]["call_sign"] == "B1"  # A1 itself is excluded
    assert "A1 has not acknowledged" in data["message"]
    stored = (
        await client.get(f"/assignments/{assignment['id']}", headers=world.headers("dispatcher"))
    ).json()
    assert datetime.fromisoformat(stored["ack_alerted_at"]) == late  # when it was announced


async def test_alerts_endpoint_lists_late_acks_waiting_red_calls_and_quiet_units(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    await place(db, world.vehicle_ids["A1"], 13.7470, 100.5340, age_s=5)
    await place(db, world.vehicle_ids["B1"], 13.7500, 100.5340, age_s=3600)
    from dispatch.models import Incident

    incident = (
        await client.post("/incidents", json=SCENE, headers=world.headers("dispatcher"))
    ).json()
    async with db.unit_of_work() as uow:  # the call came in five minutes ago
        row = await uow.session.get(Incident, incident["id"])
        assert row is not None
        row.created_at = datetime.now(UTC) - timedelta(minutes=5)
    alerts = (await client.get("/alerts", headers=world.headers("dispatcher"))).json()
    kinds = {(a["kind"], a.get("incident_id"), a.get("vehicle_id")) for a in alerts}
    assert kinds == {  # A1 reported 5 s ago; T1 is off duty
        ("red_call_waiting", incident["id"], None),
        ("stale_unit", None, world.vehicle_ids["B1"]),
    }
    assert (await client.get("/alerts", headers=world.headers("care_a"))).status_code == 403


async def test_running_app_announces_late_acks_by_itself(
    stack: Stack, db: Database, world: World
) -> None:
    app = create_app(stack.settings(ack_timeout_s=1, alert_interval_s=0.2))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with (
            httpx.AsyncClient(transport=transport, base_url="http://t") as http,
            app.state.dispatch.broker.subscribe() as messages,
        ):
            incident = (
                await http.post("/incidents", json=SCENE, headers=world.headers("dispatcher"))
            ).json()
            await http.post(
                f"/incidents/{incident['id']}/assignments",
                json={"vehicle_id": world.vehicle_ids["A1"]},
                headers=world.headers("dispatcher"),
            )

            async def first_alert() -> dict[str, Any]:
                async for message in messages:
                    if message["type"] == "alert.raised":
                        return message
                raise AssertionError("subscription ended")

            alert = await asyncio.wait_for(first_alert(), timeout=DEADLINE_S)  # ~1.2 s
    assert alert["data"]["incident_id"] == incident["id"]


async def test_auto_dispatch_sends_the_best_unit_to_red_calls(
    stack: Stack, db: Database, world: World
) -> None:
    await place(db, world.vehicle_ids["A1"], 13.7600, 100.5340)
    await place(db, world.vehicle_ids["B1"], 13.7480, 100.5340)
    app = create_app(stack.settings(auto_dispatch_red=True))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            red = (
                await http.post("/incidents", json=SCENE, headers=world.headers("dispatcher"))
            ).json()
            green = (
                await http.post(
                    "/incidents",
                    json={**SCENE, "chief_complaint": "fever", "lat": 13.70},
                    headers=world.headers("dispatcher"),
                )
            ).json()
            audit = (await http.get("/audit?limit=1000", headers=world.headers("admin"))).json()
    auto = red["auto_assignment"]
    assert auto is not None and auto["auto_dispatched"] is True
    assert auto["vehicle_id"] == world.vehicle_ids["B1"] and auto["recommended_rank"] == 1
    assert red["status"] == "dispatched"
    assert green["auto_assignment"] is None and green["status"] == "pending"
    decision = next(e for e in audit if e["action"] == "assignment.created")
    assert [c["call_sign"] for c in decision["after"]["recommendation"]] == ["B1", "A1"]


async def test_the_database_allows_one_open_crew_alarm_per_vehicle(
    db: Database, world: World
) -> None:
    """The partial unique index behind the folding of repeated SOS: a second open alarm
    for the unit is refused by the database itself; acknowledged ones may pile up."""
    a1 = world.vehicle_ids["A1"]
    now = datetime.now(UTC)
    async with db.unit_of_work() as uow:
        first = await raise_crew_alarm(uow, PhoneActor("device:x"), a1, now=now, source="crew")
        again = await raise_crew_alarm(uow, PhoneActor("device:x"), a1, now=now, source="crew")
    assert (first.created, again.created, again.alarm.id) == (True, False, first.alarm.id)

    def alarm() -> CrewAlarm:
        return CrewAlarm(
            vehicle_id=a1, kind="sos", source="crew", is_open=True, raised_at=now, last_at=now
        )

    with pytest.raises(IntegrityError):
        async with db.unit_of_work() as uow:
            uow.session.add(alarm())
    async with db.unit_of_work() as uow:
        await acknowledge_crew_alarm(uow, PhoneActor("user:test"), first.alarm.id, now)
        uow.session.add(alarm())  # the old one is closed: a new one may open
