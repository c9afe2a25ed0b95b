"""Expected coverage of the city by the units that are free (MEXCLP), and what a decision
does to it: the loss of sending a unit, the gain of moving one to a standby post.

A zone is *covered* for a triage level by a unit that can drive there within the level's
target minus the time before driving (call handling, turnout). With units busy a fraction
``q`` of the time, a zone covered by ``k`` free units is reachable in time with
probability ``1 − q^k`` (Daskin's MEXCLP); the value of the city is the demand-weighted
sum over zones, per level, plus a row for red calls covered by an *advanced* (ALS) unit.
Each row's demand sums to one, so a row's value is the share of that level's calls a free
unit could reach in time, and a loss or gain reads as "percentage points of red calls".

Travel times come precomputed from *sources* (every zone's centroid, then every standby
post) to every zone, at off-peak speed; the time-of-day multiplier scales them. A unit
stands at a source: its post, or the zone it is in. Counts of covering units per zone are
kept incrementally, so a unit's state change costs O(zones) and a whole ranking's losses
one matrix product: milliseconds for hundreds of units.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from dispatch.routing.base import FloatArray, IntArray
from dispatch.routing.zones import LEVELS

BoolArray = npt.NDArray[np.bool_]
#: The extra row: red calls covered by an advanced (ALS) unit.
RED_ALS = "red_als"
ROWS: tuple[str, ...] = (*LEVELS, RED_ALS)


@dataclass(frozen=True)
class CoverageRules:
    """Targets per level (seconds from the call), the time before a unit drives, and how
    much covering each row is worth relative to the others."""

    target_s: Mapping[str, int] = field(
        default_factory=lambda: {"red": 600, "yellow": 900, "green": 1800}
    )
    delay_s: Mapping[str, int] = field(
        default_factory=lambda: {"red": 120, "yellow": 180, "green": 240}
    )
    weight: Mapping[str, float] = field(
        default_factory=lambda: {"red": 1.0, "yellow": 0.3, "green": 0.05, RED_ALS: 0.5}
    )

    def budget_s(self, row: str) -> int:
        """Driving seconds that still reach the call within its target."""
        level = "red" if row == RED_ALS else row
        return max(0, int(self.target_s[level]) - int(self.delay_s.get(level, 0)))


@dataclass
class _Unit:
    source: int
    als: bool
    available: bool


@dataclass(frozen=True, slots=True)
class Loss:
    """What sending one unit costs: ``value`` in weighted shares of demand, ``rows`` per
    row, and (once ``CoverageModel.explained``) the zone left most exposed where this unit
    was the only cover, with the share of the row's demand there."""

    value: float
    rows: dict[str, float]
    sole_zone: int | None
    sole_row: str | None
    sole_share: float


@dataclass(frozen=True, slots=True)
class Move:
    vehicle_id: int
    source: int
    gain: float
    rows: dict[str, float]


class CoverageModel:
    def __init__(
        self,
        times_s: IntArray,
        demand: FloatArray,
        rules: CoverageRules | None = None,
        *,
        busy_fraction: float = 0.3,
        multiplier: float = 1.0,
    ) -> None:
        """``times_s``: seconds from each source (rows) to each zone (columns), off-peak.
        ``demand``: one row per level of ``zones.LEVELS`` (each normalised here)."""
        self.times_s = np.asarray(times_s, dtype=np.float64)
        self.rules = rules or CoverageRules()
        zones = self.times_s.shape[1]
        self._demand = np.zeros((len(ROWS), zones))
        self.set_demand(demand)
        self._weight = np.array([float(self.rules.weight.get(r, 0.0)) for r in ROWS])
        self.q = _busy(busy_fraction)
        self.multiplier = multiplier
        self._units: dict[int, _Unit] = {}
        self._counts = np.zeros((len(ROWS), zones), dtype=np.int64)
        self._cover = self._cover_table()

    # --- state -------------------------------------------------------------------------

    @property
    def zones(self) -> int:
        return int(self.times_s.shape[1])

    def _cover_table(self) -> BoolArray:
        """(row, source, zone): the source covers the zone for the row now."""
        budgets = np.array([self.rules.budget_s(r) for r in ROWS], dtype=np.float64)
        scaled = self.times_s * self.multiplier
        table: BoolArray = scaled[None, :, :] <= budgets[:, None, None]
        return table

    def _rows_of(self, unit: _Unit) -> BoolArray:
        """Which rows a unit counts in: every level, and the ALS row when it is ALS."""
        rows = np.ones(len(ROWS), dtype=bool)
        rows[ROWS.index(RED_ALS)] = unit.als
        return rows

    def _apply(self, unit: _Unit, sign: int) -> None:
        if unit.available:
            mask = self._rows_of(unit)
            self._counts[mask] += sign * self._cover[mask, unit.source, :]

    def place(self, vehicle_id: int, source: int, *, als: bool, available: bool) -> None:
        """Set a unit's place and state (adding it if new): O(zones)."""
        if not 0 <= source < self.times_s.shape[0]:
            raise ValueError(f"unknown source {source}")
        old = self._units.get(vehicle_id)
        if old is not None:
            self._apply(old, -1)
        unit = _Unit(source, als, available)
        self._units[vehicle_id] = unit
        self._apply(unit, +1)

    def remove(self, vehicle_id: int) -> None:
        old = self._units.pop(vehicle_id, None)
        if old is not None:
            self._apply(old, -1)

    def set_multiplier(self, multiplier: float) -> None:
        """Traffic changed (a rush hour began or ended): re-derive the covering sets."""
        if multiplier != self.multiplier:
            self.multiplier = multiplier
            self._cover = self._cover_table()
            self._recount()

    def set_demand(self, demand: FloatArray) -> None:
        """New expected demand (one row per level, normalised here): learned calls."""
        rows = np.asarray(demand, dtype=np.float64)
        if rows.shape != (len(LEVELS), self.zones) or not np.all(np.isfinite(rows)):
            raise ValueError(f"demand must be {len(LEVELS)} finite rows of {self.zones} zones")
        full = np.vstack([rows, rows[LEVELS.index("red")]])
        sums = full.sum(axis=1, keepdims=True)
        self._demand = np.divide(full, sums, out=np.zeros_like(full), where=sums > 0)

    def set_busy_fraction(self, busy_fraction: float) -> None:
        self.q = _busy(busy_fraction)

    def _recount(self) -> None:
        self._counts[:] = 0
        for unit in self._units.values():
            self._apply(unit, +1)

    def units(self) -> dict[int, tuple[int, bool, bool]]:
        return {v: (u.source, u.als, u.available) for v, u in self._units.items()}

    # --- values ------------------------------------------------------------------------

    def row_values(self) -> dict[str, float]:
        """Per row: the share of its demand a free unit reaches in time (MEXCLP)."""
        covered = 1.0 - np.power(self.q, self._counts)
        shares = (self._demand * covered).sum(axis=1)
        return {r: float(v) for r, v in zip(ROWS, shares, strict=True)}

    def value(self) -> float:
        covered = 1.0 - np.power(self.q, self._counts)
        return float(((self._demand * covered).sum(axis=1) * self._weight).sum())

    def covering(self, row: str) -> IntArray:
        """How many free units cover each zone for ``row``."""
        counts: IntArray = self._counts[ROWS.index(row)].copy()
        return counts

    def losses(self, vehicle_ids: Sequence[int]) -> dict[int, Loss]:
        """What sending each unit would cost: the value lost if it stopped being free.
        A unit that is not free (or unknown) costs nothing."""
        known = [v for v in vehicle_ids if v in self._units and self._units[v].available]
        if not known:
            return {v: Loss(0.0, {}, None, None, 0.0) for v in vehicle_ids}
        units = [self._units[v] for v in known]
        sources = np.array([u.source for u in units])
        # Losing one cover where k units cover: q^(k-1) - q^k = q^(k-1) (1 - q).
        marginal = self._demand * np.power(self.q, np.maximum(self._counts - 1, 0)) * (1 - self.q)
        per_row = np.empty((len(known), len(ROWS)))
        for r in range(len(ROWS)):
            cover = self._cover[r, sources, :].astype(np.float64)  # (units, zones)
            if r == ROWS.index(RED_ALS):
                cover *= np.array([u.als for u in units], dtype=np.float64)[:, None]
            per_row[:, r] = cover @ marginal[r]
        values = per_row @ self._weight
        result: dict[int, Loss] = {}
        for i, vehicle_id in enumerate(known):
            rows = {r: float(per_row[i, j]) for j, r in enumerate(ROWS)}
            result[vehicle_id] = Loss(float(values[i]), rows, None, None, 0.0)
        for vehicle_id in vehicle_ids:
            result.setdefault(vehicle_id, Loss(0.0, {}, None, None, 0.0))
        return result

    def explained(self, vehicle_id: int, loss: Loss) -> Loss:
        """``loss`` with the zone this unit alone covers (only for units a dispatcher is
        shown: it costs a few array operations per unit)."""
        unit = self._units.get(vehicle_id)
        if unit is None or not unit.available:
            return loss
        zone, row, share = self._sole_cover(unit)
        return Loss(loss.value, loss.rows, zone, row, share)

    def _sole_cover(self, unit: _Unit) -> tuple[int | None, str | None, float]:
        """The zone with the most demand that only this unit covers (red first, then ALS,
        then the others): what a dispatcher should hear about."""
        for row in ("red", RED_ALS, "yellow", "green"):
            r = ROWS.index(row)
            if (row == RED_ALS and not unit.als) or self._weight[r] == 0:
                continue
            alone = self._cover[r, unit.source, :] & (self._counts[r] == 1)
            if alone.any():
                demand = np.where(alone, self._demand[r], -1.0)
                zone = int(np.argmax(demand))
                if demand[zone] > 0:
                    return zone, row, float(alone @ self._demand[r])
        return None, None, 0.0

    def move_gains(self, vehicle_id: int, sources: Sequence[int] | IntArray) -> FloatArray:
        """The value gained by a free unit standing at each of ``sources`` instead of
        where it is (negative: the move would expose more than it covers)."""
        unit = self._units[vehicle_id]
        candidates = np.asarray(sources, dtype=np.int64)
        if not unit.available or candidates.size == 0:
            return np.zeros(candidates.size)
        mask = self._rows_of(unit)
        gains = np.zeros(candidates.size)
        for r in range(len(ROWS)):
            if not mask[r] or self._weight[r] == 0:
                continue
            base = self._counts[r] - self._cover[r, unit.source, :]
            now = np.power(self.q, self._counts[r])
            after = np.power(self.q, base[None, :] + self._cover[r, candidates, :])
            gains += self._weight[r] * ((now[None, :] - after) @ self._demand[r])
        return gains

    def best_moves(
        self,
        eligible: Mapping[int, Sequence[int] | IntArray],
        *,
        max_moves: int,
        min_gain: float,
    ) -> list[Move]:
        """Greedy move-up: repeatedly take the (unit, source) with the largest gain above
        ``min_gain`` among ``eligible`` (unit → sources it may go to), applying each move
        before choosing the next, at most ``max_moves``; ties go to the lower vehicle id,
        then the lower source. The model is left as it was."""
        pool = {
            v: np.asarray(s, dtype=np.int64)
            for v, s in sorted(eligible.items())
            if v in self._units and self._units[v].available and len(s)
        }
        if not pool or max_moves <= 0:
            return []
        vehicles = list(pool)
        candidates = np.unique(np.concatenate(list(pool.values())))
        allowed = np.zeros((len(vehicles), candidates.size), dtype=bool)
        for i, v in enumerate(vehicles):
            allowed[i, np.searchsorted(candidates, pool[v])] = True
        sources = np.array([self._units[v].source for v in vehicles], dtype=np.int64)
        als = np.array([self._units[v].als for v in vehicles], dtype=bool)
        moves: list[Move] = []
        moved: dict[int, int] = {}  # vehicle → the source it came from
        try:
            while len(moves) < max_moves and allowed.any():
                best = self._best_move(sources, als, candidates, allowed)
                if best is None or best[0] < min_gain:
                    break
                gain, i, source = best
                vehicle_id = vehicles[i]
                before = self.row_values()
                moved[vehicle_id] = int(sources[i])
                self.place(vehicle_id, source, als=bool(als[i]), available=True)
                after = self.row_values()
                rows = {r: after[r] - before[r] for r in ROWS}
                moves.append(Move(vehicle_id, source, gain, rows))
                allowed[i, :] = False  # one move per unit
        finally:
            for vehicle_id, source in moved.items():
                unit = self._units[vehicle_id]
                self.place(vehicle_id, source, als=unit.als, available=True)
        return moves

    def _best_move(
        self, sources: IntArray, als: BoolArray, candidates: IntArray, allowed: BoolArray
    ) -> tuple[float, int, int] | None:
        """The best single move: (gain, index of the unit, source). Every unit and source
        is weighed at once: for a row, the value after moving unit u to c is
        sum_z d_z q^(k_z - cov(u's source, z) + cov(c, z)), and since q^(a+b) = q^a q^b
        that is one matrix product (units x zones) @ (zones x sources)."""
        gains = np.zeros(allowed.shape)
        powers = np.power(self.q, np.arange(int(self._counts.max()) + 2, dtype=np.float64))
        for r, row in enumerate(ROWS):
            if self._weight[r] == 0:
                continue
            demand = self._demand[r]
            counts = self._counts[r]
            now = float(powers[counts] @ demand)
            # q^(k - cov): looked up, not raised (k is a small count)
            base = powers[counts[None, :] - self._cover[r, sources, :]]
            there = np.power(self.q, self._cover[r, candidates, :].astype(np.float64))
            row_gain = now - (base * demand[None, :]) @ there.T
            if row == RED_ALS:
                row_gain *= als[:, None]  # only an ALS unit counts in the ALS row
            gains += self._weight[r] * row_gain
        gains = np.where(allowed, gains, -np.inf)
        per_unit = gains.max(axis=1)
        top = float(per_unit.max())
        if not np.isfinite(top):
            return None
        i = int(np.flatnonzero(per_unit >= top - 1e-12)[0])  # ties: the lower vehicle id
        j = int(np.flatnonzero(gains[i] >= per_unit[i] - 1e-12)[0])  # then the lower source
        return float(gains[i, j]), i, int(candidates[j])

    def expected_response_s(self, level: str = "red") -> FloatArray:
        """Per zone: the time from the call to the nearest free unit's arrival now (delay
        plus driving), ``inf`` where no unit is free; for the coverage layer on the map."""
        free = [u.source for u in self._units.values() if u.available]
        if not free:
            return np.full(self.zones, np.inf)
        driving = (self.times_s[np.array(free), :] * self.multiplier).min(axis=0)
        delayed: FloatArray = driving + float(self.rules.delay_s.get(level, 0))
        return delayed


def _busy(fraction: float) -> float:
    """Keep q inside (0, 1): q = 0 would make one unit cover perfectly (no value in a
    second), q = 1 would make coverage worthless."""
    return float(min(max(fraction, 0.02), 0.95))


def busy_fraction(states: Iterable[bool], prior: float = 0.3, prior_weight: int = 10) -> float:
    """The share of units busy now, shrunk towards ``prior`` for small fleets."""
    flags = list(states)
    busy = sum(1 for f in flags if f)
    return (busy + prior * prior_weight) / (len(flags) + prior_weight)
