"""The world the fuzz benchmark attacks, made the way an operator would: the first
organisation and administrator with the ``dispatch`` CLI (as README's "Running against
PostgreSQL and Redis" does), everything else through the public HTTP API as the roles that
may do it. The fuzzer then has real ids to hit: incidents, assignments, bookings, patients,
hospitals, stations, vehicles, shifts.

Every name carries a run tag, so the benchmark can run again against the same database.
"""

from __future__ import annotations

import os
import random
import re
import secrets
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx

#: Central Bangkok, used when the server has no road map.
FALLBACK_BBOX = (13.72, 100.50, 13.77, 100.56)
#: The identities the fuzzer uses: anonymous, staff, a crew logged in, a vehicle's phone,
#: and two care centres.
ROLES = (
    "anonymous",
    "admin",
    "supervisor",
    "dispatcher",
    "driver",
    "device",
    "care_a",
    "care_b",
    "station",
)


class SeedError(RuntimeError):
    """The world could not be built (the server refused a set-up step)."""


@dataclass
class FuzzWorld:
    """Who the fuzzer is, and which ids exist."""

    base_url: str
    tag: str
    passwords: dict[str, str] = field(default_factory=dict)
    usernames: dict[str, str] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    user_ids: dict[str, int] = field(default_factory=dict)
    ids: dict[str, list[int]] = field(default_factory=dict)
    device_vehicle_id: int = 0

    def headers(self, role: str) -> dict[str, str]:
        token = self.tokens.get(role)
        return {"Authorization": f"Bearer {token}"} if token else {}

    def add(self, kind: str, value: int) -> int:
        self.ids.setdefault(kind, []).append(value)
        return value

    def summary(self) -> dict[str, int]:
        return {kind: len(values) for kind, values in sorted(self.ids.items())}


def _cli(*args: str, env: dict[str, str] | None = None) -> str:
    """Run ``dispatch <args>`` with this environment (its DISPATCH_DATABASE_URL)."""
    done = subprocess.run(
        [sys.executable, "-m", "dispatch.cli", *args],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SeedError(f"dispatch {' '.join(args)} failed: {done.stderr.strip()[-500:]}")
    return done.stdout


def bootstrap_admin(tag: str) -> tuple[str, str]:
    """The first organisation and an administrator, with the CLI; returns the login."""
    out = _cli("org", "create", "--name", f"Fuzz EMS {tag}", "--kind", "dispatch_centre")
    found = re.search(r"organisation (\d+) created", out)
    if found is None:
        raise SeedError(f"unexpected output of dispatch org create: {out!r}")
    username, password = f"fuzz-admin-{tag}", secrets.token_urlsafe(18)
    args = ["--username", username, "--role", "admin", "--organisation-id", found.group(1)]
    _cli("user", "create", *args, env={"DISPATCH_NEW_USER_PASSWORD": password})
    return username, password


class _Api:
    """A thin client that turns a refused set-up step into a ``SeedError``."""

    def __init__(self, http: httpx.Client, world: FuzzWorld) -> None:
        self.http, self.world = http, world

    def call(self, role: str, method: str, path: str, **kwargs: Any) -> Any:
        response = self.http.request(method, path, headers=self.world.headers(role), **kwargs)
        if response.status_code >= 300:
            raise SeedError(f"{role} {method} {path}: {response.status_code} {response.text[:300]}")
        return response.json() if response.content else None

    def login(self, role: str) -> None:
        response = self.http.post(
            "/auth/token",
            data={"username": self.world.usernames[role], "password": self.world.passwords[role]},
        )
        if response.status_code != 200:
            raise SeedError(f"login as {role}: {response.status_code} {response.text[:200]}")
        self.world.tokens[role] = response.json()["access_token"]


def _places(api: _Api, rng: random.Random) -> Iterator[tuple[float, float]]:
    """Points the server accepts: vertices of its road map when it has one, else a box in
    central Bangkok."""
    roads = api.call("admin", "GET", "/map/roads")
    vertices = [point for line in roads["lines"] for point in line]
    while True:
        if vertices:
            lat, lon = rng.choice(vertices)
        else:
            lat0, lon0, lat1, lon1 = FALLBACK_BBOX
            lat, lon = rng.uniform(lat0, lat1), rng.uniform(lon0, lon1)
        yield round(lat, 6), round(lon, 6)


def seed_world(base_url: str, seed: int, admin: tuple[str, str] | None = None) -> FuzzWorld:
    """Build the world on the server at ``base_url``; ``admin`` skips the CLI bootstrap."""
    tag = f"{seed}-{secrets.token_hex(3)}"
    world = FuzzWorld(base_url=base_url, tag=tag)
    rng = random.Random(seed)
    username, password = admin or bootstrap_admin(tag)
    world.usernames["admin"], world.passwords["admin"] = username, password
    with _client(world) as http:
        api = _Api(http, world)
        api.login("admin")
        world.user_ids["admin"] = api.call("admin", "GET", "/auth/me")["user_id"]
        _seed(api, world, rng)
    return world


def _seed(api: _Api, world: FuzzWorld, rng: random.Random) -> None:
    tag = world.tag
    places = _places(api, rng)
    centre = world.add("organisation", api.call("admin", "GET", "/auth/me")["organisation_id"])
    care = {}
    for role in ("care_a", "care_b"):
        body: dict[str, Any] = {"name": f"Fuzz care {role} {tag}", "kind": "care_centre"}
        care[role] = world.add(
            "organisation", api.call("admin", "POST", "/organisations", json=body)["id"]
        )
    for i in range(3):
        lat, lon = next(places)
        body = {"name": f"Fuzz station {i} {tag}", "lat": lat, "lon": lon}
        world.add("station", api.call("admin", "POST", "/stations", json=body)["id"])
    fleet = [("als", "A", 3), ("bls", "B", 2), ("transport_van", "T", 2), ("motorbike", "M", 1)]
    vehicles: dict[str, int] = {}
    for kind, prefix, count in fleet:
        for i in range(count):
            call_sign = f"{prefix}{i + 1}-{tag}"[:32]
            body = {
                "call_sign": call_sign,
                "kind": kind,
                "station_id": rng.choice(world.ids["station"]),
                "seats_seated": 2 if kind != "transport_van" else 6,
                "seats_wheelchair": 1 if kind != "motorbike" else 0,
                "seats_stretcher": 1 if kind in ("als", "bls") else 0,
                "serves_transports": kind == "transport_van",
                "device_id": f"fuzz-{prefix}{i + 1}-{tag}",
            }
            vehicle_id = world.add(
                "vehicle", api.call("admin", "POST", "/vehicles", json=body)["id"]
            )
            api.call("admin", "PATCH", f"/vehicles/{vehicle_id}", json={"state": "available"})
            vehicles[f"{prefix}{i + 1}"] = vehicle_id
    world.device_vehicle_id = vehicles["A2"]
    issued = api.call("admin", "POST", f"/vehicles/{vehicles['A2']}/device-token")
    world.tokens["device"] = issued["device_token"]
    for role, org in (
        ("supervisor", centre),
        ("dispatcher", centre),
        ("driver", centre),
        ("care_a", care["care_a"]),
        ("care_b", care["care_b"]),
        ("station", centre),
    ):
        world.usernames[role] = f"fuzz-{role}-{tag}"
        world.passwords[role] = secrets.token_urlsafe(18)
        body = {
            "username": world.usernames[role],
            "full_name": f"Fuzz {role}",
            "password": world.passwords[role],
            "role": "care_centre" if role.startswith("care") else role,
            "organisation_id": org,
            "vehicle_id": vehicles["A1"] if role == "driver" else None,
            "station_id": world.ids["station"][0] if role == "station" else None,
        }
        world.user_ids[role] = world.add(
            "user", api.call("admin", "POST", "/users", json=body)["id"]
        )
        api.login(role)
    for _ in range(4):
        lat, lon = next(places)
        body = {
            "name": f"Fuzz hospital {len(world.ids.get('hospital', []))} {tag}",
            "lat": lat,
            "lon": lon,
            "capabilities": rng.sample(["trauma", "stroke", "cardiac", "burns"], 2),
            "available_er_beds": rng.randint(0, 10),
        }
        world.add("hospital", api.call("admin", "POST", "/hospitals", json=body)["id"])
    _seed_positions(api, world, vehicles, places)
    _seed_incidents(api, world, vehicles, places)
    _seed_transports(api, world, care, vehicles, places, rng)


def _seed_positions(
    api: _Api, world: FuzzWorld, vehicles: dict[str, int], places: Iterator[tuple[float, float]]
) -> None:
    """A short GPS track for the crew's and the phone's units (GET …/track has rows)."""
    now = datetime.now(UTC)
    for role, call_sign in (("driver", "A1"), ("device", "A2")):
        lat, lon = next(places)
        fixes = [
            {
                "lat": lat + i * 1e-4,
                "lon": lon,
                "recorded_at": (now - timedelta(seconds=60 - i * 5)).isoformat(),
                "speed_mps": 5.0,
            }
            for i in range(10)
        ]
        api.call(role, "POST", f"/vehicles/{vehicles[call_sign]}/fixes", json={"fixes": fixes})


def _seed_incidents(
    api: _Api, world: FuzzWorld, vehicles: dict[str, int], places: Iterator[tuple[float, float]]
) -> None:
    complaints = [c["code"] for c in api.call("dispatcher", "GET", "/complaints")]
    for i in range(6):
        lat, lon = next(places)
        body = {"lat": lat, "lon": lon, "chief_complaint": complaints[i % len(complaints)]}
        world.add("incident", api.call("dispatcher", "POST", "/incidents", json=body)["id"])
    first, second = world.ids["incident"][:2]
    for incident_id, call_sign, crew in ((first, "A1", "driver"), (second, "A2", "device")):
        assignment = api.call(
            "dispatcher",
            "POST",
            f"/incidents/{incident_id}/assignments",
            json={"vehicle_id": vehicles[call_sign]},
        )
        world.add("assignment", assignment["id"])
        for status in ("acknowledged", "en_route"):
            path = f"/assignments/{assignment['id']}/status"
            api.call(crew, "POST", path, json={"status": status})
    offered = api.call("dispatcher", "POST", f"/incidents/{world.ids['incident'][2]}/offers")
    world.add("offer", offered["id"])
    cancel = f"/incidents/{world.ids['incident'][-1]}/cancel"
    api.call("dispatcher", "POST", cancel, json={"reason": "fuzz set-up"})


def _seed_transports(
    api: _Api,
    world: FuzzWorld,
    care: dict[str, int],
    vehicles: dict[str, int],
    places: Iterator[tuple[float, float]],
    rng: random.Random,
) -> None:
    day = date.today() + timedelta(days=1)
    world.add("day", day.toordinal())
    local = datetime(day.year, day.month, day.day, 10, 0, tzinfo=UTC) - timedelta(hours=7)
    for role in ("care_a", "care_b"):
        for i in range(3):
            lat, lon = next(places)
            patient = {
                "full_name": f"Fuzz patient {i} {role}",
                "mobility": rng.choice(["ambulatory", "wheelchair"]),
                "home_lat": lat,
                "home_lon": lon,
            }
            patient_id = world.add(
                "patient", api.call(role, "POST", "/patients", json=patient)["id"]
            )
            booking = {
                "patient_id": patient_id,
                "pickup_lat": lat,
                "pickup_lon": lon,
                "destination_hospital_id": rng.choice(world.ids["hospital"]),
                "appointment_at": (local + timedelta(minutes=40 * i)).isoformat(),
            }
            world.add("booking", api.call(role, "POST", "/bookings", json=booking)["id"])
    for call_sign in ("T1", "T2"):
        shift = {
            "vehicle_id": vehicles[call_sign],
            "starts_at": (local - timedelta(hours=3)).isoformat(),
            "ends_at": (local + timedelta(hours=6)).isoformat(),
        }
        world.add("shift", api.call("supervisor", "POST", "/transport-shifts", json=shift)["id"])
    api.call("dispatcher", "POST", f"/plans/{day.isoformat()}")


def _client(world: FuzzWorld) -> httpx.Client:
    """Set-up calls come from 127.0.0.2 when the server is local: the fuzzer's failed
    logins from 127.0.0.1 must not lock the benchmark's own logins out."""
    host = httpx.URL(world.base_url).host
    local = "127.0.0.2" if host in ("127.0.0.1", "localhost") else None
    transport = httpx.HTTPTransport(local_address=local) if local else None
    return httpx.Client(base_url=world.base_url, timeout=60, transport=transport)


def refresh_identities(world: FuzzWorld) -> tuple[list[str], list[str]]:
    """Bring back the identities the fuzzer took away (an administrator's fuzzing may
    revoke the phone's token, deactivate a user, reset a password or end its sessions):
    log in again, re-activating and resetting the password first when needed. Returns the
    roles refreshed and the problems left (never raises: the run goes on)."""
    refreshed: list[str] = []
    problems: list[str] = []
    with _client(world) as http:
        api = _Api(http, world)
        for role in ROLES:
            if role == "anonymous":
                continue
            if http.get("/auth/me", headers=world.headers(role)).status_code != 401:
                continue
            try:
                if role == "device":
                    path = f"/vehicles/{world.device_vehicle_id}/device-token"
                    world.tokens["device"] = api.call("admin", "POST", path)["device_token"]
                else:
                    _log_in_again(api, world, role)
                refreshed.append(role)
            except SeedError as exc:
                problems.append(str(exc))
    return refreshed, problems


def _log_in_again(api: _Api, world: FuzzWorld, role: str) -> None:
    """Log in; if the fuzzer deactivated the account or changed its password (possibly
    the administrator's own), restore it with the CLI (as the system, needing no account)."""
    try:
        api.login(role)
        return
    except SeedError:
        pass
    username = world.usernames[role]
    _cli("user", "activate", "--username", username)
    _cli(
        "user",
        "reset-password",
        "--username",
        username,
        env={"DISPATCH_NEW_USER_PASSWORD": world.passwords[role]},
    )
    api.login(role)
