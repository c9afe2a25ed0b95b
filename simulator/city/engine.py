"""The city day: a discrete-event simulation in virtual time driven against a real server.

Every call and every crew is an actor on a virtual clock (``simulator.city.clock``) that
moves on only when all of them wait for a later moment: the requests of one virtual
moment are all answered before the next begins, so the server's latency costs no
simulated time and a seed gives the same day on a fast machine and a slow one. The
virtual times the report uses are the moments the simulator acted at; the server's own
stamps map back to exactly those moments (the verification reads them back).

Why crews ask ``GET /route``: the simulator imports nothing from ``dispatch``, yet the
crews must drive the roads, at the speeds and rush hours (of the *virtual* time of day,
passed as ``depart_at``) the recommendation ranks by. A point off the network falls back
to a straight line at 25 km/h × 1.4 (counted in the report). The server itself ranks at
*its* time of day, so during simulated rush hours the ranking's ETAs are shorter than
the drives; every unit's by the same factor, so the order changes only where a fixed
penalty (BLS on an ALS call, a preemption) weighs against it.

Two policies run side by side on the same seeded day, each with its own fleet (call signs
``<prefix>-S…`` and ``<prefix>-B…``), its own incidents and its own clock (they share
nothing but the server, so the day takes as long as the slower of the two): *system*
takes the best of its own units from ``POST /incidents/{id}/recommendations``;
*baseline* takes the closest idle unit by straight line. Both assign through
``POST /incidents/{id}/assignments``. A call nobody can take waits (red first, then
oldest) until a unit frees.

Booked patient transports (``simulator.city.transports``) run beside the calls: each
policy's transport units work the server's day plan of their own date; a red call may
take one of the system's off its run (a preemption), the baseline never does.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import json
import math
import sys
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import httpx

from simulator.city.clock import Clock
from simulator.city.errors import CityError
from simulator.city.scenario import (
    TRIAGE_ORDER,
    Call,
    Place,
    Scenario,
    calls_from_csv,
    generate_rides,
    relocate,
)
from simulator.city.scenario import generate_calls as generate
from simulator.city.transports import TransportDay, Transports, TransportSetupError
from simulator.city.transports import verify as verify_transports
from simulator.fleet import SetupError, login
from simulator.http1 import Http1Connection, HttpError
from simulator.stats import Histogram

POLICIES = ("system", "baseline")
RANKING_LIMIT = 1000  # the most ``POST /incidents/{id}/recommendations`` returns
STRAIGHT_SPEED_MPS = 25 / 3.6
STRAIGHT_DETOUR = 1.4
IDLE_CLOSE_S = 3.0


def haversine_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * 6_371_008.8 * math.asin(math.sqrt(h))


@dataclass
class CityConfig:
    url: str
    scenario: Scenario
    seed: int = 1
    start_hour: float = 0.0
    hours: float = 24.0
    speed: float | None = None  # at most this many virtual seconds per real second
    day: date | None = None
    calls_csv: Path | None = None
    prefix: str = "CITY"
    username: str | None = None
    password: str | None = None
    setup_token: str | None = None
    policies: tuple[str, ...] = POLICIES
    transports: bool = True  # simulate the scenario's booked transports, if it has any
    verify: bool = True
    quiet: bool = False
    timeout_s: float = 30.0

    def check(self) -> None:
        if not 0 <= self.start_hour < 24:
            raise ValueError("--start-hour must be in [0, 24)")
        if self.hours <= 0 or (self.speed is not None and self.speed <= 0):
            raise ValueError("--hours and --speed must be positive")
        if not self.policies or set(self.policies) - set(POLICIES):
            raise ValueError(f"policies: some of {', '.join(POLICIES)}")
        if not (self.setup_token or (self.username and self.password)):
            raise ValueError("give --username and --password (or --setup-token)")


@dataclass
class Leg:
    """A drive along a polyline at constant speed from ``start_v`` for ``duration`` s."""

    points: list[tuple[float, float]]
    start_v: float
    duration: float
    cum: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.cum = [0.0]
        for a, b in zip(self.points, self.points[1:], strict=False):
            self.cum.append(self.cum[-1] + haversine_m(a, b))

    def at(self, v: float) -> tuple[float, float]:
        if self.duration <= 0 or len(self.points) < 2 or self.cum[-1] <= 0:
            return self.points[-1]
        share = min(max((v - self.start_v) / self.duration, 0.0), 1.0)
        target = share * self.cum[-1]
        i = min(max(bisect.bisect_left(self.cum, target), 1), len(self.cum) - 1)
        seg = self.cum[i] - self.cum[i - 1]
        f = 0.0 if seg <= 0 else (target - self.cum[i - 1]) / seg
        (a_lat, a_lon), (b_lat, b_lon) = self.points[i - 1], self.points[i]
        return a_lat + f * (b_lat - a_lat), a_lon + f * (b_lon - a_lon)


@dataclass
class Unit:
    vehicle_id: int
    call_sign: str
    kind: str
    token: str
    home: Place
    lat: float
    lon: float
    clock: Clock  # its policy's
    leg: Leg | None = None
    busy: bool = False
    intervals: list[tuple[float, float]] = field(default_factory=list)
    drive_task: asyncio.Task[None] | None = None
    # booked transports: a transport unit on its shift works its manifest under ``lock``
    transport: bool = False
    on_shift: bool = False
    on_manifest: bool = False
    manifest_task: asyncio.Task[None] | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    fixes_in_flight: set[asyncio.Task[None]] = field(default_factory=set)

    def position(self, v: float) -> tuple[float, float]:
        return self.leg.at(v) if self.leg is not None else (self.lat, self.lon)

    def halt(self, v: float) -> None:
        """Stop where the unit is at ``v`` (a return drive interrupted by a new job)."""
        if self.drive_task is not None and not self.drive_task.done():
            self.drive_task.cancel()
        self.drive_task = None
        self.lat, self.lon = self.position(v)
        self.leg = None


@dataclass
class CaseRecord:
    """Everything the simulator saw of one call under one policy (virtual seconds)."""

    call: Call
    policy: str
    incident_id: int | None = None
    refused: str | None = None
    error: str | None = None
    created_v: float | None = None
    notified_v: float | None = None
    en_route_v: float | None = None
    on_scene_v: float | None = None
    left_scene_v: float | None = None
    at_destination_v: float | None = None
    free_v: float | None = None
    waited_s: float | None = None  # set when no unit was free at the first attempt
    call_sign: str | None = None
    unit_kind: str | None = None
    assignment_id: int | None = None
    rank: int | None = None  # its place among the fleet's units in the server's ranking
    eta_s: int | None = None
    drive_s: float | None = None
    chosen_stale: bool = False  # the server flagged the chosen unit's GPS as stale
    preempted_rides: list[int] = field(default_factory=list)
    # a preemption: the best ETA of a unit of this fleet that was free without one
    best_free_eta_s: int | None = None

    @property
    def response_s(self) -> float | None:
        if self.on_scene_v is None or self.created_v is None:
            return None
        return self.on_scene_v - self.created_v


class Reply:
    """A response: status and body."""

    def __init__(self, status_code: int, content: bytes) -> None:
        self.status_code = status_code
        self.content = content

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.content)


class Api:
    """The simulator's HTTP calls over a small pool of keep-alive connections.

    Why not httpx here: a day sends tens of thousands of small requests, many at once, and
    httpx's pool spends CPU per queued request on every connection (measured: over half
    of the simulator's CPU at 360x), which made the simulator run late. The project's
    one-request-at-a-time ``Http1Connection``, handed out from a queue, costs O(1)."""

    def __init__(self, base_url: str, token: str, *, size: int = 48, timeout_s: float = 30) -> None:
        """``base_url`` may list several workers, comma-separated: the pool holds
        connections to each in turn, so requests spread over them."""
        self.token = token
        self.pool: asyncio.LifoQueue[tuple[Http1Connection, float]] = asyncio.LifoQueue()
        urls = split_urls(base_url)
        for i in range(size * len(urls)):
            url = urls[i % len(urls)]
            self.pool.put_nowait((Http1Connection(url, timeout_s=timeout_s), 0.0))
        self.requests = 0
        self.failures: dict[str, int] = {}
        self.latency_ms: dict[str, Histogram] = {}

    async def send(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        ok: tuple[int, ...] = (200, 201),
        body: Any = None,
        params: dict[str, Any] | None = None,
    ) -> Reply:
        target = f"{path}?{urlencode(params)}" if params else path
        headers = b"Authorization: Bearer %s\r\n" % (token or self.token).encode()
        raw: bytes | None = None
        if body is not None:
            raw = json.dumps(body, separators=(",", ":")).encode()
            headers += b"Content-Type: application/json\r\n"
        self.requests += 1
        conn, last_used = await self.pool.get()
        if time.monotonic() - last_used > IDLE_CLOSE_S:
            conn.close()  # the server drops idle keep-alive connections (uvicorn: 5 s)
        sent = time.monotonic()
        try:
            status, content = await conn.request(method, target, body=raw, headers=headers)
            kind = _kind(method, path)
            self.latency_ms.setdefault(kind, Histogram()).add(
                round((time.monotonic() - sent) * 1000)
            )
        except (OSError, TimeoutError, asyncio.IncompleteReadError, HttpError) as exc:
            key = f"{method} {path} {type(exc).__name__}"
            self.failures[key] = self.failures.get(key, 0) + 1
            raise CityError(f"{method} {path}: {type(exc).__name__}: {exc}") from exc
        finally:
            self.pool.put_nowait((conn, time.monotonic()))
        if status not in ok:
            key = f"{method} {path} {status}"
            self.failures[key] = self.failures.get(key, 0) + 1
            raise CityError(f"{method} {path}: HTTP {status}: {content[:300]!r}")
        return Reply(status, content)

    def close(self) -> None:
        while not self.pool.empty():
            self.pool.get_nowait()[0].close()


def split_urls(url: str) -> list[str]:
    """``http://a:8001,http://b:8002`` → both, without trailing slashes."""
    urls = [u.strip().rstrip("/") for u in url.split(",") if u.strip()]
    if not urls:
        raise ValueError("--url: give at least one server address")
    return urls


def _kind(method: str, path: str) -> str:
    """``POST /incidents/{id}/assignments`` for ``POST /incidents/17/assignments``."""
    parts = ["{id}" if p.isdigit() else p for p in path.split("/")]
    return f"{method} {'/'.join(parts)}"


class Policy:
    """One fleet and the rule that picks its unit for a call."""

    def __init__(self, name: str, units: list[Unit], city: City, clock: Clock) -> None:
        self.name = name
        self.units = {u.vehicle_id: u for u in units}
        self.city = city
        self.clock = clock
        self.lock = asyncio.Lock()
        self.waiters: list[tuple[tuple[int, float], CaseRecord, asyncio.Future[Unit]]] = []

    async def obtain(self, rec: CaseRecord) -> Unit:
        """A unit for the call now, or the call waits (most urgent, then oldest, first)
        until one comes free. The lock orders the calls of one moment and the queue; it
        costs no simulated time, since the clock waits for whoever holds it."""
        clock = self.clock
        async with self.lock:
            unit = await self._try(rec)
            if unit is not None:
                return unit
            if self._stuck():
                raise CityError(f"no {self.name} unit can take call {rec.call.n}")
            future: asyncio.Future[Unit] = asyncio.get_running_loop().create_future()
            key = (_triage_rank(rec.call.triage), rec.call.t_s)
            self.waiters.append((key, rec, future))
            wait_from = clock.now_v()
        unit = await clock.wait(future)
        assert rec.notified_v is not None
        rec.waited_s = rec.notified_v - wait_from
        return unit

    async def freed(self) -> None:
        """A unit became free: the most urgent waiting call that can take a unit gets it."""
        clock = self.clock
        async with self.lock:
            # One failed attempt per kind of call is enough: what one red (or one other)
            # call cannot get, the next cannot either. Trying every waiter would cost a
            # recommendation each, and a backlog would feed on itself.
            failed: set[bool] = set()
            for entry in sorted(self.waiters, key=lambda w: w[0]):
                _key, rec, future = entry
                red = rec.call.triage == "red"
                if red in failed:
                    continue
                try:
                    unit = await self._try(rec)
                except Exception as exc:  # the waiter must not hang on a failed attempt
                    self.waiters.remove(entry)
                    clock.fail(future, exc)
                    continue
                if unit is None:
                    failed.add(red)
                if unit is not None:
                    self.waiters.remove(entry)
                    clock.resolve(future, unit)
                    return
            if self._stuck():  # nothing will ever free a unit: fail instead of hanging
                for _key, rec, future in self.waiters:
                    clock.fail(future, CityError(f"no {self.name} unit can take call {rec.call.n}"))
                self.waiters.clear()

    def _stuck(self) -> bool:
        """No unit of the fleet is on a case, so none will come free."""
        return not any(u.busy for u in self.units.values())

    async def _try(self, rec: CaseRecord) -> Unit | None:
        """Choose and assign; ``None`` when no unit of this fleet can go."""
        api, clock = self.city.api, self.clock
        assert rec.incident_id is not None
        choices: list[tuple[Unit, int | None, int | None, bool]] = []
        stale: set[int] = set()  # units whose GPS the server considered out of date
        if self.name == "system":
            await self.city.fixes_settled(u for u in self.units.values() if not u.busy)
            # The whole ranking: the server ranks every unit it knows, the other policy's
            # fleet included, and this policy takes the best of its own.
            rec_out = (
                await api.send(
                    "POST",
                    f"/incidents/{rec.incident_id}/recommendations",
                    params={"limit": RANKING_LIMIT},
                )
            ).json()
            for c in rec_out["candidates"]:
                unit = self.units.get(c["vehicle_id"])
                if c.get("stale"):
                    stale.add(int(c["vehicle_id"]))
                if unit is not None and not unit.busy:
                    preempts = c.get("preemption") is not None
                    choices.append((unit, int(c["rank"]), int(c["eta_s"]), preempts))
            # the place among this fleet's units (the other fleet moves on its own clock)
            own_rank = {u.vehicle_id: i for i, (u, _r, _e, _p) in enumerate(choices, start=1)}
        else:  # the closest idle unit: never one out on its booked rides
            own_rank = {}
            here = (rec.call.lat, rec.call.lon)
            now = clock.now_v()
            free = [u for u in self.units.values() if _idle(u)]
            free.sort(key=lambda u: (haversine_m(u.position(now), here), u.call_sign))
            choices = [(u, None, None, False) for u in free]
        free_etas = [eta for _u, _r, eta, preempts in choices if eta is not None and not preempts]
        for unit, rank, eta, preempts in choices:
            body: dict[str, Any] = {"vehicle_id": unit.vehicle_id}
            if rank is not None:
                body["recommended_rank"] = rank
            async with unit.lock:  # a transport crew reports its stops under this lock
                if unit.on_manifest and not preempts:
                    continue  # between two stops: taking it would strand its rides
                response = await api.send(
                    "POST", f"/incidents/{rec.incident_id}/assignments", body=body, ok=(201, 409)
                )
                if response.status_code == 409:
                    continue
                assignment = response.json()
                released = [int(b) for b in assignment.get("preempted_booking_ids") or []]
                if unit.transport and self.city.transports is not None:
                    self.city.transports.taken(unit, released)
            rec.notified_v = clock.now_v()
            rec.assignment_id = int(assignment["id"])
            rec.call_sign, rec.unit_kind, rec.eta_s = unit.call_sign, unit.kind, eta
            rec.rank = own_rank.get(unit.vehicle_id)
            rec.chosen_stale = unit.vehicle_id in stale
            unit.busy = True
            unit.halt(rec.notified_v)
            if released:
                rec.preempted_rides = released
                rec.best_free_eta_s = min(free_etas) if free_etas else None
                if self.city.transports is not None:
                    # The server re-plans them right after the reply, in about a second:
                    # in simulated time that is at once, so the clock waits for it.
                    await self.city.transports.replanned(self.name, released)
            return unit
        return None


def _idle(unit: Unit) -> bool:
    """Free for the baseline: not on a call, and a transport unit only on its shift with
    nothing left on its manifest."""
    if unit.busy or unit.on_manifest:
        return False
    return not unit.transport or unit.on_shift


def _triage_rank(triage: str) -> int:
    return TRIAGE_ORDER.index(triage) if triage in TRIAGE_ORDER else len(TRIAGE_ORDER)


class City:
    """The simulated crews and dispatchers of one run."""

    def __init__(self, cfg: CityConfig, api: Api, run_id: str) -> None:
        self.cfg = cfg
        self.api = api
        self.run_id = run_id
        self.crew = cfg.scenario.crew
        self.complaints: dict[str, list[str]] = {}
        self.fix_tasks: set[asyncio.Task[None]] = set()
        self.fixes_sent = 0
        self.fix_failures = 0
        self.routes = 0
        self.route_fallbacks = 0
        self.done = 0
        self.hospital_positions: dict[int, tuple[float, float]] = {}
        self.transports: Transports | None = None

    # --- crews ---------------------------------------------------------------------------

    def _fix(self, unit: Unit) -> None:
        """Send the unit's position now without waiting for the reply: the server's group
        commit takes ~100 ms, and a crew never waits for its phone. Recommendations wait
        for the fixes in flight (:meth:`fixes_settled`)."""
        lat, lon = unit.position(unit.clock.now_v())
        body = {"fixes": [{"lat": lat, "lon": lon, "recorded_at": unit.clock.stamp()}]}

        async def send() -> None:
            try:
                await self.api.send(
                    "POST", f"/vehicles/{unit.vehicle_id}/fixes", token=unit.token, body=body
                )
                self.fixes_sent += 1
            except CityError:
                self.fix_failures += 1

        task = asyncio.create_task(send())
        for tasks in (self.fix_tasks, unit.fixes_in_flight):
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    async def fixes_settled(self, units: Iterable[Unit] | None = None) -> None:
        """Every fix these units (default: all) have sent is stored, so the server ranks
        them by where they are. Units on a case are not ranked, so a recommendation waits
        only for the free ones."""
        tasks = (
            list(self.fix_tasks) if units is None else [t for u in units for t in u.fixes_in_flight]
        )
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _route(
        self, a: tuple[float, float], b: tuple[float, float], at: datetime
    ) -> tuple[float, list[tuple[float, float]]]:
        params = {
            "from_lat": a[0],
            "from_lon": a[1],
            "to_lat": b[0],
            "to_lon": b[1],
            "depart_at": at.isoformat(),
        }
        self.routes += 1
        response = await self.api.send("GET", "/route", params=params, ok=(200, 422))
        if response.status_code == 422:
            self.route_fallbacks += 1
            seconds = math.ceil(haversine_m(a, b) * STRAIGHT_DETOUR / STRAIGHT_SPEED_MPS)
            return float(seconds), [a, b]
        out = response.json()
        points = [(float(p[0]), float(p[1])) for p in out["polyline"]] or [a, b]
        return float(out["seconds"]), [a, *points, b]

    async def drive(
        self,
        unit: Unit,
        dest: tuple[float, float],
        *,
        alongside: Awaitable[Any] | None = None,
    ) -> float:
        """Drive from where the unit is now to ``dest``; returns the arrival. One fix per
        ``fix_interval_s`` on the way and one on arrival. ``alongside`` (the status report
        of the same moment) is sent together with the route request."""
        clock = unit.clock
        v0 = clock.now_v()
        start = unit.position(v0)
        unit.lat, unit.lon, unit.leg = start[0], start[1], None
        route = self._route(start, dest, clock.local(v0))
        if alongside is not None:
            (seconds, points), _ = await asyncio.gather(route, alongside)
        else:
            seconds, points = await route
        unit.leg = Leg(points, v0, seconds)
        arrival = v0 + seconds
        step = self.crew.fix_interval_s
        if unit.transport and self.cfg.scenario.transports is not None:
            step = self.cfg.scenario.transports.fix_interval_s
        t = v0 + step
        while t < arrival:
            await clock.sleep_until(t)
            self._fix(unit)
            t += step
        await clock.sleep_until(arrival)
        unit.lat, unit.lon, unit.leg = dest[0], dest[1], None
        self._fix(unit)
        return arrival

    async def return_home(self, unit: Unit) -> None:
        with contextlib.suppress(asyncio.CancelledError):
            await self.drive(unit, (unit.home.lat, unit.home.lon))

    async def status(self, unit: Unit, rec: CaseRecord, status: str, **extra: Any) -> None:
        """Report a milestone at the current moment."""
        body = {"status": status, "at": unit.clock.stamp(), **extra}
        await self.api.send(
            "POST", f"/assignments/{rec.assignment_id}/status", token=unit.token, body=body
        )

    # --- one call under one policy ---------------------------------------------------------

    def _incident_body(self, rec: CaseRecord) -> dict[str, Any]:
        call = rec.call
        codes = self.complaints.get(call.triage)
        body: dict[str, Any] = {
            "lat": call.lat,
            "lon": call.lon,
            "notes": f"city-sim run={self.run_id} policy={rec.policy} call={call.n}",
        }
        if codes:
            body["chief_complaint"] = codes[call.n % len(codes)]
        else:
            any_codes = sorted(c for cs in self.complaints.values() for c in cs)
            body["chief_complaint"] = any_codes[call.n % len(any_codes)]
            body["triage"] = call.triage
            body["triage_override_reason"] = "simulated call of this triage level"
        return body

    async def run_case(self, policy: Policy, call: Call) -> CaseRecord:
        rec = CaseRecord(call, policy.name)
        clock = policy.clock
        unit: Unit | None = None
        try:
            await clock.sleep_until(call.t_s)
            response = await self.api.send(
                "POST", "/incidents", body=self._incident_body(rec), ok=(201, 422)
            )
            if response.status_code == 422:
                rec.refused = response.text[:200]
                return rec
            incident = response.json()
            rec.incident_id = int(incident["id"])
            rec.created_v = clock.now_v()
            await clock.sleep_until(rec.created_v + self.crew.dispatch_delay_s.get(call.triage, 90))
            unit = await policy.obtain(rec)
            assert rec.notified_v is not None
            await clock.sleep_until(rec.notified_v + self.crew.ack_s)
            await self.status(unit, rec, "acknowledged")
            rec.en_route_v = rec.notified_v + max(self.crew.turnout_s, self.crew.ack_s)
            await clock.sleep_until(rec.en_route_v)
            en_route = self.status(unit, rec, "en_route")
            arrival = await self.drive(unit, (call.lat, call.lon), alongside=en_route)
            rec.drive_s = arrival - rec.en_route_v
            await self.status(unit, rec, "on_scene")
            rec.on_scene_v = arrival
            await clock.sleep_until(arrival + call.on_scene_s)
            if call.transport:
                hospitals = (
                    await self.api.send("GET", f"/incidents/{rec.incident_id}/hospitals")
                ).json()
                chosen = next((h for h in hospitals if h["recommended"]), None) or (
                    hospitals[0] if hospitals else None
                )
                if chosen is not None:
                    rec.left_scene_v = clock.now_v()
                    extra = {"destination_hospital_id": chosen["hospital_id"]}
                    left = self.status(unit, rec, "left_scene", **extra)
                    dest = await self._hospital_position(int(chosen["hospital_id"]))
                    rec.at_destination_v = await self.drive(unit, dest, alongside=left)
                    await self.status(unit, rec, "at_destination")
                    await clock.sleep_until(rec.at_destination_v + self.crew.handover_s)
                    await self.status(unit, rec, "handed_over")
            await self.status(unit, rec, "back_in_service")
            rec.free_v = clock.now_v()
            await self.api.send("POST", f"/incidents/{rec.incident_id}/close")
        except CityError as exc:
            rec.error = f"{type(exc).__name__}: {exc}"[:300]
        finally:
            if unit is not None:
                assert rec.notified_v is not None
                unit.intervals.append((rec.notified_v, clock.now_v()))
                unit.busy = False
                if unit.transport and self.transports is not None:
                    await self.transports.returned(unit)
                    self.transports.resume(unit)  # back to its manifest
                else:
                    unit.drive_task = clock.spawn(self.return_home(unit))
                self.done += 1
                await policy.freed()
            else:
                self.done += 1
        return rec

    async def _hospital_position(self, hospital_id: int) -> tuple[float, float]:
        if hospital_id not in self.hospital_positions:
            for h in (await self.api.send("GET", "/hospitals")).json():
                self.hospital_positions[int(h["id"])] = (float(h["lat"]), float(h["lon"]))
        return self.hospital_positions[hospital_id]


# --- setup -------------------------------------------------------------------------------


async def _setup(
    cfg: CityConfig, api: Api, city: City, clocks: dict[str, Clock]
) -> tuple[dict[str, list[Unit]], dict[str, Any]]:
    """Stations, hospitals and one fleet per policy, created or reused by name, every
    unit reset: any active job stood down, available at its station, one fix there."""
    s = cfg.scenario
    for c in (await api.send("GET", "/complaints")).json():
        city.complaints.setdefault(c["triage"], []).append(c["code"])
    for codes in city.complaints.values():
        codes.sort()
    hospitals = (await api.send("GET", "/hospitals")).json()
    created_hospitals = 0
    for h in s.hospitals:
        near = any(haversine_m((h.lat, h.lon), (x["lat"], x["lon"])) < 50 for x in hospitals)
        if not near:
            body = {"name": h.name[:200], "lat": h.lat, "lon": h.lon}
            hospitals.append((await api.send("POST", "/hospitals", body=body)).json())
            created_hospitals += 1
    stations = {st["name"]: st for st in (await api.send("GET", "/stations")).json()}
    station_ids: list[int] = []
    for place in s.stations:
        name = f"{cfg.prefix} {place.name}"
        if name not in stations:
            body = {"name": name, "lat": place.lat, "lon": place.lon}
            stations[name] = (await api.send("POST", "/stations", body=body)).json()
        station_ids.append(int(stations[name]["id"]))
    vehicles = {v["call_sign"]: v for v in (await api.send("GET", "/vehicles")).json()}
    kinds = [k for k, n in s.fleet.items() for _ in range(n)]
    transport_kinds = (
        [k for k, n in s.transports.vehicles.items() for _ in range(n)]
        if s.transports is not None and cfg.transports
        else []
    )
    fleets: dict[str, list[Unit]] = {}
    gate = asyncio.Semaphore(8)

    async def one(policy: str, i: int, kind: str, transport: bool = False) -> Unit:
        letter = policy[0].upper()
        sign = f"{cfg.prefix}-{letter}T{i:02d}" if transport else f"{cfg.prefix}-{letter}{i:03d}"
        place = s.stations[i % len(s.stations)]
        station_id = station_ids[i % len(s.stations)]
        async with gate:
            found = vehicles.get(sign)
            if found is None:
                body: dict[str, Any] = {"call_sign": sign, "kind": kind, "station_id": station_id}
                body["seats_stretcher"] = 1
                if transport and s.transports is not None:
                    body.update({f"seats_{k}": v for k, v in s.transports.seats.items()})
                    body["serves_transports"] = True
                found = (await api.send("POST", "/vehicles", body=body)).json()
            vid = int(found["id"])
            token = (await api.send("POST", f"/vehicles/{vid}/device-token")).json()["device_token"]
            current = (await api.send("GET", "/assignments/current", token=token)).json()
            if current.get("assignment"):
                aid = current["assignment"]["id"]
                for status in ("cancelled", "back_in_service"):
                    r = await api.send(
                        "POST",
                        f"/assignments/{aid}/status",
                        token=token,
                        body={"status": status},
                        ok=(200, 409),
                    )
                    if r.status_code == 200:
                        break
            # a transport unit is off duty until its shift starts
            patch = {"state": "off_duty" if transport else "available", "station_id": station_id}
            await api.send("PATCH", f"/vehicles/{vid}", body=patch)
            fix = {"lat": place.lat, "lon": place.lon, "recorded_at": datetime.now(UTC).isoformat()}
            await api.send("POST", f"/vehicles/{vid}/fixes", token=token, body={"fixes": [fix]})
            unit = Unit(vid, sign, kind, token, place, place.lat, place.lon, clocks[policy])
            unit.transport = transport
            return unit

    for policy in cfg.policies:
        fleets[policy] = list(
            await asyncio.gather(
                *(one(policy, i, k) for i, k in enumerate(kinds, start=1)),
                *(one(policy, i, k, True) for i, k in enumerate(transport_kinds, start=1)),
            )
        )
    roads = (await api.send("GET", "/map/roads")).json()
    info = {
        "hospitals_known": len(hospitals),
        "hospitals_created": created_hospitals,
        "stations": len(station_ids),
        "map_source": roads.get("source"),
        "roads": roads.get("lines", []),
    }
    return fleets, info


# --- the run -------------------------------------------------------------------------------

RELOCATE_ATTEMPTS = 5


async def _on_the_map(cfg: CityConfig, api: Api, calls: list[Call]) -> tuple[list[Call], int]:
    """Generated calls the server's map cannot reach (farther from a road than it accepts)
    are drawn again at another place of the same call, before the day starts, so both
    policies get the same, servable day. A zero-length ``GET /route`` is the check."""
    gate = asyncio.Semaphore(8)
    moved = 0

    async def servable(call: Call) -> bool:
        params = {"from_lat": call.lat, "from_lon": call.lon, "to_lat": call.lat}
        params["to_lon"] = call.lon
        async with gate:
            reply = await api.send("GET", "/route", params=params, ok=(200, 422))
        return reply.status_code == 200

    async def fix(call: Call) -> Call:
        nonlocal moved
        for attempt in range(1, RELOCATE_ATTEMPTS + 1):
            if await servable(call):
                return call
            call = relocate(cfg.scenario, cfg.seed, call, attempt)
            moved += attempt == 1
        return call

    return list(await asyncio.gather(*(fix(c) for c in calls))), moved


async def _verify(
    api: Api,
    clocks: dict[str, Clock],
    run_id: str,
    records: list[CaseRecord],
    since: float,
    transports: Transports | None,
) -> dict[str, Any]:
    """Read back what the server stored for this run's incidents (each by id: the list
    endpoint shows only the latest 200) and compare with what the simulator recorded."""
    by_id = {r.incident_id: r for r in records if r.incident_id is not None}
    gate = asyncio.Semaphore(16)
    incidents: list[dict[str, Any]] = []
    stored: dict[int, list[dict[str, Any]]] = {}

    async def fetch(incident_id: int) -> None:
        async with gate:
            incident = (await api.send("GET", f"/incidents/{incident_id}")).json()
            if f"run={run_id} " not in (incident.get("notes") or ""):
                return
            response = await api.send("GET", f"/incidents/{incident_id}/assignments")
            incidents.append(incident)
            stored[incident_id] = response.json()

    await asyncio.gather(*(fetch(i) for i in by_id if i is not None))
    diffs: list[float] = []
    notify_diffs: list[float] = []
    per_policy: dict[str, dict[str, int]] = {}
    closed = 0
    preempted = 0
    released: dict[str, set[int]] = {}
    for incident in incidents:
        rec = by_id.get(int(incident["id"]))
        policy = rec.policy if rec is not None else "unknown"
        counts = per_policy.setdefault(policy, {"incidents": 0, "assignments": 0})
        counts["incidents"] += 1
        units = stored[int(incident["id"])]
        counts["assignments"] += len(units)
        preempted += sum(1 for a in units if a.get("preempted_booking_ids"))
        for a in units:
            released.setdefault(policy, set()).update(a.get("preempted_booking_ids") or [])
        closed += incident["status"] == "closed"
        if rec is None:
            continue
        # the server's stamps, read on the policy's clock, against the simulator's moments
        clock = clocks[rec.policy]
        scene = [clock.virtual(a["on_scene_at"]) for a in units if a.get("on_scene_at")]
        if rec.response_s is not None and scene:
            server_s = min(scene) - clock.virtual(incident["created_at"])
            diffs.append(abs(server_s - rec.response_s))
        mine = [a for a in units if a["id"] == rec.assignment_id]
        if mine and rec.notified_v is not None:
            notify_diffs.append(abs(clock.virtual(mine[0]["notified_at"]) - rec.notified_v))
    kpis = (
        await api.send(
            "GET",
            "/kpis",
            params={
                "since": datetime.fromtimestamp(since, UTC).isoformat(),
                "until": datetime.now(UTC).isoformat(),
            },
        )
    ).json()
    return {
        "incidents_stored": len(incidents),
        "incidents_closed": closed,
        "by_policy": per_policy,
        "preempting_assignments": preempted,
        "response_compared": len(diffs),
        "response_max_abs_diff_s": round(max(diffs), 3) if diffs else None,
        "notified_compared": len(notify_diffs),
        "notified_max_abs_diff_s": round(max(notify_diffs), 3) if notify_diffs else None,
        "kpis_window_calls": sum(int(level["calls"]) for level in kpis["levels"]),
        "kpis_window_reached": sum(int(level["reached"]) for level in kpis["levels"]),
        "transports": (
            await verify_transports(api, transports, released) if transports is not None else None
        ),
    }


async def run_city(
    cfg: CityConfig, progress: Callable[[str], None] | None = None
) -> tuple[dict[str, Any], list[CaseRecord], dict[str, list[Unit]], dict[str, Any]]:
    """Run the day; returns the raw material for the report: meta, records, fleets, setup."""
    say = progress or (lambda line: print(line, file=sys.stderr, flush=True))
    s = cfg.scenario
    tz = ZoneInfo(s.timezone)
    today = datetime.now(tz).date()
    with_rides = cfg.transports and s.transports is not None
    day = cfg.day or (today + timedelta(days=1) if with_rides else today)
    if with_rides and day <= today:
        raise SetupError(
            f"--date {day}: booked transports need a day after today (the server refuses "
            "bookings in the past); give a later date or --no-transports"
        )
    day_start = datetime(day.year, day.month, day.day, tzinfo=tz)
    start_s, end_s = cfg.start_hour * 3600, (cfg.start_hour + cfg.hours) * 3600
    calls = (
        calls_from_csv(s, cfg.seed, cfg.calls_csv, start_s, end_s)
        if cfg.calls_csv
        else generate(s, cfg.seed, start_s, end_s)
    )
    if cfg.setup_token:
        token = cfg.setup_token
    else:
        assert cfg.username and cfg.password
        first = split_urls(cfg.url)[0]
        async with httpx.AsyncClient(base_url=first, timeout=cfg.timeout_s) as client:
            token = await login(client, cfg.username, cfg.password)
    api = Api(cfg.url, token, timeout_s=cfg.timeout_s)
    try:
        return await _run(cfg, api, calls, day, day_start, start_s, end_s, say)
    finally:
        api.close()


async def _run(
    cfg: CityConfig,
    api: Api,
    calls: list[Call],
    day: date,
    day_start: datetime,
    start_s: float,
    end_s: float,
    say: Callable[[str], None],
) -> tuple[dict[str, Any], list[CaseRecord], dict[str, list[Unit]], dict[str, Any]]:
    from simulator.city.report import build_report

    s = cfg.scenario
    run_id = f"{int(time.time())}-{cfg.seed}"
    setup_started = time.monotonic()
    # One clock per policy: the two share nothing but the server (their own units, calls
    # and transport dates), so each runs at its own pace and the day takes the time of
    # the slower one, not of both one after the other.
    clocks = {name: Clock(start_s, day_start, cfg.speed) for name in cfg.policies}
    city = City(cfg, api, run_id)
    try:
        fleets, setup = await _setup(cfg, api, city, clocks)
    except CityError as exc:
        raise SetupError(str(exc)) from exc
    relocated = 0
    if cfg.calls_csv is None:
        calls, relocated = await _on_the_map(cfg, api, calls)
    rides = generate_rides(s, cfg.seed, start_s, end_s) if cfg.transports else []
    if s.transports is not None and cfg.transports:
        tz = ZoneInfo(s.timezone)
        days = [
            TransportDay(
                name, day + timedelta(days=k), tz, [u for u in fleets[name] if u.transport]
            )
            for k, name in enumerate(cfg.policies)
        ]
        city.transports = Transports(city, s, days)
        try:
            await city.transports.prepare(api, cfg.prefix, rides)
        except (CityError, TransportSetupError) as exc:
            raise SetupError(str(exc)) from exc
    setup["seconds"] = round(time.monotonic() - setup_started, 2)
    policies = [Policy(name, fleets[name], city, clocks[name]) for name in cfg.policies]
    pace = "as fast as the server answers" if cfg.speed is None else f"at most {cfg.speed:g}x"
    say(
        f"city: {len(calls)} calls over {cfg.hours:g} h from {cfg.start_hour:g}:00, {pace}, "
        "policies "
        f"{', '.join(cfg.policies)}, {s.units} units each, map {setup['map_source']}"
        + (
            f"; {len(rides)} booked rides on {city.transports.units_per_policy} transport "
            "units each"
            if city.transports is not None
            else ""
        )
    )
    started = time.monotonic()
    since = time.time()
    if city.transports is not None:
        city.transports.start(end_s)
    cases = {p.name: [p.clock.spawn(city.run_case(p, c)) for c in calls] for p in policies}
    for clock in clocks.values():
        clock.start()

    async def report_progress() -> None:
        while True:
            await asyncio.sleep(10)
            times = "  ".join(
                f"{name} {int(c.now // 3600):02d}:{int(c.now % 3600 // 60):02d}"
                for name, c in clocks.items()
            )
            say(
                f"  virtual {times}  cases done {city.done}/{len(calls) * len(policies)}  "
                f"requests {api.requests}"
            )

    async def policy_day(policy: Policy) -> tuple[list[CaseRecord], float]:
        """The policy's calls, then its crews until the end of the span."""
        clock = policy.clock
        done = list(await asyncio.gather(*cases[policy.name]))
        if city.transports is not None:
            await clock.spawn(clock.sleep_until(end_s))
            await city.transports.finish(policy.name)
        for unit in policy.units.values():
            unit.halt(clock.now_v())
        await clock.stop()
        return done, time.monotonic() - started

    reporter = asyncio.create_task(report_progress()) if not cfg.quiet else None
    outcomes = await asyncio.gather(*(policy_day(p) for p in policies))
    if reporter is not None:
        reporter.cancel()
    records = [rec for done, _wall in outcomes for rec in done]
    await city.fixes_settled()
    wall = time.monotonic() - started
    verify = (
        await _verify(api, clocks, run_id, records, since, city.transports) if cfg.verify else None
    )
    meta: dict[str, Any] = {
        "scenario": s.name,
        "seed": cfg.seed,
        "day": day.isoformat(),
        "start_hour": cfg.start_hour,
        "hours": cfg.hours,
        "speed": cfg.speed,
        "run_id": run_id,
        "calls": len(calls),
        "calls_relocated": relocated,
        "rides": len(rides),
        "rides_relocated": city.transports.rides_relocated if city.transports else 0,
        "transport_units_per_policy": (city.transports.units_per_policy if city.transports else 0),
        "units_per_policy": s.units,
        "fleet": s.fleet,
        "wall_s": round(wall, 1),
        "setup_s": setup["seconds"],
        "map_source": setup["map_source"],
        "hospitals_known": setup["hospitals_known"],
        "hospitals_source": s.hospitals_source,
        "requests": api.requests,
        "request_failures": api.failures,
        "request_latency_ms": {k: h.summary() for k, h in sorted(api.latency_ms.items())},
        "fixes_sent": city.fixes_sent,
        "fix_failures": city.fix_failures,
        "routes": city.routes,
        "route_fallbacks": city.route_fallbacks,
        "end_v": {name: c.now for name, c in clocks.items()},
        "clocks": {
            name: c.summary(day_wall)
            for (name, c), (_done, day_wall) in zip(clocks.items(), outcomes, strict=True)
        },
        "replan_waits_timed_out": {
            "after_preemption": city.transports.replans_timed_out if city.transports else 0,
            "after_return": city.transports.return_waits_timed_out if city.transports else 0,
        },
        "verify": verify,
    }
    report = build_report(meta, records, fleets, s, start_s, end_s, city.transports)
    return report, records, fleets, setup
