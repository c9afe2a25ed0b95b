"""What the application builds once at start-up and every request, websocket and
background job shares (the composition root, ``dispatch.app``, fills it in)."""

from __future__ import annotations

from dataclasses import dataclass, field

from dispatch.auth.cache import PrincipalCache
from dispatch.auth.loginlimit import LoginLimiter
from dispatch.auth.ratelimit import Limits
from dispatch.clock import SYSTEM_CLOCK, Clock
from dispatch.config import Settings
from dispatch.coverage.advisor import MoveUpAdvisor
from dispatch.db.session import Database
from dispatch.incidents.config import DispatchConfig
from dispatch.lifecycle import Lifecycle
from dispatch.realtime.broker import Bus
from dispatch.realtime.devices import DeviceDirectory
from dispatch.realtime.gpsdoor import GpsDoor
from dispatch.realtime.hub import Hub
from dispatch.realtime.ingest import Ingestor
from dispatch.routing.base import TravelTimeProvider
from dispatch.transports.config import TransportConfig
from dispatch.transports.replanning import Replanner


@dataclass
class AppState:
    """What the lifespan builds once and every request shares."""

    settings: Settings
    db: Database
    broker: Bus
    travel: TravelTimeProvider
    emergency: DispatchConfig
    ingestor: Ingestor
    devices: DeviceDirectory
    hub: Hub
    transport: TransportConfig
    lifecycle: Lifecycle
    gps: GpsDoor
    replanner: Replanner
    #: What every timer of the server reads (tests and simulations inject their own).
    clock: Clock = SYSTEM_CLOCK
    principals: PrincipalCache = field(default_factory=PrincipalCache)
    limits: Limits = field(default_factory=Limits.build)
    #: Move-up suggestions after fleet changes (with coverage dispatch only).
    moveups: MoveUpAdvisor | None = None
    #: Failed-login counters (shared through Redis when configured).
    logins: LoginLimiter = field(default_factory=LoginLimiter)
