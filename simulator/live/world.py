"""What the living city knows and shares: the server, the units it drives, the calls it
made, and its counts.

Which units it drives: every unit of the supervisor's centre that is on duty and has no
phone paired by QR code (a unit with a real phone is that phone's to move). A unit that
gets a real phone while the city plays (paired by QR code, or a new phone token for a
crew link) is left to it from then on. Each gets a
fresh phone token, except the unit of the ``--driver`` login, which is driven with that
login so its printed token and the crew page stay valid.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from simulator.city.api import Api
from simulator.city.geometry import Leg, haversine_m
from simulator.city.scenario import Call
from simulator.live.config import LiveConfig

#: Closer than this to its station, a unit is home.
HOME_M = 60.0


@dataclass
class LiveUnit:
    vehicle_id: int
    call_sign: str
    kind: str
    token: str
    home: tuple[float, float]
    lat: float
    lon: float
    transport_van: bool
    #: Driven with the ``--driver`` login (not a phone token of its own).
    own_login: bool = False
    leg: Leg | None = None
    #: Taken by the simulated dispatcher or on a job: not picked again.
    busy: bool = False
    #: Driving home (or to the depot) while idle; cancelled when a job comes.
    homeward: asyncio.Task[None] | None = None
    battery: float = 96.0

    def position(self) -> tuple[float, float]:
        return self.leg.at(time.monotonic()) if self.leg is not None else (self.lat, self.lon)

    def at_home(self) -> bool:
        return haversine_m(self.position(), self.home) < HOME_M

    def stop_homeward(self) -> None:
        if self.homeward is not None and not self.homeward.done():
            self.homeward.cancel()
        self.homeward = None


@dataclass
class World:
    cfg: LiveConfig
    api: Api
    tz: ZoneInfo
    units: dict[int, LiveUnit] = field(default_factory=dict)
    #: incident id → the call the living city made for it (its scene time, transport)
    calls: dict[int, Call] = field(default_factory=dict)
    hospitals: dict[int, tuple[float, float]] = field(default_factory=dict)
    complaints: dict[str, list[str]] = field(default_factory=dict)
    #: The date whose manifests the vans work, once the day's rides are planned.
    service_day: date | None = None
    counts: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    #: Where the first errors are told as they happen (a demo runs for hours unwatched).
    say: Callable[[str], None] = field(default=lambda _line: None)

    async def sleep(self, seconds: float) -> None:
        """A crew's wait of ``seconds`` of the city's time (see ``LiveConfig.pace``)."""
        await asyncio.sleep(max(0.0, seconds) / self.cfg.pace)

    def count(self, what: str, n: int = 1) -> None:
        self.counts[what] = self.counts.get(what, 0) + n

    def error(self, text: str) -> None:
        self.count("errors")
        if len(self.errors) < 50:  # the first ones say what went wrong; the count says how often
            self.errors.append(text[:300])
            self.say(f"living city: {text[:300]}")


async def adopt_units(world: World, driver_token: str | None) -> None:
    """The units the living city drives (see the module's docstring), and the centre's
    time zone (its days are the vans' days)."""
    api = world.api
    me = (await api.send("GET", "/auth/me")).json()
    for organisation in (await api.send("GET", "/organisations")).json():
        if organisation["id"] == me["organisation_id"] and organisation.get("timezone"):
            world.tz = ZoneInfo(organisation["timezone"])  # the centre's day, not the scenario's
    driver_vehicle: int | None = None
    if driver_token is not None:
        driver_me = (await api.send("GET", "/auth/me", token=driver_token)).json()
        driver_vehicle = driver_me.get("vehicle_id")
    stations = {
        int(s["id"]): (s["lat"], s["lon"]) for s in (await api.send("GET", "/stations")).json()
    }
    for v in sorted((await api.send("GET", "/vehicles")).json(), key=lambda v: v["call_sign"]):
        if v["organisation_id"] != me["organisation_id"] or v["state"] == "off_duty":
            continue
        if v.get("device_id") and v["id"] != driver_vehicle:
            continue
        if v["id"] == driver_vehicle:
            assert driver_token is not None
            token = driver_token
        else:
            path = f"/vehicles/{v['id']}/device-token"
            token = (await api.send("POST", path)).json()["device_token"]
        home = stations.get(v.get("station_id") or -1)
        here = (v["last_lat"], v["last_lon"]) if v.get("last_lat") is not None else home
        if here is None:
            continue  # neither a station nor a position: nowhere to start from
        unit = LiveUnit(
            vehicle_id=int(v["id"]),
            call_sign=v["call_sign"],
            kind=v["kind"],
            token=token,
            home=home or here,
            lat=float(here[0]),
            lon=float(here[1]),
            transport_van=v["kind"] == "transport_van",
            own_login=v["id"] == driver_vehicle,
        )
        world.units[unit.vehicle_id] = unit


async def load_hospitals(world: World) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = (await world.api.send("GET", "/hospitals")).json()
    world.hospitals = {int(h["id"]): (float(h["lat"]), float(h["lon"])) for h in found}
    return found


async def close_quietly(task: asyncio.Task[Any]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task
