"""Forgetting keys past their lifetime, in the background, in small batches.

A claim already ignores (and replaces) its own expired record, so the sweep only keeps
the table small; small batches keep each write transaction (on SQLite: the one write
lock) short. Every worker runs it; two sweeping at once delete disjoint or already
deleted rows, which is harmless."""

from __future__ import annotations

import asyncio
import logging

from dispatch.clock import Clock
from dispatch.db.session import Database
from dispatch.idempotency.service import purge_expired

log = logging.getLogger(__name__)

BATCH = 500


async def sweep(db: Database, clock: Clock) -> int:
    """Delete every record expired by ``clock``'s now; how many."""
    total = 0
    while True:
        async with db.unit_of_work() as uow:
            deleted = await purge_expired(uow, clock.now(), limit=BATCH)
        total += deleted
        if deleted < BATCH:
            return total


async def run_sweeper(db: Database, clock: Clock, interval_s: float = 600.0) -> None:
    while True:
        await asyncio.sleep(interval_s)
        try:
            deleted = await sweep(db, clock)
        except Exception as exc:  # database down: next round
            log.warning("sweeping expired idempotency keys failed: %s", exc)
            continue
        if deleted:
            log.info("forgot %d expired idempotency keys", deleted)
