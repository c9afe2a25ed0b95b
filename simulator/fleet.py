"""Setting up the simulated fleet through the public API, as a supervisor would.

Vehicles are named ``SIM-00001``, ``SIM-00002``, … and reused when they already exist, so
repeated runs against one database do not pile up vehicles. Each gets a device token
(``POST /vehicles/{id}/device-token``; issuing one revokes the previous, so a run always
holds valid tokens) when the protocol needs one, and a paired OsmAnd device id
(``sim-00001``) when it does not have it yet.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

CALL_SIGN_PREFIX = "SIM-"


class SetupError(Exception):
    """The server refused a setup step; the message says which and why."""


@dataclass
class SimVehicle:
    index: int
    vehicle_id: int
    call_sign: str
    device_id: str
    token: str | None = None


@dataclass
class Fleet:
    vehicles: list[SimVehicle]
    created: int = 0
    reused: int = 0
    tokens_issued: int = 0
    paired: int = 0
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "vehicles": len(self.vehicles),
            "created": self.created,
            "reused": self.reused,
            "device_tokens_issued": self.tokens_issued,
            "device_ids_paired": self.paired,
            "seconds": round(self.seconds, 2),
        }


def call_sign(index: int) -> str:
    return f"{CALL_SIGN_PREFIX}{index:05d}"


def device_id(index: int) -> str:
    return f"sim-{index:05d}"


def _check(response: httpx.Response, what: str) -> Any:
    if response.status_code >= 400:
        raise SetupError(f"{what}: HTTP {response.status_code}: {response.text[:300]}")
    return response.json()


async def login(client: httpx.AsyncClient, username: str, password: str) -> str:
    """An access token from the OAuth2 password flow."""
    response = await client.post("/auth/token", data={"username": username, "password": password})
    token: str = _check(response, f"logging in as {username!r}")["access_token"]
    return token


async def setup_fleet(
    client: httpx.AsyncClient,
    count: int,
    *,
    tokens: bool,
    pair_devices: bool,
    concurrency: int = 16,
) -> Fleet:
    """Create or reuse ``count`` SIM vehicles; ``client`` carries the supervisor's
    Authorization header. Requests run ``concurrency`` at a time: setting up thousands of
    vehicles one by one would take minutes of round trips."""
    started = time.monotonic()
    existing = {
        v["call_sign"]: v for v in _check(await client.get("/vehicles"), "listing vehicles")
    }
    gate = asyncio.Semaphore(concurrency)
    fleet = Fleet(vehicles=[])

    async def one(index: int) -> SimVehicle:
        name, device = call_sign(index), device_id(index)
        async with gate:
            found = existing.get(name)
            if found is None:
                body = {"call_sign": name, "kind": "bls", "device_id": device}
                found = _check(await client.post("/vehicles", json=body), f"creating {name}")
                fleet.created += 1
            else:
                fleet.reused += 1
                if pair_devices and found.get("device_id") != device:
                    patch = {"device_id": device}
                    _check(
                        await client.patch(f"/vehicles/{found['id']}", json=patch),
                        f"pairing device {device} with {name}",
                    )
                    fleet.paired += 1
            vehicle = SimVehicle(index, int(found["id"]), name, device)
            if tokens:
                issued = _check(
                    await client.post(f"/vehicles/{vehicle.vehicle_id}/device-token"),
                    f"issuing a device token for {name}",
                )
                vehicle.token = issued["device_token"]
                fleet.tokens_issued += 1
            return vehicle

    fleet.vehicles = list(await asyncio.gather(*(one(i) for i in range(1, count + 1))))
    fleet.seconds = time.monotonic() - started
    return fleet


async def complaint_codes(client: httpx.AsyncClient) -> list[str]:
    return [c["code"] for c in _check(await client.get("/complaints"), "listing complaints")]


async def last_fix_times(client: httpx.AsyncClient) -> dict[int, str | None]:
    """Each vehicle's last stored fix time, as the server reports it."""
    return {
        int(v["id"]): v.get("last_fix_at")
        for v in _check(await client.get("/vehicles"), "listing vehicles")
    }
