"""The day-ahead ``dispatch plan`` from cron holds no write lock while it solves: care
centres book and dispatchers take calls meanwhile (issue 17, item 7).

The command runs as cron runs it (its own settings, its own database handle, its own
event loop, here in a thread of the test process so the solver can leave a mark), while
the application serves requests in the test's loop."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import httpx
import pytest

from dispatch import cli
from dispatch.app import create_app
from dispatch.db.session import Database
from dispatch.models.enums import Mobility
from dispatch.transports import solver_pool
from tests.helpers.rides import DAY, book_ride, give_shifts, local, solve_and_mark
from tests.helpers.stacks import Stack
from tests.helpers.waiting import eventually
from tests.helpers.world import World

pytestmark = pytest.mark.slow
T = TypeVar("T")


async def test_calls_and_bookings_are_stored_while_the_cron_plan_solves(
    stack: Stack,
    db: Database,
    world: World,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    await give_shifts(db, world)
    for hour in (9, 10, 11, 12):
        await book_ride(db, world, Mobility.AMBULATORY, hour, 13.73 + hour / 1000)
    solving = tmp_path / "solving"
    solve = solver_pool.run

    async def marked(fn: Callable[..., T], *args: object) -> T:
        return await solve(solve_and_mark, str(solving), fn, *args)

    monkeypatch.setattr(solver_pool, "run", marked)
    monkeypatch.setenv("DISPATCH_DATABASE_URL", stack.database_url)
    monkeypatch.setenv("DISPATCH_CACHE_DIR", str(tmp_path / "cache"))
    finished: list[str] = []
    application = create_app(stack.settings())
    async with (
        application.router.lifespan_context(application),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=application), base_url="http://test"
        ) as client,
    ):

        async def cron() -> int:
            args = cli.build_parser().parse_args(
                ["plan", "--date", DAY.isoformat(), "--time-limit", "3"]
            )
            code = await asyncio.to_thread(cli.cmd_plan, args)
            finished.append("plan")
            return code

        async def book() -> httpx.Response:
            await eventually(solving.exists, what="the cron plan solving")  # for 3 s
            reply = await client.post(
                "/bookings",
                json={
                    "patient_id": world.patient_a_id,
                    "pickup_lat": 13.735,
                    "pickup_lon": 100.55,
                    "destination_lat": 13.7327,
                    "destination_lon": 100.5354,
                    "appointment_at": local(15).isoformat(),
                },
                headers=world.headers("care_a"),
            )
            finished.append("booking")
            return reply

        async def call() -> httpx.Response:
            await eventually(solving.exists, what="the cron plan solving")
            reply = await client.post(
                "/incidents",
                json={"lat": 13.7460, "lon": 100.5340, "chief_complaint": "cardiac_arrest"},
                headers=world.headers("dispatcher"),
            )
            finished.append("call")
            return reply

        code, booked, called = await asyncio.gather(cron(), book(), call())
    assert code == 0
    assert booked.status_code == 201, booked.text
    assert called.status_code == 201, called.text
    assert finished[-1] == "plan" and sorted(finished[:2]) == ["booking", "call"]
    printed = json.loads(capsys.readouterr().out)
    assert printed["service_date"] == DAY.isoformat() and printed["served"] >= 4
