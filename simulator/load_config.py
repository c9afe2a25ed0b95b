"""What a load run is asked to do (the options of ``python -m simulator load``), checked
before anything talks to the server so every figure of the report means one thing."""

from __future__ import annotations

from dataclasses import dataclass, field

from simulator.fixes import MAX_BATCH

PROTOCOLS = ("batch", "websocket", "osmand")


@dataclass
class LoadConfig:
    urls: list[str]
    protocol: str = "batch"
    vehicles: int = 200
    rate_hz: float = 1.0
    batch_size: int = 1
    senders: int | None = None
    controls: int = 5
    stalled: int = 0
    duration_s: float = 30.0
    warmup_s: float = 1.0
    calls_per_min: float = 0.0
    seed: int | None = None
    username: str | None = None
    password: str | None = None
    setup_token: str | None = None
    osmand_urls: list[str] = field(default_factory=list)
    compression: str | None = "deflate"
    quiet: bool = False
    progress_s: float = 5.0
    request_timeout_s: float = 10.0
    connect_concurrency: int = 32
    retry: bool = False
    flush_timeout_s: float = 30.0
    verify_storage: bool = True

    def check(self) -> None:
        """Refuse settings that would make the figures meaningless or the run unbounded."""
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"protocol must be one of {', '.join(PROTOCOLS)}")
        if self.vehicles < 1 or self.rate_hz <= 0:
            raise ValueError("need at least one vehicle and a positive rate")
        if not 1 <= self.batch_size <= MAX_BATCH:
            raise ValueError(f"batch size must be 1..{MAX_BATCH}")
        if self.protocol == "osmand" and self.batch_size != 1:
            raise ValueError("OsmAnd sends one fix per request; leave --batch-size at 1")
        if not 0 <= self.stalled <= self.controls:
            raise ValueError("--stalled must be between 0 and --controls")
        if self.duration_s <= 0 or not 0 <= self.warmup_s < self.duration_s:
            raise ValueError("need 0 <= warmup < duration")
        if self.calls_per_min < 0:
            raise ValueError("--calls-per-min must not be negative")
        if self.retry and self.protocol == "websocket":
            raise ValueError("--retry applies to the batch and osmand protocols")
        if self.flush_timeout_s < 0:
            raise ValueError("--flush-timeout must not be negative")
        if self.setup_token is None and not (self.username and self.password):
            raise ValueError("give --username and --password of a supervisor, or --setup-token")
