"""Idempotent writes (README, "Idempotent writes"): a write resent with the same
``Idempotency-Key`` gets the first answer byte for byte and creates nothing; the same
key for another request is refused; keys are per caller; a failed request leaves its
key free; keys are forgotten after 24 hours (on the server's injectable clock)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from dispatch.app import create_app
from dispatch.clock import ManualClock
from dispatch.db.session import Database
from dispatch.errors import Unavailable
from dispatch.idempotency.cleanup import sweep
from dispatch.incidents import service as incidents
from dispatch.models import Incident
from tests.helpers.idempotency import (
    SCENE,
    WRITES,
    count,
    key_records,
    keyed,
    new_key,
    write_for,
)
from tests.helpers.stacks import Stack
from tests.helpers.world import World

DAY_S = 24 * 3600
HEADER_ERROR = {"loc": ["header", "Idempotency-Key"]}


def _names_the_header(response: httpx.Response) -> bool:
    detail = response.json()["detail"]
    return any(d["loc"] == HEADER_ERROR["loc"] for d in detail)


@pytest.mark.parametrize("name", WRITES)
async def test_a_resent_write_gets_the_first_answer_and_creates_nothing(
    client: httpx.AsyncClient, db: Database, world: World, name: str
) -> None:
    write = await write_for(name, client, world)
    key = new_key()
    first = await client.post(write.path, json=write.body, headers=keyed(world, write.who, key))
    assert first.status_code == 201, first.text
    assert "idempotent-replayed" not in first.headers
    rows = await count(db, write.creates)
    # the same object with its keys in another order is the same request
    resent_body = dict(reversed(list(write.body.items())))
    again = await client.post(write.path, json=resent_body, headers=keyed(world, write.who, key))
    assert again.status_code == 201
    assert again.content == first.content  # byte for byte
    assert again.headers["idempotent-replayed"] == "true"
    assert again.headers["content-type"] == first.headers["content-type"]
    assert await count(db, write.creates) == rows
    # without a key the same body is a new write, as before
    other = await client.post(write.path, json=write.body, headers=world.headers(write.who))
    assert other.status_code in (201, 409)  # a unit assigned twice is a clash
    assert await key_records(db) == 1


async def test_the_same_key_for_another_request_is_refused_naming_the_header(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    key = new_key()
    first = await client.post("/incidents", json=SCENE, headers=keyed(world, "dispatcher", key))
    assert first.status_code == 201
    other_body = await client.post(
        "/incidents",
        json={**SCENE, "chief_complaint": "fever"},
        headers=keyed(world, "dispatcher", key),
    )
    assert other_body.status_code == 422 and _names_the_header(other_body), other_body.text
    assert "POST /incidents" in other_body.json()["detail"][0]["msg"]
    other_path = await client.post(
        f"/incidents/{first.json()['id']}/assignments",
        json={"vehicle_id": world.vehicle_ids["B1"]},
        headers=keyed(world, "dispatcher", key),
    )
    assert other_path.status_code == 422 and _names_the_header(other_path)
    assert await count(db, Incident) == 1
    # the first request still gets its answer
    again = await client.post("/incidents", json=SCENE, headers=keyed(world, "dispatcher", key))
    assert again.content == first.content and again.headers["idempotent-replayed"] == "true"


async def test_keys_belong_to_their_caller(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    key = new_key()
    answers = [
        await client.post("/incidents", json=SCENE, headers=keyed(world, who, key))
        for who in ("dispatcher", "dispatcher2", "supervisor")
    ]
    assert [a.status_code for a in answers] == [201, 201, 201]
    assert not any("idempotent-replayed" in a.headers for a in answers)
    assert len({a.json()["id"] for a in answers}) == 3
    assert await count(db, Incident) == 3
    # a care centre using a dispatcher's key on its own write is its own key too
    patient = await client.post(
        "/patients",
        json={"full_name": "Somchai P.", "mobility": "ambulatory"},
        headers=keyed(world, "care_a", key),
    )
    assert patient.status_code == 201 and "idempotent-replayed" not in patient.headers


@pytest.mark.parametrize(
    "value",
    ["", "x" * 256, '"unterminated', '"bad \\n escape"', "tab\there"],
    ids=["empty", "256 characters", "unterminated quote", "bad escape", "control character"],
)
async def test_a_malformed_key_is_refused_naming_the_header(
    client: httpx.AsyncClient, db: Database, world: World, value: str
) -> None:
    headers = {**world.headers("dispatcher"), "Idempotency-Key": value}
    refused = await client.post("/incidents", json=SCENE, headers=headers)
    assert refused.status_code == 422 and _names_the_header(refused), refused.text
    assert await count(db, Incident) == 0


async def test_non_ascii_and_repeated_headers_are_refused(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    auth = list(world.headers("dispatcher").items())
    non_ascii = [("Idempotency-Key", "caf\u00e9".encode("latin-1"))]
    repeated = [("Idempotency-Key", "a"), ("Idempotency-Key", "b")]
    for extra in (non_ascii, repeated):
        refused = await client.post("/incidents", json=SCENE, headers=[*auth, *extra])
        assert refused.status_code == 422 and _names_the_header(refused), refused.text
    assert await count(db, Incident) == 0


async def test_the_longest_key_and_the_structured_field_form_are_accepted(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    longest = "k" * 255
    first = await client.post("/incidents", json=SCENE, headers=keyed(world, "dispatcher", longest))
    assert first.status_code == 201, first.text
    # the IETF draft's form ("…", a Structured Field string) names the same key
    quoted = await client.post(
        "/incidents", json=SCENE, headers=keyed(world, "dispatcher", f'"{longest}"')
    )
    assert quoted.content == first.content and quoted.headers["idempotent-replayed"] == "true"
    escaped = keyed(world, "dispatcher", '"say \\"hi\\""')
    assert (await client.post("/incidents", json=SCENE, headers=escaped)).status_code == 201
    bare = keyed(world, "dispatcher", 'say "hi"')
    assert (await client.post("/incidents", json=SCENE, headers=bare)).headers[
        "idempotent-replayed"
    ] == "true"
    assert await count(db, Incident) == 2


async def test_a_failed_write_leaves_no_key_record_and_the_key_can_be_retried(
    client: httpx.AsyncClient, db: Database, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The write fails after it was flushed (the incident and the key record are in the
    transaction): both roll back together, and a retry with the same key does the work."""
    create = incidents.create
    failures = [Unavailable("The database is busy; try again shortly.")]

    async def flaky(*args: Any, **kwargs: Any) -> Any:
        made = await create(*args, **kwargs)
        if failures:
            raise failures.pop()
        return made

    monkeypatch.setattr(incidents, "create", flaky)
    key = new_key()
    failed = await client.post("/incidents", json=SCENE, headers=keyed(world, "dispatcher", key))
    assert failed.status_code == 503 and failed.headers["retry-after"]
    assert await count(db, Incident) == 0 and await key_records(db) == 0
    retried = await client.post("/incidents", json=SCENE, headers=keyed(world, "dispatcher", key))
    assert retried.status_code == 201 and "idempotent-replayed" not in retried.headers
    again = await client.post("/incidents", json=SCENE, headers=keyed(world, "dispatcher", key))
    assert again.content == retried.content and again.headers["idempotent-replayed"] == "true"
    assert await count(db, Incident) == 1


async def test_a_refused_write_does_not_use_up_the_key(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    key = new_key()
    refused = await client.post(
        "/incidents",
        json={**SCENE, "chief_complaint": "dragon_bite"},
        headers=keyed(world, "dispatcher", key),
    )
    assert refused.status_code == 422
    fixed = await client.post("/incidents", json=SCENE, headers=keyed(world, "dispatcher", key))
    assert fixed.status_code == 201 and "idempotent-replayed" not in fixed.headers
    assert await count(db, Incident) == 1


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(start=datetime.now(UTC))


@pytest.fixture
async def clocked(
    stack: Stack, world: World, clock: ManualClock
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """The app on the test's clock."""
    application = create_app(stack.settings(), clock=clock)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            yield application, http


async def test_a_key_is_remembered_for_24_hours_then_forgotten(
    clocked: tuple[FastAPI, httpx.AsyncClient], db: Database, world: World, clock: ManualClock
) -> None:
    _, http = clocked
    key = new_key()
    headers = keyed(world, "dispatcher", key)
    first = await http.post("/incidents", json=SCENE, headers=headers)
    clock.advance(DAY_S - 1)
    late = await http.post("/incidents", json=SCENE, headers=headers)
    assert late.content == first.content and late.headers["idempotent-replayed"] == "true"
    clock.advance(1)  # 24 hours: the key is new again, even for another body
    anew = await http.post("/incidents", json={**SCENE, "patient_count": 2}, headers=headers)
    assert anew.status_code == 201 and "idempotent-replayed" not in anew.headers
    assert anew.json()["id"] != first.json()["id"]
    assert await count(db, Incident) == 2 and await key_records(db) == 1


async def test_expired_keys_are_swept_on_the_servers_clock(
    clocked: tuple[FastAPI, httpx.AsyncClient], db: Database, world: World, clock: ManualClock
) -> None:
    _, http = clocked
    for _ in range(3):
        made = await http.post(
            "/incidents", json=SCENE, headers=keyed(world, "dispatcher", new_key())
        )
        assert made.status_code == 201
        clock.advance(3600)
    assert await sweep(db, clock) == 0
    clock.advance(DAY_S - 3 * 3600)  # the first key is exactly 24 hours old
    assert await sweep(db, clock) == 1
    assert await key_records(db) == 2
    clock.advance(2 * 3600)
    assert await sweep(db, clock) == 2
    assert await key_records(db) == 0


async def test_the_header_is_declared_on_exactly_the_idempotent_writes(app: FastAPI) -> None:
    schema = app.openapi()
    declared = set()
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            params = [p for p in operation.get("parameters", []) if p["name"] == "Idempotency-Key"]
            if not params:
                continue
            declared.add(f"{method.upper()} {path}")
            (param,) = params
            assert param["in"] == "header" and not param.get("required", False)
            assert param["schema"]["maxLength"] == 257
            success = next(code for code in operation["responses"] if code.startswith("2"))
            assert "Idempotent-Replayed" in operation["responses"][success]["headers"]
    assert declared == {
        "POST /incidents",
        "POST /incidents/{incident_id}/assignments",
        "POST /patients",
        "POST /bookings",
        "POST /bookings/import",
        "POST /plans/{service_date}",
        "POST /standby-posts",
        "POST /vehicles/{vehicle_id}/phone-pairing",
        "POST /vehicles/{vehicle_id}/crew-link",
        "POST /incidents/{incident_id}/offers",
        "POST /offers/{offer_id}/accept",
        "POST /offers/{offer_id}/decline",
        "POST /offers/{offer_id}/withdraw",
        "POST /incidents/{incident_id}/handover",
        "PUT /incidents/{incident_id}/mutual-aid",
        "PUT /vehicles/{vehicle_id}/service",
    }
