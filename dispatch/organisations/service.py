from __future__ import annotations

from sqlalchemy import select

from dispatch.audit import service as audit
from dispatch.auth.principal import Principal
from dispatch.db.session import UnitOfWork
from dispatch.errors import Forbidden, InvalidInput, NotFound
from dispatch.models import Organisation
from dispatch.models.enums import OrganisationKind, Role
from dispatch.organisations import hierarchy
from dispatch.organisations.schemas import CentreUpdate, OrganisationCreate


async def create(
    uow: UnitOfWork, actor: Principal | None, data: OrganisationCreate, default_timezone: str
) -> Organisation:
    """``default_timezone`` (the deployment's) when the request names none: a centre's
    service days must never fall silently on another continent's calendar."""
    if actor is not None and actor.role != Role.ADMIN:
        raise Forbidden("Only administrators create organisations.")
    timezone = data.timezone or default_timezone
    centre_only = (data.parent_id, data.level, data.offer_timeouts_s)
    if data.kind != OrganisationKind.DISPATCH_CENTRE and any(v is not None for v in centre_only):
        raise InvalidInput("kind", "Only a dispatch centre has a parent, a level and offer timers.")
    await hierarchy.check_parent(uow, None, data.parent_id)
    organisation = Organisation(
        name=data.name,
        kind=data.kind,
        timezone=timezone,
        parent_id=data.parent_id,
        level=data.level,
        offer_timeouts_s=data.offer_timeouts_s,
    )
    uow.session.add(organisation)
    await uow.session.flush()
    audit.record(uow, actor, "organisation.created", organisation)
    return organisation


async def list_visible(uow: UnitOfWork, actor: Principal) -> list[Organisation]:
    """Operational staff see every organisation; others only their own."""
    stmt = select(Organisation).order_by(Organisation.id)
    if not actor.is_operational:
        stmt = stmt.where(Organisation.id == actor.organisation_id)
    return list((await uow.session.scalars(stmt)).all())


async def get_visible(uow: UnitOfWork, actor: Principal, organisation_id: int) -> Organisation:
    """One organisation, as ``list_visible`` would show it (others answer 404)."""
    org = await uow.session.get(Organisation, organisation_id)
    if org is None or (not actor.is_operational and org.id != actor.organisation_id):
        raise NotFound(f"Organisation {organisation_id} does not exist.")
    return org


async def update_centre(
    uow: UnitOfWork, actor: Principal, organisation_id: int, data: CentreUpdate
) -> Organisation:
    """Move a centre in the hierarchy or change its offer timers (audited)."""
    hierarchy.require_admin(actor)
    org = await hierarchy.dispatch_centre(uow, organisation_id, "organisation_id")
    changes = data.model_dump(exclude_unset=True)
    if "parent_id" in changes:
        await hierarchy.check_parent(uow, org.id, changes["parent_id"])
    before = audit.snapshot(org)
    for name, value in changes.items():
        setattr(org, name, value)
    await uow.session.flush()
    audit.record(uow, actor, "organisation.updated", org, before=before)
    return org
