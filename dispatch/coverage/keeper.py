"""Each worker's live coverage for coverage-aware dispatch (``DISPATCH_COVERAGE_DISPATCH``).

Built once, lazily, on the first recommendation that needs it (the travel matrix from
every zone and station to every zone takes seconds on a big map, so it runs in a thread,
and until it is ready recommendations rank by ETA alone); then brought up to date from
the fleet every recommendation reads anyway (``Coverage.sync`` costs only the units whose
place or state changed). Demand starts from the recorded calls of the last four weeks on
top of a uniform prior and learns every new call.

Why per worker, without a shared copy: every worker reads the same units from the
database for each ranking, so each converges to the same picture.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from dispatch.coverage.model import Coverage, CoverageConfig, Site, UnitState
from dispatch.db.session import UnitOfWork
from dispatch.models import Hospital, Incident, StandbyPost, Station
from dispatch.routing.base import LatLon, TravelTimeProvider
from dispatch.routing.coverage import Loss
from dispatch.routing.zones import DemandPoint

log = logging.getLogger(__name__)

#: Degrees added around the stations, hospitals and calls that make the service area.
_PAD_DEG = 0.02
#: How far (degrees, about 11 km) beyond the stations the demand prior may widen the area.
_PRIOR_REACH_DEG = 0.1


@dataclass(frozen=True, slots=True)
class Cost:
    """What sending one unit costs in coverage, as the ranking adds it."""

    penalty_s: int
    loss: float
    reason: str | None


class CoverageKeeper:
    def __init__(
        self,
        travel: TravelTimeProvider,
        *,
        area: tuple[float, float, float, float] | None = None,
        cfg: CoverageConfig | None = None,
        wait: bool = False,
        prior: Sequence[DemandPoint] = (),
    ) -> None:
        self.travel = travel
        self.area = area
        #: Where calls come from before the recorded ones tell (empty: uniform).
        self.prior = tuple(prior)
        #: Wait for every build instead of answering without it meanwhile (a simulation:
        #: how many calls a build takes in real time must not change the simulated day).
        self.wait = wait
        self.cfg = cfg or CoverageConfig()
        self.coverage: Coverage | None = None
        self._building: asyncio.Task[Coverage | None] | None = None
        #: The sites the coverage was (or is being) built with; other sites mean rebuild.
        self._site_keys: tuple[str, ...] | None = None
        self._failed = False
        #: The last call the coverage has learned (and the one the build under way will
        #: have learned): newer ones are read on the next decision.
        self._seen = 0
        self._building_seen = 0

    async def ready(self, uow: UnitOfWork, now: datetime) -> Coverage | None:
        """The coverage, or None while it is first being built (the first call starts it).
        A rebuild (new standby posts) keeps answering with the previous one meanwhile."""
        self._collect()
        if self.coverage is None and self._building is None and not self._failed:
            await self._start(uow, now)
            self._collect()
        if self.wait and self._building is not None:
            await asyncio.wait([self._building])
            self._collect()
        if self.coverage is not None:
            await self._learn_new_calls(uow)
        return self.coverage

    async def _learn_new_calls(self, uow: UnitOfWork) -> None:
        """Learn the calls committed since the last decision. Read at the decision, not
        from the calls' events: what a decision knows must not depend on how soon a
        reaction ran (a simulated day repeats exactly), and every worker learns every call."""
        rows = (
            await uow.session.execute(
                select(Incident.id, Incident.lat, Incident.lon, Incident.triage)
                .where(Incident.id > self._seen)
                .order_by(Incident.id)
            )
        ).all()
        coverage = self.coverage
        assert coverage is not None
        for incident_id, lat, lon, triage in rows:
            if incident_id <= self._seen:
                continue  # a decision running beside this one learned it already
            coverage.add_call(lat, lon, str(getattr(triage, "value", triage)))
            self._seen = incident_id

    async def wait_built(self, uow: UnitOfWork, now: datetime) -> Coverage | None:
        """Build now and wait for it (start-up, tests, benchmarks)."""
        await self.ready(uow, now)
        if self._building is not None:
            await asyncio.wait([self._building])
            self._collect()
        return self.coverage

    async def refresh_sites(self, uow: UnitOfWork, now: datetime) -> None:
        """Rebuild in the background when the stations or standby posts are not those the
        coverage was built with (the move-up advisor checks on each round)."""
        self._collect()
        if (
            self._building is None
            and self._site_keys is not None
            and tuple(await _site_keys(uow)) != self._site_keys
        ):
            await self._start(uow, now)
            if self.wait and self._building is not None:
                await asyncio.wait([self._building])
                self._collect()

    def _collect(self) -> None:
        if self._building is None or not self._building.done():
            return
        built = self._building.result()
        self._building = None
        if built is not None:
            self.coverage = built
            self._seen = self._building_seen
        elif self.coverage is None:
            self._failed = True  # logged by _build; rank by ETA alone from now on

    async def _start(self, uow: UnitOfWork, now: datetime) -> None:
        # the newest call first: one committed meanwhile is learned twice, never missed
        seen = int(await uow.session.scalar(select(func.max(Incident.id))) or 0)
        sites, places, calls = await _inputs(uow, now - self.cfg.history)
        if not sites:
            return  # no station yet: nothing to cover from
        self._building_seen = seen
        area = self.area or _area(
            [(s.lat, s.lon) for s in sites], [*calls, *self._prior_near(sites)]
        )
        self._site_keys = tuple(s.key for s in sites)
        self._building = asyncio.create_task(
            asyncio.to_thread(self._build, area, sites, places, calls, now)
        )

    def _prior_near(self, sites: Sequence[Site]) -> list[tuple[float, float, str]]:
        """The prior's points that widen the service area: those within ``_PRIOR_REACH_DEG``
        of the sites' box (a province's population layer must not make the grid a
        province)."""
        lo_lat = min(s.lat for s in sites) - _PRIOR_REACH_DEG
        hi_lat = max(s.lat for s in sites) + _PRIOR_REACH_DEG
        lo_lon = min(s.lon for s in sites) - _PRIOR_REACH_DEG
        hi_lon = max(s.lon for s in sites) + _PRIOR_REACH_DEG
        return [
            (p.lat, p.lon, "")
            for p in self.prior
            if p.weight > 0 and lo_lat <= p.lat <= hi_lat and lo_lon <= p.lon <= hi_lon
        ]

    def _build(
        self,
        area: tuple[float, float, float, float],
        sites: list[Site],
        places: list[tuple[str, LatLon]],
        calls: list[tuple[float, float, str]],
        now: datetime,
    ) -> Coverage | None:
        try:
            return Coverage.build(
                self.travel,
                area,
                sites,
                now,
                cfg=self.cfg,
                prior=self.prior,
                calls=calls,
                places=places,
            )
        except Exception:  # never let coverage break dispatch: rank by ETA alone
            log.exception("coverage could not be built; ranking by ETA alone")
            return None

    def costs(
        self,
        coverage: Coverage,
        units: Sequence[UnitState],
        candidates: Sequence[int],
        triage: str,
        now: datetime,
    ) -> dict[int, Cost]:
        """Bring coverage up to ``units`` (the fleet on duty) and price sending each of
        ``candidates`` to a call of ``triage``."""
        coverage.sync(units, now)
        losses: dict[int, Loss] = coverage.losses(list(candidates))
        out: dict[int, Cost] = {}
        for vehicle_id, loss in losses.items():
            penalty = self.cfg.penalty_s(triage, loss.value)
            reason = coverage.explain(vehicle_id, loss) if penalty > 0 else None
            out[vehicle_id] = Cost(penalty, loss.value, reason)
        return out


def _area(
    points: Sequence[tuple[float, float]], calls: Sequence[tuple[float, float, str]]
) -> tuple[float, float, float, float]:
    lats = [p[0] for p in points] + [c[0] for c in calls]
    lons = [p[1] for p in points] + [c[1] for c in calls]
    pad = _PAD_DEG
    return min(lats) - pad, min(lons) - pad, max(lats) + pad, max(lons) + pad


async def _inputs(
    uow: UnitOfWork, since: datetime
) -> tuple[list[Site], list[tuple[str, LatLon]], list[tuple[float, float, str]]]:
    session = uow.session
    stations = (
        await session.execute(
            select(Station.id, Station.name, Station.lat, Station.lon).order_by(Station.id)
        )
    ).all()
    hospitals = (await session.execute(select(Hospital.name, Hospital.lat, Hospital.lon))).all()
    calls = (
        await session.execute(
            select(Incident.lat, Incident.lon, Incident.triage).where(Incident.created_at >= since)
        )
    ).all()
    posts = (
        await session.execute(
            select(StandbyPost.id, StandbyPost.name, StandbyPost.lat, StandbyPost.lon)
            .where(StandbyPost.active.is_(True))
            .order_by(StandbyPost.id)
        )
    ).all()
    sites = [Site(f"station:{i}", name, lat, lon) for i, name, lat, lon in stations]
    sites += [Site(f"post:{i}", name, lat, lon) for i, name, lat, lon in posts]
    places = [(s.name, LatLon(s.lat, s.lon)) for s in sites] + [
        (name, LatLon(lat, lon)) for name, lat, lon in hospitals
    ]
    return sites, places, [(lat, lon, str(getattr(t, "value", t))) for lat, lon, t in calls]


async def _site_keys(uow: UnitOfWork) -> list[str]:
    stations = await uow.session.scalars(select(Station.id).order_by(Station.id))
    posts = await uow.session.scalars(
        select(StandbyPost.id).where(StandbyPost.active.is_(True)).order_by(StandbyPost.id)
    )
    return [f"station:{i}" for i in stations] + [f"post:{i}" for i in posts]
