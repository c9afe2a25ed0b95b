"""Patient-transport rules a deployment may tune, built once at start-up."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from dispatch.config import Settings
from dispatch.models.enums import Mobility


@dataclass(frozen=True)
class TransportConfig:
    #: How far ahead recurring rides are generated.
    horizon_days: int = 14
    #: Cancelling closer than this to the pickup is a late cancellation.
    late_cancel: timedelta = timedelta(hours=2)
    #: A passenger's time on board: at most this long, and at most ``max_ride_factor`` times
    #: the direct trip, but never less than the direct trip plus ``min_detour``.
    max_ride: timedelta = timedelta(minutes=90)
    max_ride_factor: float = 2.0
    min_detour: timedelta = timedelta(minutes=10)
    #: "Arrive by" means arriving within this span before the appointment.
    arrive_early: timedelta = timedelta(minutes=45)
    arrive_margin: timedelta = timedelta(minutes=5)
    #: Boarding and alighting time per mobility.
    service: dict[Mobility, timedelta] = field(
        default_factory=lambda: {
            Mobility.AMBULATORY: timedelta(minutes=2),
            Mobility.WHEELCHAIR: timedelta(minutes=5),
            Mobility.STRETCHER: timedelta(minutes=10),
        }
    )
    #: A planned pickup moving by more than this is announced to the care centre.
    notify_change: timedelta = timedelta(minutes=10)
    plan_time_limit_s: float = 30.0
    insert_time_limit_s: float = 0.4
    #: What using one more vehicle costs a plan, as driving time (fewer vehicles first).
    vehicle_cost: timedelta = timedelta(minutes=600)
    #: What each hour a vehicle is out costs a plan, as driving time.
    hour_cost: timedelta = timedelta(0)

    @classmethod
    def from_settings(cls, settings: Settings) -> TransportConfig:
        return cls(
            horizon_days=settings.booking_horizon_days,
            late_cancel=timedelta(minutes=settings.late_cancel_minutes),
            max_ride=timedelta(minutes=settings.max_ride_minutes),
            max_ride_factor=settings.max_ride_factor,
            notify_change=timedelta(minutes=settings.reschedule_notify_minutes),
            plan_time_limit_s=settings.plan_time_limit_s,
            insert_time_limit_s=settings.insert_time_limit_s,
            vehicle_cost=timedelta(minutes=settings.plan_vehicle_cost_minutes),
            hour_cost=timedelta(minutes=settings.plan_hour_cost_minutes),
        )
