"""Crew-safety alarms (SOS): the control room lists the open ones (a reloaded screen shows
them again) and a dispatcher acknowledges each, which every screen and the crew's phone
are told. The alarms themselves come in through the GPS door (OsmAnd ``alarm=sos``, the
crew page's SOS button on ``/ws/driver``)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from dispatch.api.deps import Operational, PathId, State, UoW
from dispatch.incidents import alerts
from dispatch.schemas import Output

router = APIRouter(tags=["alerts"])


class CrewAlarmOut(Output):
    id: int
    vehicle_id: int
    kind: str
    source: str
    is_open: bool
    raised_at: datetime
    device_time: datetime | None
    last_at: datetime
    repeats: int
    lat: float | None
    lon: float | None
    acknowledged_at: datetime | None
    acknowledged_by: str | None


@router.get(
    "/crew-alarms",
    response_model=list[CrewAlarmOut],
    summary="Crew-safety alarms (SOS), newest first: the open ones, or recent ones too",
)
async def list_crew_alarms(
    uow: UoW,
    _actor: Operational,
    open_only: Annotated[bool, Query(alias="open", description="Only unacknowledged")] = True,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[CrewAlarmOut]:
    found = await alerts.list_crew_alarms(uow, open_only=open_only, limit=limit)
    return [CrewAlarmOut.model_validate(a) for a in found]


@router.post(
    "/crew-alarms/{alarm_id}/acknowledge",
    response_model=CrewAlarmOut,
    summary="A dispatcher takes charge of a crew's SOS (audited; every screen is told)",
    description="Acknowledging an alarm that is already acknowledged changes nothing.",
)
async def acknowledge_crew_alarm(
    uow: UoW, state: State, actor: Operational, alarm_id: PathId
) -> CrewAlarmOut:
    alarm = await alerts.acknowledge_crew_alarm(uow, actor, alarm_id, state.clock.now())
    return CrewAlarmOut.model_validate(alarm)
