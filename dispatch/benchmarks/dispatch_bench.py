"""End-to-end dispatch benchmark: the real app served by uvicorn, driven over real HTTP.

``python -m dispatch.benchmarks.dispatch_bench --osm PATH [--database-url URL]
[--redis-url URL] --json`` prints the figures. It measures what a control room feels:

* how long a recommendation takes, both as the HTTP round trip of
  ``POST /incidents/{id}/recommendations`` and as the service call alone, so the two can be
  told apart;
* the end-to-end path of a call: incident created over HTTP, units recommended, the best one
  assigned, and the ``assignment.created`` event received on a subscription to the app's
  bus (Redis when configured), standing in for the crew's phone.

It never touches real data: without a database URL it uses a temporary SQLite file; with a
PostgreSQL URL it creates the scratch database ``<name>_bench`` beside it (dropped before and
after); with a SQLite URL, a scratch file ``<stem>_bench.sqlite3`` beside that file. Server,
client and subscriber share one process and one event loop (uvloop when installed, as
``dispatch serve`` uses), so the figures include the client's own CPU time on a small machine.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import numpy as np
import uvicorn
from fastapi import FastAPI
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from dispatch.api.deps import AppState
from dispatch.app import create_app
from dispatch.auth.passwords import hash_password_async
from dispatch.config import Settings
from dispatch.db import migrate
from dispatch.db.session import Database
from dispatch.incidents.recommend import recommend
from dispatch.models import Assignment, Hospital, Incident, Organisation, Station, User, Vehicle
from dispatch.models.enums import OrganisationKind, Role, VehicleKind, VehicleState
from dispatch.routing.base import LatLon, TravelTimeProvider
from dispatch.routing.bench import random_points
from dispatch.routing.roadgraph import RoadGraphProvider
from dispatch.travel import provider_from_settings

T = TypeVar("T")

#: Where positions are drawn when there is no road graph (central Bangkok).
FALLBACK_BBOX = (13.70, 100.48, 13.79, 100.60)

#: The issue's targets (central Bangkok, 1,000 units, 2 cores; end-to-end on PostgreSQL).
TARGET_RECOMMEND_P99_MS = 25.0
TARGET_E2E_P99_MS = 100.0

#: A mix of red, yellow and green calls (codes of the default complaint table).
COMPLAINTS = (
    "cardiac_arrest",
    "stroke",
    "chest_pain",
    "major_trauma",
    "breathing_difficulty",
    "road_traffic_accident",
    "seizure",
    "fall",
    "abdominal_pain",
    "fever",
)

#: Fleet mix: kind, call-sign prefix, share, seats (seated, wheelchair, stretcher).
FLEET_MIX = (
    (VehicleKind.ALS, "A", 0.45, (2, 0, 1)),
    (VehicleKind.BLS, "B", 0.43, (2, 1, 1)),
    (VehicleKind.MOTORBIKE, "M", 0.06, (0, 0, 0)),
    (VehicleKind.TRANSPORT_VAN, "T", 0.06, (6, 2, 0)),
)
OFF_DUTY_SHARE = 0.1
STATIONS = 5
HOSPITALS = 6
HOSPITAL_CAPABILITIES = ("trauma", "stroke", "cardiac", "burns", "paediatric")

#: Waiting longer than this for an assignment event means it was lost: the run fails.
EVENT_TIMEOUT_S = 10.0

Sampler = Callable[[np.random.Generator, int], list[LatLon]]


# --- figures -------------------------------------------------------------------------------


def latency_ms(seconds: Sequence[float]) -> dict[str, float | int]:
    """p50/p99/max/mean in milliseconds, and how many samples they summarise."""
    ms = np.asarray(seconds, dtype=np.float64) * 1000.0
    p50, p99 = np.percentile(ms, [50, 99])
    return {
        "p50": round(float(p50), 3),
        "p99": round(float(p99), 3),
        "max": round(float(ms.max()), 3),
        "mean": round(float(ms.mean()), 3),
        "repeats": len(seconds),
    }


# --- database --------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def scratch_database(database_url: str | None) -> AsyncIterator[tuple[str, str]]:
    """Yield ``(url, dialect)`` of an empty database used by this run only, removed after."""
    url = None if database_url is None else make_url(database_url)
    if url is None or (url.get_backend_name() == "sqlite" and url.database in (None, "")):
        folder = Path(tempfile.mkdtemp(prefix="dispatch-bench-"))
        try:
            yield f"sqlite+aiosqlite:///{folder / 'bench.sqlite3'}", "sqlite"
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return
    backend = url.get_backend_name()
    if backend == "sqlite":
        assert url.database is not None
        given = Path(url.database)
        scratch = given.with_name(f"{given.stem}_bench.sqlite3")
        _remove_sqlite(scratch)
        try:
            yield f"sqlite+aiosqlite:///{scratch}", "sqlite"
        finally:
            _remove_sqlite(scratch)
        return
    if backend != "postgresql":
        raise ValueError(f"unsupported database {backend!r}: use sqlite or postgresql")
    url = url.set(drivername="postgresql+asyncpg")
    name = f"{url.database or 'dispatch'}_bench"
    # CREATE/DROP DATABASE cannot run in a transaction; connect to the given database.
    admin = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            quoted = conn.dialect.identifier_preparer.quote(name)
            await conn.execute(text(f"DROP DATABASE IF EXISTS {quoted} WITH (FORCE)"))
            await conn.execute(text(f"CREATE DATABASE {quoted}"))
        try:
            yield url.set(database=name).render_as_string(hide_password=False), "postgresql"
        finally:
            async with admin.connect() as conn:
                await conn.execute(text(f"DROP DATABASE IF EXISTS {quoted} WITH (FORCE)"))
    finally:
        await admin.dispose()


def _remove_sqlite(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)


def position_sampler(travel: TravelTimeProvider) -> Sampler:
    """Points a provider accepts: within the snap limit of the road graph, else in a box."""
    if isinstance(travel, RoadGraphProvider):
        return lambda rng, count: random_points(travel, rng, count)
    lat0, lon0, lat1, lon1 = FALLBACK_BBOX

    def in_box(rng: np.random.Generator, count: int) -> list[LatLon]:
        lats, lons = rng.uniform(lat0, lat1, count), rng.uniform(lon0, lon1, count)
        return [LatLon(float(a), float(b)) for a, b in zip(lats, lons, strict=True)]

    return in_box


@dataclass(frozen=True)
class Login:
    username: str
    password: str


async def seed_world(db: Database, draw: Sampler, rng: np.random.Generator, units: int) -> Login:
    """One dispatch centre, a dispatcher, stations, ``units`` vehicles with recent GPS fixes
    on the network, and hospitals, in one unit of work (the ORM, not the API: seeding is
    not what is measured)."""
    password = secrets.token_urlsafe(18)
    password_hash = await hash_password_async(password)
    now = datetime.now(UTC)
    async with db.unit_of_work() as uow:
        s = uow.session
        centre = Organisation(name="Benchmark EMS", kind=OrganisationKind.DISPATCH_CENTRE)
        s.add(centre)
        await s.flush()
        user = User(
            organisation_id=centre.id,
            username="bench-dispatcher",
            full_name="Benchmark dispatcher",
            role=Role.DISPATCHER,
            password_hash=password_hash,
        )
        stations = [
            Station(organisation_id=centre.id, name=f"Station {i + 1}", lat=p.lat, lon=p.lon)
            for i, p in enumerate(draw(rng, STATIONS))
        ]
        hospitals = [
            Hospital(
                name=f"Hospital {i + 1}",
                lat=p.lat,
                lon=p.lon,
                capabilities=sorted(
                    rng.choice(HOSPITAL_CAPABILITIES, size=2, replace=False).tolist()
                ),
                available_er_beds=int(rng.integers(0, 20)),
            )
            for i, p in enumerate(draw(rng, HOSPITALS))
        ]
        s.add_all([user, *stations, *hospitals])
        await s.flush()
        kinds = rng.choice(len(FLEET_MIX), size=units, p=[share for _, _, share, _ in FLEET_MIX])
        off_duty = rng.random(units) < OFF_DUTY_SHARE
        fix_age_s = rng.uniform(0.0, 60.0, units)
        home = rng.integers(0, len(stations), units)
        vehicles = []
        for i, position in enumerate(draw(rng, units)):
            kind, prefix, _, (seated, wheelchair, stretcher) = FLEET_MIX[int(kinds[i])]
            vehicles.append(
                Vehicle(
                    organisation_id=centre.id,
                    call_sign=f"{prefix}{i + 1:04d}",
                    kind=kind,
                    seats_seated=seated,
                    seats_wheelchair=wheelchair,
                    seats_stretcher=stretcher,
                    station_id=stations[int(home[i])].id,
                    state=VehicleState.OFF_DUTY if off_duty[i] else VehicleState.AVAILABLE,
                    serves_transports=kind == VehicleKind.TRANSPORT_VAN,
                    last_lat=position.lat,
                    last_lon=position.lon,
                    last_fix_at=now - timedelta(seconds=float(fix_age_s[i])),
                )
            )
        s.add_all(vehicles)
    return Login(user.username, password)


# --- server and events -----------------------------------------------------------------------


@contextlib.asynccontextmanager
async def serve(app: FastAPI) -> AsyncIterator[str]:
    """Run ``app`` under uvicorn on a free local port in this event loop; yield its base URL.

    The socket is bound here and handed to uvicorn, so no other process can take the port
    between choosing and listening.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port: int = sock.getsockname()[1]
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]), name="bench-uvicorn")
    try:
        while not server.started:
            if task.done():
                await task
                raise RuntimeError("the server stopped during start-up")
            await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()


EventKey = tuple[int, int, int]  # assignment, incident, vehicle


@dataclass
class EventClock:
    """When each ``assignment.created`` event reached the subscriber (``perf_counter``).

    Keyed by (assignment, incident, vehicle): the bus's Redis keys are shared by every
    process using that Redis, so an id alone could match someone else's event.
    """

    _arrivals: dict[EventKey, asyncio.Future[float]] = field(default_factory=dict)
    _error: BaseException | None = None

    def _future(self, key: EventKey) -> asyncio.Future[float]:
        future = self._arrivals.get(key)
        if future is None:
            future = self._arrivals[key] = asyncio.get_running_loop().create_future()
            if self._error is not None:
                future.set_exception(self._broken())
        return future

    def _broken(self) -> RuntimeError:
        error = RuntimeError(f"the broker subscription failed: {self._error!r}")
        error.__cause__ = self._error
        return error

    def arrived(self, message: dict[str, Any], at: float) -> None:
        if message.get("type") != "assignment.created":
            return
        data = message.get("data") or {}
        try:
            key = (int(data["assignment_id"]), int(data["incident_id"]), int(data["vehicle_id"]))
        except (KeyError, TypeError, ValueError):
            return
        future = self._future(key)
        if not future.done():
            future.set_result(at)

    def failed(self, error: BaseException) -> None:
        """The subscription is gone: every wait fails now instead of timing out."""
        self._error = error
        for future in self._arrivals.values():
            if not future.done():
                future.set_exception(self._broken())

    def seen(self, key: EventKey) -> bool:
        future = self._arrivals.get(key)
        return future is not None and future.done() and future.exception() is None

    async def wait(self, key: EventKey, timeout_s: float) -> float:
        """The arrival time of the event for ``key`` (possibly before this call)."""
        try:
            return await asyncio.wait_for(asyncio.shield(self._future(key)), timeout_s)
        except TimeoutError:
            raise RuntimeError(
                f"no assignment.created event for assignment {key[0]} within {timeout_s:.0f} s"
                " (with Redis: did another process sharing it reset the dispatch:* keys?)"
            ) from None


@contextlib.asynccontextmanager
async def subscribed(state: AppState) -> AsyncIterator[EventClock]:
    """A subscription to the app's broker, open for the duration, timing every arrival."""
    clock = EventClock()
    ready = asyncio.Event()

    async def listen() -> None:
        try:
            async with state.broker.subscribe() as messages, contextlib.aclosing(messages):
                ready.set()
                async for message in messages:
                    clock.arrived(message, time.perf_counter())
            raise RuntimeError("the subscription ended")
        except Exception as exc:
            clock.failed(exc)
            raise

    task = asyncio.create_task(listen(), name="bench-subscriber")
    waiting = asyncio.create_task(ready.wait())
    try:
        await asyncio.wait({task, waiting}, return_when=asyncio.FIRST_COMPLETED)
        if not ready.is_set():
            await task  # raises why the subscription failed
        yield clock
    finally:
        waiting.cancel()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


# --- the measured calls ----------------------------------------------------------------------


def _ok(response: httpx.Response, status: int) -> dict[str, Any]:
    if response.status_code != status:
        raise RuntimeError(
            f"{response.request.method} {response.request.url.path}: expected {status}, "
            f"got {response.status_code}: {response.text[:500]}"
        )
    body: dict[str, Any] = response.json()
    return body


def _call(point: LatLon, rng: np.random.Generator) -> dict[str, Any]:
    return {
        "lat": point.lat,
        "lon": point.lon,
        "chief_complaint": str(rng.choice(COMPLAINTS)),
        "address_text": "benchmark call",
    }


async def _timed(call: Coroutine[Any, Any, T]) -> tuple[T, float]:
    started = time.perf_counter()
    result = await call
    return result, time.perf_counter() - started


async def bench_recommend(
    http: httpx.AsyncClient,
    state: AppState,
    points: Sequence[LatLon],
    rng: np.random.Generator,
    warmup: int,
    units: int,
) -> dict[str, Any]:
    """Recommendations for the same incidents, over HTTP and as a direct service call."""
    incident_ids = [
        _ok(await http.post("/incidents", json=_call(p, rng)), 201)["id"] for p in points
    ]
    http_s: list[float] = []
    shown: list[int] = []
    for i, incident_id in enumerate(incident_ids):
        response, elapsed = await _timed(http.post(f"/incidents/{incident_id}/recommendations"))
        body = _ok(response, 200)
        if i >= warmup:
            http_s.append(elapsed)
            shown.append(len(body["candidates"]))
    service_s: list[float] = []
    etas: list[int] = []
    for i, incident_id in enumerate(incident_ids):
        async with state.db.unit_of_work() as uow:
            incident = await uow.session.get(Incident, incident_id)
            assert incident is not None
            rec, elapsed = await _timed(recommend(uow, incident, state.emergency))
            if i >= warmup:
                service_s.append(elapsed)
                # Units given an ETA: neither off duty nor excluded (busy, van, off-map …).
                etas.append(units - rec.off_duty - len(rec.excluded))
    return {
        "recommend_service_ms": {
            **latency_ms(service_s),
            "units_with_eta": int(np.median(etas)),
            "shown": int(np.median(shown)),
        },
        "recommend_http_ms": {**latency_ms(http_s), "shown": int(np.median(shown))},
    }


async def bench_end_to_end(
    http: httpx.AsyncClient,
    state: AppState,
    points: Sequence[LatLon],
    rng: np.random.Generator,
    warmup: int,
) -> dict[str, Any]:
    """Call taken → recommended → best unit assigned → crew's event received, per call.

    ``e2e`` ends when both the assignment's 201 and its event are in (the event may arrive
    first: it is published after the commit, before the response is sent).
    Each unit is stood down afterwards, untimed, so the fleet never runs dry.
    """
    e2e: list[float] = []
    assign_to_event: list[float] = []
    steps: dict[str, list[float]] = {"create": [], "recommend": [], "assign": []}
    measured: list[EventKey] = []
    async with subscribed(state) as clock:
        for i, point in enumerate(points):
            call = _call(point, rng)
            t0 = time.perf_counter()
            incident = _ok(await http.post("/incidents", json=call), 201)
            t_created = time.perf_counter()
            rec = _ok(await http.post(f"/incidents/{incident['id']}/recommendations"), 200)
            t_recommended = time.perf_counter()
            if not rec["candidates"]:
                raise RuntimeError(f"no unit could be recommended for incident {incident['id']}")
            best = rec["candidates"][0]
            t_sent = time.perf_counter()
            assignment = _ok(
                await http.post(
                    f"/incidents/{incident['id']}/assignments",
                    json={"vehicle_id": best["vehicle_id"], "recommended_rank": best["rank"]},
                ),
                201,
            )
            t_assigned = time.perf_counter()
            key = (assignment["id"], incident["id"], assignment["vehicle_id"])
            t_event = await clock.wait(key, EVENT_TIMEOUT_S)
            t1 = max(t_event, t_assigned)
            if i >= warmup:
                measured.append(key)
                e2e.append(t1 - t0)
                assign_to_event.append(t_event - t_sent)
                steps["create"].append(t_created - t0)
                steps["recommend"].append(t_recommended - t_created)
                steps["assign"].append(t_assigned - t_sent)
            _ok(
                await http.post(
                    f"/assignments/{assignment['id']}/status", json={"status": "cancelled"}
                ),
                200,
            )
        seen = sum(clock.seen(key) for key in measured)
    async with state.db.unit_of_work(read_only=True) as uow:
        committed = await uow.session.scalar(
            select(func.count())
            .select_from(Assignment)
            .where(Assignment.id.in_([assignment_id for assignment_id, _, _ in measured]))
        )
    return {
        "e2e_ms": latency_ms(e2e),
        "assign_to_event_ms": latency_ms(assign_to_event),
        "e2e_steps_http_ms": {name: latency_ms(values) for name, values in steps.items()},
        "assignments_seen_via_events": seen,
        "assignments_committed": int(committed or 0),
    }


# --- the benchmark -------------------------------------------------------------------------


async def bench_dispatch_async(
    osm_path: Path | None,
    database_url: str | None,
    redis_url: str | None,
    cache_dir: Path,
    *,
    units: int = 1000,
    calls: int = 200,
    seed: int = 0,
    warmup: int = 5,
) -> dict[str, Any]:
    """:func:`bench_dispatch` inside a running event loop."""
    if units < 1 or calls < 1 or warmup < 0:
        raise ValueError("units and calls must be positive, warmup not negative")
    rng = np.random.default_rng(seed)
    await asyncio.to_thread(cache_dir.mkdir, parents=True, exist_ok=True)
    async with scratch_database(database_url) as (url, dialect):
        settings = Settings(
            database_url=url,
            redis_url=redis_url,
            redis_prefix="dispatch-bench:",  # never mixes with a deployment's own keys
            osm_path=osm_path,
            cache_dir=cache_dir,
            secret_key=secrets.token_urlsafe(48),
            auto_dispatch_red=False,
            duplicate_radius_m=0,
        )
        # The same provider the app will load (from the same cache) decides where is "on
        # the network", so no seeded unit or call is refused as off the map.
        travel = await asyncio.to_thread(provider_from_settings, settings)
        draw = position_sampler(travel)
        db = Database(url)
        try:
            await migrate.upgrade(db.engine)
            login = await seed_world(db, draw, rng, units)
        finally:
            await db.dispose()
        rec_points = draw(rng, warmup + calls)
        e2e_points = draw(rng, warmup + calls)
        close = getattr(travel, "close", None)  # the app builds its own
        if callable(close):
            close()
        app = create_app(settings)
        async with serve(app) as base, httpx.AsyncClient(base_url=base, timeout=30.0) as http:
            state: AppState = app.state.dispatch
            token = _ok(
                await http.post(
                    "/auth/token", data={"username": login.username, "password": login.password}
                ),
                200,
            )["access_token"]
            http.headers["Authorization"] = f"Bearer {token}"
            recommendation = await bench_recommend(http, state, rec_points, rng, warmup, units)
            end_to_end = await bench_end_to_end(http, state, e2e_points, rng, warmup)
            graph = _graph_figures(state.travel)
    rec_http_p99 = recommendation["recommend_http_ms"]["p99"]
    rec_service_p99 = recommendation["recommend_service_ms"]["p99"]
    return {
        "database": dialect,
        "bus": "redis" if redis_url else "in-process",
        "event_loop": type(asyncio.get_running_loop()).__module__.split(".")[0],
        "osm": None if osm_path is None else str(osm_path),
        "travel": type(state.travel).__name__,
        "graph": graph,
        "units": units,
        "calls": calls,
        "warmup": warmup,
        "seed": seed,
        **recommendation,
        **end_to_end,
        "targets": {
            "recommend_p99_ms": TARGET_RECOMMEND_P99_MS,
            "recommend_service_met": rec_service_p99 <= TARGET_RECOMMEND_P99_MS,
            "recommend_http_met": rec_http_p99 <= TARGET_RECOMMEND_P99_MS,
            "e2e_p99_ms": TARGET_E2E_P99_MS,
            "e2e_met": end_to_end["e2e_ms"]["p99"] <= TARGET_E2E_P99_MS,
        },
        "cpu_count": os.cpu_count(),
        "python": sys.version.split()[0],
    }


def _graph_figures(travel: TravelTimeProvider) -> dict[str, int] | None:
    if not isinstance(travel, RoadGraphProvider):
        return None
    return {
        "nodes": travel.graph.node_count,
        "edges": travel.graph.edge_count,
        "segments": travel.index.segment_count,
    }


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop]:
    """uvloop when installed, as uvicorn picks it for ``dispatch serve``."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop
    return uvloop.new_event_loop


def bench_dispatch(
    osm_path: Path | None,
    database_url: str | None,
    redis_url: str | None,
    cache_dir: Path,
    *,
    units: int = 1000,
    calls: int = 200,
    seed: int = 0,
    warmup: int = 5,
) -> dict[str, Any]:
    """Seed a scratch database, serve the real app and measure recommendation latency and
    call-to-crew-event latency over HTTP; return JSON-able figures (milliseconds).

    Runs its own event loop (never the caller's default loop), so call it from sync code.
    """
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        return runner.run(
            bench_dispatch_async(
                osm_path,
                database_url,
                redis_url,
                cache_dir,
                units=units,
                calls=calls,
                seed=seed,
                warmup=warmup,
            )
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Benchmark recommendations and call-to-assignment-event latency."
    )
    parser.add_argument(
        "--osm", type=Path, default=None, help="OSM extract (default: straight-line ETAs)"
    )
    parser.add_argument(
        "--database-url",
        default=None,
        help="PostgreSQL URL beside which a scratch <name>_bench database is made "
        "(default: a temporary SQLite file)",
    )
    parser.add_argument("--redis-url", default=None, help="Redis for the bus (default: in-process)")
    parser.add_argument(
        "--cache-dir", type=Path, default=Path(tempfile.gettempdir()) / "dispatch-bench"
    )
    parser.add_argument("--units", type=int, default=1000)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    figures = bench_dispatch(
        args.osm,
        args.database_url,
        args.redis_url,
        args.cache_dir,
        units=args.units,
        calls=args.calls,
        seed=args.seed,
        warmup=args.warmup,
    )
    if args.json:
        json.dump(figures, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        for key, value in figures.items():
            print(f"{key:<28} {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
