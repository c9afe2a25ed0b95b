from __future__ import annotations

from fastapi import APIRouter

from dispatch.api.deps import Admin, CurrentPrincipal, PathId, State, UoW
from dispatch.organisations import service
from dispatch.organisations.schemas import CentreUpdate, OrganisationCreate, OrganisationOut

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


@router.get("/{organisation_id}", response_model=OrganisationOut)
async def get_organisation(
    uow: UoW, actor: CurrentPrincipal, organisation_id: PathId
) -> OrganisationOut:
    return OrganisationOut.model_validate(await service.get_visible(uow, actor, organisation_id))


@router.patch(
    "/{organisation_id}",
    response_model=OrganisationOut,
    summary="Place a dispatch centre under another, or change its offer timers",
)
async def update_centre(
    uow: UoW, actor: Admin, organisation_id: PathId, data: CentreUpdate
) -> OrganisationOut:
    return OrganisationOut.model_validate(
        await service.update_centre(uow, actor, organisation_id, data)
    )
