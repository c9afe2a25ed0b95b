from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Query, Request, Response

from dispatch.api import paging
from dispatch.api.deps import (
    CurrentPrincipal,
    Manager,
    Operational,
    PathId,
    State,
    Transport,
    UoW,
)
from dispatch.api.idempotency import IDEMPOTENT, IdempotentRoute
from dispatch.api.responses import ErrorOut
from dispatch.incidents.recommend import check_location
from dispatch.schemas import MAX_DB_INT, Day
from dispatch.state import AppState
from dispatch.transports import manifests, service
from dispatch.transports.schemas import (
    BookingCreate,
    BookingCreatedOut,
    BookingOut,
    BookingUpdate,
    EtaOut,
    ManifestOut,
    ManifestStopOut,
    PatientCreate,
    PatientOut,
    PatientUpdate,
    ShiftCreate,
    ShiftOut,
    StopStatusIn,
)

router = APIRouter(tags=["transports"], route_class=IdempotentRoute)


@router.get("/patients", response_model=list[PatientOut])
async def list_patients(uow: UoW, actor: CurrentPrincipal) -> list[PatientOut]:
    return [PatientOut.model_validate(p) for p in await service.list_patients(uow, actor)]


@router.post("/patients", response_model=PatientOut, status_code=201, dependencies=[IDEMPOTENT])
async def create_patient(uow: UoW, actor: CurrentPrincipal, data: PatientCreate) -> PatientOut:
    return PatientOut.model_validate(await service.create_patient(uow, actor, data))


@router.get("/patients/{patient_id}", response_model=PatientOut)
async def get_patient(uow: UoW, actor: CurrentPrincipal, patient_id: PathId) -> PatientOut:
    return PatientOut.model_validate(await service.get_patient(uow, actor, patient_id))


@router.patch("/patients/{patient_id}", response_model=PatientOut)
async def update_patient(
    uow: UoW, actor: CurrentPrincipal, patient_id: PathId, data: PatientUpdate
) -> PatientOut:
    return PatientOut.model_validate(await service.update_patient(uow, actor, patient_id, data))


@router.get(
    "/bookings",
    response_model=list[BookingOut],
    summary=f"Bookings, newest first, a page at a time (next: the {paging.NEXT_CURSOR} header)",
)
async def list_bookings(
    uow: UoW,
    actor: CurrentPrincipal,
    request: Request,
    response: Response,
    patient_id: int | None = Query(default=None, ge=1, le=MAX_DB_INT),
    service_date: Day | None = Query(default=None, description="Rides on this local day"),
    limit: int = paging.limit_query(500),
    cursor: str | None = paging.cursor_query(),
) -> list[BookingOut]:
    bookings = await service.list_bookings(
        uow,
        actor,
        patient_id=patient_id,
        service_date=service_date,
        limit=limit + 1,
        before_id=paging.id_cursor(cursor),
    )
    shown = paging.page(bookings, limit, request, response, lambda b: b.id)
    return [BookingOut.model_validate(b) for b in shown]


@router.post(
    "/bookings",
    response_model=BookingCreatedOut,
    status_code=201,
    summary="Book a ride (optionally with the way home, optionally weekly)",
    dependencies=[IDEMPOTENT],
)
async def create_booking(
    uow: UoW,
    state: State,
    actor: CurrentPrincipal,
    cfg: Transport,
    data: BookingCreate,
) -> BookingCreatedOut:
    _check_places(
        state, data.pickup_lat, data.pickup_lon, data.destination_lat, data.destination_lon
    )
    created = await service.create_booking(uow, actor, data, cfg)
    return BookingCreatedOut(
        **BookingOut.model_validate(created.booking).model_dump(),
        return_booking_id=created.return_booking.id if created.return_booking else None,
        generated_ids=[ride.id for ride in created.generated],
    )


def _check_places(
    state: AppState,
    pickup_lat: float | None,
    pickup_lon: float | None,
    destination_lat: float | None = None,
    destination_lon: float | None = None,
) -> None:
    """A ride the vehicles cannot reach is refused now, naming the field, rather than
    left for the planner to find."""
    if pickup_lat is not None and pickup_lon is not None:
        check_location(state.emergency, pickup_lat, pickup_lon, "pickup_lat")
    if destination_lat is not None and destination_lon is not None:
        check_location(state.emergency, destination_lat, destination_lon, "destination_lat")


@router.get("/bookings/{booking_id}", response_model=BookingOut)
async def get_booking(uow: UoW, actor: CurrentPrincipal, booking_id: PathId) -> BookingOut:
    return BookingOut.model_validate(await service.get_booking(uow, actor, booking_id))


@router.patch("/bookings/{booking_id}", response_model=BookingOut)
async def update_booking(
    uow: UoW,
    state: State,
    actor: CurrentPrincipal,
    booking_id: PathId,
    data: BookingUpdate,
) -> BookingOut:
    _check_places(state, data.pickup_lat, data.pickup_lon)
    booking = await service.update_booking(uow, actor, booking_id, data)
    return BookingOut.model_validate(booking)


@router.post("/bookings/{booking_id}/cancel", response_model=BookingOut)
async def cancel_booking(
    uow: UoW,
    actor: CurrentPrincipal,
    cfg: Transport,
    booking_id: PathId,
) -> BookingOut:
    booking = await service.cancel_booking(uow, actor, booking_id, late_cancel=cfg.late_cancel)
    return BookingOut.model_validate(booking)


@router.post("/transport-shifts", response_model=ShiftOut, status_code=201, tags=["planning"])
async def create_shift(uow: UoW, actor: Manager, data: ShiftCreate) -> ShiftOut:
    return ShiftOut.model_validate(await manifests.create_shift(uow, actor, data))


@router.get("/transport-shifts", response_model=list[ShiftOut], tags=["planning"])
async def list_shifts(uow: UoW, _actor: Operational, service_date: Day) -> list[ShiftOut]:
    return [ShiftOut.model_validate(s) for s in await manifests.list_shifts(uow, service_date)]


@router.get(
    "/vehicles/{vehicle_id}/manifest",
    response_model=ManifestOut,
    tags=["planning"],
    summary="The vehicle's planned stops for a day, in order",
)
async def vehicle_manifest(
    uow: UoW, actor: CurrentPrincipal, vehicle_id: PathId, service_date: Day
) -> ManifestOut:
    stops = await manifests.manifest(uow, actor, vehicle_id, service_date)
    return ManifestOut(vehicle_id=vehicle_id, service_date=service_date, stops=stops)


@router.post(
    "/plan-stops/{stop_id}/status",
    response_model=ManifestStopOut,
    tags=["planning"],
    summary="Crew progress: under_way, done, or no_show (pickups); repeating is a no-op",
)
async def stop_status(
    uow: UoW, actor: CurrentPrincipal, stop_id: PathId, data: StopStatusIn
) -> ManifestStopOut:
    stop = await manifests.update_stop(uow, actor, stop_id, data.status)
    return ManifestStopOut.model_validate(stop)


@router.get(
    "/bookings/{booking_id}/eta",
    response_model=EtaOut,
    responses={
        409: {"model": ErrorOut, "description": "No vehicle on its way yet (see planned_pickup_at)"}
    },
    summary="Live ETA to the pickup once the vehicle is on its way",
)
async def booking_eta(
    uow: UoW, state: State, actor: CurrentPrincipal, booking_id: PathId
) -> EtaOut:
    booking = await service.get_booking(uow, actor, booking_id)
    live = state.hub.positions.get(booking.vehicle_id) if booking.vehicle_id else None
    position = (live.lat, live.lon, datetime.fromtimestamp(live.t / 1000, UTC)) if live else None
    booking, eta_s, eta_at, age = await manifests.live_eta(
        uow, actor, booking_id, state.travel, position
    )
    assert booking.vehicle_id is not None
    return EtaOut(
        booking_id=booking.id,
        vehicle_id=booking.vehicle_id,
        eta_at=eta_at,
        eta_s=eta_s,
        position_age_s=None if age is None else round(age, 1),
    )
