from __future__ import annotations

from sqlalchemy import select

from dispatch.audit import service as audit
from dispatch.auth.principal import Principal
from dispatch.db.session import UnitOfWork
from dispatch.errors import Forbidden
from dispatch.models import Organisation
from dispatch.models.enums import Role
from dispatch.organisations.schemas import OrganisationCreate


async def create(
    uow: UnitOfWork, actor: Principal | None, data: OrganisationCreate, default_timezone: str
) -> Organisation:
    """``default_timezone`` (the deployment's) when the request names none: a centre's
    service days must never fall silently on another continent's calendar."""
    if actor is not None and actor.role != Role.ADMIN:
        raise Forbidden("Only administrators create organisations.")
    timezone = data.timezone or default_timezone
    organisation = Organisation(name=data.name, kind=data.kind, timezone=timezone)
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
