"""The scheduler on tiny problems: every plan verified, every unserved request explained."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt
import pytest

from dispatch.routing.base import LatLon
from dispatch.routing.darp import (
    Aboard,
    Break,
    InvalidProblemError,
    Plan,
    Problem,
    Request,
    StopRef,
    TimeWindow,
    Vehicle,
    insert,
    ride_limit,
    solve,
    travel_matrix,
    verify,
)
from dispatch.routing.darp.model import (
    NO_ROOM,
    NO_SEAT_KIND,
    OPEN,
    PICKUP_UNREACHABLE,
    RIDE_BELOW_DIRECT,
    clock_text,
    minutes_text,
)
from dispatch.routing.straight import StraightLineProvider

MIN = 60
HOUR = 3600
LIMIT = 0.5  # seconds per solve: these problems are solved in milliseconds


def grid_travel(size: int = 10) -> npt.NDArray[np.int64]:
    """Locations 0..size*size-1 on a grid, one minute per block (Manhattan)."""
    idx = np.arange(size * size)
    x, y = idx % size, idx // size
    out: npt.NDArray[np.int64] = ((np.abs(x[:, None] - x) + np.abs(y[:, None] - y)) * MIN).astype(
        np.int64
    )
    return out


def req(rid: str, p: int, d: int, t: int, **kw: object) -> Request:
    """A seated request picked up within 15 minutes of ``t`` hours after midnight."""
    fields: dict[str, object] = {
        "load": {"seated": 1},
        "pickup_window": TimeWindow(t * HOUR, t * HOUR + 15 * MIN),
        "max_ride": 45 * MIN,
        "pickup_service": 2 * MIN,
        "dropoff_service": 2 * MIN,
    }
    fields.update(kw)
    return Request(rid, p, d, **fields)  # type: ignore[arg-type]


def van(vid: str, **kw: object) -> Vehicle:
    fields: dict[str, object] = {
        "capacity": {"seated": 3, "wheelchair": 1},
        "start": 0,
        "end": 0,
        "shift": TimeWindow(7 * HOUR, 17 * HOUR),
    }
    fields.update(kw)
    return Vehicle(vid, **fields)  # type: ignore[arg-type]


def day() -> Problem:
    requests = (
        req("r1", 11, 88, 8),
        req("r2", 12, 77, 8),
        req("r3", 45, 5, 9),
        req("r4", 90, 9, 10, load={"wheelchair": 1, "seated": 1}),
        req("r5", 33, 66, 10),
        req("r6", 70, 2, 11),
    )
    return Problem(requests=requests, vehicles=(van("A"), van("B")), travel=grid_travel())


def checked(problem: Problem, plan: Plan) -> Plan:
    assert verify(problem, plan) == []
    listed = {u.request_id for u in plan.unserved}
    assert set(plan.served) | listed == {r.id for r in problem.requests}
    assert not set(plan.served) & listed
    return plan


def test_a_small_day_is_planned_and_verified() -> None:
    problem = day()
    plan = checked(problem, solve(problem, LIMIT))
    assert plan.unserved == ()
    assert plan.cost > 0
    route = {r.vehicle_id: r for r in plan.routes}
    for r in plan.routes:
        assert r.visits[0].kind == "start" and r.visits[-1].kind == "end"
    assert "r4" not in route["A"].request_ids or "r4" not in route["B"].request_ids


def test_seat_kinds_are_separate_capacities() -> None:
    """Three wheelchair users at once fit only the van with three wheelchair places."""
    wheel = {"wheelchair": 1}
    problem = Problem(
        requests=tuple(req(f"w{i}", 11 + i, 88 - i, 8, load=wheel) for i in range(3)),
        vehicles=(
            van("seats", capacity={"seated": 8}),
            van("ramp", capacity={"seated": 1, "wheelchair": 3}),
        ),
        travel=grid_travel(),
    )
    plan = checked(problem, solve(problem, LIMIT))
    ramp = plan.route_of("ramp")
    assert plan.unserved == ()
    assert ramp is not None and set(ramp.request_ids) == {"w0", "w1", "w2"}


def test_pre_check_reasons() -> None:
    travel = grid_travel()
    problem = Problem(
        requests=(
            req("ok", 11, 22, 8),
            req("stretcher", 11, 22, 8, load={"stretcher": 1}),
            req("too-early", 99, 0, 7, pickup_window=TimeWindow(7 * HOUR, 7 * HOUR + 5 * MIN)),
            req("ride", 0, 99, 9, max_ride=10 * MIN),
        ),
        vehicles=(van("A"),),
        travel=travel,
    )
    plan = checked(problem, solve(problem, LIMIT))
    why = {u.request_id: u for u in plan.unserved}
    assert set(why) == {"stretcher", "too-early", "ride"}
    assert why["stretcher"].code == NO_SEAT_KIND
    assert "stretcher" in why["stretcher"].reason
    assert why["too-early"].code == PICKUP_UNREACHABLE
    # in words and the day's clock, for a scheduler (not seconds since midnight)
    assert "window closes at 07:05" in why["too-early"].reason, why["too-early"].reason
    assert why["ride"].code == RIDE_BELOW_DIRECT
    assert "ride-time limit (10 min) is shorter than the direct trip" in why["ride"].reason


def test_no_room_is_reported_not_dropped() -> None:
    """One seat, three trips at the same time to far places: only one fits."""
    window = TimeWindow(8 * HOUR, 8 * HOUR + 5 * MIN)
    problem = Problem(
        requests=tuple(req(f"r{i}", 1 + i, 99 - i, 8, pickup_window=window) for i in range(3)),
        vehicles=(van("A", capacity={"seated": 1}),),
        travel=grid_travel(),
    )
    plan = checked(problem, solve(problem, LIMIT))
    assert len(plan.served) == 1
    assert [u.code for u in plan.unserved] == [NO_ROOM, NO_ROOM]
    assert all(
        u.reason == "no room in any vehicle's schedule for a pickup between 08:00 and 08:05"
        for u in plan.unserved
    ), plan.unserved


def test_breaks_are_planned_inside_their_window() -> None:
    lunch = Break(TimeWindow(9 * HOUR, 9 * HOUR + 30 * MIN), 30 * MIN)
    base = day()
    problem = dataclasses.replace(
        base, vehicles=tuple(dataclasses.replace(v, breaks=(lunch,)) for v in base.vehicles)
    )
    plan = checked(problem, solve(problem, LIMIT))
    assert plan.unserved == ()
    for route in plan.routes:
        (taken,) = route.breaks
        assert 9 * HOUR <= taken.start <= 9 * HOUR + 30 * MIN
        assert taken.duration == 30 * MIN


def test_insertion_keeps_the_stop_under_way_and_patients_aboard() -> None:
    problem = day()
    first = checked(problem, solve(problem, LIMIT))
    route_a = first.route_of("A")
    assert route_a is not None and len(route_a.visits) > 3
    # At 8:05 vehicle A has picked up its first passenger and drives to its next stop.
    picked = route_a.visits[1]
    under_way = route_a.visits[2]
    assert picked.request_id is not None and under_way.request_id is not None
    now = picked.departure + 1
    requests = []
    for r in problem.requests:
        if r.id == picked.request_id:
            r = dataclasses.replace(r, aboard=Aboard("A", picked_up_at=picked.departure))
        requests.append(r)
    requests.append(req("new", 44, 55, 10))
    vehicles = (
        dataclasses.replace(
            problem.vehicles[0],
            start=picked.location,
            ready_at=now,
            next_stop=StopRef(under_way.request_id, under_way.kind),  # type: ignore[arg-type]
        ),
        dataclasses.replace(problem.vehicles[1], ready_at=now),
    )
    later = dataclasses.replace(problem, requests=tuple(requests), vehicles=vehicles)
    plan = checked(later, insert(later, first, time_limit_s=LIMIT))
    again = plan.route_of("A")
    assert again is not None
    assert (again.visits[1].request_id, again.visits[1].kind) == (
        under_way.request_id,
        under_way.kind,
    )
    kinds = [(v.request_id, v.kind) for v in again.visits]
    assert (picked.request_id, "dropoff") in kinds
    assert (picked.request_id, "pickup") not in kinds
    assert "new" in plan.served


def test_replan_after_a_vehicle_is_removed() -> None:
    problem = day()
    first = checked(problem, solve(problem, LIMIT))
    only_a = dataclasses.replace(problem, vehicles=(problem.vehicles[0],))
    plan = checked(only_a, solve(only_a, LIMIT, warm_start=first))
    assert plan.route_of("B") is None
    for u in plan.unserved:
        assert u.reason  # B's requests are moved to A or explained


def test_removing_a_vehicle_with_a_patient_aboard_is_refused() -> None:
    problem = day()
    requests = (dataclasses.replace(problem.requests[0], aboard=Aboard("B", 8 * HOUR)),)
    stranded = dataclasses.replace(problem, requests=requests, vehicles=(problem.vehicles[0],))
    with pytest.raises(InvalidProblemError, match="aboard"):
        solve(stranded, LIMIT)


def test_a_late_patient_aboard_is_delivered_with_a_warning() -> None:
    problem = day()
    late = dataclasses.replace(
        problem.requests[0], aboard=Aboard("A", picked_up_at=8 * HOUR), max_ride=5 * MIN
    )
    vehicles = (dataclasses.replace(problem.vehicles[0], start=11, ready_at=8 * HOUR + 10 * MIN),)
    stuck = dataclasses.replace(problem, requests=(late,), vehicles=vehicles)
    plan = solve(stuck, LIMIT)
    assert plan.served == ("r1",)
    assert plan.warnings and "r1" in plan.warnings[0]
    assert [v.kind for v in verify(stuck, plan)] == ["ride_time"]  # unavoidable, and said so


def test_travel_matrix_from_a_provider_and_ride_limits() -> None:
    points = [LatLon(13.74, 100.53), LatLon(13.75, 100.54), LatLon(13.76, 100.50)]
    seconds = travel_matrix(StraightLineProvider(), points, datetime(2026, 3, 2, 3, tzinfo=UTC))
    assert seconds.shape == (3, 3) and seconds.dtype == np.int64
    assert (np.diag(seconds) == 0).all() and (seconds[~np.eye(3, dtype=bool)] > 0).all()
    assert ride_limit(600, minutes=30, factor=2.0) == 1200
    assert ride_limit(600, minutes=15) == 900
    assert ride_limit(600) is None


def test_times_in_reasons_read_as_the_days_clock() -> None:
    assert clock_text(7 * HOUR + 40 * MIN) == "07:40"
    assert clock_text(24 * HOUR + 30 * MIN) == "00:30 next day"
    assert clock_text(OPEN.latest) == "open"
    assert minutes_text(75 * MIN) == "75 min" and minutes_text(74 * MIN + 1) == "75 min"
