"""The outbox relay: publishes events that were committed but never announced, because
their worker died between commit and publish or the bus was unreachable then.

Every worker runs it; rows are claimed with ``SKIP LOCKED`` so two relays never publish the
same row, and only rows older than a grace period are taken, so a healthy worker's own
publish (milliseconds after its commit) is not raced. Delivery is at least once."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from sqlalchemy import delete, select

from dispatch import clock
from dispatch.db.session import Database, Publisher
from dispatch.events import Event
from dispatch.models import OutboxEvent

log = logging.getLogger(__name__)


async def relay_once(
    db: Database,
    publish: Publisher,
    *,
    older_than_s: float = 5.0,
    limit: int = 500,
    now: datetime | None = None,
) -> int:
    """Publish (then delete) up to ``limit`` leftover events, oldest first; how many."""
    cutoff = (now or clock.now()) - timedelta(seconds=older_than_s)
    async with db.unit_of_work() as uow:
        stmt = (
            select(OutboxEvent)
            .where(OutboxEvent.created_at < cutoff)
            .order_by(OutboxEvent.id)
            .limit(limit)
        )
        rows = list(await uow.session.scalars(db.strategy.claim(stmt)))
        if not rows:
            return 0
        # Inside the transaction: if publishing fails, the rows stay for the next round.
        await publish([Event(row.event_type, row.data) for row in rows])
        await uow.session.execute(
            delete(OutboxEvent).where(OutboxEvent.id.in_([row.id for row in rows]))
        )
    log.warning("outbox relay published %d events left behind", len(rows))
    return len(rows)


async def run_relay(db: Database, publish: Publisher, interval_s: float = 2.0) -> None:
    while True:
        await asyncio.sleep(interval_s)
        try:
            while await relay_once(db, publish) > 0:
                pass
        except Exception as exc:  # database or bus down: try again next round
            log.warning("outbox relay round failed: %s", exc)
