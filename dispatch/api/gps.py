"""GPS in: a JSON batch for our own client and the OsmAnd protocol for Traccar Client.
Both answer only after the fixes are committed (durable), and resending is harmless."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.security import OAuth2PasswordBearer
from pydantic import Field
from starlette.responses import PlainTextResponse, Response

from dispatch import clock
from dispatch.api.deps import Operational, PathId, State, UoW, get_state
from dispatch.auth.principal import Principal
from dispatch.errors import DomainError, InvalidInput, TooManyRequests
from dispatch.realtime.broker import GEO_MAX_LAT
from dispatch.realtime.fixes import FixError, decode_osmand_json, decode_osmand_params
from dispatch.realtime.gpsdoor import MAX_FIXES, FixIn
from dispatch.realtime.track import read_track
from dispatch.schemas import Input, Output, Timestamp
from dispatch.state import AppState

router = APIRouter(tags=["gps"])
_bearer = OAuth2PasswordBearer(tokenUrl="/auth/token", auto_error=False)


async def gps_principal(state: State, token: Annotated[str | None, Depends(_bearer)]) -> Principal:
    return await state.gps.principal(token)


class FixBatch(Input):
    fixes: list[FixIn] = Field(min_length=1, max_length=MAX_FIXES)


class DroppedFixOut(Output):
    index: int = Field(description="Position of the fix in the request")
    reason: str = Field(description="no_position, zero_position, too_old, future, …")
    field: str
    message: str


class IngestOut(Output):
    accepted: int = Field(description="New fixes stored")
    duplicates: int = Field(description="Fixes already stored earlier (ignored)")
    dropped: list[DroppedFixOut] | None = Field(
        default=None,
        description="Only when there are any: fixes acknowledged but not stored because no "
        "resend can make them usable (0,0, older than the history window, in the future); "
        "do not resend them",
    )


@router.post(
    "/vehicles/{vehicle_id}/fixes",
    response_model=IngestOut,
    summary="Store up to 500 GPS fixes (durable before the reply; resending is harmless)",
    description="A malformed fix is a 422 naming it (nothing is stored). A well-formed fix "
    "the server cannot use (0,0, older than 7 days, more than 5 minutes in the future) is "
    "acknowledged and listed in `dropped`, and the others are stored, so a batch is never "
    "stuck on one bad fix.",
    responses={503: {"description": "Storage is busy or unreachable; retry"}},
    response_model_exclude_none=True,
)
async def post_fixes(
    state: State,
    vehicle_id: PathId,
    batch: FixBatch,
    principal: Annotated[Principal, Depends(gps_principal)],
) -> IngestOut:
    result = await state.gps.from_crew(principal, vehicle_id, batch.fixes)
    return IngestOut(
        accepted=result.accepted,
        duplicates=result.duplicates,
        dropped=[DroppedFixOut.model_validate(d) for d in result.dropped] or None,
    )


class NearestOut(Output):
    vehicle_id: int
    distance_m: float


@router.get(
    "/vehicles/nearest",
    response_model=list[NearestOut],
    summary="Available units nearest to a point, as the crow flies (live positions)",
)
async def nearest(
    state: State,
    _actor: Operational,
    lat: float = Query(ge=-GEO_MAX_LAT, le=GEO_MAX_LAT, description="Within ±85.05° (Redis GEO)"),
    lon: float = Query(ge=-180, le=180),
    radius_m: float = Query(default=5000, gt=0, le=100_000),
    count: int = Query(default=10, ge=1, le=100),
) -> list[NearestOut]:
    found = await state.broker.nearest_available(lat, lon, radius_m, count)
    return [NearestOut(vehicle_id=v, distance_m=round(d, 1)) for v, d in found]


class TrackFixOut(Output):
    recorded_at: datetime
    received_at: datetime
    lat: float
    lon: float
    speed_mps: float | None
    heading: float | None
    accuracy_m: float | None
    battery_pct: float | None = None
    attributes: dict[str, Any] | None = Field(
        default=None, description="What the phone reported beyond the columns (charge, motion, …)"
    )


class TrackOut(Output):
    vehicle_id: int
    since: datetime
    until: datetime
    count: int
    truncated: bool = Field(description="More fixes follow: ask again from the last one's time")
    fixes: list[TrackFixOut]


@router.get(
    "/vehicles/{vehicle_id}/track",
    response_model=TrackOut,
    summary="A unit's stored GPS history in fix-time order (case review, audits)",
)
async def vehicle_track(
    uow: UoW,
    _actor: Operational,
    vehicle_id: PathId,
    since: Annotated[Timestamp, Query(description="From this fix time (inclusive)")],
    until: Annotated[
        Timestamp | None, Query(description="Up to this fix time (exclusive); default now")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=50_000)] = 5_000,
) -> TrackOut:
    track = await read_track(uow, vehicle_id, since, until or clock.now(), limit)
    return TrackOut(
        vehicle_id=track.vehicle_id,
        since=track.since,
        until=track.until,
        count=len(track.fixes),
        truncated=track.truncated,
        fixes=[TrackFixOut.model_validate(f) for f in track.fixes],
    )


async def osmand(request: Request) -> Response:
    """Traccar Client / OsmAnd: parameters in the query string or a form body, or the
    JSON body of newer clients. 200 with an empty body, as the app expects, for every report
    from a paired phone, including fixes that are dropped (counted in
    ``dispatch_fixes_dropped_total``): the app resends a refused fix forever, so refusing
    one would stall the phone. Refused, as plain text: no device id (400), an unknown one
    (404; 429 past ``DISPATCH_UNKNOWN_DEVICES_PER_MINUTE`` per address), too many uploads
    (429), a body over 1 MB (413), storage busy (503)."""
    state: AppState = get_state(request)
    client = request.client.host if request.client else "unknown"
    try:
        params = dict(request.query_params)
        content_type = request.headers.get("content-type", "")
        now = state.clock.now()
        if request.method == "POST" and "json" in content_type:
            body = await request.body()
            if len(body) > 1_000_000:
                return PlainTextResponse("body too large", status_code=413)
            reports = decode_osmand_json(body, now, state.settings.tz)
        else:
            if request.method == "POST" and "form" in content_type:
                form = await request.form()
                params.update({k: str(v) for k, v in form.items()})
            reports = [decode_osmand_params(params, now, state.settings.tz)]
        await state.gps.from_devices(reports, client)
    except FixError as exc:
        return PlainTextResponse(f"{exc.field}: {exc.message}", status_code=400)
    except InvalidInput as exc:
        return PlainTextResponse(f"{exc.field}: {exc.message}", status_code=400)
    except TooManyRequests as exc:
        return PlainTextResponse(
            "too many requests", status_code=429, headers={"Retry-After": str(exc.retry_after_s)}
        )
    except DomainError as exc:  # unknown device, storage busy
        retry = {"Retry-After": str(exc.retry_after_s)} if exc.retry_after_s else None
        return PlainTextResponse(exc.message, status_code=exc.status_code, headers=retry)
    return Response(status_code=200)
