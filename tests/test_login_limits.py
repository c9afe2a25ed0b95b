"""The login limiter cannot be turned against the people it protects: guessing is refused
per (name, address), per address and, slowly, per name from anywhere, while a correct
password from an address that has not been failing always gets in. Counters are shared by
every worker through Redis (production stack) and windows follow the server's clock (a
``ManualClock`` here: no sleeping)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI

from dispatch.app import create_app
from dispatch.auth.loginlimit import LoginLimiter, LoginPolicy, MemoryStore, build_login_limiter
from dispatch.clock import ManualClock
from dispatch.errors import TooManyRequests, Unauthorized
from tests.helpers.stacks import Stack
from tests.helpers.world import TEST_PASSWORD, World

PAIR, ADDRESS, NAME = 3, 6, 10  # failures per (name, address) / address per 15 min; name per h
QUARTER, HOUR = 15 * 60, 60 * 60

Client = Callable[[str], httpx.AsyncClient]


@pytest.fixture
def clock() -> ManualClock:
    """Real time rounded down to the hour: every 15-minute and hour window starts whole."""
    return ManualClock(start=datetime.now(UTC).replace(minute=0, second=0, microsecond=0))


def _app(stack: Stack, clock: ManualClock) -> FastAPI:
    return create_app(
        stack.settings(
            login_failures_per_15_minutes=PAIR,
            login_address_failures_per_15_minutes=ADDRESS,
            login_name_failures_per_hour=NAME,
        ),
        clock=clock,
    )


@pytest.fixture
async def apps(stack: Stack, world: World, clock: ManualClock) -> AsyncIterator[list[FastAPI]]:
    """Two app instances on the same stack (two workers' worth of counters)."""
    async with AsyncExitStack() as running:
        both = [_app(stack, clock), _app(stack, clock)]
        for app in both:
            await running.enter_async_context(app.router.lifespan_context(app))
        yield both


@pytest.fixture
async def from_address(apps: list[FastAPI]) -> AsyncIterator[Client]:
    """An HTTP client of the first app whose requests come from the given address."""
    async with AsyncExitStack() as clients:

        def client(address: str, app: FastAPI = apps[0]) -> httpx.AsyncClient:
            transport = httpx.ASGITransport(app=app, client=(address, 40000))
            http = httpx.AsyncClient(transport=transport, base_url="http://test")
            clients.push_async_callback(http.aclose)
            return http

        yield client


async def _login(http: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    return await http.post("/auth/token", data={"username": username, "password": password})


async def test_a_name_guessed_from_one_address_is_refused_there_and_nowhere_else(
    from_address: Client, clock: ManualClock
) -> None:
    attacker, dispatcher = from_address("203.0.113.7"), from_address("10.1.2.3")
    for _ in range(PAIR):
        assert (await _login(attacker, "dispatcher", "guess")).status_code == 401
    refused = await _login(attacker, "Dispatcher", TEST_PASSWORD)  # any case, even correct
    assert refused.status_code == 429 and refused.json()["code"] == "rate_limited"
    assert refused.headers["Retry-After"] == str(QUARTER)
    elsewhere = await _login(dispatcher, "dispatcher", TEST_PASSWORD)  # not locked out
    assert elsewhere.status_code == 200, elsewhere.text
    other_name = await _login(attacker, "supervisor", TEST_PASSWORD)  # below the address cap
    assert other_name.status_code == 200, other_name.text
    clock.advance(QUARTER - 1)
    last = await _login(attacker, "dispatcher", TEST_PASSWORD)
    assert last.status_code == 429 and last.headers["Retry-After"] == "1"
    clock.advance(1)
    assert (await _login(attacker, "dispatcher", TEST_PASSWORD)).status_code == 200


async def test_one_address_spraying_many_names_is_refused_for_every_name(
    from_address: Client, clock: ManualClock
) -> None:
    sprayer = from_address("198.51.100.9")
    for i in range(ADDRESS):
        assert (await _login(sprayer, f"user{i}", "guess")).status_code == 401
    refused = await _login(sprayer, "supervisor", TEST_PASSWORD)
    assert refused.status_code == 429 and refused.headers["Retry-After"] == str(QUARTER)
    assert (await _login(from_address("10.1.2.3"), "supervisor", TEST_PASSWORD)).status_code == 200
    clock.advance(QUARTER)
    assert (await _login(sprayer, "supervisor", TEST_PASSWORD)).status_code == 200


async def test_guessing_spread_over_many_addresses_never_locks_out_a_clean_address(
    from_address: Client, clock: ManualClock
) -> None:
    bots = [from_address(f"192.0.2.{i}") for i in range(1, NAME + 1)]
    for bot in bots:  # one guess each: under every per-address limit
        assert (await _login(bot, "dispatcher", "guess")).status_code == 401
    # The name has had its hour's worth: addresses that failed for it are refused …
    refused = await _login(bots[0], "dispatcher", TEST_PASSWORD)
    assert refused.status_code == 429 and refused.headers["Retry-After"] == str(QUARTER)
    # … the real dispatcher, from an address that has not been failing, is not.
    real = await _login(from_address("10.1.2.3"), "dispatcher", TEST_PASSWORD)
    assert real.status_code == 200, real.text
    # Each new attacking address gets one guess, then joins the refused.
    fresh = from_address("192.0.2.200")
    assert (await _login(fresh, "dispatcher", "guess")).status_code == 401
    assert (await _login(fresh, "dispatcher", "guess")).status_code == 429
    # Other names are untouched by this name's attack.
    assert (await _login(bots[0], "supervisor", TEST_PASSWORD)).status_code == 200
    clock.advance(QUARTER)  # the bots' failures for the name are forgotten: clean again
    assert (await _login(bots[1], "dispatcher", TEST_PASSWORD)).status_code == 200
    assert (await _login(bots[2], "dispatcher", "guess")).status_code == 401
    assert (await _login(bots[2], "dispatcher", "guess")).status_code == 429  # still over


async def test_a_correct_password_clears_that_addresss_failures_for_the_name(
    from_address: Client,
) -> None:
    desk = from_address("10.1.2.3")
    for _ in range(2):  # 4 failures in all: past the pair's limit, had nothing been cleared
        for _ in range(PAIR - 1):
            assert (await _login(desk, "dispatcher", "typo")).status_code == 401
        assert (await _login(desk, "dispatcher", TEST_PASSWORD)).status_code == 200


async def test_a_burst_of_parallel_guesses_cannot_slip_past_the_limit(
    from_address: Client,
) -> None:
    attacker = from_address("203.0.113.7")
    replies = await asyncio.gather(*(_login(attacker, "dispatcher", "guess") for _ in range(12)))
    codes = sorted(r.status_code for r in replies)
    assert codes == [401] * PAIR + [429] * (12 - PAIR)


async def test_counters_are_shared_between_workers_through_redis(
    apps: list[FastAPI], from_address: Client, stack: Stack
) -> None:
    first, second = apps
    on_first = from_address("203.0.113.7", first)
    on_second = from_address("203.0.113.7", second)
    for _ in range(PAIR):
        assert (await _login(on_first, "dispatcher", "guess")).status_code == 401
    other_worker = await _login(on_second, "dispatcher", TEST_PASSWORD)
    if stack.redis_url:  # one set of counters for every worker
        assert other_worker.status_code == 429
    else:  # the embedded stack runs one worker; a second app keeps its own counters
        assert other_worker.status_code == 200, other_worker.text


async def _guess(limiter: LoginLimiter, address: str = "203.0.113.7") -> None:
    async with limiter.attempt("dispatcher", address):
        raise Unauthorized("Wrong username or password.")


async def test_with_redis_unreachable_each_worker_still_counts() -> None:
    clock = ManualClock()
    limiter = build_login_limiter(
        per_pair=2,
        per_address=10,
        per_name=10,
        redis_url="redis://127.0.0.1:1/0",  # nobody listens on port 1
        prefix="test:",
        clock=clock,
    )
    try:
        for _ in range(2):
            with pytest.raises(Unauthorized):
                await _guess(limiter)
        with pytest.raises(TooManyRequests):
            await _guess(limiter)
    finally:
        await limiter.close()


async def test_only_wrong_passwords_count() -> None:
    limiter = LoginLimiter(LoginPolicy(per_pair=1, per_address=10, per_name=10))
    for _ in range(3):  # the database was down: not a guess
        with pytest.raises(RuntimeError):
            async with limiter.attempt("dispatcher", "10.1.2.3"):
                raise RuntimeError("database unreachable")
    with pytest.raises(Unauthorized):
        await _guess(limiter, "10.1.2.3")
    with pytest.raises(TooManyRequests):
        await _guess(limiter, "10.1.2.3")


async def test_a_flood_of_made_up_names_does_not_reset_a_guessed_names_count() -> None:
    """The in-process store once cleared every counter when full: ~33,000 attempts with
    made-up names gave a guessed name a fresh start."""
    limiter = LoginLimiter(
        LoginPolicy(per_pair=3, per_address=10**9, per_name=10**9), store=MemoryStore(max_keys=60)
    )
    for _ in range(2):  # two of three for ("dispatcher", 203.0.113.7)
        with pytest.raises(Unauthorized):
            await _guess(limiter)
    for i in range(100):
        with pytest.raises((Unauthorized, TooManyRequests)):
            async with limiter.attempt(f"made-up-{i}", f"198.51.100.{i}"):
                raise Unauthorized("Wrong username or password.")
    with pytest.raises(Unauthorized):
        await _guess(limiter)  # the third still counts ...
    with pytest.raises(TooManyRequests):
        await _guess(limiter)  # ... and the fourth is refused


async def test_addresses_of_one_ipv6_subscriber_count_as_one() -> None:
    limiter = LoginLimiter(LoginPolicy(per_pair=2, per_address=10**9, per_name=10**9))
    for host in ("2001:db8:5:7::1", "2001:db8:5:7::2"):
        with pytest.raises(Unauthorized):
            await _guess(limiter, host)
    with pytest.raises(TooManyRequests):
        await _guess(limiter, "2001:db8:5:7:ffff::3")  # same /64
    with pytest.raises(Unauthorized):
        await _guess(limiter, "2001:db8:5:8::1")  # another subscriber
