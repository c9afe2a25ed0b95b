from __future__ import annotations

from fastapi import APIRouter

from dispatch.api.deps import (
    CurrentPrincipal,
    Emergency,
    Manager,
    Operational,
    PathId,
    State,
    UoW,
)
from dispatch.fleet import service
from dispatch.fleet.schemas import (
    DeviceTokenOut,
    StationCreate,
    StationOut,
    VehicleCreate,
    VehicleOut,
    VehicleUpdate,
)
from dispatch.incidents.recommend import check_location
from dispatch.models.enums import VehicleState
from dispatch.organisations import hierarchy

router = APIRouter(tags=["fleet"])


@router.get("/stations", response_model=list[StationOut])
async def list_stations(uow: UoW, _actor: Operational) -> list[StationOut]:
    return [StationOut.model_validate(s) for s in await service.list_stations(uow)]


@router.post("/stations", response_model=StationOut, status_code=201)
async def create_station(
    uow: UoW, actor: Manager, cfg: Emergency, data: StationCreate
) -> StationOut:
    check_location(cfg, data.lat, data.lon)  # units wait here: it must be on the map
    return StationOut.model_validate(await service.create_station(uow, actor, data))


@router.get("/vehicles", response_model=list[VehicleOut])
async def list_vehicles(
    uow: UoW, actor: Operational, state: VehicleState | None = None
) -> list[VehicleOut]:
    centres = await hierarchy.visible_centres(uow, actor)
    found = await service.list_vehicles(uow, state=state, centres=centres)
    return [VehicleOut.model_validate(v) for v in found]


@router.post("/vehicles", response_model=VehicleOut, status_code=201)
async def create_vehicle(uow: UoW, actor: Manager, data: VehicleCreate) -> VehicleOut:
    return VehicleOut.model_validate(await service.create_vehicle(uow, actor, data))


@router.get("/vehicles/{vehicle_id}", response_model=VehicleOut)
async def get_vehicle(uow: UoW, actor: CurrentPrincipal, vehicle_id: PathId) -> VehicleOut:
    return VehicleOut.model_validate(await service.get_vehicle(uow, actor, vehicle_id))


@router.patch("/vehicles/{vehicle_id}", response_model=VehicleOut)
async def update_vehicle(
    uow: UoW, state: State, actor: CurrentPrincipal, vehicle_id: PathId, data: VehicleUpdate
) -> VehicleOut:
    # A changed pairing is forgotten by every worker's GPS door once committed
    # (VehicleUpdated, realtime.hub).
    return VehicleOut.model_validate(await service.update_vehicle(uow, actor, vehicle_id, data))


@router.post(
    "/vehicles/{vehicle_id}/device-token",
    response_model=DeviceTokenOut,
    status_code=201,
    summary="Issue a new device token for the vehicle's phone (revokes the old one)",
)
async def issue_device_token(uow: UoW, actor: Manager, vehicle_id: PathId) -> DeviceTokenOut:
    vehicle, token = await service.issue_device_token(uow, actor, vehicle_id)
    # Once committed, every worker (this one included) closes the phone's open sockets and
    # forgets the old token (DeviceTokenRevoked, realtime.hub).
    assert vehicle.device_token_issued_at is not None
    return DeviceTokenOut(
        vehicle_id=vehicle.id, device_token=token, issued_at=vehicle.device_token_issued_at
    )


@router.delete(
    "/vehicles/{vehicle_id}/device-token",
    status_code=204,
    summary="Revoke the vehicle's device token (a lost or stolen phone)",
)
async def revoke_device_token(uow: UoW, actor: Manager, vehicle_id: PathId) -> None:
    # Once committed, every worker closes the phone's open sockets and forgets the token
    # (DeviceTokenRevoked, realtime.hub).
    await service.revoke_device_token(uow, actor, vehicle_id)
