from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any, Protocol

from sqlalchemy import inspect, select

from dispatch import context
from dispatch.db.session import UnitOfWork
from dispatch.models import AuditEntry
from dispatch.models.base import Base


class Actor(Protocol):
    """Who did it, as the log needs it; a ``Principal`` is one. Declared here so the audit
    log depends on no authentication code (which itself records logins here)."""

    @property
    def user_id(self) -> int | None: ...

    @property
    def label(self) -> str: ...


#: Never copied into the audit log.
_SECRET_COLUMNS = frozenset({"password_hash", "device_token_hash"})


def snapshot(obj: Base) -> dict[str, Any]:
    """The row's column values as JSON-able data, secrets left out."""
    out: dict[str, Any] = {}
    for attr in inspect(obj).mapper.column_attrs:
        if attr.key in _SECRET_COLUMNS:
            continue
        out[attr.key] = _jsonable(getattr(obj, attr.key))
    return out


def _jsonable(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def record(
    uow: UnitOfWork,
    actor: Actor | None,
    action: str,
    entity: Base,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditEntry:
    """Add an audit entry to the current unit of work (committed with the change)."""
    entity_id = getattr(entity, "id", None)
    entry = AuditEntry(
        actor_user_id=actor.user_id if actor else None,
        actor=actor.label if actor else "system",
        action=action,
        entity_type=type(entity).__tablename__,
        entity_id=entity_id,
        before=before,
        after=after if after is not None else snapshot(entity),
        request_id=context.request_id.get(),
    )
    uow.session.add(entry)
    return entry


def changed(before: dict[str, Any], after: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Only the keys whose value changed, to keep entries readable."""
    keys = [k for k in after if before.get(k) != after[k]]
    return {k: before.get(k) for k in keys}, {k: after[k] for k in keys}


async def list_entries(
    uow: UnitOfWork,
    *,
    entity_type: str | None = None,
    entity_id: int | None = None,
    limit: int = 100,
    before_id: int | None = None,
) -> list[AuditEntry]:
    stmt = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if entity_type is not None:
        stmt = stmt.where(AuditEntry.entity_type == entity_type)
    if entity_id is not None:
        stmt = stmt.where(AuditEntry.entity_id == entity_id)
    if before_id is not None:
        stmt = stmt.where(AuditEntry.id < before_id)
    return list((await uow.session.scalars(stmt)).all())
