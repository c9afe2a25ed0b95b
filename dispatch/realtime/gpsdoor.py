"""The one door every GPS fix comes through, whatever carried it (the JSON batch, the
crew's websocket, Traccar Client / OsmAnd): authenticate the device, rate-limit it, turn
the decoded input into validated fixes, ingest them (durable before the caller answers).

Each transport only decodes its wire format (``FixIn`` items, ``OsmAndReport``s) and
translates the typed errors below into its own answer (an HTTP status, a plain-text reply,
a websocket ``error`` message). A new protocol costs one decoder and one listener.

Phones never stall: a fix that cannot be used is dropped (acknowledged, counted in
``dispatch_fixes_dropped_total`` by reason, listed in the reply), never refused, so the one
bad fix a phone keeps resending cannot block everything queued behind it. What is refused
is what cannot be attributed (no credential, an unknown device) or must be retried
(storage busy, over the rate limit). A crew's SOS is stored and announced before the reply.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, tzinfo
from typing import Annotated, Any

from pydantic import AwareDatetime, Field, ValidationError
from sqlalchemy.exc import DBAPIError

from dispatch.audit.service import Actor
from dispatch.auth import service as auth_service
from dispatch.auth.cache import PrincipalCache
from dispatch.auth.principal import Principal
from dispatch.auth.ratelimit import Limits
from dispatch.clock import Clock
from dispatch.db.session import Database, Publisher
from dispatch.errors import (
    DomainError,
    Forbidden,
    InvalidInput,
    NotFound,
    TooManyRequests,
    Unauthorized,
    Unavailable,
)
from dispatch.incidents import alerts
from dispatch.observability import metrics
from dispatch.realtime.devices import DeviceDirectory, PairedDevice, UnknownDeviceLimiter
from dispatch.realtime.fixes import (
    BAD_VALUE,
    DROP_REASONS,
    MAX_AGE,
    MAX_FUTURE,
    Dropped,
    Fix,
    OsmAndReport,
    make_fix,
    parse_timestamp,
    usable_position,
)
from dispatch.realtime.history import HistoryBusy
from dispatch.realtime.ingest import DroppedFix, Ingestor, IngestResult
from dispatch.schemas import Input, Latitude, Longitude

#: Most fixes one request or message may carry.
MAX_FIXES = 500
#: Identifiers no vehicle can be paired with (``fleet.schemas.DeviceId`` is 4-128 word
#: characters): unknown without asking the database, where a NUL byte would even fail.
_UNPAIRABLE = re.compile(r"[\s\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def pairable(device_id: str) -> bool:
    return 4 <= len(device_id) <= 128 and _UNPAIRABLE.search(device_id) is None


for _reason in DROP_REASONS:  # every reason is a series from the start, at 0
    metrics.FIXES_DROPPED.labels(_reason)


class UnknownDevice(NotFound):
    """An OsmAnd device identifier that belongs to no vehicle."""

    code = "unknown_device"


class StorageBusy(Unavailable):
    """Nothing was stored (queue full, shutting down, database failing): retry."""

    code = "busy"


class FixIn(Input):
    """One fix as our own clients send it (the JSON batch and the crew's websocket)."""

    lat: Latitude
    lon: Longitude
    recorded_at: AwareDatetime = Field(description="The phone's time of the fix")
    speed_mps: Annotated[float, Field(ge=0, le=200)] | None = None
    heading: Annotated[float, Field(ge=0, le=360)] | None = None
    accuracy_m: Annotated[float, Field(ge=0, le=100_000)] | None = None
    battery_pct: Annotated[float, Field(ge=0, le=100)] | None = None


def parse_fixes(raw: Any, field: str = "fixes") -> list[FixIn]:
    """Decode a JSON list of fixes that did not pass through FastAPI (the websocket)."""
    if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_FIXES:
        raise InvalidInput(field, f"{field} must be a list of 1 to {MAX_FIXES} fixes")
    items = []
    for i, item in enumerate(raw):
        try:
            items.append(FixIn.model_validate(item))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            name = f"{field}.{i}.{where}" if where else f"{field}.{i}"
            raise InvalidInput(name, first["msg"]) from None
    return items


@dataclass(frozen=True, slots=True)
class RaisedAlarm:
    alarm_id: int
    #: False: folded into an alarm already stored (repeated while open, or a resend).
    created: bool


def _alarm_time(at: datetime | None, now: datetime) -> datetime | None:
    """The phone's time of an alarm, kept only when plausible (it identifies a resend)."""
    if at is None or not now - MAX_AGE <= at <= now + MAX_FUTURE:
        return None
    return at


def _count(drops: Sequence[DroppedFix]) -> None:
    for drop in drops:
        metrics.FIXES_DROPPED.labels(drop.reason).inc()


class GpsDoor:
    """Authenticate → rate-limit → validate → ingest, with typed errors (``DomainError``
    subclasses carrying their HTTP status and code)."""

    def __init__(
        self,
        *,
        db: Database,
        token_key: str,
        principals: PrincipalCache,
        devices: DeviceDirectory,
        limits: Limits,
        ingestor: Ingestor,
        clock: Clock,
        publish: Publisher,
        tz: tzinfo = UTC,
        unknown_devices: UnknownDeviceLimiter | None = None,
    ) -> None:
        self.db = db
        self.token_key = token_key
        self.principals = principals
        self.devices = devices
        self.limits = limits
        self.ingestor = ingestor
        self.clock = clock
        self.publish = publish
        #: Local time of reports that carry a time without a zone.
        self.tz = tz
        self.unknown_devices = unknown_devices or UnknownDeviceLimiter(clock=clock)

    async def principal(self, token: str | None) -> Principal:
        """Who holds ``token``, resolved in a short read-only transaction of its own (an
        ingest must not hold a transaction while it waits for the history writer) and
        cached briefly for phones posting every second."""
        if not token:
            raise Unauthorized("Send the vehicle's device token: 'Authorization: Bearer dvt_…'.")
        cached = self.principals.get(token)
        if cached is not None:
            return cached
        seen = self.principals.generation
        async with self.db.unit_of_work(read_only=True) as uow:
            principal = await auth_service.principal_for_token(uow, token, key=self.token_key)
        self.principals.put(token, principal, seen=seen)
        return principal

    def _admit(self, vehicle_id: int) -> None:
        wait = self.limits.device_request(vehicle_id)
        if wait is not None:
            raise TooManyRequests("Too many uploads from this phone; wait.", retry_after_s=wait)

    async def from_crew(
        self, principal: Principal, vehicle_id: int, items: Sequence[FixIn]
    ) -> IngestResult:
        """Fixes sent by a crew's phone (device token or a driver's login) for its vehicle.
        Malformed items were already refused (422) by the schema; a fix that is well formed
        but unusable (0,0, too old, in the future) is dropped and listed, so one such fix
        cannot make the whole batch fail again on every resend."""
        if principal.vehicle_id != vehicle_id:
            raise Forbidden("A phone sends fixes only for its own vehicle.")
        self._admit(vehicle_id)
        now = self.clock.now()
        fixes: list[Fix] = []
        drops: list[DroppedFix] = []
        for i, item in enumerate(items):
            try:
                fixes.append(
                    make_fix(
                        vehicle_id,
                        item.recorded_at,
                        item.lat,
                        item.lon,
                        now=now,
                        speed_mps=item.speed_mps,
                        heading=item.heading,
                        accuracy_m=item.accuracy_m,
                        battery_pct=item.battery_pct,
                    )
                )
            except Dropped as exc:
                name = "recorded_at" if exc.field == "timestamp" else exc.field
                drops.append(DroppedFix(i, exc.reason, f"fixes.{i}.{name}", exc.message))
        result = await self._store(fixes)
        _count(drops)  # once acknowledged: a phone resending after a 503 is not counted twice
        return replace(result, dropped=tuple(drops))

    async def device(self, device_id: str, client: str) -> PairedDevice:
        """The vehicle an OsmAnd identifier is paired with. ``client`` (the caller's
        address) is limited in how many unknown identifiers it may try, and that limit is
        checked before the database is asked."""
        known, device = self.devices.cached(device_id)
        if known and device is not None:
            return device
        wait = self.unknown_devices.blocked(client)
        if wait is not None:
            raise TooManyRequests(
                "Too many unknown device identifiers from this address; wait.",
                retry_after_s=wait,
            )
        if not pairable(device_id):
            device = None
        else:
            try:
                device = await self.devices.lookup(device_id)
            except (DBAPIError, OSError, TimeoutError) as exc:
                busy = f"Storage is busy ({type(exc).__name__}); retry shortly."
                raise StorageBusy(busy) from None
        if device is None:
            self.unknown_devices.unknown(client, device_id)
            raise UnknownDevice(f"unknown device {device_id!r}")
        return device

    async def from_devices(
        self, reports: Sequence[OsmAndReport], client: str = "unknown"
    ) -> IngestResult:
        """Decoded OsmAnd reports: the device identifier is the credential. An SOS among
        them is stored and announced first; every fix that cannot be used is dropped."""
        now = self.clock.now()
        paired: dict[str, PairedDevice] = {}
        over_limit: TooManyRequests | None = None
        for report in reports:
            if report.device_id not in paired:
                paired[report.device_id] = await self.device(report.device_id, client)
                try:
                    self._admit(paired[report.device_id].vehicle_id)
                except TooManyRequests as exc:
                    over_limit = exc
        if over_limit is not None:
            # Nothing is stored, but an SOS is never lost to the rate limit: it is raised
            # (or folded into the open alarm) before the phone is told to wait.
            sos = next((r for r in reports if r.alarm), None)
            if sos is not None:
                await self._raise_alarm(
                    paired[sos.device_id].vehicle_id,
                    actor=alerts.PhoneActor(f"device:{sos.device_id}"),
                    source="osmand",
                    device_time=_alarm_time(sos.recorded_at, now),
                    position=None,
                )
            raise over_limit
        fixes: list[Fix] = []
        drops: list[DroppedFix] = []
        alarm: tuple[OsmAndReport, Fix | None] | None = None
        for i, report in enumerate(reports):
            device = paired[report.device_id]
            fix: Fix | None = None
            try:
                fix = report.to_fix(device.vehicle_id, now, device.speed_unit)
            except Dropped as exc:
                drops.append(DroppedFix(i, exc.reason, exc.field, exc.message))
            else:
                fixes.append(fix)
                if report.bad_values:
                    names = ", ".join(report.bad_values)
                    drops.append(DroppedFix(i, BAD_VALUE, report.bad_values[0], f"unread: {names}"))
            if report.alarm and alarm is None:
                alarm = report, fix
        if alarm is not None:
            report, fix = alarm
            await self._raise_alarm(
                paired[report.device_id].vehicle_id,
                actor=alerts.PhoneActor(f"device:{report.device_id}"),
                source="osmand",
                device_time=_alarm_time(report.recorded_at, now),
                position=None if fix is None else (fix.lat, fix.lon),
            )
        result = await self._store(fixes)
        _count(drops)  # once acknowledged: a phone resending after a 503 is not counted twice
        return replace(result, dropped=tuple(drops))

    async def sos_from_crew(
        self,
        principal: Principal,
        vehicle_id: int,
        lat: Any = None,
        lon: Any = None,
        at: Any = None,
    ) -> RaisedAlarm:
        """The crew page's SOS button. Never refused for its position or time (both are
        optional and ignored when unusable) and never rate-limited: it is a call for help."""
        if principal.vehicle_id != vehicle_id:
            raise Forbidden("A phone raises an alarm only for its own vehicle.")
        device_time: datetime | None = None
        if isinstance(at, str) and at:
            try:
                device_time = parse_timestamp(at, self.tz)
            except Dropped:
                device_time = None
        return await self._raise_alarm(
            vehicle_id,
            actor=principal,
            source="crew",
            device_time=_alarm_time(device_time, self.clock.now()),
            position=usable_position(lat, lon),
        )

    async def _raise_alarm(
        self,
        vehicle_id: int,
        *,
        actor: Actor,
        source: str,
        device_time: datetime | None,
        position: tuple[float, float] | None,
    ) -> RaisedAlarm:
        lat, lon = position if position is not None else (None, None)
        try:
            async with self.db.unit_of_work(publish=self.publish) as uow:
                outcome = await alerts.raise_crew_alarm(
                    uow,
                    actor,
                    vehicle_id,
                    now=self.clock.now(),
                    source=source,
                    device_time=device_time,
                    lat=lat,
                    lon=lon,
                )
                raised = RaisedAlarm(outcome.alarm.id, outcome.created)
        except DomainError:
            raise
        except (DBAPIError, OSError, TimeoutError) as exc:
            raise StorageBusy(f"Storage is busy ({type(exc).__name__}); retry shortly.") from None
        return raised

    async def _store(self, fixes: Sequence[Fix]) -> IngestResult:
        try:
            return await self.ingestor.ingest(fixes)
        except HistoryBusy as exc:
            raise StorageBusy(f"Storage is busy ({exc}); retry shortly.") from None
