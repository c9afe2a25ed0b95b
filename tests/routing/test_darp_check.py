"""The independent checker rejects hand-built plans that break each rule, with the right kind."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from dispatch.routing.darp.check import verify
from dispatch.routing.darp.model import (
    Aboard,
    Break,
    Plan,
    Problem,
    Request,
    ScheduledBreak,
    StopRef,
    TimeWindow,
    Unserved,
    Vehicle,
)
from dispatch.routing.darp.timetable import route_timetable

MIN = 60


def line_travel(points: int) -> npt.NDArray[np.int64]:
    """Locations 0..points-1 on a line, one minute apart."""
    x = np.arange(points)
    out: npt.NDArray[np.int64] = (np.abs(x[:, None] - x[None, :]) * MIN).astype(np.int64)
    return out


def request(rid: str, p: int, d: int, **kw: object) -> Request:
    fields: dict[str, object] = {"load": {"seated": 1}, "pickup_service": 60, "dropoff_service": 60}
    fields.update(kw)
    return Request(rid, p, d, **fields)  # type: ignore[arg-type]


def van(vid: str = "v1", **kw: object) -> Vehicle:
    fields: dict[str, object] = {
        "capacity": {"seated": 4, "wheelchair": 1},
        "start": 0,
        "end": 0,
        "shift": TimeWindow(0, 8 * 3600),
    }
    fields.update(kw)
    return Vehicle(vid, **fields)  # type: ignore[arg-type]


def plan_of(problem: Problem, routes: dict[str, Sequence[StopRef]], **kw: object) -> Plan:
    """A plan with the earliest timetable for ``routes`` (computed on ``problem``)."""
    requests = {r.id: r for r in problem.requests}
    built = []
    for v in problem.vehicles:
        route = route_timetable(problem, v, list(routes.get(v.id, [])), requests)
        assert route is not None, f"test route for {v.id} must have a timetable"
        built.append(route)
    cost = 0.0
    for r in built:
        for a, b in zip(r.visits, r.visits[1:], strict=False):
            cost += float(problem.travel[a.location, b.location])
    return Plan(routes=tuple(built), unserved=(), cost=cost, **kw)  # type: ignore[arg-type]


def pd(rid: str) -> list[StopRef]:
    return [StopRef(rid, "pickup"), StopRef(rid, "dropoff")]


def kinds(problem: Problem, plan: Plan) -> set[str]:
    return {v.kind for v in verify(problem, plan)}


def two_requests(**kw: object) -> Problem:
    return Problem(
        requests=(request("a", 1, 5, **kw), request("b", 2, 3, **kw)),
        vehicles=(van(),),
        travel=line_travel(8),
    )


def test_a_valid_plan_passes() -> None:
    problem = two_requests()
    plan = plan_of(problem, {"v1": [*pd("a"), *pd("b")]})
    assert verify(problem, plan) == []


def test_ride_time_over_the_limit() -> None:
    loose = two_requests()
    # a rides 1 -> 2 -> 3 -> 5 with two extra stops: about 6 min, over a 4.5 min limit.
    route = [StopRef("a", "pickup"), StopRef("b", "pickup"), StopRef("b", "dropoff")]
    plan = plan_of(loose, {"v1": [*route, StopRef("a", "dropoff")]})
    strict = dataclasses.replace(
        loose, requests=(dataclasses.replace(loose.requests[0], max_ride=270), loose.requests[1])
    )
    found = verify(strict, plan)
    assert [v.kind for v in found] == ["ride_time"]
    assert found[0].request_id == "a"


def test_capacity_per_seat_kind() -> None:
    wheel = {"wheelchair": 1}
    roomy = Problem(
        requests=(request("a", 1, 5, load=wheel), request("b", 2, 4, load=wheel)),
        vehicles=(van(capacity={"seated": 4, "wheelchair": 2}),),
        travel=line_travel(8),
    )
    plan = plan_of(roomy, {"v1": [StopRef("a", "pickup"), *pd("b"), StopRef("a", "dropoff")]})
    assert verify(roomy, plan) == []
    tight = dataclasses.replace(roomy, vehicles=(van(),))  # one wheelchair place, four seats
    found = verify(tight, plan)
    assert {v.kind for v in found} == {"capacity"}
    assert "wheelchair" in found[0].message


def test_time_window_missed() -> None:
    problem = two_requests()
    plan = plan_of(problem, {"v1": [*pd("a"), *pd("b")]})
    late = dataclasses.replace(
        problem,
        requests=(
            problem.requests[0],
            dataclasses.replace(problem.requests[1], pickup_window=TimeWindow(0, 300)),
        ),
    )
    found = verify(late, plan)
    assert [v.kind for v in found] == ["window"]
    assert found[0].request_id == "b"


def test_drop_off_before_pickup() -> None:
    problem = two_requests()
    plan = plan_of(problem, {"v1": [StopRef("a", "dropoff"), StopRef("a", "pickup"), *pd("b")]})
    assert "precedence" in kinds(problem, plan)


def test_pickup_and_drop_off_on_different_vehicles() -> None:
    problem = dataclasses.replace(two_requests(), vehicles=(van("v1"), van("v2")))
    plan = plan_of(
        problem,
        {"v1": [StopRef("a", "pickup"), *pd("b")], "v2": [StopRef("a", "dropoff")]},
    )
    assert "same_vehicle" in kinds(problem, plan)


def test_shift_end() -> None:
    problem = two_requests()
    plan = plan_of(problem, {"v1": [*pd("a"), *pd("b")]})
    short = dataclasses.replace(problem, vehicles=(van(shift=TimeWindow(0, 600)),))
    assert kinds(short, plan) == {"shift"}


def test_breaks_missing_misplaced_or_overlapping() -> None:
    lunch = Break(TimeWindow(300, 400), 600)
    problem = dataclasses.replace(two_requests(), vehicles=(van(breaks=(lunch,)),))
    plan = plan_of(problem, {"v1": [*pd("a"), *pd("b")]})
    assert verify(problem, plan) == []
    route = plan.routes[0]
    for broken in (
        (),  # not taken
        (ScheduledBreak(1000, 600, route.breaks[0].after),),  # outside its window
        (ScheduledBreak(330, 600, 0),),  # overlaps the service at stop 1
    ):
        bad = dataclasses.replace(plan, routes=(dataclasses.replace(route, breaks=broken),))
        assert "break" in kinds(problem, bad), broken


def test_every_request_served_or_listed() -> None:
    problem = two_requests()
    plan = plan_of(problem, {"v1": pd("a")})
    found = verify(problem, plan)
    assert [(v.kind, v.request_id) for v in found] == [("coverage", "b")]
    listed = dataclasses.replace(plan, unserved=(Unserved("b", "no_room", "no room"),))
    assert verify(problem, listed) == []
    twice = dataclasses.replace(plan, unserved=(Unserved("a", "no_room", "no room"),))
    assert "coverage" in kinds(problem, twice)


def test_patient_aboard_must_be_delivered_by_their_vehicle() -> None:
    aboard = request("a", 1, 5, aboard=Aboard("v1", picked_up_at=0))
    problem = Problem(
        requests=(aboard, request("b", 2, 3)),
        vehicles=(van("v1", start=1), van("v2", start=2)),
        travel=line_travel(8),
    )
    good = plan_of(problem, {"v1": [StopRef("a", "dropoff")], "v2": pd("b")})
    assert verify(problem, good) == []
    wrong = plan_of(problem, {"v2": [StopRef("a", "dropoff"), *pd("b")]})
    assert "aboard" in kinds(problem, wrong)
    dropped = dataclasses.replace(
        plan_of(problem, {"v2": pd("b")}), unserved=(Unserved("a", "no_room", "no room"),)
    )
    assert "aboard" in kinds(problem, dropped)


def test_stop_under_way_must_stay_first() -> None:
    problem = dataclasses.replace(two_requests(), vehicles=(van(next_stop=StopRef("b", "pickup")),))
    assert "under_way" in kinds(problem, plan_of(problem, {"v1": [*pd("a"), *pd("b")]}))
    assert verify(problem, plan_of(problem, {"v1": [*pd("b"), *pd("a")]})) == []


def test_travel_time_cannot_be_shortened() -> None:
    problem = two_requests()
    plan = plan_of(problem, {"v1": [*pd("a"), *pd("b")]})
    route = plan.routes[0]
    visits = list(route.visits)
    v = visits[2]
    visits[2] = dataclasses.replace(
        v, arrival=v.arrival - 30, start=v.start - 30, departure=v.departure - 30
    )
    bad = dataclasses.replace(plan, routes=(dataclasses.replace(route, visits=tuple(visits)),))
    assert "travel" in kinds(problem, bad)
