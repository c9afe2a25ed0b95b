"""What emergency dispatch needs from the deployment: the complaint table, the travel-time
provider and the operating thresholds, built once at start-up."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from dispatch.config import Settings
from dispatch.coverage.advisor import MoveUpConfig
from dispatch.coverage.demandfile import load_demand_prior
from dispatch.coverage.keeper import CoverageKeeper
from dispatch.coverage.model import CoverageConfig
from dispatch.incidents.triage import TriageTable
from dispatch.routing.base import TravelTimeProvider
from dispatch.routing.ranking import RankingPolicy


@dataclass(frozen=True)
class DispatchConfig:
    triage: TriageTable
    travel: TravelTimeProvider
    service_bbox: tuple[float, float, float, float] | None = None
    duplicate_radius_m: float = 250.0
    duplicate_window: timedelta = timedelta(minutes=30)
    stale_gps_s: int = 120
    ack_timeout: timedelta = timedelta(seconds=60)
    red_waiting_alert: timedelta = timedelta(seconds=60)
    auto_dispatch_red: bool = False
    #: Red calls are offered to the best station instead of assigned (with auto dispatch).
    auto_offer_red: bool = False
    #: Seconds a station has to answer an offer, per triage level.
    offer_timeouts_s: dict[str, int] = field(
        default_factory=lambda: {"red": 30, "yellow": 60, "green": 60, "white": 60, "black": 60}
    )
    response_targets_s: dict[str, int] = field(default_factory=lambda: {"red": 480, "yellow": 900})
    policy: RankingPolicy = field(default_factory=RankingPolicy)
    #: How many ranked units a recommendation shows (all are ranked).
    shown: int = 10
    #: Tiered response: calls of these levels whose first unit is not ALS also get the
    #: nearest ALS unit proposed (``DISPATCH_TIERED_ALS_LEVELS``).
    tiered_als: frozenset[str] = frozenset({"red"})
    #: Coverage-aware dispatch (``DISPATCH_COVERAGE_DISPATCH``); None = rank by ETA alone.
    coverage: CoverageKeeper | None = None
    #: Move-up limits (suggestions need ``coverage``).
    moveup: MoveUpConfig = field(default_factory=MoveUpConfig)

    @classmethod
    def from_settings(cls, settings: Settings, travel: TravelTimeProvider) -> DispatchConfig:
        return cls(
            triage=TriageTable.load(settings.triage_table),
            travel=travel,
            service_bbox=settings.service_bbox,
            duplicate_radius_m=settings.duplicate_radius_m,
            duplicate_window=timedelta(minutes=settings.duplicate_window_minutes),
            stale_gps_s=settings.stale_gps_s,
            ack_timeout=timedelta(seconds=settings.ack_timeout_s),
            red_waiting_alert=timedelta(seconds=settings.red_waiting_alert_s),
            auto_dispatch_red=settings.auto_dispatch_red,
            auto_offer_red=settings.auto_offer_red,
            offer_timeouts_s=dict(settings.offer_timeouts_s),
            response_targets_s=dict(settings.response_targets_s),
            policy=RankingPolicy(
                stale_after_s=settings.stale_gps_s,
                tiered_levels=frozenset(settings.tiered_als_levels),
            ),
            tiered_als=frozenset(settings.tiered_als_levels),
            coverage=CoverageKeeper(
                travel,
                area=settings.service_bbox,
                wait=settings.simulated_clock,
                prior=load_demand_prior(settings.coverage_demand_csv)
                if settings.coverage_demand_csv
                else (),
                cfg=CoverageConfig(prior_calls=settings.coverage_prior_calls),
            )
            if settings.coverage_dispatch
            else None,
            moveup=MoveUpConfig(
                max_moves=settings.moveup_max_moves,
                cooldown=timedelta(minutes=settings.moveup_cooldown_minutes),
                per_hour=settings.moveup_per_hour,
                max_drive_s=60.0 * settings.moveup_max_drive_minutes,
            ),
        )
