"""Settings from the environment (prefix ``DISPATCH_``).

Defaults give the embedded setup: a SQLite file and the in-process event bus, so the demo
needs no services. Production points ``DISPATCH_DATABASE_URL`` at PostgreSQL and sets
``DISPATCH_REDIS_URL``.
"""

from __future__ import annotations

import secrets
from functools import cached_property
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    # Errors name the variable but never echo its value (URLs with passwords, keys).
    model_config = SettingsConfigDict(
        env_prefix="DISPATCH_", env_file=None, extra="ignore", hide_input_in_errors=True
    )

    database_url: str = Field(
        default="sqlite+aiosqlite:///./dispatch.sqlite3",
        description="SQLAlchemy async URL: sqlite+aiosqlite:///file or postgresql+asyncpg://…",
    )
    migration_database_url: str | None = Field(
        default=None,
        description="The same database as the owner role, for migrations and `dispatch db "
        "create-roles`; unset = DISPATCH_DATABASE_URL (SQLite has no roles)",
    )
    redis_url: str | None = Field(
        default=None, description="Redis URL for the event bus; unset = in-process bus"
    )
    redis_prefix: str = Field(
        default="dispatch:",
        pattern=r"^[\w.:-]{1,64}$",
        description="Prefix of every Redis key (several deployments can share one Redis)",
    )
    secret_key: SecretStr | None = Field(
        default=None,
        description="Key that signs access tokens; unset = random per process (dev only)",
    )
    access_token_minutes: int = Field(default=720, ge=1, le=7 * 24 * 60)
    cors_origins: str = Field(
        default="",
        description="Comma-separated browser origins allowed to call the API from other "
        "sites (empty: same origin only)",
    )
    login_failures_per_15_minutes: int = Field(
        default=10, ge=1, description="Failed logins per (username, client address) in 15 min"
    )
    login_address_failures_per_15_minutes: int = Field(
        default=50, ge=1, description="Failed logins per client address in 15 min, any names"
    )
    login_name_failures_per_hour: int = Field(
        default=100,
        ge=1,
        description="Failed logins per username an hour from anywhere; past it only addresses "
        "that have not been failing may try that name",
    )
    forwarded_allow_ips: str = Field(
        default="127.0.0.1",
        description="Comma-separated proxy addresses (or networks) whose X-Forwarded-For / "
        "-Proto are believed; '*' trusts anyone (only when nothing else can reach the server)",
    )
    device_requests_per_minute: int = Field(
        default=600, ge=1, description="GPS uploads per vehicle's phone, per worker"
    )
    unknown_devices_per_minute: int = Field(
        default=20,
        ge=1,
        description="Distinct unknown OsmAnd device ids one client address may try per "
        "minute, per worker, before 429 (against guessing the ids)",
    )
    timezone: str = Field(default="Asia/Bangkok", description="Local time zone for display")
    db_pool_size: int = Field(default=10, ge=1, le=200)
    db_max_overflow: int = Field(default=10, ge=0, le=200)
    sqlite_busy_timeout_ms: int = Field(default=10_000, ge=0)
    osm_path: Path | None = Field(default=None, description="OpenStreetMap extract for road ETAs")
    map_local_language: Literal["en", "th", "vi"] = Field(
        default="th",
        description="Language of the extract's own street names (OSM 'name'): screens in it "
        "show them, others show name:<language> or name:en (vi for Ho Chi Minh City)",
    )
    osrm_url: str | None = Field(default=None, description="OSRM server for road ETAs")
    rush_hours: str = Field(
        default="07:00-09:00*1.5,16:00-19:00*1.5",
        description="Local-time windows that slow traffic: HH:MM-HH:MM*FACTOR, comma-separated",
    )
    road_speeds_kmh: dict[str, float] | None = Field(
        default=None, description="JSON object overriding speeds per OSM highway class"
    )
    max_snap_m: float = Field(
        default=1000.0, gt=0, description="Farthest a point may be from a road"
    )
    cache_dir: Path = Field(default=Path(".cache/dispatch"))
    log_level: str = Field(default="INFO")
    log_format: Literal["text", "json"] = Field(
        default="text", description="text for a terminal, json (one object a line) for collectors"
    )
    drain_s: float = Field(
        default=2.0,
        ge=0,
        le=300,
        description="On SIGTERM: seconds of /readyz 503 (websockets already moved) before stopping",
    )
    shutdown_timeout_s: float = Field(
        default=20.0, gt=0, le=600, description="Longest wait for in-flight requests at shutdown"
    )
    client_read_timeout_s: float = Field(
        default=30.0,
        gt=0,
        le=600,
        description="Longest a client may take to send one request (headers and body); "
        "slower connections are closed (408), so half-sent requests cannot hold a worker",
    )
    tile_url: str = Field(
        default="https://tile.openstreetmap.org/{z}/{x}/{y}.png",
        max_length=500,
        description="Map tiles for the screens ({z}/{x}/{y}); empty = always the offline map",
    )

    # --- live tracking ---
    osmand_port: int = Field(
        default=5055,
        ge=0,
        le=65535,
        description="Port for Traccar Client / OsmAnd phones (0 = only the path on the API port)",
    )
    osmand_path: str = Field(default="/osmand", description="OsmAnd path on the API port")
    public_url: str | None = Field(
        default=None,
        max_length=300,
        pattern=r"^https?://[^\s/?#]+(/[^\s?#]*)?$",
        description="The address crew phones reach this server at (in pairing QR codes); "
        "unset: the address the supervisor's browser used",
    )
    history_linger_ms: int = Field(
        default=100, ge=0, le=1000, description="How long fixes gather before one commit"
    )
    positions_interval_ms: int = Field(
        default=25, ge=0, le=5000, description="Least time between position frames per screen"
    )
    heartbeat_s: float = Field(default=15.0, gt=0, description="Websocket heartbeat interval")
    client_queue_events: int = Field(
        default=5000, ge=10, description="Events a screen may lag behind before it must resync"
    )

    # --- patient transport ---
    booking_horizon_days: int = Field(default=14, ge=1, le=120, description="Recurring rides ahead")
    late_cancel_minutes: int = Field(default=120, ge=0, description="Later = late cancellation")
    max_ride_minutes: int = Field(default=90, ge=5, description="Longest time on board")
    max_ride_factor: float = Field(default=2.0, ge=1.0, description="x the direct trip, at most")
    reschedule_notify_minutes: int = Field(default=10, ge=0, description="Tell the centre beyond")
    plan_time_limit_s: float = Field(default=30.0, gt=0, le=600, description="Day-plan solve time")
    plan_vehicle_cost_minutes: float = Field(
        default=600,
        ge=0,
        le=100_000,
        description="What putting one more vehicle on the road costs a day plan, in minutes "
        "of driving (a plan serves the same rides with fewer vehicles unless that costs more "
        "driving than this); 0: vehicles are free",
    )
    plan_hour_cost_minutes: float = Field(
        default=0,
        ge=0,
        le=600,
        description="What each hour a vehicle is out (leaving its depot to coming back) costs "
        "a day plan, in minutes of driving: with it a plan weighs a long idle day against "
        "another vehicle; 0: hours are free",
    )
    insert_time_limit_s: float = Field(
        default=0.4, gt=0, le=60, description="Solve time to insert a change into a day's plan"
    )

    # --- emergency dispatch ---
    triage_table: Path | None = Field(
        default=None, description="JSON file adding to or replacing the complaint table"
    )
    service_area: str | None = Field(
        default=None,
        description="min_lat,min_lon,max_lat,max_lon; calls outside are refused (unset: anywhere"
        " the travel-time provider can reach)",
    )
    duplicate_radius_m: float = Field(default=250.0, ge=0)
    duplicate_window_minutes: int = Field(default=30, ge=0)
    stale_gps_s: int = Field(default=120, ge=1, description="No fix for this long: unit is stale")
    ack_timeout_s: int = Field(default=60, ge=1, description="Crew must acknowledge within this")
    red_waiting_alert_s: int = Field(default=60, ge=5, description="Alert on red calls unassigned")
    alert_interval_s: float = Field(default=5.0, gt=0, description="How often alerts are checked")
    auto_dispatch_red: bool = Field(default=False, description="Assign the best unit to red calls")
    auto_offer_red: bool = Field(
        default=False,
        description="With auto_dispatch_red: offer red calls to the best station (which "
        "accepts or declines) instead of assigning its unit outright",
    )
    offer_timeouts_s: dict[str, int] = Field(
        default={"red": 30, "yellow": 60, "green": 60, "white": 60, "black": 60},
        description="Seconds a station has to answer an offer per triage level (a centre "
        "may set its own)",
    )
    offer_check_interval_s: float = Field(
        default=1.0, gt=0, description="How often unanswered offers are moved on"
    )
    coverage_dispatch: bool = Field(
        default=False,
        description="Rank units by ETA plus the coverage their departure leaves behind",
    )
    coverage_demand_csv: Path | None = Field(
        default=None,
        description="CSV of where calls come from before recorded calls tell: past calls "
        "(lat,lon[,time,triage]), a population layer (lat,lon,weight) or demand centres "
        "(lat,lon,weight,sigma_m); unset: every zone alike",
    )
    coverage_prior_calls: float = Field(
        default=500.0,
        ge=0,
        description="How many recorded calls the demand prior is worth (it fades as calls "
        "accumulate)",
    )
    simulated_clock: bool = Field(
        default=False,
        description="For simulations only: the server's time stands still until a "
        "supervisor sets it (PUT /simulation/clock); one worker; move-up rounds only on "
        "request",
    )
    tiered_als_levels: list[Literal["red", "yellow", "green", "white", "black"]] = Field(
        default=["red"],
        description="Calls of these triage levels whose first unit is not ALS also get the "
        "nearest ALS unit proposed (tiered response); [] turns it off",
    )
    moveup_max_moves: int = Field(
        default=2, ge=0, le=20, description="Move-ups suggested at once (with coverage dispatch)"
    )
    moveup_cooldown_minutes: int = Field(
        default=15, ge=0, description="A unit moved or whose move was rejected rests this long"
    )
    moveup_per_hour: int = Field(default=30, ge=0, description="Move-ups per centre per hour")
    moveup_max_drive_minutes: int = Field(
        default=15, ge=1, description="The farthest a unit is sent to wait, minutes of driving"
    )
    response_targets_s: dict[str, int] = Field(
        default={"red": 480, "yellow": 900},
        description="Response-time target per triage level, seconds (call to first on scene)",
    )

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("tile_url")
    @classmethod
    def _tile_url(cls, value: str) -> str:
        value = value.strip()
        if value and not all(part in value for part in ("{z}", "{x}", "{y}")):
            raise ValueError("a tile URL needs {z}, {x} and {y}, e.g. https://…/{z}/{x}/{y}.png")
        if value and not value.startswith(("https://", "http://", "/")):
            raise ValueError("a tile URL starts with https://, http:// or /")
        return value

    @field_validator("rush_hours")
    @classmethod
    def _rush_hours(cls, value: str) -> str:
        from dispatch.routing.timeofday import parse_rush_windows

        parse_rush_windows(value)
        return value

    @field_validator("service_area")
    @classmethod
    def _service_area(cls, value: str | None) -> str | None:
        if value:
            parse_bbox(value)
        return value or None

    @property
    def service_bbox(self) -> tuple[float, float, float, float] | None:
        return parse_bbox(self.service_area) if self.service_area else None

    @property
    def migration_url(self) -> str:
        """Where migrations run: the owner's URL, or the application's when not split."""
        return self.migration_database_url or self.database_url

    @field_validator("redis_url", "osrm_url", "migration_database_url", "public_url", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _proxy_addresses(cls, value: str) -> str:
        import ipaddress

        for item in (part.strip() for part in value.split(",")):
            if item == "*" or not item:
                continue
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError as exc:
                raise ValueError(f"{item!r} is neither an IP address nor a network") from exc
        return value

    @field_validator("secret_key")
    @classmethod
    def _strong_secret(cls, value: SecretStr | None) -> SecretStr | None:
        # An empty variable (e.g. a compose file's ${DISPATCH_SECRET_KEY:-}) must never
        # become an empty, guessable signing key.
        if value is not None and len(value.get_secret_value()) < 32:
            raise ValueError(
                "DISPATCH_SECRET_KEY needs at least 32 characters: "
                "python3 -c 'import secrets; print(secrets.token_urlsafe(48))'"
            )
        return value

    @cached_property
    def token_key(self) -> str:
        """The signing key; an unset key falls back to a random one that lives as long
        as the process, so a forgotten setting never means a guessable key."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value()
        return secrets.token_urlsafe(48)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def parse_bbox(text: str) -> tuple[float, float, float, float]:
    """``min_lat,min_lon,max_lat,max_lon`` as four floats, checked for order and range."""
    parts = [float(p) for p in text.split(",")]
    if len(parts) != 4:
        raise ValueError("expected min_lat,min_lon,max_lat,max_lon")
    min_lat, min_lon, max_lat, max_lon = parts
    if not (-90 <= min_lat < max_lat <= 90 and -180 <= min_lon < max_lon <= 180):
        raise ValueError("bounding box corners out of order or range")
    return min_lat, min_lon, max_lat, max_lon
