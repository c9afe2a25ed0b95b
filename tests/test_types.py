from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy.exc import StatementError

from dispatch.db.session import Database
from dispatch.models import Organisation
from dispatch.models.enums import OrganisationKind


async def test_timestamps_come_back_aware_utc(db: Database) -> None:
    bangkok = timezone(timedelta(hours=7))
    local = datetime(2026, 11, 23, 8, 30, tzinfo=bangkok)
    async with db.unit_of_work() as uow:
        org = Organisation(name="T", kind=OrganisationKind.CARE_CENTRE, created_at=local)
        uow.session.add(org)
    async with db.unit_of_work(read_only=True) as uow:
        stored = await uow.session.get(Organisation, org.id, populate_existing=True)
    assert stored is not None
    assert stored.created_at.tzinfo is not None
    assert stored.created_at.utcoffset() == timedelta(0)
    assert stored.created_at == local
    assert stored.created_at.hour == 1  # 08:30 in Bangkok is 01:30 UTC


async def test_naive_timestamps_are_refused(db: Database) -> None:
    with pytest.raises(StatementError, match="naive datetime"):
        async with db.unit_of_work() as uow:
            uow.session.add(
                Organisation(
                    name="T", kind=OrganisationKind.CARE_CENTRE, created_at=datetime(2026, 1, 1)
                )
            )
