"""Hostile input: every API operation fuzzed from its own OpenAPI schema as each role (and,
following the links between operations, in sequences: schemathesis' stateful phase), the
OsmAnd endpoint and decoders, and the websocket parsers. The server must answer 4xx (never
5xx), match its schema, and stay up. This is the bounded CI version of ``dispatch bench
fuzz`` (README, "Abuse limits and hardening"), which runs the same engine at scale.

Examples are drawn with Hypothesis first and then sent to a real server, so a failure is
reported with the request that caused it (no shrinking across the network)."""

from __future__ import annotations

import asyncio
import json
import string
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import checks
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Ok
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from dispatch.benchmarks.fuzz import engine_config, run_engine
from dispatch.benchmarks.fuzz_tally import Tally
from dispatch.realtime.fixes import FixError, decode_osmand_json, decode_osmand_params
from tests.helpers.server import LiveServer, serve
from tests.helpers.stacks import Stack
from tests.helpers.stations import add_station_staff
from tests.helpers.world import World, build_world

pytestmark = pytest.mark.slow

EXAMPLES_PER_OPERATION = 8
#: Every identity: staff, a crew logged in, a vehicle's phone, both care centres, a
#: station's staff, nobody.
ROLES = (
    "admin",
    "supervisor",
    "dispatcher",
    "driver",
    "care_a",
    "care_b",
    "station",
    "device:A1",
    None,
)
#: Requests per identity in the stateful phase (sequences that follow the schema's links).
STATEFUL_REQUESTS = 120
CHECKS = [
    checks.not_a_server_error,
    checks.response_schema_conformance,
    checks.content_type_conformance,
]
QUICK = settings(
    database=None,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)


def _draw(strategy: st.SearchStrategy[Any], count: int) -> list[Any]:
    drawn: list[Any] = []

    @settings(QUICK, max_examples=count)
    @given(value=strategy)
    def collect(value: Any) -> None:
        drawn.append(value)

    collect()
    return drawn


@pytest.fixture
async def fuzz_target(stack: Stack) -> AsyncIterator[tuple[LiveServer, World]]:
    from dispatch.db.session import Database

    db = Database(stack.database_url)
    world = await build_world(db)
    await add_station_staff(db, world, "station", world.station_id)
    await db.dispose()
    settings_ = stack.settings(
        plan_time_limit_s=0.3,
        insert_time_limit_s=0.2,
        # The OsmAnd fuzz tries hundreds of made-up device ids from one address; past the
        # guessing limit they would all be 429 and the decoders behind it go untested.
        unknown_devices_per_minute=100_000,
    )
    async with serve(settings_) as server:
        yield server, world


async def test_every_operation_as_every_role_never_fails_and_matches_its_schema(
    fuzz_target: tuple[LiveServer, World],
) -> None:
    server, world = fuzz_target
    schema = schemathesis.openapi.from_dict(server.app.openapi())
    operations = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result  # the schema itself must be valid
        operations.append(result.ok())
    assert len(operations) > 40  # the whole API, not a corner of it
    sent: Counter[str] = Counter()
    failures: list[str] = []
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
        for operation in operations:
            cases = _draw(operation.as_strategy(), EXAMPLES_PER_OPERATION)
            for role in ROLES:
                headers = world.headers(role) if role else {}
                for case in cases:
                    kwargs = case.as_transport_kwargs(base_url=server.base_url, headers=headers)
                    kwargs.pop("cookies", None)
                    if isinstance(kwargs.get("data"), str | bytes):
                        kwargs["content"] = kwargs.pop("data")
                    response = await http.request(**kwargs)
                    sent[f"{response.status_code // 100}xx"] += 1
                    try:
                        case.validate_response(response, checks=CHECKS)
                    except (AssertionError, FailureGroup) as exc:
                        failures.append(f"{role} {operation.label}: {str(exc)[:400]}")
        assert (await http.get("/healthz")).status_code == 200
    print(f"fuzzed {len(operations)} operations as {len(ROLES)} roles: {dict(sent)}")
    assert sum(sent.values()) >= len(operations) * len(ROLES)
    assert sent["5xx"] == 0 and failures == [], "\n".join(failures[:10])
    assert sent["2xx"] > 0 and sent["4xx"] > 0  # both doors were actually tried


async def test_linked_sequences_as_every_role_never_fail_and_match_the_schema(
    fuzz_target: tuple[LiveServer, World],
) -> None:
    """schemathesis' stateful phase: it chains operations through the links it infers (an
    id from one answer used in the next request), so deeper states than one request can
    reach are tried, e.g. a booking created, changed, cancelled, then read back."""
    server, world = fuzz_target
    spec = server.app.openapi()
    tally = Tally()
    for i, role in enumerate(ROLES):
        headers = world.headers(role) if role else {}
        config = engine_config(
            server.base_url,
            headers,
            ("stateful",),
            seed=i,
            max_examples=10,
            checks=[check.__name__ for check in CHECKS],
        )

        def count(phase: str, recorder: Any, who: str = role or "anonymous") -> int:
            return tally.add(who, phase, recorder)

        # The engine is synchronous (requests): it runs in a thread while this loop serves.
        await asyncio.to_thread(run_engine, spec, config, count, STATEFUL_REQUESTS)
    report = tally.report()
    print(f"stateful: {report['requests']} requests, {report['by_role']}")
    assert report["server_errors"]["count"] == 0, report["server_errors"]["requests"][:5]
    assert report["conformance_failures"] == [], report["conformance_failures"][:5]
    assert report["requests"] >= len(ROLES) * 20
    assert report["status_classes"]["2xx"] > 0  # sequences got past the first step
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        assert (await http.get("/healthz")).status_code == 200


# --- OsmAnd -------------------------------------------------------------------------------

_TEXT = st.text(string.printable + "éก๑ạ\x00", max_size=40)
_NUMBERISH = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(min_value=-(10**20), max_value=10**20).map(str),
    _TEXT,
)
_OSMAND_KEYS = ["id", "deviceid", "lat", "lon", "location", "timestamp", "speed", "bearing",
                "heading", "altitude", "accuracy", "batt", "hdop", "valid"]  # fmt: skip
OSMAND_PARAMS = st.dictionaries(
    st.one_of(st.sampled_from(_OSMAND_KEYS), _TEXT), _NUMBERISH, max_size=12
)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | _TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_TEXT, inner, max_size=4),
    max_leaves=20,
)


@settings(QUICK, max_examples=400)
@given(params=OSMAND_PARAMS)
def test_osmand_parameters_either_decode_or_name_the_bad_field(params: dict[str, str]) -> None:
    now = datetime.now(UTC)
    try:
        fix = decode_osmand_params(params, now).to_fix(1, now)
    except FixError as exc:
        assert exc.field and exc.message
    else:
        assert -90 <= fix.lat <= 90 and -180 <= fix.lon <= 180 and (fix.lat, fix.lon) != (0, 0)


@settings(QUICK, max_examples=300)
@given(body=st.one_of(JSON_VALUES.map(json.dumps), st.binary(max_size=200).map(repr)))
def test_osmand_json_bodies_either_decode_or_name_the_bad_field(body: str) -> None:
    now = datetime.now(UTC)
    try:
        fixes = [report.to_fix(1, now) for report in decode_osmand_json(body.encode(), now)]
    except FixError as exc:
        assert exc.field and exc.message
    else:
        assert all(-90 <= f.lat <= 90 and -180 <= f.lon <= 180 for f in fixes)


async def test_osmand_endpoint_refuses_garbage_cleanly(
    fuzz_target: tuple[LiveServer, World],
) -> None:
    server, _world = fuzz_target
    statuses: Counter[int] = Counter()
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
        for params in _draw(OSMAND_PARAMS, 150):
            statuses[(await http.get("/osmand", params=params)).status_code] += 1
            form = await http.post("/osmand", data=params)
            statuses[form.status_code] += 1
        for value in _draw(JSON_VALUES, 100):
            response = await http.post(
                "/osmand",
                content=json.dumps(value),
                headers={"Content-Type": "application/json"},
            )
            statuses[response.status_code] += 1
        huge = await http.post(
            "/osmand",
            content=b"[" + b"1," * 600_000 + b"1]",
            headers={"Content-Type": "application/json"},
        )
        statuses[huge.status_code] += 1
        assert huge.status_code == 413
        assert (await http.get("/healthz")).status_code == 200
    assert all(code < 500 for code in statuses), statuses
    assert set(statuses) <= {200, 400, 404, 413, 422}, statuses


# --- websockets ---------------------------------------------------------------------------

WS_MESSAGES = st.one_of(
    JSON_VALUES.map(json.dumps),
    st.fixed_dictionaries(
        {"type": st.sampled_from(["fixes", "status", "hello", "ping", "x"]), "id": JSON_VALUES},
        optional={
            "fixes": st.lists(
                st.dictionaries(
                    st.sampled_from(["lat", "lon", "t", "speed", "heading", "accuracy"]),
                    JSON_VALUES,
                ),
                max_size=3,
            )
            | JSON_VALUES,
            "assignment_id": JSON_VALUES,
            "status": JSON_VALUES,
            "at": JSON_VALUES,
        },
    ).map(json.dumps),
    _TEXT,
)


async def test_driver_socket_answers_garbage_with_errors_and_stays_open(
    fuzz_target: tuple[LiveServer, World],
) -> None:
    server, world = fuzz_target
    token = world.device_tokens["A1"]
    messages = _draw(WS_MESSAGES, 200)
    replies: Counter[str] = Counter()
    async with connect(f"{server.ws_url}/ws/driver", max_size=2**22) as ws:
        await ws.send(json.dumps({"type": "hello", "token": token}))
        assert json.loads(await ws.recv())["type"] == "welcome"
        for text in messages:
            await ws.send(text)
            while True:  # skip pushes (assignments) until the answer to this message
                reply = json.loads(await ws.recv())
                if reply["type"] in ("ack", "error", "pong"):
                    break
            replies[reply["type"]] += 1
        await ws.send("x" * 3_000_000)  # oversized: the server closes, it does not crash
        with pytest.raises(ConnectionClosed) as closed:
            for _ in range(5):
                await ws.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
    assert replies["error"] > 0 and sum(replies.values()) == len(messages)
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        assert (await http.get("/healthz")).status_code == 200


async def test_control_socket_refuses_bad_greetings_with_a_close_code(
    fuzz_target: tuple[LiveServer, World],
) -> None:
    server, _world = fuzz_target
    codes: Counter[int] = Counter()
    for text in _draw(WS_MESSAGES, 60):
        async with connect(f"{server.ws_url}/ws/control") as ws:
            await ws.send(text)
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    await ws.recv()
            assert closed.value.rcvd is not None
            codes[closed.value.rcvd.code] += 1
    assert set(codes) <= {4400, 4401}, codes
