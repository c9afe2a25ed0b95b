from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Query

from dispatch.api.deps import Manager, UoW
from dispatch.audit import service
from dispatch.schemas import MAX_DB_INT, Output, QueryText

router = APIRouter(prefix="/audit", tags=["audit"])


class AuditEntryOut(Output):
    id: int
    at: datetime
    actor: str
    action: str
    entity_type: str
    entity_id: int | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    request_id: str | None


@router.get("", response_model=list[AuditEntryOut], summary="Read the audit log (append-only)")
async def list_audit(
    uow: UoW,
    _actor: Manager,
    entity_type: QueryText | None = Query(default=None, max_length=64),
    entity_id: int | None = Query(default=None, ge=1, le=MAX_DB_INT),
    before_id: int | None = Query(default=None, ge=1, le=MAX_DB_INT),
    limit: int = Query(default=100, ge=1, le=1000),
) -> list[AuditEntryOut]:
    entries = await service.list_entries(
        uow, entity_type=entity_type, entity_id=entity_id, limit=limit, before_id=before_id
    )
    return [AuditEntryOut.model_validate(e) for e in entries]
