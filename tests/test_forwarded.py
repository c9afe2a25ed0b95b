"""Whose address is it: a real ``dispatch serve`` believes ``X-Forwarded-For`` only from
the proxies in ``DISPATCH_FORWARDED_ALLOW_IPS`` (one worker, and ``--workers 2``), so a
client cannot step around the per-address login limits by naming a new address each
time; the shipped proxy configuration passes on only the address it saw."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path

import httpx
import pytest
import yaml
from pydantic import ValidationError

from dispatch.config import Settings
from tests.helpers.server import free_port
from tests.helpers.stacks import Stack
from tests.helpers.workers import start_worker, stop_worker
from tests.helpers.world import TEST_PASSWORD, World

ROOT = Path(__file__).resolve().parent.parent
GUESSES = 2  # failed logins per (name, address) in the servers started here


async def _login(http: httpx.AsyncClient, password: str, forwarded_for: str) -> int:
    response = await http.post(
        "/auth/token",
        data={"username": "dispatcher", "password": password},
        headers={"X-Forwarded-For": forwarded_for},
    )
    return response.status_code


async def _rotating_guesses_then_the_right_password(port: int) -> tuple[list[int], int, int]:
    """Guesses each naming a new address, then the right password claiming yet another
    address and claiming the first guesser's address."""
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
        guesses = [await _login(http, "guess", f"203.0.113.{i}") for i in range(1, GUESSES + 2)]
        fresh = await _login(http, TEST_PASSWORD, "10.1.2.3")
        guesser = await _login(http, TEST_PASSWORD, "203.0.113.1")
    return guesses, fresh, guesser


@pytest.mark.slow
@pytest.mark.parametrize("trusted", [False, True], ids=["untrusted-peer", "trusted-proxy"])
async def test_forwarded_for_is_believed_only_from_a_trusted_proxy(
    stack: Stack, world: World, trusted: bool
) -> None:
    port = free_port()
    proc = await start_worker(
        stack,
        port,
        forwarded_allow_ips="127.0.0.1" if trusted else "192.0.2.254",
        login_failures_per_15_minutes=str(GUESSES),
    )
    try:
        guesses, fresh, guesser = await _rotating_guesses_then_the_right_password(port)
    finally:
        await stop_worker(proc, port)
    if trusted:  # each named address is its own: none reaches the limit
        assert (guesses, fresh, guesser) == ([401] * (GUESSES + 1), 200, 200)
    else:  # every request is the peer's, 127.0.0.1, whatever it claims
        assert (guesses, fresh, guesser) == ([401] * GUESSES + [429], 429, 429)


@pytest.mark.slow
async def test_several_workers_trust_only_the_configured_proxy(stack: Stack, world: World) -> None:
    if stack.redis_url is None:
        pytest.skip("several workers share login counters through Redis (production stack)")
    port = free_port()
    proc = await start_worker(
        stack,
        port,
        serve_args=["--workers", "2"],
        forwarded_allow_ips="192.0.2.254",
        login_failures_per_15_minutes=str(GUESSES),
    )
    try:
        guesses, fresh, guesser = await _rotating_guesses_then_the_right_password(port)
    finally:
        await stop_worker(proc, port)
    assert (guesses, fresh, guesser) == ([401] * GUESSES + [429], 429, 429)


def test_the_trusted_proxies_setting_names_addresses_or_networks() -> None:
    assert Settings().forwarded_allow_ips == "127.0.0.1"
    assert Settings(forwarded_allow_ips="172.28.0.10, 10.0.0.0/8").forwarded_allow_ips
    with pytest.raises(ValidationError, match="forwarded_allow_ips"):
        Settings(forwarded_allow_ips="proxy.example.org")


def test_the_shipped_stack_trusts_the_proxy_alone_and_the_proxy_overwrites_the_header() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    env = compose["x-dispatch-env"]
    assert "FORWARDED_ALLOW_IPS" not in env  # uvicorn's own variable is not read any more
    default = re.fullmatch(
        r"\$\{DISPATCH_PROXY_IP:-([\d.]+)\}", env["DISPATCH_FORWARDED_ALLOW_IPS"]
    )
    assert default, env["DISPATCH_FORWARDED_ALLOW_IPS"]
    proxy_ip = ipaddress.ip_address(default.group(1))
    pinned = compose["services"]["proxy"]["networks"]["default"]["ipv4_address"]
    assert pinned == env["DISPATCH_FORWARDED_ALLOW_IPS"]  # the very address trusted
    (subnet,) = compose["networks"]["default"]["ipam"]["config"]
    network = re.fullmatch(r"\$\{DISPATCH_SUBNET:-([\d./]+)\}", subnet["subnet"])
    assert network and proxy_ip in ipaddress.ip_network(network.group(1))
    for name in ("api-1", "api-2"):
        assert compose["services"][name]["environment"] is env
    nginx = (ROOT / "deploy" / "nginx.conf").read_text()
    forwarded = re.findall(r"proxy_set_header\s+X-Forwarded-For\s+(\S+);", nginx)
    assert forwarded and set(forwarded) == {"$remote_addr"}  # never the client's own header
