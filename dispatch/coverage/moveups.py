"""Move-up suggestions and their decisions, standby posts, and each centre's move-up mode.

A suggestion is accepted or rejected by a dispatcher (or accepted at once for a centre in
``auto``); the crew is then told "go to post X" and reports (or its GPS shows) that it
arrived. A dispatcher may call an accepted move back. Every step is audited and announced
(``MoveUpChanged``); deciding twice the same way changes nothing, so a screen may repeat."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import and_, select

from dispatch.audit import service as audit
from dispatch.coverage.fleet import FleetUnit
from dispatch.coverage.model import Coverage
from dispatch.db.session import UnitOfWork
from dispatch.errors import Conflict, Forbidden, NotFound
from dispatch.events import MoveUpChanged, StandbyPostsChanged
from dispatch.models import Assignment, Organisation, Vehicle
from dispatch.models.coverage import (
    OPEN_MOVE_STATES,
    MoveUp,
    MoveUpStatus,
    PostKind,
    StandbyPost,
)
from dispatch.models.enums import CLAIMABLE_STATES, MoveUpMode, OrganisationKind
from dispatch.routing.coverage import RED_ALS

#: Moves that may still change.
OPEN = OPEN_MOVE_STATES
#: Decisions that keep a unit from being asked again for a while (no ping-pong).
DECIDED = (MoveUpStatus.ACCEPTED, MoveUpStatus.ARRIVED, MoveUpStatus.REJECTED)
#: Moves that were made (they count against a centre's moves per hour).
TAKEN = (MoveUpStatus.ACCEPTED, MoveUpStatus.ARRIVED, MoveUpStatus.ENDED)


def as_event(move: MoveUp, call_sign: str) -> MoveUpChanged:
    return MoveUpChanged(
        moveup_id=move.id,
        vehicle_id=move.vehicle_id,
        call_sign=call_sign,
        status=move.status.value,
        site_key=move.site_key,
        site_name=move.site_name,
        lat=move.lat,
        lon=move.lon,
        gain_red=float(move.gain_rows.get("red", 0.0)),
        reason=move.reason,
        auto=move.auto,
    )


def _announce(uow: UnitOfWork, move: MoveUp, call_sign: str) -> None:
    uow.emit(as_event(move, call_sign))


async def _call_sign(uow: UnitOfWork, vehicle_id: int) -> str:
    return str(await uow.session.scalar(select(Vehicle.call_sign).where(Vehicle.id == vehicle_id)))


def _record(uow: UnitOfWork, actor: audit.Actor | None, action: str, move: MoveUp) -> None:
    audit.record(
        uow,
        actor,
        action,
        move,
        after={
            "vehicle_id": move.vehicle_id,
            "site_key": move.site_key,
            "status": move.status.value,
            "gain": round(move.gain, 5),
            "auto": move.auto,
            "note": move.note,
        },
    )


def reason_for(
    coverage: Coverage, site_lat: float, site_lon: float, rows: Mapping[str, float], drive_s: float
) -> str:
    """The line a dispatcher reads: what the move restores, where, and the drive."""
    rules = coverage.cfg.rules
    where = coverage.place_name(site_lat, site_lon)
    parts: list[str] = []
    for row in ("red", RED_ALS, "yellow"):
        gain = float(rows.get(row, 0.0))
        if gain >= 0.0005:
            level = "red" if row == RED_ALS else row
            minutes = round(rules.target_s[level] / 60)
            what = "red calls by an ALS unit" if row == RED_ALS else f"{row} calls"
            parts.append(f"+{gain * 100:.1f} % of {what} reached within {minutes} min")
    gains = "; ".join(parts[:2]) or "a small gain in coverage"
    return f"{gains} around {where} ({max(1, round(drive_s / 60))} min drive)"


async def suggest(
    uow: UnitOfWork,
    unit: FleetUnit,
    coverage: Coverage,
    key: str,
    gain: float,
    rows: Mapping[str, float],
    now: datetime,
    *,
    auto: bool,
) -> MoveUp:
    site = coverage.site(key)
    assert site is not None
    drive = coverage.drive_s(unit.state, key)
    move = MoveUp(
        organisation_id=unit.organisation_id,
        vehicle_id=unit.vehicle_id,
        site_key=key,
        site_name=site.name[:200],
        lat=site.lat,
        lon=site.lon,
        gain=float(gain),
        gain_rows={k: round(float(v), 6) for k, v in rows.items()},
        reason=reason_for(coverage, site.lat, site.lon, rows, drive)[:500],
        drive_s=int(drive),
        status=MoveUpStatus.SUGGESTED,
        auto=auto,
        created_at=now,
    )
    uow.session.add(move)
    await uow.session.flush()
    _record(uow, None, "moveup.suggested", move)
    if auto:
        await _accept(uow, None, move, now, unit.call_sign)
    else:
        _announce(uow, move, unit.call_sign)
    return move


async def close(uow: UnitOfWork, move: MoveUp, now: datetime, note: str) -> None:
    """A suggestion overtaken by events expires; an accepted move ends (the crew is told)."""
    if move.status == MoveUpStatus.SUGGESTED:
        move.status = MoveUpStatus.EXPIRED
    else:
        move.status = MoveUpStatus.ENDED
    move.ended_at, move.note = now, note
    await uow.session.flush()
    _record(uow, None, f"moveup.{move.status.value}", move)
    _announce(uow, move, await _call_sign(uow, move.vehicle_id))


async def _locked(uow: UnitOfWork, moveup_id: int) -> MoveUp:
    move = await uow.session.scalar(
        uow.strategy.lock_for_update(select(MoveUp).where(MoveUp.id == moveup_id))
    )
    if move is None:
        raise NotFound(f"Move-up {moveup_id} does not exist.")
    return move


async def _accept(
    uow: UnitOfWork, actor: audit.Actor | None, move: MoveUp, now: datetime, call_sign: str
) -> None:
    # The unit's previous post (it is moving on from there).
    for old in (
        await uow.session.scalars(
            select(MoveUp).where(
                MoveUp.vehicle_id == move.vehicle_id,
                MoveUp.status == MoveUpStatus.ARRIVED,
                MoveUp.id != move.id,
            )
        )
    ).all():
        await close(uow, old, now, "moved on to another post")
    move.status = MoveUpStatus.ACCEPTED
    move.decided_at = now
    move.decided_by_user_id = actor.user_id if actor else None
    move.decided_by = (str(getattr(actor, "name", None) or actor.label) if actor else "auto")[:200]
    await uow.session.flush()
    _record(uow, actor, "moveup.accepted", move)
    _announce(uow, move, call_sign)


async def accept(uow: UnitOfWork, actor: audit.Actor, moveup_id: int, now: datetime) -> MoveUp:
    """Send the unit; accepting again changes nothing. Refused (409) once the suggestion
    expired or was rejected, or when the unit is no longer free."""
    move = await _locked(uow, moveup_id)
    if move.status in (MoveUpStatus.ACCEPTED, MoveUpStatus.ARRIVED):
        return move
    if move.status != MoveUpStatus.SUGGESTED:
        raise Conflict(f"This move-up is {move.status.value}; it can no longer be accepted.")
    vehicle = await uow.session.get(Vehicle, move.vehicle_id)
    busy = await uow.session.scalar(
        select(Assignment.id).where(
            and_(Assignment.vehicle_id == move.vehicle_id, Assignment.is_active.is_(True))
        )
    )
    if vehicle is None or vehicle.state not in CLAIMABLE_STATES or busy is not None:
        raise Conflict("The unit is no longer free; this move-up will expire.")
    await _accept(uow, actor, move, now, vehicle.call_sign)
    return move


async def reject(
    uow: UnitOfWork, actor: audit.Actor, moveup_id: int, note: str | None, now: datetime
) -> MoveUp:
    """Turn a suggestion down, or call back an accepted move (the crew is told); the unit
    is not suggested again for a while. Rejecting again changes nothing."""
    move = await _locked(uow, moveup_id)
    if move.status == MoveUpStatus.REJECTED:
        return move
    if move.status not in OPEN:
        raise Conflict(f"This move-up is {move.status.value}; there is nothing to reject.")
    called_back = move.status != MoveUpStatus.SUGGESTED
    move.status = MoveUpStatus.REJECTED
    move.decided_at = now
    move.decided_by_user_id = actor.user_id
    move.decided_by = str(getattr(actor, "name", None) or actor.label)[:200]
    move.note = (note or ("called back" if called_back else ""))[:500] or None
    if called_back:
        move.ended_at = now
    await uow.session.flush()
    _record(uow, actor, "moveup.rejected", move)
    _announce(uow, move, await _call_sign(uow, move.vehicle_id))
    return move


async def mark_arrived(
    uow: UnitOfWork, actor: audit.Actor | None, move: MoveUp, now: datetime
) -> None:
    move.status = MoveUpStatus.ARRIVED
    move.arrived_at = now
    await uow.session.flush()
    _record(uow, actor, "moveup.arrived", move)
    _announce(uow, move, await _call_sign(uow, move.vehicle_id))


async def arrived(
    uow: UnitOfWork, actor: audit.Actor, vehicle_id: int | None, moveup_id: int, now: datetime
) -> MoveUp:
    """The crew is at the post (``vehicle_id``: the crew's own unit; None for staff)."""
    move = await _locked(uow, moveup_id)
    if vehicle_id is not None and move.vehicle_id != vehicle_id:
        raise Forbidden("This move-up is for another unit.")
    if move.status == MoveUpStatus.ARRIVED:
        return move
    if move.status != MoveUpStatus.ACCEPTED:
        raise Conflict(f"This move-up is {move.status.value}; there is no post to reach.")
    await mark_arrived(uow, actor, move, now)
    return move


async def current_for_vehicle(uow: UnitOfWork, vehicle_id: int) -> MoveUp | None:
    """The crew's standby task: the accepted (or reached) move, if any."""
    return await uow.session.scalar(
        select(MoveUp)
        .where(
            MoveUp.vehicle_id == vehicle_id,
            MoveUp.status.in_((MoveUpStatus.ACCEPTED, MoveUpStatus.ARRIVED)),
        )
        .order_by(MoveUp.id.desc())
        .limit(1)
    )


async def current_event(uow: UnitOfWork, vehicle_id: int) -> MoveUpChanged | None:
    """The crew's standby task as its phone hears of it (after a reconnect)."""
    move = await current_for_vehicle(uow, vehicle_id)
    return None if move is None else as_event(move, await _call_sign(uow, vehicle_id))


async def list_moveups(uow: UnitOfWork, *, open_only: bool, limit: int) -> list[MoveUp]:
    stmt = select(MoveUp).order_by(MoveUp.id.desc()).limit(limit)
    if open_only:
        stmt = stmt.where(MoveUp.status.in_(OPEN))
    return list((await uow.session.scalars(stmt)).all())


# --- standby posts and modes ----------------------------------------------------------------


async def list_posts(uow: UnitOfWork, *, active_only: bool) -> list[StandbyPost]:
    stmt = select(StandbyPost).order_by(StandbyPost.id)
    if active_only:
        stmt = stmt.where(StandbyPost.active.is_(True))
    return list((await uow.session.scalars(stmt)).all())


async def _dispatch_centre(uow: UnitOfWork, organisation_id: int) -> Organisation:
    org = await uow.session.get(Organisation, organisation_id)
    if org is None:
        raise NotFound(f"Organisation {organisation_id} does not exist.")
    if org.kind != OrganisationKind.DISPATCH_CENTRE:
        raise Conflict("Only a dispatch centre has standby posts and move-ups.")
    return org


async def create_post(
    uow: UnitOfWork,
    actor: audit.Actor,
    *,
    organisation_id: int,
    name: str,
    kind: PostKind,
    lat: float,
    lon: float,
) -> StandbyPost:
    await _dispatch_centre(uow, organisation_id)
    post = StandbyPost(
        organisation_id=organisation_id, name=name, kind=kind, lat=lat, lon=lon, active=True
    )
    uow.session.add(post)
    await uow.session.flush()
    audit.record(uow, actor, "standby_post.created", post)
    uow.emit(StandbyPostsChanged(post_id=post.id))
    return post


async def update_post(
    uow: UnitOfWork, actor: audit.Actor, post_id: int, changes: Mapping[str, object]
) -> StandbyPost:
    post = await uow.session.get(StandbyPost, post_id)
    if post is None:
        raise NotFound(f"Standby post {post_id} does not exist.")
    before = audit.snapshot(post)
    for name, value in changes.items():
        setattr(post, name, value)
    await uow.session.flush()
    audit.record(uow, actor, "standby_post.updated", post, before=before)
    uow.emit(StandbyPostsChanged(post_id=post.id))
    return post


async def set_mode(
    uow: UnitOfWork, actor: audit.Actor, organisation_id: int, mode: MoveUpMode
) -> Organisation:
    """``off``, ``suggest`` or ``auto`` for one centre (audited)."""
    org = await _dispatch_centre(uow, organisation_id)
    if org.moveup_mode != mode:
        before = {"moveup_mode": org.moveup_mode.value}
        org.moveup_mode = mode
        await uow.session.flush()
        after = {"moveup_mode": mode.value}
        audit.record(uow, actor, "organisation.moveup_mode", org, before=before, after=after)
    return org
