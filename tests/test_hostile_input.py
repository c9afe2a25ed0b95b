"""Every class of hostile input found from outside (``dispatch bench fuzz``) is a 422 that
names the field, tried on every field of every operation the OpenAPI schema lists, so a
field added tomorrow is covered without editing this file: non-finite numbers, times at
the edges of the calendar, control characters and unpaired surrogates, integers the
database cannot hold, and ``null`` where a record may not be empty."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from dispatch.schemas import MAX_DB_INT, MIN_DB_INT
from tests.helpers import openapi
from tests.helpers.world import World

NON_FINITE = ("NaN", "Infinity", "-Infinity", "1e309", "-1e400")
EDGE_TIMES = (
    "0001-01-01T00:00:00+14:00",
    "0001-01-01T00:00:00-14:00",
    "9999-12-31T23:59:59-14:00",
    "9999-12-31T23:59:59+14:00",
)
EDGE_DAYS = ("0001-01-01", "9999-12-31")
#: NUL, ESC, DEL, a C1 control and an unpaired surrogate (as JSON escapes).
BAD_TEXT = ("a\x00b", "a\x1bb", "a\x7fb", "a\x85b", "a\ud800b")
PLACEHOLDER = "__value__"


def _strict_json(response: httpx.Response) -> Any:
    """The body as strict JSON: a non-finite number in an answer is a broken answer."""

    def refuse(constant: str) -> None:
        raise AssertionError(f"{constant} in the response body: {response.text[:200]}")

    return json.loads(response.text, parse_constant=refuse)


def _locs(response: httpx.Response) -> list[list[Any]]:
    assert response.status_code == 422, f"{response.status_code}: {response.text[:300]}"
    return [error["loc"] for error in _strict_json(response)["detail"]]


def _spec(app: FastAPI) -> dict[str, Any]:
    return app.openapi()


async def _send_body(
    client: httpx.AsyncClient, world: World, op: openapi.Operation, raw: str
) -> httpx.Response:
    return await client.request(
        op.method,
        op.url(),
        content=raw.encode("utf-8", "surrogatepass"),
        headers={**world.headers("admin"), "Content-Type": "application/json"},
    )


def _body_leaves(
    spec: dict[str, Any], wanted: openapi.Leaf
) -> list[tuple[openapi.Operation, openapi.Path]]:
    return [
        (op, path)
        for op in openapi.operations(spec)
        for path in openapi.leaves(spec, op.body, wanted)
    ]


async def test_non_finite_numbers_are_named_in_every_numeric_field(
    app: FastAPI, client: httpx.AsyncClient, world: World
) -> None:
    spec = _spec(app)
    found = _body_leaves(spec, openapi.numeric)
    assert len(found) > 30  # the whole API: coordinates, seats, counts, fixes, breaks, …
    for op, path in found:
        template = json.dumps(openapi.body_with(path, PLACEHOLDER))
        for token in NON_FINITE:
            raw = template.replace(f'"{PLACEHOLDER}"', token)
            response = await _send_body(client, world, op, raw)
            assert ["body", *path] in _locs(response), (op.label, path, token, response.text)


async def test_control_characters_are_named_in_every_text_field(
    app: FastAPI, client: httpx.AsyncClient, world: World
) -> None:
    spec = _spec(app)
    found = _body_leaves(spec, openapi.text)
    assert len(found) > 30
    for op, path in found:
        for value in BAD_TEXT:
            raw = json.dumps(openapi.body_with(path, value))  # "\u0000", "\ud800" escapes
            response = await _send_body(client, world, op, raw)
            assert ["body", *path] in _locs(response), (op.label, path, repr(value))
    queries = [
        (op, p["name"])
        for op in openapi.operations(spec)
        for p in op.parameters
        if p["in"] == "query" and any(openapi.text(s) for s in openapi.parameter_schema(spec, p))
    ]
    for op, name in queries:
        for value in BAD_TEXT[:4]:  # a URL cannot carry a surrogate
            response = await client.request(
                op.method, op.url(), params={name: value}, headers=world.headers("admin")
            )
            assert ["query", name] in _locs(response), (op.label, name, repr(value))


@pytest.mark.parametrize("username", ["admin\x00", "\x00", "ad\x1bmin", "x" * 10_000])
async def test_login_name_with_control_characters_is_named(
    client: httpx.AsyncClient, world: World, username: str
) -> None:
    response = await client.post(
        "/auth/token", data={"username": username, "password": "correct horse battery"}
    )
    assert ["body", "username"] in _locs(response)


async def test_times_at_the_edges_of_the_calendar_are_named(
    app: FastAPI, client: httpx.AsyncClient, world: World
) -> None:
    spec = _spec(app)
    body_fields = _body_leaves(spec, openapi.moment)
    assert len(body_fields) >= 10  # bookings, shifts, breaks, milestones, fixes, …
    for op, path in body_fields:
        for value in (*EDGE_TIMES, *EDGE_DAYS):
            raw = json.dumps(openapi.body_with(path, value))
            response = await _send_body(client, world, op, raw)
            assert ["body", *path] in _locs(response), (op.label, path, value)
    parameters = [
        (op, p)
        for op in openapi.operations(spec)
        for p in op.parameters
        if any(openapi.moment(s) for s in openapi.parameter_schema(spec, p))
    ]
    labels = {op.label for op, _ in parameters}
    assert {"GET /kpis", "GET /vehicles/{vehicle_id}/track", "POST /plans/{service_date}"} <= labels
    for op, p in parameters:
        is_day = any(s.get("format") == "date" for s in openapi.parameter_schema(spec, p))
        for value in EDGE_DAYS if is_day else EDGE_TIMES:
            if p["in"] == "path":
                url, params = op.url(**{p["name"]: value}), {}
            else:
                url, params = op.url(), {p["name"]: value}
            response = await client.request(
                op.method, url, params=params, headers=world.headers("admin")
            )
            assert [p["in"], p["name"]] in _locs(response), (op.label, p["name"], value)


async def test_integers_beyond_the_database_are_named(
    app: FastAPI, client: httpx.AsyncClient, world: World
) -> None:
    spec = _spec(app)
    huge = 2**63
    for op, path in _body_leaves(spec, openapi.integer):
        for value in (huge, -huge):
            raw = json.dumps(openapi.body_with(path, PLACEHOLDER)).replace(
                f'"{PLACEHOLDER}"', str(value)
            )
            response = await _send_body(client, world, op, raw)
            assert ["body", *path] in _locs(response), (op.label, path, value)
    checked = 0
    for op in openapi.operations(spec):
        for p in op.parameters:
            schemas = [s for s in openapi.parameter_schema(spec, p) if openapi.integer(s)]
            if not schemas:
                continue
            checked += 1
            (schema,) = schemas
            assert schema.get("minimum", MIN_DB_INT - 1) >= MIN_DB_INT, (op.label, p["name"])
            assert schema.get("maximum", MAX_DB_INT + 1) <= MAX_DB_INT, (op.label, p["name"])
            for number in (str(huge), str(-huge), "1" * 40):
                if p["in"] == "path":
                    url, params = op.url(**{p["name"]: number}), {}
                else:
                    url, params = op.url(), {p["name"]: number}
                response = await client.request(
                    op.method, url, params=params, headers=world.headers("admin")
                )
                assert [p["in"], p["name"]] in _locs(response), (op.label, p["name"], number)
    assert checked > 20  # every id in a path, limits, counts


async def test_malformed_bodies_are_refused_without_a_server_error(
    app: FastAPI, client: httpx.AsyncClient, world: World
) -> None:
    """Empty bodies, wrong content types, deep nesting, huge text and the wrong JSON type,
    on every operation that takes a JSON body: a 4xx, never a 5xx."""
    spec = _spec(app)
    bodies: list[tuple[bytes, str]] = [
        (b"", "application/json"),
        (b"{}", "text/plain"),
        (b'{"a": 1}', "application/x-www-form-urlencoded"),
        (b"[" * 100_000 + b"]" * 100_000, "application/json"),
        (b'{"x": ' + b'{"x": ' * 5_000 + b"1" + b"}" * 5_001, "application/json"),
        (json.dumps({"name": "x" * 2_000_000}).encode(), "application/json"),
        (b"[1, 2, 3]", "application/json"),
        (b'"text"', "application/json"),
        (b"\xff\xfe\x00", "application/json"),
        (b'{"a": 1, "a": 2}', "application/json"),
    ]
    for op in openapi.operations(spec):
        if op.body is None:
            continue
        for raw, content_type in bodies:
            response = await client.request(
                op.method,
                op.url(),
                content=raw,
                headers={**world.headers("admin"), "Content-Type": content_type},
            )
            assert 400 <= response.status_code < 500, (op.label, raw[:40], response.text[:200])
            _strict_json(response)


async def _patch_targets(client: httpx.AsyncClient, world: World) -> dict[str, tuple[str, str]]:
    """For every PATCH operation: a real record to change (URL) and the role that may."""
    hospital = await client.post(
        "/hospitals",
        json={"name": "Null General", "lat": 13.75, "lon": 100.53, "capabilities": ["stroke"]},
        headers=world.headers("supervisor"),
    )
    incident = await client.post(
        "/incidents",
        json={"lat": 13.74, "lon": 100.53, "chief_complaint": "chest_pain"},
        headers=world.headers("dispatcher"),
    )
    booking = await client.post(
        "/bookings",
        json={
            "patient_id": world.patient_a_id,
            "pickup_lat": 13.73,
            "pickup_lon": 100.55,
            "destination_lat": 13.73,
            "destination_lon": 100.53,
            "appointment_at": "2099-01-05T09:00:00+07:00",
        },
        headers=world.headers("care_a"),
    )
    post = await client.post(
        "/standby-posts",
        json={"name": "Null parking", "kind": "parking", "lat": 13.75, "lon": 100.54},
        headers=world.headers("supervisor"),
    )
    for created in (hospital, incident, booking, post):
        assert created.status_code == 201, created.text
    return {
        "/standby-posts/{post_id}": (f"/standby-posts/{post.json()['id']}", "supervisor"),
        "/vehicles/{vehicle_id}": (f"/vehicles/{world.vehicle_ids['B1']}", "supervisor"),
        "/hospitals/{hospital_id}": (f"/hospitals/{hospital.json()['id']}", "dispatcher"),
        "/incidents/{incident_id}": (f"/incidents/{incident.json()['id']}", "dispatcher"),
        "/patients/{patient_id}": (f"/patients/{world.patient_a_id}", "care_a"),
        "/bookings/{booking_id}": (f"/bookings/{booking.json()['id']}", "care_a"),
        "/organisations/{organisation_id}": (f"/organisations/{world.centre_id}", "admin"),
    }


async def _readable(client: httpx.AsyncClient, world: World, url: str, role: str) -> None:
    """The record and every list showing it still read (a stored null the answer's schema
    forbids made every later read a 500)."""
    reads = ["/hospitals"] if url.startswith("/hospitals") else [url]
    if url.startswith("/standby-posts"):
        reads = ["/standby-posts?active=false"]
    if url.startswith("/incidents"):
        reads.append(f"{url}/hospitals")
    if url.startswith("/patients"):
        reads.append("/patients")
    for read in reads:
        response = await client.get(read, headers=world.headers(role))
        assert response.status_code == 200, (read, response.text[:300])


async def test_null_is_refused_where_a_record_may_not_be_empty(
    app: FastAPI, client: httpx.AsyncClient, world: World
) -> None:
    """Every PATCH schema documents null only where the column may be empty; elsewhere
    null is a 422 naming the field. Where it is allowed, the record still reads after."""
    spec = _spec(app)
    targets = await _patch_targets(client, world)
    patches = [op for op in openapi.operations(spec) if op.method == "PATCH"]
    assert {op.path for op in patches} == set(targets)  # a new PATCH: add a target here
    for op in patches:
        url, role = targets[op.path]
        assert op.body is not None
        for name, prop in op.body["properties"].items():
            response = await client.patch(url, json={name: None}, headers=world.headers(role))
            if openapi.is_nullable(prop):
                assert response.status_code < 500, (op.label, name, response.text[:300])
            else:
                assert ["body", name] in _locs(response), (op.label, name)
            await _readable(client, world, url, role)
