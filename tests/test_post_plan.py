"""Where the next post should go, from recorded calls: ``dispatch posts plan`` and the
service behind it, on both stacks (straight-line travel: 1.4 x the distance at 25 km/h)."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from dispatch.coverage.posts import PostPlanQuery, load_inputs, plan
from dispatch.db.session import Database
from dispatch.errors import InvalidInput
from dispatch.travel import provider_from_settings
from tests.helpers.cli import cli_env, dispatch_cli
from tests.helpers.stacks import Stack
from tests.helpers.world import World

#: The world's one station is at (13.74, 100.53); these calls are ~10 km away (35 min).
FAR = [(13.800 + 0.001 * i, 100.600 - 0.001 * i) for i in range(12)]
NEAR = [(13.742, 100.532), (13.739, 100.528), (13.745, 100.535)]
NOON = datetime(2026, 12, 7, 5, 0, tzinfo=UTC)


def _km(a: tuple[float, float], b: tuple[float, float]) -> float:
    dy = (a[0] - b[0]) * 111.32
    dx = (a[1] - b[1]) * 111.32 * math.cos(math.radians(a[0]))
    return math.hypot(dx, dy)


async def _calls(client: httpx.AsyncClient, world: World) -> None:
    for lat, lon in [*FAR, *NEAR]:
        body = {"lat": lat, "lon": lon, "chief_complaint": "chest_pain", "triage": "red"}
        created = await client.post("/incidents", json=body, headers=world.headers("dispatcher"))
        assert created.status_code == 201, created.text
    green = {"lat": 13.70, "lon": 100.45, "chief_complaint": "fever", "triage": "green"}
    created = await client.post("/incidents", json=green, headers=world.headers("dispatcher"))
    assert created.status_code == 201, created.text


async def _plan(db: Database, stack: Stack, query: PostPlanQuery) -> dict[str, Any]:
    async with db.unit_of_work(read_only=True) as uow:
        inputs = await load_inputs(uow, query)
    return plan(provider_from_settings(stack.settings()), inputs, query)


async def test_the_first_post_goes_where_the_uncovered_red_calls_are(
    client: httpx.AsyncClient, world: World, db: Database, stack: Stack
) -> None:
    await _calls(client, world)
    report = await _plan(db, stack, PostPlanQuery(count=2, depart_at=NOON))
    assert report["calls"] == 15  # red only: the green call is not counted
    assert report["before"]["covered_pct"] == 20.0  # the three calls near the station
    posts = report["posts"]
    assert len(posts) == 2
    first = posts[0]
    centre = (sum(p[0] for p in FAR) / 12, sum(p[1] for p in FAR) / 12)
    assert _km((first["lat"], first["lon"]), centre) < 1.5
    assert first["gain"] == 80.0 and first["covered_pct"] == 100.0
    assert posts[1]["gain"] == 0.0  # nothing left to cover


async def test_p_median_counts_minutes_saved(
    client: httpx.AsyncClient, world: World, db: Database, stack: Stack
) -> None:
    await _calls(client, world)
    report = await _plan(db, stack, PostPlanQuery(count=1, depart_at=NOON, objective="pmedian"))
    before = report["before"]["mean_s"]
    (post,) = report["posts"]
    assert post["gain_unit"] == "s"
    assert post["mean_s"] < before / 3  # 12 of 15 calls go from ~35 min to a few minutes
    assert post["gain"] == pytest.approx(before - post["mean_s"], abs=0.2)


async def test_no_matching_calls_is_said_plainly(
    client: httpx.AsyncClient, world: World, db: Database, stack: Stack
) -> None:
    await _calls(client, world)
    with pytest.raises(InvalidInput, match="No recorded calls"):
        await _plan(db, stack, PostPlanQuery(count=1, depart_at=NOON, triage="yellow"))
    since_tomorrow = PostPlanQuery(count=1, depart_at=NOON, since=datetime(2999, 1, 1, tzinfo=UTC))
    with pytest.raises(InvalidInput):
        await _plan(db, stack, since_tomorrow)


async def test_the_command_prints_the_plan_as_json(
    client: httpx.AsyncClient, world: World, stack: Stack
) -> None:
    await _calls(client, world)
    env = cli_env(DISPATCH_DATABASE_URL=stack.database_url)
    done = await dispatch_cli(["posts", "plan", "--count", "1", "--target-min", "10"], env)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["calls"] == 15 and report["target_s"] == 600
    assert report["posts"][0]["covered_pct"] == 100.0
    refused = await dispatch_cli(["posts", "plan", "--count", "0"], env)
    assert refused.returncode == 2 and "--count" in refused.stderr
    none = await dispatch_cli(["posts", "plan", "--count", "1", "--triage", "yellow"], env)
    assert none.returncode == 1 and "No recorded calls" in none.stderr
