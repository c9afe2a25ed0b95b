"""Coverage and move-up: standby posts, the suggestions to accept or reject, the crew's
"go to post" task, each centre's move-up mode, and the coverage layer for the map.

Suggestions appear by themselves after every change of the fleet (``coverage.advisor``);
``POST /moveups/round`` asks for a round now. All of it needs coverage-aware dispatch
(``DISPATCH_COVERAGE_DISPATCH``); without it the lists are empty and a round is refused."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import Field

from dispatch.api.deps import CurrentPrincipal, Emergency, Manager, Operational, PathId, State, UoW
from dispatch.api.idempotency import IDEMPOTENT, IdempotentRoute
from dispatch.auth.principal import Principal
from dispatch.coverage import advisor, moveups
from dispatch.errors import Conflict, Forbidden
from dispatch.incidents.recommend import check_location
from dispatch.models.coverage import PostKind
from dispatch.models.enums import MoveUpMode, Role
from dispatch.schemas import Id, Input, Latitude, Longitude, Name, Output, Update

router = APIRouter(tags=["coverage"], route_class=IdempotentRoute)

_STAFF = frozenset({Role.DISPATCHER, Role.SUPERVISOR, Role.ADMIN})


class StandbyPostIn(Input):
    name: Name
    kind: PostKind = PostKind.OTHER
    lat: Latitude
    lon: Longitude
    organisation_id: Id | None = Field(default=None, description="Defaults to your own")


class StandbyPostUpdate(Update):
    name: Name | None = None
    active: bool | None = None


class StandbyPostOut(Output):
    id: int
    organisation_id: int
    name: str
    kind: PostKind
    lat: float
    lon: float
    active: bool


class MoveUpOut(Output):
    id: int
    organisation_id: int
    vehicle_id: int
    site_key: str
    site_name: str
    lat: float
    lon: float
    gain: float
    gain_rows: dict[str, float]
    reason: str
    drive_s: int | None
    status: str
    auto: bool
    created_at: datetime
    decided_at: datetime | None
    decided_by: str | None
    note: str | None
    arrived_at: datetime | None
    ended_at: datetime | None


class RejectIn(Input):
    note: Annotated[str, Field(max_length=500)] | None = None


class ModeIn(Input):
    mode: MoveUpMode


class ModeOut(Output):
    organisation_id: int
    mode: MoveUpMode


class CoverageOut(Output):
    enabled: bool
    ready: bool
    #: Per row ("red", "yellow", "green", "red_als"): the share of calls a free unit
    #: reaches within target now.
    values: dict[str, float]
    level: str
    zones: list[dict[str, Any]]


@router.get("/standby-posts", response_model=list[StandbyPostOut])
async def list_standby_posts(
    uow: UoW, _actor: Operational, active: Annotated[bool, Query()] = True
) -> list[StandbyPostOut]:
    posts = await moveups.list_posts(uow, active_only=active)
    return [StandbyPostOut.model_validate(p) for p in posts]


@router.post(
    "/standby-posts",
    response_model=StandbyPostOut,
    status_code=201,
    dependencies=[IDEMPOTENT],
    summary="A place idle units may be sent to wait (a hospital bay, a fire station)",
)
async def create_standby_post(
    uow: UoW, actor: Manager, cfg: Emergency, data: StandbyPostIn
) -> StandbyPostOut:
    check_location(cfg, data.lat, data.lon)
    post = await moveups.create_post(
        uow,
        actor,
        organisation_id=data.organisation_id or actor.organisation_id,
        name=data.name,
        kind=data.kind,
        lat=data.lat,
        lon=data.lon,
    )
    return StandbyPostOut.model_validate(post)


@router.patch("/standby-posts/{post_id}", response_model=StandbyPostOut)
async def update_standby_post(
    uow: UoW, actor: Manager, post_id: PathId, data: StandbyPostUpdate
) -> StandbyPostOut:
    post = await moveups.update_post(uow, actor, post_id, data.model_dump(exclude_unset=True))
    return StandbyPostOut.model_validate(post)


@router.get(
    "/moveups",
    response_model=list[MoveUpOut],
    summary="Move-up suggestions, newest first: the open ones, or recent ones too",
)
async def list_moveups(
    uow: UoW,
    _actor: Operational,
    open_only: Annotated[bool, Query(alias="open", description="Only open ones")] = True,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[MoveUpOut]:
    found = await moveups.list_moveups(uow, open_only=open_only, limit=limit)
    return [MoveUpOut.model_validate(m) for m in found]


@router.post(
    "/moveups/round",
    response_model=list[MoveUpOut],
    summary="Work out move-ups now (they also come by themselves after every fleet change)",
    description="Returns the suggestions and moves this round created or changed.",
)
async def moveup_round(uow: UoW, state: State, _actor: Operational) -> list[MoveUpOut]:
    keeper = state.emergency.coverage
    if keeper is None:
        raise Conflict("Move-ups need coverage-aware dispatch (DISPATCH_COVERAGE_DISPATCH).")
    changed = await advisor.advise(uow, keeper, state.emergency.moveup, state.clock.now())
    return [MoveUpOut.model_validate(m) for m in changed]


@router.get(
    "/moveups/current",
    response_model=MoveUpOut | None,
    summary="The crew's standby task: the post its unit is sent to (null: none)",
)
async def current_moveup(uow: UoW, actor: CurrentPrincipal) -> MoveUpOut | None:
    if actor.vehicle_id is None:
        raise Forbidden("Only a crew (driver or vehicle phone) has a standby task.")
    move = await moveups.current_for_vehicle(uow, actor.vehicle_id)
    return None if move is None else MoveUpOut.model_validate(move)


@router.post(
    "/moveups/{moveup_id}/accept",
    response_model=MoveUpOut,
    summary="Send the unit to the post (the crew is told); accepting again changes nothing",
)
async def accept_moveup(uow: UoW, state: State, actor: Operational, moveup_id: PathId) -> MoveUpOut:
    return MoveUpOut.model_validate(await moveups.accept(uow, actor, moveup_id, state.clock.now()))


@router.post(
    "/moveups/{moveup_id}/reject",
    response_model=MoveUpOut,
    summary="Turn a suggestion down, or call an accepted move back (the unit rests a while)",
)
async def reject_moveup(
    uow: UoW, state: State, actor: Operational, moveup_id: PathId, data: RejectIn | None = None
) -> MoveUpOut:
    note = data.note if data is not None else None
    return MoveUpOut.model_validate(
        await moveups.reject(uow, actor, moveup_id, note, state.clock.now())
    )


@router.post(
    "/moveups/{moveup_id}/arrived",
    response_model=MoveUpOut,
    summary="The crew is at the post (its GPS also tells when it gets there)",
)
async def moveup_arrived(
    uow: UoW, state: State, actor: CurrentPrincipal, moveup_id: PathId
) -> MoveUpOut:
    own = _crew_vehicle(actor)
    return MoveUpOut.model_validate(
        await moveups.arrived(uow, actor, own, moveup_id, state.clock.now())
    )


def _crew_vehicle(actor: Principal) -> int | None:
    """The crew's own unit (it may report only for it); None for control-room staff."""
    if actor.vehicle_id is not None:
        return actor.vehicle_id
    if actor.role in _STAFF:
        return None
    raise Forbidden("Only the unit's crew or the control room may report this.")


@router.put(
    "/organisations/{organisation_id}/moveup-mode",
    response_model=ModeOut,
    tags=["organisations"],
    summary="How a centre takes move-ups: off, suggest (a dispatcher decides) or auto",
)
async def set_moveup_mode(
    uow: UoW, actor: Manager, organisation_id: PathId, data: ModeIn
) -> ModeOut:
    org = await moveups.set_mode(uow, actor, organisation_id, data.mode)
    return ModeOut(organisation_id=org.id, mode=org.moveup_mode)


@router.get(
    "/coverage",
    response_model=CoverageOut,
    summary="Coverage now: the share of calls reachable in time and, per zone, the "
    "expected time to the first unit (the map's coverage layer)",
)
async def coverage_now(
    uow: UoW,
    state: State,
    _actor: Operational,
    level: Annotated[str, Query(pattern="^(red|yellow|green)$")] = "red",
) -> CoverageOut:
    keeper = state.emergency.coverage
    if keeper is None:
        return CoverageOut(enabled=False, ready=False, values={}, level=level, zones=[])
    now = state.clock.now()
    coverage = await keeper.ready(uow, now)
    if coverage is None:
        return CoverageOut(enabled=True, ready=False, values={}, level=level, zones=[])
    await advisor.sync_fleet(uow, coverage, now)
    values = {k: round(v, 4) for k, v in coverage.row_values().items()}
    return CoverageOut(
        enabled=True, ready=True, values=values, level=level, zones=coverage.layer(level)
    )
