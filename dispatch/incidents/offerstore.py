"""The offer rows as other domains touch them: announcing a change, and withdrawing the
pending offer of a call that was served (or ended) some other way. Kept apart from the
chain's logic so that assigning a unit can withdraw an offer without importing the
service that assigns on acceptance."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from dispatch.audit import service as audit
from dispatch.db.session import UnitOfWork
from dispatch.events import OfferChanged
from dispatch.models import Offer, Station, Vehicle
from dispatch.models.enums import OfferStatus


async def announce(uow: UnitOfWork, offer: Offer) -> None:
    call_sign = await uow.session.scalar(
        select(Vehicle.call_sign).where(Vehicle.id == offer.vehicle_id)
    )
    station_name = (
        None
        if offer.station_id is None
        else await uow.session.scalar(select(Station.name).where(Station.id == offer.station_id))
    )
    uow.emit(
        OfferChanged(
            offer_id=offer.id,
            incident_id=offer.incident_id,
            vehicle_id=offer.vehicle_id,
            call_sign=str(call_sign),
            station_id=offer.station_id,
            station_name=station_name,
            chain_id=offer.chain_id or offer.id,
            step=offer.step,
            triage=offer.triage.value,
            status=offer.status.value,
            expires_at=offer.expires_at,
            decline_reason=None if offer.decline_reason is None else offer.decline_reason.value,
            assignment_id=offer.assignment_id,
        )
    )


def record(uow: UnitOfWork, actor: audit.Actor | None, action: str, offer: Offer) -> None:
    audit.record(
        uow,
        actor,
        action,
        offer,
        after={
            "incident_id": offer.incident_id,
            "vehicle_id": offer.vehicle_id,
            "station_id": offer.station_id,
            "step": offer.step,
            "status": offer.status.value,
            "decline_reason": None if offer.decline_reason is None else offer.decline_reason.value,
            "assignment_id": offer.assignment_id,
        },
    )


async def withdraw_pending(
    uow: UnitOfWork,
    actor: audit.Actor | None,
    incident_id: int,
    now: datetime,
    note: str,
) -> list[Offer]:
    """End the call's pending offer, if any (the call got a unit another way, or ended)."""
    pending = list(
        (
            await uow.session.scalars(
                uow.strategy.lock_for_update(
                    select(Offer)
                    .where(Offer.incident_id == incident_id, Offer.status == OfferStatus.PENDING)
                    .execution_options(populate_existing=True)
                )
            )
        ).all()
    )
    for offer in pending:
        offer.status = OfferStatus.WITHDRAWN
        offer.answered_at = now
        offer.answered_by = "system"
        offer.note = note[:500]
        await uow.session.flush()
        record(uow, actor, "offer.withdrawn", offer)
        await announce(uow, offer)
    return pending
