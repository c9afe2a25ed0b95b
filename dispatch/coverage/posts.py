"""Where the next posts or stations should go, from the calls a centre has recorded: the
question a city asks before it builds its next station ("three more posts: where, and
what does each add?").

Demand is the recorded calls of one triage level (or all), counted on zones of about a
kilometre; each zone is represented by the mean position of its calls (a place on a
street where calls happened, not a grid centre that may lie in a river). The existing
stations stay; candidates are the hospitals and the busiest demand zones (a parking spot
or fire station there). Travel times come from the configured provider at the given time
of day. The choice itself is :func:`dispatch.routing.postplan.plan_posts` (maximal
covering or p-median, greedy plus interchange).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from sqlalchemy import select

from dispatch.db.session import UnitOfWork
from dispatch.errors import InvalidInput
from dispatch.models import Hospital, Incident, Station
from dispatch.routing.base import LatLon, TravelTimeProvider
from dispatch.routing.postplan import Objective, plan_posts
from dispatch.routing.zones import ZoneGrid, nearest_labels

#: Degrees added around the calls and sites, so edge calls sit inside a zone.
_PAD_DEG = 0.01
#: At most this many demand zones are offered as new sites (the busiest first).
MAX_ZONE_CANDIDATES = 300


@dataclass(frozen=True)
class PostPlanQuery:
    count: int
    depart_at: datetime
    triage: str = "red"  # red | yellow | green | all
    target_s: int = 600
    since: datetime | None = None
    until: datetime | None = None
    objective: Objective = "mclp"
    cell_m: float = 1000.0
    organisation_id: int | None = None


@dataclass(frozen=True)
class Site:
    kind: str  # station | hospital | zone
    name: str
    lat: float
    lon: float


@dataclass(frozen=True)
class PostPlanInputs:
    calls: list[tuple[float, float]]
    stations: list[Site]
    hospitals: list[Site]


async def load_inputs(uow: UnitOfWork, query: PostPlanQuery) -> PostPlanInputs:
    """The calls, stations and hospitals the plan starts from (read only)."""
    calls = select(Incident.lat, Incident.lon)
    if query.triage != "all":
        calls = calls.where(Incident.triage == query.triage)
    if query.since is not None:
        calls = calls.where(Incident.created_at >= query.since)
    if query.until is not None:
        calls = calls.where(Incident.created_at < query.until)
    stations = select(Station.name, Station.lat, Station.lon).order_by(Station.id)
    hospitals = select(Hospital.name, Hospital.lat, Hospital.lon).order_by(Hospital.id)
    if query.organisation_id is not None:
        calls = calls.where(Incident.organisation_id == query.organisation_id)
        stations = stations.where(Station.organisation_id == query.organisation_id)
        hospitals = hospitals.where(
            (Hospital.organisation_id == query.organisation_id) | Hospital.organisation_id.is_(None)
        )
    session = uow.session
    return PostPlanInputs(
        calls=[(lat, lon) for lat, lon in (await session.execute(calls)).all()],
        stations=[Site("station", n, a, o) for n, a, o in (await session.execute(stations)).all()],
        hospitals=[
            Site("hospital", n, a, o) for n, a, o in (await session.execute(hospitals)).all()
        ],
    )


def _grid(points: Sequence[tuple[float, float]], cell_m: float) -> ZoneGrid:
    lats = [p[0] for p in points]
    lons = [p[1] for p in points]
    pad = _PAD_DEG
    return ZoneGrid(
        min(lats) - pad, min(lons) - pad, max(lats) + pad, max(lons) + pad, cell_m=cell_m
    )


def _reachable(travel: TravelTimeProvider, points: Sequence[LatLon]) -> list[bool]:
    """Which points the provider can route from (off the road map = not a site)."""
    distance = getattr(travel, "distance_to_network", None)
    limit = getattr(travel, "max_snap_m", None)
    if not callable(distance) or limit is None:
        return [True] * len(points)
    return [bool(d <= float(limit)) for d in np.asarray(distance(points))]


def plan(
    travel: TravelTimeProvider, inputs: PostPlanInputs, query: PostPlanQuery
) -> dict[str, object]:
    """The plan as JSON-ready figures (CPU: run it in a thread on a big map)."""
    if not inputs.calls:
        raise InvalidInput(
            "triage", "No recorded calls match; widen the time window or the triage."
        )
    grid = _grid([*inputs.calls, *[(s.lat, s.lon) for s in inputs.stations]], query.cell_m)
    lat = np.array([c[0] for c in inputs.calls])
    lon = np.array([c[1] for c in inputs.calls])
    zone = grid.index(lat, lon)
    zones, counts = np.unique(zone, return_counts=True)
    # A zone stands where its calls were: the mean of their positions.
    targets = [LatLon(float(lat[zone == z].mean()), float(lon[zone == z].mean())) for z in zones]
    busiest = np.argsort(-counts, kind="stable")[:MAX_ZONE_CANDIDATES]
    named = [(s.name, LatLon(s.lat, s.lon)) for s in (*inputs.stations, *inputs.hospitals)]
    labels = nearest_labels(grid, named) if named else []

    def zone_name(i: int) -> str:
        z = int(zones[i])
        return f"zone {z} (near {labels[z]})" if labels else f"zone {z}"

    new_sites = [
        *inputs.hospitals,
        *[Site("zone", zone_name(i), targets[i].lat, targets[i].lon) for i in busiest],
    ]
    sites = [*inputs.stations, *new_sites]
    usable = _reachable(travel, [LatLon(s.lat, s.lon) for s in sites])
    sites = [s for s, ok in zip(sites, usable, strict=True) if ok or s.kind == "station"]
    times = travel.matrix([LatLon(s.lat, s.lon) for s in sites], targets, query.depart_at)
    result = plan_posts(
        times,
        counts.astype(np.float64),
        count=query.count,
        budget_s=query.target_s,
        existing=range(len(inputs.stations)),
        objective=query.objective,
    )

    def pct(share: float) -> float:
        return round(100 * share, 1)

    def seconds(value: float) -> float | None:
        return round(value, 1) if np.isfinite(value) else None

    return {
        "objective": query.objective,
        "triage": query.triage,
        "target_s": query.target_s,
        "depart_at": query.depart_at.isoformat(),
        "calls": len(inputs.calls),
        "zones_with_calls": len(zones),
        "cell_m": query.cell_m,
        "stations": len(inputs.stations),
        "candidates": len(sites) - len(inputs.stations),
        "before": {
            "covered_pct": pct(result.covered_before),
            "mean_s": seconds(result.mean_before_s),
        },
        "posts": [
            {
                "rank": i + 1,
                "kind": sites[step.site].kind,
                "name": sites[step.site].name,
                "lat": round(sites[step.site].lat, 6),
                "lon": round(sites[step.site].lon, 6),
                "gain": pct(step.gain) if query.objective == "mclp" else seconds(step.gain),
                "gain_unit": "points of demand covered" if query.objective == "mclp" else "s",
                "covered_pct": pct(step.covered),
                "mean_s": seconds(step.mean_s),
            }
            for i, step in enumerate(result.steps)
        ],
    }
