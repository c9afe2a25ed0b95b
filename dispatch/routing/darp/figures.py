"""What a plan costs an operator, read the way a scheduler reads it: vehicles used, hours on
the road and in service, how long vans stand at doors, trips per vehicle-hour.

Every leg is timed by the problem itself (:meth:`Problem.leg`, at the leg's planned
departure), so the same plan can be read against the real traffic of the day: a plan made
with rush-hour times all day shows here the waits its early arrivals cause.
"""

from __future__ import annotations

from dataclasses import dataclass

from dispatch.routing.darp.model import Plan, Problem, VehicleRoute

_HOUR = 3600.0


@dataclass(frozen=True, slots=True)
class PlanFigures:
    vehicles_used: int
    served: int
    driving_h: float
    #: Standing at a pickup or drop-off before service can begin (breaks not counted).
    door_wait_h: float
    #: Per used vehicle, from leaving the start to reaching the end.
    revenue_h: float
    trips_per_vehicle_hour: float
    #: Stops where the van stood more than 10 minutes before service.
    long_waits: int
    #: How much sooner than its plan says the van reaches doors: legs planned slower than
    #: the traffic at their hour (rush-hour times all day) show up here.
    early_h: float = 0.0
    #: Driving with nobody aboard (to the first pickup, between rides, back to the depot).
    deadhead_h: float = 0.0

    def as_dict(self) -> dict[str, float | int]:
        return {
            "vehicles_used": self.vehicles_used,
            "served": self.served,
            "driving_h": round(self.driving_h, 2),
            "door_wait_h": round(self.door_wait_h, 2),
            "revenue_h": round(self.revenue_h, 2),
            "trips_per_vehicle_hour": round(self.trips_per_vehicle_hour, 3),
            "waits_over_10_min": self.long_waits,
            "arrives_before_plan_h": round(self.early_h, 2),
            "deadhead_h": round(self.deadhead_h, 2),
        }


def time_out(problem: Problem, route: VehicleRoute) -> float:
    """From leaving the start to reaching the end, the van leaving just in time for its
    first stop rather than standing at that door (what a driver is paid for)."""
    visits = route.visits
    if len(visits) < 2:
        return 0.0
    before = sum(b.duration for b in route.breaks if b.after <= 0)
    first, second = visits[0], visits[1]
    leg = problem.leg(first.location, second.location, first.departure)
    return visits[-1].arrival - max(first.departure, second.start - leg - before)


def plan_figures(problem: Problem, plan: Plan) -> PlanFigures:
    """The plan's figures with every leg timed by ``problem`` at its planned departure."""
    used = driving = waiting = revenue = early = empty = 0.0
    long_waits = 0
    for route in plan.routes:
        visits = route.visits
        if not any(v.request_id for v in visits):
            continue
        used += 1
        pauses: dict[int, float] = {}
        for b in route.breaks:
            pauses[b.after] = pauses.get(b.after, 0.0) + b.duration
        picked = {v.request_id for v in visits if v.kind == "pickup"}
        aboard = sum(1 for v in visits if v.kind == "dropoff" and v.request_id not in picked)
        for i in range(len(visits) - 1):
            here, there = visits[i], visits[i + 1]
            aboard += (here.kind == "pickup") - (here.kind == "dropoff")
            leg = problem.leg(here.location, there.location, here.departure)
            driving += leg
            empty += leg if aboard == 0 else 0.0
            if i == 0:  # the van leaves its start when it must (time_out)
                continue
            if there.request_id is None:
                continue
            ahead = there.arrival - here.departure - leg
            pause = pauses.get(i, 0.0)
            # the plan's arrival includes a break that interrupted the drive
            early += max(0.0, ahead - pause if ahead >= pause - 1.0 else ahead)
            idle = there.start - (here.departure + leg + pauses.get(i, 0.0))
            if idle > 0:
                waiting += idle
                long_waits += idle > 600
        revenue += time_out(problem, route)
    served = len(plan.served)
    return PlanFigures(
        vehicles_used=int(used),
        served=served,
        driving_h=driving / _HOUR,
        door_wait_h=waiting / _HOUR,
        revenue_h=revenue / _HOUR,
        trips_per_vehicle_hour=served / (revenue / _HOUR) if revenue > 0 else 0.0,
        long_waits=long_waits,
        early_h=early / _HOUR,
        deadhead_h=empty / _HOUR,
    )
