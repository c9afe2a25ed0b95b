"""A crew's SOS (Traccar Client ``alarm=sos``, the JSON ``event``/``alarm``, the crew
page's button over ``/ws/driver``) is stored before the phone is answered, announced once,
folded when repeated, and acknowledged by a dispatcher: audited and announced again."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from websockets.asyncio.client import connect

from dispatch.app import create_app
from dispatch.db.session import Database
from dispatch.models import CrewAlarm
from tests.helpers.bus import BusRecorder
from tests.helpers.phones import DropCount, epoch, pair
from tests.helpers.server import LiveServer
from tests.helpers.stacks import Stack
from tests.helpers.world import World
from tests.helpers.ws import hello, recv, token

AT = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=2)
SOS = {"id": "traccar-a1", "alarm": "sos", "lat": "13.7463", "lon": "100.5347"}


def alarm_events(messages: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [m["data"] for m in messages if m["type"] == f"crew_alarm.{kind}"]


async def open_alarms(client: httpx.AsyncClient, world: World) -> list[dict[str, Any]]:
    response = await client.get("/crew-alarms", headers=world.headers("dispatcher"))
    assert response.status_code == 200, response.text
    alarms: list[dict[str, Any]] = response.json()
    return alarms


async def test_osmand_sos_is_stored_announced_once_folded_and_acknowledged(
    app: FastAPI, client: httpx.AsyncClient, world: World
) -> None:
    a1 = await pair(client, world, "A1", "traccar-a1")
    bus = app.state.dispatch.broker
    async with BusRecorder(bus) as recorder:
        first = await client.get("/osmand", params={**SOS, "timestamp": epoch(AT)})
        assert (first.status_code, first.content) == (200, b"")
        [alarm] = await open_alarms(client, world)  # durable before the phone's 200
        assert (alarm["vehicle_id"], alarm["kind"], alarm["source"]) == (a1, "sos", "osmand")
        assert (alarm["lat"], alarm["lon"], alarm["repeats"]) == (13.7463, 100.5347, 0)
        resent = await client.get("/osmand", params={**SOS, "timestamp": epoch(AT)})
        again = await client.post(
            "/osmand", data={**SOS, "timestamp": epoch(AT + timedelta(seconds=5))}
        )
        assert (resent.status_code, again.status_code) == (200, 200)
        messages = await recorder.settle()
    [raised] = alarm_events(messages, "raised")  # once, whatever the phone repeats
    assert (raised["alarm_id"], raised["vehicle_id"], raised["call_sign"]) == (
        alarm["id"],
        a1,
        "A1",
    )
    [folded] = await open_alarms(client, world)
    assert (folded["id"], folded["repeats"]) == (alarm["id"], 1)  # the resend is no repeat

    async with BusRecorder(bus) as recorder:
        acked = await client.post(
            f"/crew-alarms/{alarm['id']}/acknowledge", headers=world.headers("dispatcher")
        )
        assert acked.status_code == 200, acked.text
        twice = await client.post(
            f"/crew-alarms/{alarm['id']}/acknowledge", headers=world.headers("dispatcher2")
        )
        messages = await recorder.settle()
    body = acked.json()
    assert (body["is_open"], body["acknowledged_by"]) == (False, "dispatcher")
    assert twice.status_code == 200 and twice.json()["acknowledged_by"] == "dispatcher"
    [announced] = alarm_events(messages, "acknowledged")
    assert (announced["alarm_id"], announced["acknowledged_by"]) == (alarm["id"], "dispatcher")
    assert await open_alarms(client, world) == []
    audit = (await client.get("/audit?limit=1000", headers=world.headers("admin"))).json()
    actions = [(e["action"], e["actor"]) for e in audit if e["entity_type"] == "crew_alarms"]
    assert sorted(actions) == [
        ("crew_alarm.acknowledged", "user:dispatcher"),
        ("crew_alarm.raised", "device:traccar-a1"),
    ]
    # A new SOS after the acknowledgement is a new alarm.
    later = await client.get(
        "/osmand", params={**SOS, "timestamp": epoch(AT + timedelta(seconds=60))}
    )
    assert later.status_code == 200
    [fresh] = await open_alarms(client, world)
    assert fresh["id"] != alarm["id"]


async def test_an_sos_without_a_position_still_raises_the_alarm(
    client: httpx.AsyncClient, world: World
) -> None:
    await pair(client, world, "A1", "traccar-a1")
    counted = DropCount()
    response = await client.get("/osmand", params={"id": "traccar-a1", "alarm": "sos"})
    assert response.status_code == 200
    assert counted.delta() == {"no_position": 1}  # the fix is dropped, the alarm is not
    [alarm] = await open_alarms(client, world)
    assert (alarm["lat"], alarm["lon"]) == (None, None)


async def test_the_json_body_raises_sos_from_event_or_alarm(
    client: httpx.AsyncClient, world: World
) -> None:
    await pair(client, world, "A1", "traccar-a1")
    await pair(client, world, "B1", "traccar-b1")
    for device, field in (("traccar-a1", "event"), ("traccar-b1", "alarm")):
        body = {
            "device_id": device,
            "location": {
                "timestamp": AT.isoformat(),
                "coords": {"latitude": 13.75, "longitude": 100.53},
                field: "sos",
            },
        }
        assert (await client.post("/osmand", json=body)).status_code == 200
    alarms = await open_alarms(client, world)
    assert sorted(a["vehicle_id"] for a in alarms) == sorted(
        world.vehicle_ids[u] for u in ("A1", "B1")
    )


async def test_simultaneous_sos_from_one_phone_make_one_alarm(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    await pair(client, world, "A1", "traccar-a1")
    replies = await asyncio.gather(
        *(
            client.get("/osmand", params={**SOS, "timestamp": epoch(AT + timedelta(seconds=n))})
            for n in range(6)
        )
    )
    assert [r.status_code for r in replies] == [200] * 6
    [alarm] = await open_alarms(client, world)
    assert alarm["repeats"] == 5
    async with db.unit_of_work(read_only=True) as uow:
        assert len((await uow.session.scalars(CrewAlarm.__table__.select())).all()) == 1


async def test_only_dispatch_staff_see_and_acknowledge_alarms(
    client: httpx.AsyncClient, world: World
) -> None:
    await pair(client, world, "A1", "traccar-a1")
    await client.get("/osmand", params=SOS)
    [alarm] = await open_alarms(client, world)
    for who in ("driver", "care_a", "device:A1"):
        listed = await client.get("/crew-alarms", headers=world.headers(who))
        acked = await client.post(
            f"/crew-alarms/{alarm['id']}/acknowledge", headers=world.headers(who)
        )
        assert (listed.status_code, acked.status_code) == (403, 403), who
    missing = await client.post("/crew-alarms/999999/acknowledge", headers=world.headers("admin"))
    assert missing.status_code == 404
    recent = await client.get("/crew-alarms?open=false", headers=world.headers("supervisor"))
    assert [a["id"] for a in recent.json()] == [alarm["id"]]


async def test_the_crew_button_over_the_websocket_reaches_the_control_room(
    live: LiveServer, world: World
) -> None:
    a1 = world.vehicle_ids["A1"]
    async with (
        connect(f"{live.ws_url}/ws/control") as screen,
        connect(f"{live.ws_url}/ws/driver") as phone,
        httpx.AsyncClient(base_url=live.base_url) as http,
    ):
        await hello(screen, token(world, "dispatcher"))
        await recv(screen, "snapshot")
        await hello(phone, token(world, "device:A1"))
        assert (await recv(phone))["type"] == "welcome"
        sos = {"type": "sos", "id": "s1", "lat": 13.7471, "lon": 100.5341, "at": AT.isoformat()}
        await phone.send(json.dumps(sos))
        ack = await recv(phone, "ack")
        assert ack["id"] == "s1" and ack["repeated"] is False
        raised = await recv(screen, "event")
        assert raised["event"]["type"] == "crew_alarm.raised"
        data = raised["event"]["data"]
        assert (data["alarm_id"], data["vehicle_id"], data["source"]) == (ack["alarm_id"], a1,
                                                                          "crew")  # fmt: skip
        await phone.send(json.dumps({**sos, "id": "s2", "at": None, "lat": "garbage"}))
        repeated = await recv(phone, "ack")  # never refused for its position or time
        assert (repeated["alarm_id"], repeated["repeated"]) == (ack["alarm_id"], True)
        acked = await http.post(
            f"/crew-alarms/{ack['alarm_id']}/acknowledge", headers=world.headers("dispatcher")
        )
        assert acked.status_code == 200
        seen = await recv(screen, "event")
        assert seen["event"]["type"] == "crew_alarm.acknowledged"
        told = await recv(phone, "alarm")
        assert told["data"]["alarm_id"] == ack["alarm_id"]
        assert told["data"]["acknowledged_by"] == "dispatcher"


async def test_an_sos_is_never_lost_to_the_upload_limit(stack: Stack, world: World) -> None:
    app = create_app(stack.settings(device_requests_per_minute=1))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            await pair(http, world, "A1", "traccar-a1")
            fix = {**SOS, "alarm": "", "timestamp": epoch(AT)}
            assert (await http.get("/osmand", params=fix)).status_code == 200
            over = await http.get("/osmand", params={**SOS, "timestamp": epoch(AT)})
            assert over.status_code == 429  # the fix waits (the phone resends it) ...
            [alarm] = await open_alarms(http, world)  # ... the SOS does not
            assert alarm["vehicle_id"] == world.vehicle_ids["A1"]
