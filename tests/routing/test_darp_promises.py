"""Promises in the scheduler: a ride that holds a pickup is never dropped for newcomers, and
a pickup that cannot stay near the time told is moved, with the reason, not dropped."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from dispatch.routing.darp import Problem, Request, TimeWindow, Vehicle, solve, verify
from dispatch.routing.darp.model import PROMISE_MOVED

H, M = 3600, 60
# 0 depot; 1, 2, 3 homes; 4 the hospital. A home is 10 min from the depot and the hospital.
TRAVEL = np.array(
    [
        [0, 600, 600, 600, 600],
        [600, 0, 900, 900, 600],
        [600, 900, 0, 900, 600],
        [600, 900, 900, 0, 600],
        [600, 600, 600, 600, 0],
    ],
    dtype=np.int64,
)
VAN = Vehicle("v", {"seated": 1}, 0, 0, TimeWindow(7 * H, 12 * H))


def _ride(rid: str, home: int, at: float, **kw: object) -> Request:
    """From ``home`` to the hospital, arriving between ``at`` - 10 min and ``at``."""
    return Request(
        rid,
        home,
        4,
        {"seated": 1},
        dropoff_window=TimeWindow(at - 10 * M, at),
        max_ride=20 * M,
        **kw,  # type: ignore[arg-type]
    )


def test_a_kept_ride_is_not_given_up_for_newcomers() -> None:
    """One seat at 09:00: the kept ride keeps it although two newcomers would fit instead
    (one before it and one after) ... and a kept ride outweighs them together."""
    kept = _ride("kept", 1, 9 * H, kept=True)
    early = _ride("early", 2, 9 * H - 5 * M)
    late = _ride("late", 3, 9 * H + 5 * M)
    problem = Problem((kept, early, late), (VAN,), TRAVEL)
    plan = solve(problem, 2.0)
    assert "kept" in plan.served
    assert verify(problem, plan) == []
    # the same day without the promise serves the two newcomers instead
    fresh = Problem((replace(kept, kept=False), early, late), (VAN,), TRAVEL)
    assert sorted(solve(fresh, 2.0).served) == ["early", "late"]


def test_a_pickup_that_cannot_stay_near_the_time_told_is_moved_with_the_reason() -> None:
    """The ride home was told 08:00 (window narrowed to 07:50-08:10), but the van only
    starts at 08:30 now: the ride is planned in its whole window and listed as moved."""
    late_van = replace(VAN, shift=TimeWindow(8 * H + 30 * M, 12 * H))
    told = Request(
        "told",
        1,
        4,
        {"seated": 1},
        pickup_window=TimeWindow(7 * H + 50 * M, 8 * H + 10 * M),
        max_ride=20 * M,
        kept=True,
        wide_pickup=TimeWindow(7 * H, 10 * H),
    )
    problem = Problem((told,), (late_van,), TRAVEL)
    plan = solve(problem, 2.0)
    assert plan.served == ("told",)
    [moved] = plan.moved
    assert (moved.request_id, moved.code) == ("told", PROMISE_MOVED)
    assert "08:10" in moved.reason and "08:40" in moved.reason
    pickup = next(v for v in plan.routes[0].visits if v.kind == "pickup")
    assert pickup.start >= 8 * H + 40 * M


def test_a_pickup_kept_near_the_time_told_is_not_moved() -> None:
    told = _ride(
        "told",
        1,
        9 * H,
        kept=True,
        pickup_window=TimeWindow(8 * H + 30 * M, 8 * H + 50 * M),
        wide_pickup=TimeWindow(7 * H, 9 * H),
    )
    problem = Problem((told,), (VAN,), TRAVEL)
    plan = solve(problem, 2.0)
    assert plan.served == ("told",) and plan.moved == ()
    pickup = next(v for v in plan.routes[0].visits if v.kind == "pickup")
    assert 8 * H + 30 * M <= pickup.start <= 8 * H + 50 * M
