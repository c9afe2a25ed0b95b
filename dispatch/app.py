"""The application factory: the lifespan builds the database handle and the event broker
once; routers stay thin and call domain services."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.routing import Route

from dispatch import __version__
from dispatch.api import (
    alarms,
    assignments,
    audit,
    auth,
    bookingfiles,
    coverage,
    devices,
    errors,
    fleet,
    gps,
    health,
    hospitals,
    incidents,
    maps,
    organisations,
    planning,
    routes,
    simulation,
    stations,
    transports,
    ws,
)
from dispatch.api.middleware import (
    HttpMetricsMiddleware,
    RequestIdMiddleware,
    SecurityHeadersMiddleware,
)
from dispatch.api.responses import document_errors
from dispatch.auth.cache import PrincipalCache
from dispatch.auth.loginlimit import build_login_limiter
from dispatch.auth.ratelimit import Limits
from dispatch.clock import SYSTEM_CLOCK, Clock, SettableClock, install
from dispatch.config import Settings
from dispatch.coverage.advisor import MoveUpAdvisor
from dispatch.db.session import Database
from dispatch.idempotency.cleanup import run_sweeper
from dispatch.incidents import offers
from dispatch.incidents.alerts import raise_ack_alerts
from dispatch.incidents.config import DispatchConfig
from dispatch.lifecycle import Lifecycle
from dispatch.models import Vehicle
from dispatch.models.enums import CLAIMABLE_STATES
from dispatch.realtime.broker import create_bus
from dispatch.realtime.devices import DeviceDirectory, UnknownDeviceLimiter
from dispatch.realtime.gpsdoor import GpsDoor
from dispatch.realtime.history import HistoryWriter
from dispatch.realtime.hub import Hub
from dispatch.realtime.ingest import Ingestor, LivePublisher
from dispatch.realtime.outbox import run_relay
from dispatch.state import AppState
from dispatch.transports import solver_pool
from dispatch.transports.config import TransportConfig
from dispatch.transports.replanning import Replanner
from dispatch.travel import provider_from_settings
from dispatch.web import install as install_web

log = logging.getLogger(__name__)

#: Collector thresholds for a serving process (see the lifespan for the measurement).
GC_THRESHOLDS = (5_000, 100, 1_000)


async def watch_alerts(state: AppState) -> None:
    """Every few seconds: announce assignments the crew has not acknowledged in time."""
    while True:
        await asyncio.sleep(state.settings.alert_interval_s)
        try:
            async with state.db.unit_of_work(publish=state.broker.publish) as uow:
                await raise_ack_alerts(uow, state.emergency, state.clock.now())
        except Exception:
            log.exception("checking for unacknowledged assignments failed")


async def watch_offers(state: AppState) -> None:
    """Every second: offers nobody answered in time move on to the next station. Any
    worker may do it; each offer is moved once (under its row lock)."""
    while True:
        await asyncio.sleep(state.settings.offer_check_interval_s)
        try:
            now = state.clock.now()
            async with state.db.unit_of_work(read_only=True) as uow:
                due = await offers.any_due(uow, now)  # no write lock for an idle second
            if due:
                async with state.db.unit_of_work(publish=state.broker.publish) as uow:
                    await offers.expire_due(uow, state.emergency, now)
        except Exception:
            log.exception("moving unanswered offers on failed")


async def _sync_available(state: AppState) -> None:
    """Tell the bus which units are free (for "nearest available" lookups)."""
    try:
        async with state.db.unit_of_work(read_only=True) as uow:
            ids = (
                await uow.session.scalars(
                    select(Vehicle.id).where(Vehicle.state.in_(CLAIMABLE_STATES))
                )
            ).all()
        await state.broker.set_available(ids)
    except Exception:
        log.warning("could not sync available units to the bus", exc_info=True)


def create_osmand_app(main: FastAPI) -> Starlette:
    """The OsmAnd endpoint on its own port (Traccar Client's default is 5055), sharing the
    main app's state; it answers at ``/`` as the phones expect."""

    @asynccontextmanager
    async def lifespan(osm: Starlette) -> AsyncIterator[None]:
        while not hasattr(main.state, "dispatch"):  # noqa: ASYNC110 (waits for the API start-up)
            await asyncio.sleep(0.05)
        osm.state.dispatch = main.state.dispatch
        yield

    return Starlette(routes=[Route("/", gps.osmand, methods=["GET", "POST"])], lifespan=lifespan)


def create_app(
    settings: Settings | None = None, *, trap_signals: bool = False, clock: Clock = SYSTEM_CLOCK
) -> FastAPI:
    """``trap_signals``: drain before the server's own SIGINT/SIGTERM handling (``dispatch
    serve`` sets it; see ``dispatch.lifecycle``). ``clock``: what the server's timers read
    (rate-limit windows, cache lifetimes); tests pass a ``ManualClock``."""
    settings = settings or Settings()
    if settings.simulated_clock and clock is SYSTEM_CLOCK:
        clock = SettableClock()  # a simulation tells it the time (PUT /simulation/clock)
    if settings.secret_key is None:
        log.warning(
            "DISPATCH_SECRET_KEY is not set: using a random key; logins end when the "
            "process restarts and are not shared between workers"
        )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db = Database(
            settings.database_url,
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
            busy_timeout_ms=settings.sqlite_busy_timeout_ms,
        )
        broker = await create_bus(settings.redis_url, settings.redis_prefix)
        # Building an uncached road graph takes CPU seconds: keep the loop free meanwhile.
        travel = await asyncio.to_thread(provider_from_settings, settings)
        emergency = DispatchConfig.from_settings(settings, travel)
        history = HistoryWriter(db, linger_s=settings.history_linger_ms / 1000)
        live = LivePublisher(broker)
        principals = PrincipalCache(clock=clock)
        devices = DeviceDirectory(db, clock=clock)
        hub = Hub(
            broker,
            stale_after_s=settings.stale_gps_s,
            positions_interval_s=settings.positions_interval_ms / 1000,
            heartbeat_s=settings.heartbeat_s,
            max_client_events=settings.client_queue_events,
            clock=clock,
            principals=principals,  # purged when sessions end (revocations)
            devices=devices,  # purged when a phone's pairing changes
        )
        hub.subscribe(db.reactions)
        live.fallback = hub.apply_positions  # screens on this worker move even without Redis
        limits = Limits.build(settings.device_requests_per_minute, clock=clock)
        logins = build_login_limiter(
            per_pair=settings.login_failures_per_15_minutes,
            per_address=settings.login_address_failures_per_15_minutes,
            per_name=settings.login_name_failures_per_hour,
            redis_url=settings.redis_url,
            prefix=settings.redis_prefix,
            clock=clock,
        )
        await logins.start()
        ingestor = Ingestor(history, live)
        transport = TransportConfig.from_settings(settings)
        replanner = Replanner(
            db=db,
            publish=broker.publish,
            travel=travel,
            cfg=transport,
            tz=settings.tz,
            clock=clock,
            positions=lambda: {vid: (p.lat, p.lon) for vid, p in hub.positions.items()},
        )
        replanner.subscribe(db.reactions)
        advisor: MoveUpAdvisor | None = None
        if emergency.coverage is not None:
            advisor = MoveUpAdvisor(
                db, emergency.coverage, emergency.moveup, clock, publish=broker.publish
            )
            if not settings.simulated_clock:
                # A simulation asks for rounds itself (POST /moveups/round) at the moment
                # it is at: a round in the background would read a later moment.
                advisor.subscribe(db.reactions)
        state = AppState(
            settings=settings,
            db=db,
            broker=broker,
            travel=travel,
            emergency=emergency,
            ingestor=ingestor,
            devices=devices,
            hub=hub,
            transport=transport,
            replanner=replanner,
            moveups=advisor,
            lifecycle=Lifecycle(hub, drain_s=settings.drain_s),
            gps=GpsDoor(
                db=db,
                token_key=settings.token_key,
                principals=principals,
                devices=devices,
                limits=limits,
                ingestor=ingestor,
                clock=clock,
                publish=broker.publish,
                tz=settings.tz,
                unknown_devices=UnknownDeviceLimiter(
                    settings.unknown_devices_per_minute, clock=clock
                ),
            ),
            clock=clock,
            principals=principals,
            limits=limits,
            logins=logins,
        )
        app.state.dispatch = state
        await history.start()
        await live.start()
        await hub.start()
        await _sync_available(state)
        watcher = asyncio.create_task(watch_alerts(state), name="alerts")
        offer_timer = asyncio.create_task(watch_offers(state), name="offers")
        relay = asyncio.create_task(run_relay(db, broker.publish), name="outbox-relay")
        sweeper = asyncio.create_task(run_sweeper(db, clock), name="idempotency-sweeper")
        # Everything built so far lives as long as the process. Moving it out of the
        # collector's reach stops full collections (≈100 ms over ~150k start-up objects)
        # from landing on a dispatcher's request.
        gc.collect()
        gc.freeze()
        # Under load the default thresholds (700, 10, 10) ran a full collection every few
        # seconds, each pausing the loop ~120-180 ms over the websockets' objects: that was
        # the GPS→screen p99 (211 ms, 2,000 phones and 50 screens on two workers). Larger
        # young generations let short-lived objects die before promotion, and full
        # collections become rare: p99 36-44 ms under the same load.
        gc.set_threshold(*GC_THRESHOLDS)
        if trap_signals:
            state.lifecycle.trap_signals()
        previous = install(clock) if settings.simulated_clock else None
        try:
            yield
        finally:
            if previous is not None:
                install(previous)
            await state.lifecycle.close()
            for task in (watcher, offer_timer, relay, sweeper):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await hub.stop()
            await history.stop()  # every accepted fix is written before we go
            await live.stop()
            close = getattr(travel, "close", None)
            if callable(close):
                close()
            await asyncio.to_thread(solver_pool.shutdown)
            await logins.close()
            await broker.close()
            await db.dispose()

    app = FastAPI(
        title="Dispatch",
        version=__version__,
        summary="Emergency dispatch and patient-transport coordination",
        lifespan=lifespan,
        docs_url=None,  # served by dispatch.web from local files (no CDN)
        redoc_url=None,
    )
    errors.install(app)
    origins = [o.strip() for o in settings.cors_origins.split(",") if o.strip()]
    if origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "X-Request-ID", "Idempotency-Key"],
            expose_headers=["Idempotent-Replayed"],
        )
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(HttpMetricsMiddleware)
    app.add_middleware(RequestIdMiddleware)
    app.router.add_route(settings.osmand_path, gps.osmand, methods=["GET", "POST"])
    for module in (
        gps,
        alarms,
        coverage,
        ws,
        health,
        auth,
        organisations,
        fleet,
        devices,
        hospitals,
        incidents,
        assignments,
        bookingfiles,  # before transports: /bookings/export is not a booking id
        transports,
        planning,
        stations,
        audit,
        maps,
        routes,
    ):
        document_errors(module.router)  # declares the 401/403/404/409/422/503 answers
        app.include_router(module.router)
    if settings.simulated_clock:
        document_errors(simulation.router)
        app.include_router(simulation.router)
    install_web(app)  # the browser screens: /control, /crew, /care and /static
    return app
