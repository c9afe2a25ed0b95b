"""The coverage of one deployment, kept in memory by each worker: the zone grid over the
service area, the sites units can stand at (stations and standby posts), travel times
from every zone and site to every zone, the demand learned from calls, and the units.

Why in memory and per worker: a recommendation must answer in milliseconds, and every
worker sees the same units in the database, so each keeps its own copy and brings it up
to date from the units it reads for a ranking (``sync``: only units whose place or state
changed cost anything). Nothing here talks to the database; ``coverage.service`` does.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np

from dispatch.routing.base import FloatArray, IntArray, LatLon, TravelTimeProvider
from dispatch.routing.coverage import (
    RED_ALS,
    BoolArray,
    CoverageModel,
    CoverageRules,
    Loss,
    busy_fraction,
)
from dispatch.routing.zones import (
    LEVELS,
    DemandModel,
    DemandPoint,
    ZoneGrid,
    nearest_labels,
    prior_of,
)

log = logging.getLogger(__name__)

#: Seconds standing for "not reachable" (a zone off the road map).
UNREACHABLE_S = 10**6


@dataclass(frozen=True, slots=True)
class Site:
    """A place where idle units wait: a station (``station:3``) or a standby post
    (``post:7``: a hospital bay, a fire station, a safe parking spot)."""

    key: str
    name: str
    lat: float
    lon: float


@dataclass(frozen=True, slots=True)
class UnitState:
    """A unit as coverage sees it. ``site_key``: where it waits or is heading to wait
    (it is counted there while free); ``carries_patients`` False for first responders."""

    vehicle_id: int
    lat: float
    lon: float
    als: bool
    available: bool
    site_key: str | None = None
    carries_patients: bool = True


@dataclass(frozen=True)
class CoverageConfig:
    cell_m: float = 1000.0
    rules: CoverageRules = field(default_factory=CoverageRules)
    #: Prior share of time units are busy (shrunk towards with small fleets).
    busy_prior: float = 0.45
    #: A free unit this close to a site stands at it.
    site_radius_m: float = 300.0
    #: Seconds of ETA one whole unit of coverage value is worth, per triage, and the most a
    #: coverage penalty may add (red: the margin within which a farther unit may go instead).
    seconds_per_value: Mapping[str, float] = field(
        default_factory=lambda: {"red": 600.0, "yellow": 3000.0, "green": 6000.0}
    )
    cap_s: Mapping[str, int] = field(
        default_factory=lambda: {"red": 60, "yellow": 300, "green": 900, "white": 900}
    )
    #: Calls learned from, and how many calls the prior is worth.
    history: timedelta = timedelta(days=28)
    prior_calls: float = 500.0
    level_mix: Mapping[str, float] = field(
        default_factory=lambda: {"red": 0.15, "yellow": 0.35, "green": 0.5}
    )

    def penalty_s(self, triage: str, value: float) -> int:
        """The ETA seconds a coverage loss of ``value`` costs a call of ``triage``."""
        rate = float(self.seconds_per_value.get(triage, self.seconds_per_value.get("green", 0)))
        cap = int(self.cap_s.get(triage, 0))
        return int(min(cap, round(rate * max(value, 0.0))))


def _multiplier(travel: TravelTimeProvider, when: datetime) -> float:
    profile = getattr(travel, "time_profile", None)
    multiplier = getattr(profile, "multiplier", None)
    return float(multiplier(when)) if callable(multiplier) else 1.0


def _off_peak(when: datetime) -> datetime:
    """A departure at 03:00 local: off-peak, so the stored times carry no rush factor."""
    return when.replace(hour=3, minute=0, second=0, microsecond=0)


def _reachable(travel: TravelTimeProvider, points: Sequence[LatLon]) -> BoolArray:
    """Which points the provider can route from (a zone centre in a river cannot)."""
    distance = getattr(travel, "distance_to_network", None)
    limit = getattr(travel, "max_snap_m", None)
    if not callable(distance) or limit is None:
        return np.ones(len(points), dtype=bool)
    result: BoolArray = np.asarray(distance(points)) <= float(limit)
    return result


class Coverage:
    """One deployment's coverage: build it with :meth:`build` (seconds of CPU on a big
    map: call it in a thread), then ``sync`` units and ask for losses and moves."""

    def __init__(
        self,
        *,
        grid: ZoneGrid,
        sites: Sequence[Site],
        times_s: IntArray,
        demand: DemandModel,
        cfg: CoverageConfig,
        labels: Sequence[str],
        multiplier: Callable[[datetime], float],
        zone_ok: FloatArray,
    ) -> None:
        self.grid = grid
        self.sites = list(sites)
        self.site_index = {s.key: grid.size + i for i, s in enumerate(self.sites)}
        self._site_lat = np.array([s.lat for s in self.sites], dtype=np.float64)
        self._site_lon = np.array([s.lon for s in self.sites], dtype=np.float64)
        self.demand = demand
        self.cfg = cfg
        self.labels = list(labels)
        self.multiplier_at = multiplier
        self._zone_ok = zone_ok
        self.model = CoverageModel(times_s, self._demand_rows(), cfg.rules, busy_fraction=0.3)
        self._states: dict[int, UnitState] = {}
        self._zones_of_sites: IntArray | None = None
        self._calls_since_refresh = 0

    @classmethod
    def build(
        cls,
        travel: TravelTimeProvider,
        area: tuple[float, float, float, float],
        sites: Sequence[Site],
        when: datetime,
        *,
        cfg: CoverageConfig | None = None,
        prior: Sequence[DemandPoint] = (),
        calls: Iterable[tuple[float, float, str]] = (),
        places: Sequence[tuple[str, LatLon]] = (),
    ) -> Coverage:
        cfg = cfg or CoverageConfig()
        grid = ZoneGrid(*area, cell_m=cfg.cell_m)
        centroids = grid.centroids()
        ok = _reachable(travel, centroids)
        site_points = [LatLon(s.lat, s.lon) for s in sites]
        site_ok = _reachable(travel, site_points) if site_points else np.zeros(0, dtype=bool)
        usable = [s for s, good in zip(sites, site_ok, strict=True) if good]
        dropped = [s.key for s, good in zip(sites, site_ok, strict=True) if not good]
        if dropped:
            log.warning("coverage: sites off the road map left out: %s", ", ".join(dropped))
        times = np.full((grid.size + len(usable), grid.size), UNREACHABLE_S, dtype=np.int64)
        zone_rows = [i for i in range(grid.size) if ok[i]]
        if zone_rows:
            origins = [centroids[i] for i in zone_rows] + [LatLon(s.lat, s.lon) for s in usable]
            targets = [centroids[i] for i in zone_rows]
            block = travel.matrix(origins, targets, _off_peak(when))
            rows = np.array(zone_rows + list(range(grid.size, grid.size + len(usable))))
            times[np.ix_(rows, np.array(zone_rows))] = block
        shaped = prior_of(grid, prior)
        base = (shaped if shaped is not None else np.ones(grid.size)) * ok
        demand = DemandModel(grid, base, prior_calls=cfg.prior_calls, level_mix=cfg.level_mix)
        demand.add_calls(calls)
        named = list(places) or [(s.name, LatLon(s.lat, s.lon)) for s in usable]
        coverage = cls(
            grid=grid,
            sites=usable,
            times_s=times,
            demand=demand,
            cfg=cfg,
            labels=nearest_labels(grid, named),
            multiplier=lambda at: _multiplier(travel, at),
            zone_ok=ok.astype(np.float64),
        )
        return coverage

    # --- units -----------------------------------------------------------------------------

    def _demand_rows(self) -> FloatArray:
        rows: FloatArray = np.vstack([self.demand.of_level(level) for level in LEVELS])
        return rows * self._zone_ok[None, :]

    def source_of(self, unit: UnitState) -> int:
        """Where a unit counts: its site while free and at (or heading to) it, else the
        zone it is in."""
        if unit.available and unit.site_key in self.site_index:
            return self.site_index[unit.site_key]
        if unit.available and self.sites:
            # Equirectangular metres: exact enough within a few hundred metres.
            scale = math.cos(math.radians(unit.lat))
            dy = (self._site_lat - unit.lat) * 111_320.0
            dx = (self._site_lon - unit.lon) * 111_320.0 * scale
            distances = dx * dx + dy * dy
            nearest = int(np.argmin(distances))
            if distances[nearest] <= self.cfg.site_radius_m**2:
                return self.grid.size + nearest
        return self.grid.zone_of(LatLon(unit.lat, unit.lon))

    def sync(self, units: Sequence[UnitState], now: datetime) -> None:
        """Bring the model up to ``units`` (the whole fleet on duty) and to the traffic of
        ``now``: O(zones) per unit whose place or state changed."""
        self.model.set_multiplier(self.multiplier_at(now))
        seen = set()
        for unit in units:
            if not unit.carries_patients:
                continue
            seen.add(unit.vehicle_id)
            if self._states.get(unit.vehicle_id) == unit:
                continue
            self._states[unit.vehicle_id] = unit
            self.model.place(
                unit.vehicle_id, self.source_of(unit), als=unit.als, available=unit.available
            )
        for gone in set(self._states) - seen:
            del self._states[gone]
            self.model.remove(gone)
        self.model.set_busy_fraction(
            busy_fraction(
                (not s.available for s in self._states.values()), prior=self.cfg.busy_prior
            )
        )

    def add_call(self, lat: float, lon: float, triage: str) -> None:
        """Learn from a new call; the model's demand is refreshed every 20 calls."""
        if (
            math.isfinite(lat)
            and math.isfinite(lon)
            and self.demand.add_calls([(lat, lon, triage)])
        ):
            self._calls_since_refresh += 1
            if self._calls_since_refresh >= 20:
                self.model.set_demand(self._demand_rows())
                self._calls_since_refresh = 0

    # --- decisions -------------------------------------------------------------------------

    def losses(self, vehicle_ids: Sequence[int]) -> dict[int, Loss]:
        return self.model.losses(vehicle_ids)

    def explain(
        self, vehicle_id: int, loss: Loss, *, level_minutes: Mapping[str, int] | None = None
    ) -> str | None:
        """A sentence for the dispatcher about what sending this unit leaves uncovered."""
        loss = self.model.explained(vehicle_id, loss)
        if loss.sole_zone is None or loss.sole_row is None:
            return None
        where = self.labels[loss.sole_zone]
        row = loss.sole_row
        level = "red" if row == RED_ALS else row
        minutes = (level_minutes or {}).get(level) or round(self.cfg.rules.budget_s(row) / 60)
        kind = "ALS unit" if row == RED_ALS else "free unit"
        return (
            f"the only {kind} within {minutes} min of {loss.sole_share:.0%} of "
            f"{level} calls ({where})"
        )

    def row_values(self) -> dict[str, float]:
        return self.model.row_values()

    def site(self, key: str) -> Site | None:
        index = self.site_index.get(key)
        return None if index is None else self.sites[index - self.grid.size]

    def reachable_sites(
        self, vehicle_ids: Sequence[int], max_drive_s: float
    ) -> dict[int, list[str]]:
        """For each synced unit: the sites it could drive to within ``max_drive_s`` in
        today's traffic, other than where it counts now (one array operation for all)."""
        placed = self.model.units()
        known = [v for v in vehicle_ids if v in placed]
        if not known or not self.sites:
            return {v: [] for v in known}
        here = np.array([placed[v][0] for v in known], dtype=np.int64)
        seconds = self.model.times_s[here][:, self._site_zones()] * self.model.multiplier
        own = self.grid.size + np.arange(len(self.sites))
        ok = (seconds <= max_drive_s) & (own[None, :] != here[:, None])
        keys = [site.key for site in self.sites]
        return {v: [keys[j] for j in np.flatnonzero(ok[i])] for i, v in enumerate(known)}

    def _site_zones(self) -> IntArray:
        if self._zones_of_sites is None:
            self._zones_of_sites = np.array(
                [self.grid.zone_of(LatLon(s.lat, s.lon)) for s in self.sites], dtype=np.int64
            )
        return self._zones_of_sites

    def drive_s(self, unit: UnitState, key: str) -> float:
        """Seconds from where ``unit`` counts to the site ``key`` in today's traffic
        (its zone-to-zone time: the matrix is per zone)."""
        index = self.site_index.get(key)
        if index is None:
            return math.inf
        zone = self._site_zones()[index - self.grid.size]
        seconds = float(self.model.times_s[self.source_of(unit), zone])
        return seconds * self.model.multiplier if seconds < UNREACHABLE_S else math.inf

    def place_name(self, lat: float, lon: float) -> str:
        """The name of the place nearest a point (a station, a hospital)."""
        return self.labels[self.grid.zone_of(LatLon(lat, lon))]

    def moves(
        self, eligible: Mapping[int, Sequence[str]], *, max_moves: int, min_gain: float
    ) -> list[tuple[int, str, float, dict[str, float]]]:
        """Move-up: (vehicle, site key, gain, gain per row), best first."""
        by_source = {
            vehicle_id: [self.site_index[k] for k in keys if k in self.site_index]
            for vehicle_id, keys in eligible.items()
        }
        keys = {index: key for key, index in self.site_index.items()}
        return [
            (m.vehicle_id, keys[m.source], m.gain, m.rows)
            for m in self.model.best_moves(by_source, max_moves=max_moves, min_gain=min_gain)
        ]

    def layer(self, level: str = "red") -> list[dict[str, object]]:
        """The coverage layer for the map: each zone's box, name, share of demand and the
        expected time from a call to the first unit's arrival now (None: no free unit)."""
        expected = self.model.expected_response_s(level)
        demand = self.demand.of_level(level) * self._zone_ok
        total = demand.sum() or 1.0
        out: list[dict[str, object]] = []
        g = self.grid
        for zone in range(g.size):
            if not self._zone_ok[zone]:
                continue
            r, c = divmod(zone, g.cols)
            seconds = expected[zone]
            out.append(
                {
                    "zone": zone,
                    "name": self.labels[zone],
                    "south": g.min_lat + r * g.dlat,
                    "west": g.min_lon + c * g.dlon,
                    "north": g.min_lat + (r + 1) * g.dlat,
                    "east": g.min_lon + (c + 1) * g.dlon,
                    "demand_share": round(float(demand[zone] / total), 4),
                    "expected_s": None if not math.isfinite(seconds) else int(seconds),
                }
            )
        return out
