"""Claiming a key, storing the first answer, replaying it; all inside the caller's unit of
work, so the key record and the write it belongs to commit (or vanish) together.

Concurrency is decided by the database, through the unique constraint on (principal,
key): the claim is an ``INSERT … ON CONFLICT DO NOTHING`` made before the write starts.
On PostgreSQL a duplicate's insert waits for the first transaction to end: if it
committed, the duplicate finds the stored answer and replays it; if it rolled back (a
failed request), the duplicate's insert goes through and it does the write itself. On
SQLite write transactions run one at a time (``BEGIN IMMEDIATE``), so a duplicate starts
after the first has committed or rolled back, with the same outcome."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import ColumnElement, Table, and_, delete, select, update

from dispatch.db.session import UnitOfWork
from dispatch.errors import Conflict, InvalidInput
from dispatch.idempotency.keys import HEADER, KeyedRequest
from dispatch.models.idempotency import IdempotencyRecord

#: How long a key is remembered (Stripe's 24 hours: a resend comes within seconds or
#: minutes; a day covers a phone that was offline overnight).
KEY_LIFETIME = timedelta(hours=24)

_table = cast(Table, IdempotencyRecord.__table__)


@dataclass(frozen=True, slots=True)
class StoredResponse:
    status_code: int
    media_type: str | None
    body: bytes


class Replayed(Exception):  # not an error: the answer to a resent request
    """The request was done before: answer ``response`` again and do nothing."""

    def __init__(self, response: StoredResponse) -> None:
        super().__init__("replayed")
        self.response = response


def _this(request: KeyedRequest) -> ColumnElement[bool]:
    return and_(
        IdempotencyRecord.principal == request.principal, IdempotencyRecord.key == request.key
    )


async def _found(uow: UnitOfWork, request: KeyedRequest, now: datetime) -> StoredResponse | None:
    """The stored answer to this key, if any and still alive; raises when the key was used
    for another request."""
    record = await uow.session.scalar(select(IdempotencyRecord).where(_this(request)))
    if record is None or record.expires_at <= now:
        return None
    if record.fingerprint != request.fingerprint:
        raise InvalidInput(
            HEADER,
            f"This {HEADER} was already used for another request ({record.request_line} "
            "with a different body); send a new key for a new request.",
            location="header",
        )
    if record.status_code is None or record.body is None:  # never committed so; defensive
        raise Conflict(f"A request with this {HEADER} is still running; retry shortly.")
    return StoredResponse(record.status_code, record.media_type, record.body)


async def check(uow: UnitOfWork, request: KeyedRequest, now: datetime) -> None:
    """Raise ``Replayed`` (or the refusal of a reused key) when this key has an answer.
    For requests that work outside one transaction (a plan solved before it is written),
    so an answered duplicate does not solve again; ``claim`` still decides."""
    stored = await _found(uow, request, now)
    if stored is not None:
        raise Replayed(stored)


async def claim(uow: UnitOfWork, request: KeyedRequest, now: datetime) -> None:
    """Take the key for this transaction before the write starts, or raise ``Replayed``
    with the first answer (waiting for a concurrent first request to finish)."""
    await uow.session.execute(
        delete(IdempotencyRecord).where(_this(request), IdempotencyRecord.expires_at <= now)
    )
    inserted = await uow.session.execute(
        uow.strategy.insert_ignoring_duplicates(_table)
        .values(
            principal=request.principal,
            key=request.key,
            fingerprint=request.fingerprint,
            request_line=request.request_line,
            created_at=now,
            expires_at=now + KEY_LIFETIME,
        )
        .returning(_table.c.id)
    )
    if inserted.first() is not None:
        return
    stored = await _found(uow, request, now)
    if stored is None:  # expired and removed meanwhile by the sweeper: cannot win twice
        raise Conflict(f"A request with this {HEADER} is still running; retry shortly.")
    raise Replayed(stored)


async def complete(uow: UnitOfWork, request: KeyedRequest, response: StoredResponse) -> None:
    """Store the answer of the claimed key, in the write's own transaction."""
    await uow.session.execute(
        update(IdempotencyRecord)
        .where(_this(request))
        .values(
            status_code=response.status_code,
            media_type=response.media_type,
            body=response.body,
        )
    )


async def release(uow: UnitOfWork, request: KeyedRequest) -> None:
    """Give the key back (the request answered without succeeding): a retry may do it."""
    await uow.session.execute(delete(IdempotencyRecord).where(_this(request)))


async def purge_expired(uow: UnitOfWork, now: datetime, *, limit: int = 1000) -> int:
    """Delete up to ``limit`` records past their lifetime; how many went."""
    ids = (
        await uow.session.scalars(
            select(IdempotencyRecord.id).where(IdempotencyRecord.expires_at <= now).limit(limit)
        )
    ).all()
    if ids:
        await uow.session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.id.in_(ids)))
    return len(ids)
