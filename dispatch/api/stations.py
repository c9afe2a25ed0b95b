"""Stations and centres working together: offers (make, follow, accept, decline,
withdraw), the live availability board, units in and out of service, hand-over of a call
to another centre and mutual aid."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Query

from dispatch.api.deps import CurrentPrincipal, Emergency, Operational, PathId, State, UoW
from dispatch.api.idempotency import IDEMPOTENT, IdempotentRoute
from dispatch.fleet import availability
from dispatch.fleet.schemas import VehicleOut
from dispatch.incidents import handover
from dispatch.incidents import offers as service
from dispatch.incidents import service as incidents
from dispatch.incidents import stationboard as board
from dispatch.incidents.offerschemas import (
    AnswerOut,
    BoardOut,
    DeclineIn,
    OfferOut,
    OfferStart,
    ServiceIn,
    WithdrawIn,
)
from dispatch.incidents.schemas import HandOverIn, IncidentOut, MutualAidIn

router = APIRouter(tags=["stations"], route_class=IdempotentRoute)


def _answer(answer: service.Answer) -> AnswerOut:
    return AnswerOut(
        **OfferOut.model_validate(answer.offer).model_dump(),
        next_offer=None if answer.next is None else OfferOut.model_validate(answer.next),
    )


@router.post(
    "/incidents/{incident_id}/offers",
    response_model=OfferOut,
    status_code=201,
    summary="Offer the call to the best station (or to one unit's); declines move it on",
    dependencies=[IDEMPOTENT],
)
async def start_offers(
    uow: UoW,
    state: State,
    actor: Operational,
    cfg: Emergency,
    incident_id: PathId,
    data: OfferStart | None = None,
) -> OfferOut:
    incident = await incidents.get(uow, actor, incident_id, lock=True)
    vehicle_id = None if data is None else data.vehicle_id
    offer = await service.start(
        uow, actor, incident, cfg, now=state.clock.now(), vehicle_id=vehicle_id
    )
    return OfferOut.model_validate(offer)


@router.get(
    "/incidents/{incident_id}/offers",
    response_model=list[OfferOut],
    summary="The call's offers in the order they were made (the chain)",
)
async def incident_offers(uow: UoW, actor: Operational, incident_id: PathId) -> list[OfferOut]:
    await incidents.get(uow, actor, incident_id)
    return [OfferOut.model_validate(o) for o in await service.chain_of(uow, incident_id)]


@router.get(
    "/offers",
    response_model=list[OfferOut],
    summary="Offers, newest first: a station's own, a crew's unit's, or the area's",
)
async def list_offers(
    uow: UoW,
    actor: CurrentPrincipal,
    open_only: bool = False,
    station_id: int | None = Query(default=None, ge=1, le=2**31 - 1),
    limit: int = Query(default=100, ge=1, le=1000),
) -> list[OfferOut]:
    found = await service.list_offers(
        uow, actor, open_only=open_only, station_id=station_id, limit=limit
    )
    return [OfferOut.model_validate(o) for o in found]


@router.get("/offers/{offer_id}", response_model=OfferOut)
async def get_offer(uow: UoW, actor: CurrentPrincipal, offer_id: PathId) -> OfferOut:
    return OfferOut.model_validate(await service.get(uow, actor, offer_id))


@router.post(
    "/offers/{offer_id}/accept",
    response_model=AnswerOut,
    summary="Take the call: the unit is assigned (accepting again changes nothing)",
    dependencies=[IDEMPOTENT],
)
async def accept_offer(
    uow: UoW, state: State, actor: CurrentPrincipal, cfg: Emergency, offer_id: PathId
) -> AnswerOut:
    return _answer(await service.accept(uow, actor, offer_id, cfg, state.clock.now()))


@router.post(
    "/offers/{offer_id}/decline",
    response_model=AnswerOut,
    summary="Decline with a reason; the next best station is offered the call at once",
    dependencies=[IDEMPOTENT],
)
async def decline_offer(
    uow: UoW,
    state: State,
    actor: CurrentPrincipal,
    cfg: Emergency,
    offer_id: PathId,
    data: DeclineIn,
) -> AnswerOut:
    now = state.clock.now()
    return _answer(await service.decline(uow, actor, offer_id, data.reason, data.note, cfg, now))


@router.post(
    "/offers/{offer_id}/withdraw",
    response_model=OfferOut,
    summary="A dispatcher stops the chain (withdrawing again changes nothing)",
    dependencies=[IDEMPOTENT],
)
async def withdraw_offer(
    uow: UoW, state: State, actor: Operational, offer_id: PathId, data: WithdrawIn | None = None
) -> OfferOut:
    note = None if data is None else data.note
    withdrawn = await service.withdraw(uow, actor, offer_id, note, state.clock.now())
    return OfferOut.model_validate(withdrawn)


@router.get(
    "/stations/board",
    response_model=BoardOut,
    summary="Every station's units (state, GPS age) and its answers of the last hours",
)
async def station_board(
    uow: UoW,
    state: State,
    actor: CurrentPrincipal,
    hours: float = Query(default=3.0, gt=0, le=24 * 7, allow_inf_nan=False),
) -> BoardOut:
    now = state.clock.now()
    since = now - timedelta(hours=hours)
    rows = await board.board(uow, actor, since, now)
    return BoardOut.model_validate(
        {"since": since, "now": now, "stations": rows}, from_attributes=True
    )


@router.put(
    "/vehicles/{vehicle_id}/service",
    response_model=VehicleOut,
    summary="Take a unit out of service (with a reason) or put it back",
    dependencies=[IDEMPOTENT],
)
async def set_service(
    uow: UoW, actor: CurrentPrincipal, vehicle_id: PathId, data: ServiceIn
) -> VehicleOut:
    vehicle = await availability.set_service(uow, actor, vehicle_id, data.in_service, data.reason)
    return VehicleOut.model_validate(vehicle)


@router.post(
    "/incidents/{incident_id}/handover",
    response_model=IncidentOut,
    summary="Hand the call over to another dispatch centre",
    dependencies=[IDEMPOTENT],
)
async def hand_over(
    uow: UoW, actor: Operational, incident_id: PathId, data: HandOverIn
) -> IncidentOut:
    incident = await handover.hand_over(uow, actor, incident_id, data.centre_id, data.reason)
    return IncidentOut.model_validate(incident)


@router.put(
    "/incidents/{incident_id}/mutual-aid",
    response_model=IncidentOut,
    summary="Let every centre's units answer this call (or stop)",
    dependencies=[IDEMPOTENT],
)
async def mutual_aid(
    uow: UoW, actor: Operational, incident_id: PathId, data: MutualAidIn
) -> IncidentOut:
    incident = await handover.set_mutual_aid(uow, actor, incident_id, data.enabled, data.reason)
    return IncidentOut.model_validate(incident)
