from __future__ import annotations

from fastapi import APIRouter

from dispatch.api.deps import CurrentPrincipal, Emergency, Manager, Operational, PathId, UoW
from dispatch.hospitals import service
from dispatch.hospitals.schemas import HospitalCreate, HospitalOut, HospitalUpdate
from dispatch.incidents.recommend import check_location

router = APIRouter(prefix="/hospitals", tags=["hospitals"])


@router.get("", response_model=list[HospitalOut])
async def list_hospitals(uow: UoW, _actor: CurrentPrincipal) -> list[HospitalOut]:
    return [HospitalOut.model_validate(h) for h in await service.list_all(uow)]


@router.post("", response_model=HospitalOut, status_code=201)
async def create_hospital(
    uow: UoW, actor: Manager, cfg: Emergency, data: HospitalCreate
) -> HospitalOut:
    # A hospital the road map cannot place could never get an ETA: refused like a call.
    check_location(cfg, data.lat, data.lon)
    return HospitalOut.model_validate(await service.create(uow, actor, data))


@router.patch("/{hospital_id}", response_model=HospitalOut, summary="Diversion and bed state")
async def update_hospital(
    uow: UoW, actor: Operational, hospital_id: PathId, data: HospitalUpdate
) -> HospitalOut:
    return HospitalOut.model_validate(await service.update(uow, actor, hospital_id, data))
