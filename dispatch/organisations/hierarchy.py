"""Dispatch centres in a hierarchy (province → district → sub-district) and what each
sees: a centre sees and dispatches its own area and everything below it; a parent sees
all its children's. Administrators see everything.

The tree is a handful of rows read whole per request (a country has hundreds of centres,
not millions), so "below" is computed in Python and every query filters by a plain
``IN`` list, identically on PostgreSQL and SQLite."""

from __future__ import annotations

from collections.abc import Collection, Mapping

from sqlalchemy import select

from dispatch.auth.principal import Principal
from dispatch.db.session import UnitOfWork
from dispatch.errors import Forbidden, InvalidInput, NotFound
from dispatch.models import Organisation
from dispatch.models.enums import OrganisationKind, Role

#: The most levels a chain of parents may have (a loop would otherwise never end).
MAX_DEPTH = 16


async def parents(uow: UnitOfWork) -> dict[int, int | None]:
    """Every dispatch centre and its parent."""
    rows = await uow.session.execute(
        select(Organisation.id, Organisation.parent_id).where(
            Organisation.kind == OrganisationKind.DISPATCH_CENTRE
        )
    )
    return {row[0]: row[1] for row in rows}


def below(tree: Mapping[int, int | None], root: int) -> frozenset[int]:
    """``root`` and every centre under it."""
    children: dict[int, list[int]] = {}
    for child, parent in tree.items():
        if parent is not None:
            children.setdefault(parent, []).append(child)
    seen = {root}
    todo = [root]
    while todo:
        for child in children.get(todo.pop(), ()):
            if child not in seen:
                seen.add(child)
                todo.append(child)
    return frozenset(seen)


def ancestors(tree: Mapping[int, int | None], centre: int) -> list[int]:
    """The centres above ``centre``, nearest first."""
    out: list[int] = []
    current = tree.get(centre)
    while current is not None and current not in out and len(out) < MAX_DEPTH:
        out.append(current)
        current = tree.get(current)
    return out


async def visible_centres(uow: UnitOfWork, actor: Principal) -> frozenset[int] | None:
    """The centres whose calls and units ``actor`` may see and dispatch; None: all."""
    if actor.role == Role.ADMIN:
        return None
    return below(await parents(uow), actor.organisation_id)


async def units_for_call(uow: UnitOfWork, owner: int, mutual_aid: bool) -> frozenset[int] | None:
    """The centres whose units may answer a call owned by ``owner``: its own area and
    below; with mutual aid, every centre (None)."""
    tree = await parents(uow)
    if mutual_aid or owner not in tree:
        return None
    return below(tree, owner)


async def acts_for_unit(
    uow: UnitOfWork,
    actor: Principal,
    *,
    station_id: int | None,
    vehicle_id: int,
    centre_id: int,
) -> bool:
    """Whether ``actor`` may act for a unit (answer its offers, take it out of service):
    its station's staff, its own crew, or dispatchers of an area that includes it."""
    if actor.station_id is not None and actor.station_id == station_id:
        return True
    if actor.vehicle_id is not None and actor.vehicle_id == vehicle_id:
        return True
    if actor.is_operational:
        centres = await visible_centres(uow, actor)
        return centres is None or centre_id in centres
    return False


def check_visible(centres: Collection[int] | None, organisation_id: int, what: str) -> None:
    """Another area's record answers 404, exactly like one that does not exist."""
    if centres is not None and organisation_id not in centres:
        raise NotFound(f"{what} does not exist.")


async def dispatch_centre(uow: UnitOfWork, organisation_id: int, field: str) -> Organisation:
    org = await uow.session.get(Organisation, organisation_id)
    if org is None or org.kind != OrganisationKind.DISPATCH_CENTRE:
        raise InvalidInput(field, f"Organisation {organisation_id} is not a dispatch centre.")
    return org


async def check_parent(uow: UnitOfWork, centre_id: int | None, parent_id: int | None) -> None:
    """A parent must be a dispatch centre and must not be the centre or below it."""
    if parent_id is None:
        return
    await dispatch_centre(uow, parent_id, "parent_id")
    if centre_id is not None and parent_id in below(await parents(uow), centre_id):
        raise InvalidInput("parent_id", "A centre cannot be placed under itself or its children.")
    if len(ancestors(await parents(uow), parent_id)) >= MAX_DEPTH - 1:
        raise InvalidInput("parent_id", f"Centres nest at most {MAX_DEPTH} levels deep.")


def require_admin(actor: Principal | None) -> None:
    if actor is not None and actor.role != Role.ADMIN:
        raise Forbidden("Only administrators change the centres' hierarchy.")
