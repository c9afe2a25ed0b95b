"""Phones paired by QR code, on both stacks: a supervisor pairs a unit and gets the
Traccar Client link (server and a random device id) with its code; a report with that id is
the unit's fix; pairing again or unpairing refuses the old id at once; the crew-page code
logs the page in as the unit; only supervisors and administrators may do any of it."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import FastAPI

from dispatch.app import create_app
from tests.helpers.stacks import Stack
from tests.helpers.world import World


def _link(answer: dict[str, str]) -> tuple[str, dict[str, str]]:
    parts = urlsplit(answer["link"])
    assert (parts.scheme, parts.netloc) == ("org.traccar.client", "config")
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    return query["url"], query


async def _pair(client: httpx.AsyncClient, world: World, unit: str = "A1") -> dict[str, str]:
    made = await client.post(
        f"/vehicles/{world.vehicle_ids[unit]}/phone-pairing", headers=world.headers("supervisor")
    )
    assert made.status_code == 201, made.text
    answer: dict[str, str] = made.json()
    return answer


_SENT = iter(range(10_000))


async def _report(client: httpx.AsyncClient, device_id: str, battery: int = 81) -> httpx.Response:
    """A fix a second later than the last one sent (a resent fix would be a duplicate)."""
    params = {"id": device_id, "lat": "13.7450", "lon": "100.5300", "batt": str(battery)}
    params["timestamp"] = str(int(time.time()) - 600 + next(_SENT))
    return await client.get("/osmand", params=params)


async def _refused(client: httpx.AsyncClient, device_id: str) -> None:
    """Refused as soon as the change is answered: this worker's GPS door forgets the old
    pairing between the commit and the answer (others when the committed event reaches
    them)."""
    refused = await _report(client, device_id)
    assert refused.status_code == 404 and "unknown device" in refused.text


async def _device(client: httpx.AsyncClient, world: World, unit: str = "A1") -> dict[str, object]:
    listed = await client.get("/devices", headers=world.headers("supervisor"))
    assert listed.status_code == 200
    found: dict[str, object] = next(d for d in listed.json() if d["call_sign"] == unit)
    return found


async def test_a_paired_phone_reports_as_its_unit_and_a_new_pairing_refuses_the_old_one(
    client: httpx.AsyncClient, world: World
) -> None:
    before = await _device(client, world)
    assert before["phone_paired"] is False and before["last_fix_at"] is None
    first = await _pair(client, world)
    server, query = _link(first)
    assert server == "http://test/osmand" and query["id"] == first["device_id"]
    assert re.fullmatch(r"dsp-[0-9a-f]{24}", first["device_id"])
    assert (query["accuracy"], query["interval"]) == ("high", "10")
    assert first["qr_svg"].startswith("<svg") and "</svg>" in first["qr_svg"]
    assert (await _report(client, first["device_id"])).status_code == 200
    shown = await _device(client, world)
    assert shown["phone_paired"] is True and shown["device_id_end"] == first["device_id"][-4:]
    assert shown["battery_pct"] == 81 and shown["last_fix_at"] is not None
    assert isinstance(shown["gps_age_s"], float)

    second = await _pair(client, world)
    assert second["device_id"] != first["device_id"]
    await _refused(client, first["device_id"])  # the old phone
    assert (await _report(client, second["device_id"], battery=64)).status_code == 200
    assert (await _device(client, world))["battery_pct"] == 64

    gone = await client.delete(
        f"/vehicles/{world.vehicle_ids['A1']}/phone-pairing", headers=world.headers("admin")
    )
    assert gone.status_code == 204
    await _refused(client, second["device_id"])
    assert (await _device(client, world))["phone_paired"] is False


async def test_a_resent_pairing_answers_the_same_code(
    client: httpx.AsyncClient, world: World
) -> None:
    path = f"/vehicles/{world.vehicle_ids['B1']}/phone-pairing"
    headers = {**world.headers("supervisor"), "Idempotency-Key": "pair-b1-0001"}
    first = await client.post(path, headers=headers)
    again = await client.post(path, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json()["device_id"] == first.json()["device_id"]
    assert again.headers.get("Idempotent-Replayed") == "true"


async def test_the_crew_page_code_logs_the_page_in_as_the_unit(
    client: httpx.AsyncClient, world: World
) -> None:
    made = await client.post(
        f"/vehicles/{world.vehicle_ids['B1']}/crew-link", headers=world.headers("supervisor")
    )
    assert made.status_code == 201, made.text
    link = made.json()["link"]
    assert link.startswith("http://test/crew#token=")
    token = link.split("#token=", 1)[1]
    me = await client.get("/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200 and me.json()["vehicle_id"] == world.vehicle_ids["B1"]
    # The unit's previous token (the world's) stops working: one phone per unit.
    old = await client.get("/auth/me", headers=world.headers("device:B1"))
    assert old.status_code == 401


@pytest.mark.parametrize("who", ["dispatcher", "driver", "care_a", "device:A1"])
async def test_only_supervisors_and_administrators_manage_phones(
    client: httpx.AsyncClient, world: World, who: str
) -> None:
    unit = world.vehicle_ids["A1"]
    headers = world.headers(who)
    assert (await client.get("/devices", headers=headers)).status_code == 403
    for method, path in (
        ("POST", f"/vehicles/{unit}/phone-pairing"),
        ("DELETE", f"/vehicles/{unit}/phone-pairing"),
        ("POST", f"/vehicles/{unit}/crew-link"),
    ):
        assert (await client.request(method, path, headers=headers)).status_code == 403
    assert (await _device(client, world))["phone_paired"] is False


@pytest.fixture
async def public_client(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    app: FastAPI = create_app(stack.settings(public_url="https://ems.example.org/dispatch/"))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http,
    ):
        yield http


async def test_codes_carry_the_public_address_when_one_is_configured(
    public_client: httpx.AsyncClient, world: World
) -> None:
    answer = await _pair(public_client, world)
    assert _link(answer)[0] == "https://ems.example.org/dispatch/osmand"
    crew = await public_client.post(
        f"/vehicles/{world.vehicle_ids['A1']}/crew-link", headers=world.headers("admin")
    )
    assert crew.json()["link"].startswith("https://ems.example.org/dispatch/crew#token=")
