from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Final, Protocol

from sqlalchemy import inspect, select

from dispatch import context
from dispatch.db.session import UnitOfWork
from dispatch.models import AuditEntry
from dispatch.models.base import Base
from dispatch.models.privacy import is_personal, is_secret, personal_columns, secret_columns


class Actor(Protocol):
    """Who did it, as the log needs it; a ``Principal`` is one. Declared here so the audit
    log depends on no authentication code (which itself records logins here)."""

    @property
    def user_id(self) -> int | None: ...

    @property
    def label(self) -> str: ...


#: What the log stores in place of a personal value: the field is named, its value never
#: kept (not even hashed: a phone number's hash is found by hashing every number).
REDACTED: Final = "[personal]"


@dataclass(frozen=True)
class Personal:
    """A personal value held in memory only, so ``changed`` can tell that it changed;
    ``record`` writes ``REDACTED`` instead, and it neither prints nor serialises."""

    value: Any = field(repr=False)


def snapshot(obj: Base) -> dict[str, Any]:
    """The row's column values as JSON-able data: secrets left out, personal values
    (columns declared ``info=PERSONAL``, see ``dispatch.models.privacy``) wrapped in
    ``Personal``."""
    out: dict[str, Any] = {}
    for attr in inspect(obj).mapper.column_attrs:
        column = attr.columns[0]
        if is_secret(column):
            continue
        value = _jsonable(getattr(obj, attr.key))
        out[attr.key] = Personal(value) if is_personal(column) and value is not None else value
    return out


def _jsonable(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _redact(data: dict[str, Any] | None, personal: frozenset[str], secret: frozenset[str]) -> Any:
    """``data`` as the log may keep it: the entity's secret columns dropped, its personal
    columns and every ``Personal`` (at any depth) replaced by ``REDACTED`` (``None`` stays
    ``None``: that a phone number was *not* given is no one's personal data)."""
    if data is None:
        return None
    return {
        key: _scrub(REDACTED if key in personal and value is not None else value)
        for key, value in data.items()
        if key not in secret
    }


def _scrub(value: Any) -> Any:
    if isinstance(value, Personal):
        return REDACTED
    if isinstance(value, dict):
        return {k: _scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(v) for v in value]
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
    """Add an audit entry to the current unit of work (committed with the change).

    Whatever the caller passes, no value of a column the entity's model declares personal
    or secret reaches the log: only ids, operational values and the names of personal
    fields."""
    entity_id = getattr(entity, "id", None)
    table = type(entity).__table__
    personal, secret = personal_columns(table), secret_columns(table)
    entry = AuditEntry(
        actor_user_id=actor.user_id if actor else None,
        actor=actor.label if actor else "system",
        action=action,
        entity_type=type(entity).__tablename__,
        entity_id=entity_id,
        before=_redact(before, personal, secret),
        after=_redact(after if after is not None else snapshot(entity), personal, secret),
        request_id=context.request_id.get(),
    )
    uow.session.add(entry)
    return entry


def record_operation(
    uow: UnitOfWork, actor: Actor | None, action: str, entity_type: str, after: dict[str, Any]
) -> AuditEntry:
    """An entry about many rows at once (a retention run): counts and limits, no row."""
    entry = AuditEntry(
        actor_user_id=actor.user_id if actor else None,
        actor=actor.label if actor else "system",
        action=action,
        entity_type=entity_type,
        after=_scrub(after),
        request_id=context.request_id.get(),
    )
    uow.session.add(entry)
    return entry


def plain(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with its ``Personal`` values unwrapped, for what is not the audit log (an
    event telling the control room a caller's address changed needs the address)."""
    return {k: v.value if isinstance(v, Personal) else v for k, v in data.items()}


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
