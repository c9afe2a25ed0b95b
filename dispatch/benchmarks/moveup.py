"""Move-up decision time: one advisor round (read the fleet, bring coverage up to date,
choose the moves) as a direct service call, each round rolled back so every one starts
from the same fleet (the state the end-to-end benchmark left: some units out on calls)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np

from dispatch.benchmarks.load import timed
from dispatch.benchmarks.report import latency_ms
from dispatch.coverage.advisor import advise
from dispatch.models.coverage import MoveUp
from dispatch.state import AppState


class _Discard(Exception):
    """Rolls a timed round back (its events are never published)."""


async def bench_moveups(state: AppState, rounds: int, warmup: int) -> dict[str, Any] | None:
    keeper = state.emergency.coverage
    if keeper is None:
        return None
    service_s: list[float] = []
    moves: list[int] = []
    for i in range(rounds + warmup):
        try:
            async with state.db.unit_of_work() as uow:
                changed, elapsed = await timed(
                    advise(uow, keeper, state.emergency.moveup, datetime.now(UTC))
                )
                if i >= warmup:
                    service_s.append(elapsed)
                    moves.append(sum(1 for m in changed if isinstance(m, MoveUp)))
                raise _Discard
        except _Discard:
            pass
    return {
        "moveup_round_service_ms": {
            **latency_ms(service_s),
            "moves_suggested": int(np.median(moves)) if moves else 0,
        }
    }
