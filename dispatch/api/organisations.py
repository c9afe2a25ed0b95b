from __future__ import annotations

from fastapi import APIRouter

from dispatch.api.deps import Admin, CurrentPrincipal, State, UoW
from dispatch.organisations import service
from dispatch.organisations.schemas import OrganisationCreate, OrganisationOut

router = APIRouter(prefix="/organisations", tags=["organisations"])


@router.get("", response_model=list[OrganisationOut])
async def list_organisations(uow: UoW, actor: CurrentPrincipal) -> list[OrganisationOut]:
    return [OrganisationOut.model_validate(o) for o in await service.list_visible(uow, actor)]


@router.post("", response_model=OrganisationOut, status_code=201)
async def create_organisation(
    uow: UoW, actor: Admin, state: State, data: OrganisationCreate
) -> OrganisationOut:
    created = await service.create(uow, actor, data, state.settings.timezone)
    return OrganisationOut.model_validate(created)
