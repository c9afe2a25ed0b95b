"""Planning booked rides on request: the day-ahead plan, or a re-plan of a running day.
Re-plans that follow from committed facts (a unit taken for an emergency, a booking
changed) run on their own: ``dispatch.transports.replanning``."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Query
from pydantic import Field

from dispatch.api.deps import OperationalOwnTransactions, State
from dispatch.api.idempotency import IdempotentRoute, KeyForOwnTransactions
from dispatch.schemas import Day, Output
from dispatch.transports import planning

router = APIRouter(tags=["planning"], route_class=IdempotentRoute)


class PlanOut(Output):
    service_date: date
    served: list[int]
    unserved: dict[int, str]
    vehicles: list[int] = Field(description="The vehicles the plan gives stops to")
    rescheduled: list[int]
    moved: dict[int, str] = Field(
        description="Planned rides whose pickup could not stay within the notified tolerance "
        "of the time told, with the reason"
    )
    seconds: float = Field(description="The whole solve: the search and the re-timing")
    figures: dict[str, float | int] = Field(
        description="What the plan costs: vehicles_used, served, driving_h, deadhead_h, "
        "revenue_h (first departure to last arrival per vehicle), trips_per_vehicle_hour, "
        "door_wait_h, waits_over_10_min, arrives_before_plan_h"
    )


def _out(result: planning.PlanResult) -> PlanOut:
    return PlanOut(
        service_date=result.day,
        served=result.served,
        unserved=result.unserved,
        vehicles=result.vehicles,
        rescheduled=result.rescheduled,
        moved=result.moved,
        seconds=round(result.seconds, 2),
        figures=result.figures,
    )


@router.post(
    "/plans/{service_date}",
    response_model=PlanOut,
    summary="Plan (or re-plan) a day's booked rides; unserved rides come with the reason",
)
async def plan_day(
    state: State,
    actor: OperationalOwnTransactions,
    service_date: Day,
    key: KeyForOwnTransactions,
    started: bool = Query(
        default=False,
        description="Keep what is done or under way; vehicles leave from where they are now",
    ),
) -> PlanOut:
    result = await state.replanner.plan_day(
        actor, service_date, started=started, within=key.hook(_out)
    )
    return _out(result)
