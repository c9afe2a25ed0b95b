"""Move-up: after each change of the fleet, suggest at most a few relocations of idle units
to the sites (stations, standby posts) that restore the most coverage, within limits that
keep crews from being shuttled about.

A *round* (:func:`advise`) runs in one unit of work: it brings open moves up to date
(a unit sent to a call, or gone off duty, ends its move; a unit whose GPS shows it at its
post has arrived), then asks the coverage model for the best moves among
the units that may move, and reconciles them with the open suggestions (the same
suggestion stays, an overtaken one expires), accepting at once for a centre in ``auto``.
The centres' rows are locked for the round, so two workers never suggest at once.

:class:`MoveUpAdvisor` runs a round after every committed change of a unit's state (a
reaction, in its own unit of work), coalescing a burst of changes into one more round.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from dispatch.clock import Clock
from dispatch.coverage import moveups
from dispatch.coverage.fleet import FleetUnit, read_fleet
from dispatch.coverage.keeper import CoverageKeeper
from dispatch.coverage.model import Coverage
from dispatch.db.reactions import Reactions
from dispatch.db.session import Database, Publisher, UnitOfWork
from dispatch.events import (
    AssignmentCreated,
    AssignmentProgressed,
    MoveUpChanged,
    StandbyPostsChanged,
    VehicleUpdated,
)
from dispatch.models import Organisation
from dispatch.models.coverage import MoveUp, MoveUpStatus
from dispatch.models.enums import MoveUpMode
from dispatch.routing.geo import haversine_m

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MoveUpConfig:
    #: Moves suggested at once (each chosen after the previous is applied).
    max_moves: int = 2
    #: The least gain worth a crew's drive, in weighted coverage (0.005: half a point of
    #: red calls within target).
    min_gain: float = 0.005
    #: A unit moved (or whose move was rejected) is not suggested again within this.
    cooldown: timedelta = timedelta(minutes=15)
    #: Moves accepted per centre in any hour, at most.
    per_hour: int = 30
    #: The farthest a unit is sent to wait, in driving seconds.
    max_drive_s: float = 900.0


async def advise(
    uow: UnitOfWork, keeper: CoverageKeeper, cfg: MoveUpConfig, now: datetime
) -> list[MoveUp]:
    """One round; returns the moves it created or changed."""
    coverage = await keeper.ready(uow, now)
    await keeper.refresh_sites(uow, now)
    if coverage is None:
        return []
    lock = uow.strategy.lock_for_update(
        select(Organisation.id, Organisation.moveup_mode).order_by(Organisation.id)
    )
    modes: dict[int, MoveUpMode] = {row[0]: row[1] for row in await uow.session.execute(lock)}
    fleet = await sync_fleet(uow, coverage, now)
    by_vehicle = {f.vehicle_id: f for f in fleet}
    changed: list[MoveUp] = []
    open_moves = list(
        (
            await uow.session.scalars(
                select(MoveUp).where(MoveUp.status.in_(moveups.OPEN)).order_by(MoveUp.id)
            )
        ).all()
    )
    pending: dict[int, MoveUp] = {}
    for move in open_moves:
        unit = by_vehicle.get(move.vehicle_id)
        if unit is None or not unit.state.available:
            await moveups.close(uow, move, now, "the unit is no longer free")
            changed.append(move)
        elif move.status == MoveUpStatus.ACCEPTED and _at_site(unit, move, coverage):
            await moveups.mark_arrived(uow, None, move, now)
            changed.append(move)
        elif move.status == MoveUpStatus.SUGGESTED:
            pending[move.vehicle_id] = move
    held = {m.vehicle_id for m in open_moves if m.status == MoveUpStatus.ACCEPTED}
    resting = await _resting(uow, now - cfg.cooldown)
    budget = await _budget(uow, cfg, now, modes)
    movable = [
        unit.vehicle_id
        for unit in fleet
        if unit.movable
        and modes.get(unit.organisation_id, MoveUpMode.OFF) != MoveUpMode.OFF
        and budget.get(unit.organisation_id, 0) > 0
        and unit.vehicle_id not in held
        and unit.vehicle_id not in resting
    ]
    eligible = coverage.reachable_sites(movable, cfg.max_drive_s)
    best = coverage.moves(eligible, max_moves=cfg.max_moves, min_gain=cfg.min_gain)
    chosen = {vid: key for vid, key, _gain, _rows in best}
    for vehicle_id, move in pending.items():
        if chosen.get(vehicle_id) != move.site_key:
            await moveups.close(uow, move, now, "overtaken by a better move")
            changed.append(move)
    for vehicle_id, key, gain, rows in best:
        unit = by_vehicle[vehicle_id]
        org = unit.organisation_id
        if budget.get(org, 0) <= 0:
            continue
        existing = pending.get(vehicle_id)
        if existing is not None and existing.site_key == key:
            continue  # still the best: the dispatcher keeps seeing the same suggestion
        budget[org] -= 1
        move = await moveups.suggest(
            uow,
            unit,
            coverage,
            key,
            gain,
            rows,
            now,
            auto=modes.get(org) == MoveUpMode.AUTO,
        )
        changed.append(move)
    return changed


async def sync_fleet(uow: UnitOfWork, coverage: Coverage, now: datetime) -> list[FleetUnit]:
    """Bring ``coverage`` up to the fleet as the database holds it now."""
    fleet = await read_fleet(uow)
    coverage.sync([f.state for f in fleet], now)
    return fleet


def _at_site(unit: FleetUnit, move: MoveUp, coverage: Coverage) -> bool:
    radius = coverage.cfg.site_radius_m
    here = np.array([unit.state.lat, unit.state.lon])
    there = np.array([move.lat, move.lon])
    return float(haversine_m(here[:1], here[1:], there[:1], there[1:])[0]) <= radius


async def _resting(uow: UnitOfWork, since: datetime) -> set[int]:
    """Units moved, or whose move was turned down, since ``since``: not asked again yet."""
    rows = await uow.session.scalars(
        select(MoveUp.vehicle_id).where(
            MoveUp.decided_at >= since,
            MoveUp.status.in_(moveups.DECIDED),
        )
    )
    return set(rows)


async def _budget(
    uow: UnitOfWork, cfg: MoveUpConfig, now: datetime, modes: dict[int, MoveUpMode]
) -> dict[int, int]:
    """Moves each centre may still make this hour: the cap less the moves accepted in the
    last hour and the suggestions waiting."""
    accepted = dict(
        (
            await uow.session.execute(
                select(MoveUp.organisation_id, func.count())
                .where(
                    MoveUp.decided_at >= now - timedelta(hours=1),
                    MoveUp.status.in_(moveups.TAKEN),
                )
                .group_by(MoveUp.organisation_id)
            )
        ).all()
    )
    return {org: cfg.per_hour - int(accepted.get(org, 0)) for org in modes}


class MoveUpAdvisor:
    """Runs rounds after fleet changes on this worker (one at a time, a burst coalesced)."""

    def __init__(
        self,
        db: Database,
        keeper: CoverageKeeper,
        cfg: MoveUpConfig,
        clock: Clock,
        publish: Publisher | None = None,
    ) -> None:
        self.db = db
        self.keeper = keeper
        self.cfg = cfg
        self.clock = clock
        self.publish = publish
        self._lock = asyncio.Lock()
        self._again = False
        self.rounds = 0

    def subscribe(self, reactions: Reactions) -> None:
        reactions.subscribe(
            "moveup-advisor",
            (AssignmentCreated, AssignmentProgressed, VehicleUpdated, StandbyPostsChanged),
            self._react,
        )
        # A dispatcher's "no" (or a move called back): offer the next best now. Only that:
        # a round's own changes must not start another round.
        reactions.subscribe(
            "moveup-advisor-after-rejection",
            (MoveUpChanged,),
            self._react,
            when=lambda event: event.status == MoveUpStatus.REJECTED.value,
        )

    async def _react(self, _events: Sequence[object]) -> None:
        if self._lock.locked():
            self._again = True  # the running round may have read the fleet before this
            return
        async with self._lock:
            self._again = True
            while self._again:
                self._again = False
                await self.run_round()

    async def run_round(self) -> list[MoveUp]:
        for attempt in range(2):
            try:
                async with self.db.unit_of_work(publish=self.publish) as uow:
                    changed = await advise(uow, self.keeper, self.cfg, self.clock.now())
                self.rounds += 1
                return changed
            except IntegrityError:  # another worker's round or a dispatcher got there first
                if attempt:
                    raise
        return []
