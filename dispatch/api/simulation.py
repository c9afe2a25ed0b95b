"""``PUT /simulation/clock``: a simulation tells the server what time it is. Mounted only
with ``DISPATCH_SIMULATED_CLOCK`` (never in a deployment): every stamp, deadline, age and
limit the server reads then follows the simulated day, so a seeded day decides the same
way on a fast machine and a slow one."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter

from dispatch.api.deps import Manager, State, UoW
from dispatch.clock import SettableClock
from dispatch.errors import Conflict
from dispatch.incidents import offers
from dispatch.schemas import Input, Output, Timestamp

router = APIRouter(tags=["simulation"])


class ClockIn(Input):
    now: Timestamp


class ClockOut(Output):
    now: datetime


@router.put(
    "/simulation/clock",
    response_model=ClockOut,
    summary="Set the server's simulated time (DISPATCH_SIMULATED_CLOCK only)",
)
async def set_clock(state: State, _actor: Manager, uow: UoW, data: ClockIn) -> ClockOut:
    """Offers whose timer ran out by the new time are moved on before the answer, so a
    simulated station never sees an offer the server's clock has already timed out."""
    clock = state.clock
    if not isinstance(clock, SettableClock):
        raise Conflict("This server's clock is not a simulation's.")
    clock.set(data.now)
    await offers.expire_due(uow, state.emergency, clock.now())
    return ClockOut(now=clock.now())


@router.get("/simulation/clock", response_model=ClockOut, summary="The server's simulated time")
async def get_clock(state: State, _actor: Manager) -> ClockOut:
    return ClockOut(now=state.clock.now())
