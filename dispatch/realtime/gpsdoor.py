"""The one door every GPS fix comes through, whatever carried it (the JSON batch, the
crew's websocket, Traccar Client / OsmAnd): authenticate the device, rate-limit it, turn
the decoded input into validated fixes, ingest them (durable before the caller answers).

Each transport only decodes its wire format (``FixIn`` items, ``OsmAndReport``s) and
translates the typed errors below into its own answer (an HTTP status, a plain-text reply,
a websocket ``error`` message). A new protocol costs one decoder and one listener.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from pydantic import AwareDatetime, Field, ValidationError

from dispatch.auth import service as auth_service
from dispatch.auth.cache import PrincipalCache
from dispatch.auth.principal import Principal
from dispatch.auth.ratelimit import Limits
from dispatch.clock import Clock
from dispatch.db.session import Database
from dispatch.errors import (
    Forbidden,
    InvalidInput,
    NotFound,
    TooManyRequests,
    Unauthorized,
    Unavailable,
)
from dispatch.realtime.devices import DeviceDirectory
from dispatch.realtime.fixes import Fix, FixError, OsmAndReport, make_fix
from dispatch.realtime.history import HistoryBusy
from dispatch.realtime.ingest import Ingestor, IngestResult
from dispatch.schemas import Input, Latitude, Longitude

#: Most fixes one request or message may carry.
MAX_FIXES = 500


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
    ) -> None:
        self.db = db
        self.token_key = token_key
        self.principals = principals
        self.devices = devices
        self.limits = limits
        self.ingestor = ingestor
        self.clock = clock

    async def principal(self, token: str | None) -> Principal:
        """Who holds ``token``, resolved in a short read-only transaction of its own (an
        ingest must not hold a transaction while it waits for the history writer) and
        cached briefly for phones posting every second."""
        if not token:
            raise Unauthorized("Send the vehicle's device token: 'Authorization: Bearer dvt_…'.")
        cached = self.principals.get(token)
        if cached is not None:
            return cached
        async with self.db.unit_of_work(read_only=True) as uow:
            principal = await auth_service.principal_for_token(uow, token, key=self.token_key)
        self.principals.put(token, principal)
        return principal

    def _admit(self, vehicle_id: int) -> None:
        wait = self.limits.device_request(vehicle_id)
        if wait is not None:
            raise TooManyRequests("Too many uploads from this phone; wait.", retry_after_s=wait)

    async def from_crew(
        self, principal: Principal, vehicle_id: int, items: Sequence[FixIn]
    ) -> IngestResult:
        """Fixes sent by a crew's phone (device token or a driver's login) for its vehicle."""
        if principal.vehicle_id != vehicle_id:
            raise Forbidden("A phone sends fixes only for its own vehicle.")
        self._admit(vehicle_id)
        now = self.clock.now()
        fixes = []
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
            except FixError as exc:
                name = "recorded_at" if exc.field == "timestamp" else exc.field
                raise InvalidInput(f"fixes.{i}.{name}", exc.message) from None
        return await self._store(fixes)

    async def from_devices(self, reports: Sequence[OsmAndReport]) -> IngestResult:
        """Decoded OsmAnd reports: the device identifier is the credential."""
        now = self.clock.now()
        fixes = []
        for report in reports:
            vehicle_id = await self.devices.vehicle_for(report.device_id)
            if vehicle_id is None:
                raise UnknownDevice(f"unknown device {report.device_id!r}")
            self._admit(vehicle_id)
            try:
                fixes.append(report.to_fix(vehicle_id, now))
            except FixError as exc:
                raise InvalidInput(exc.field, exc.message) from None
        return await self._store(fixes)

    async def _store(self, fixes: Sequence[Fix]) -> IngestResult:
        try:
            return await self.ingestor.ingest(fixes)
        except HistoryBusy as exc:
            raise StorageBusy(f"Storage is busy ({exc}); retry shortly.") from None
