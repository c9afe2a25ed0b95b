"""Crew phones for supervisors: the list of units with their phones' last word, pairing a
Traccar Client phone by QR code, revoking it, and a QR code that opens the crew page."""

from __future__ import annotations

from fastapi import APIRouter, Request

from dispatch.api.deps import Manager, PathId, State, UoW
from dispatch.api.idempotency import IDEMPOTENT, IdempotentRoute
from dispatch.fleet import pairing, service
from dispatch.fleet.schemas import CrewLinkOut, DeviceOut, PhonePairingOut
from dispatch.state import AppState

router = APIRouter(tags=["fleet"], route_class=IdempotentRoute)


def _base_url(state: AppState, request: Request) -> str:
    """The address phones reach the server at: DISPATCH_PUBLIC_URL, else the one the
    supervisor's browser used (right on a control-room LAN, wrong behind a proxy)."""
    configured = state.settings.public_url
    return (configured or str(request.base_url)).rstrip("/")


@router.get("/devices", response_model=list[DeviceOut], summary="Every unit's phones")
async def list_devices(uow: UoW, state: State, actor: Manager) -> list[DeviceOut]:
    now = state.clock.now()
    return [
        DeviceOut(
            vehicle_id=row.vehicle.id,
            call_sign=row.vehicle.call_sign,
            kind=row.vehicle.kind,
            state=row.vehicle.state,
            station=row.station,
            phone_paired=row.vehicle.device_id is not None,
            device_id_end=row.vehicle.device_id[-4:] if row.vehicle.device_id else None,
            crew_token=row.vehicle.has_device_token,
            crew_token_issued_at=row.vehicle.device_token_issued_at,
            last_fix_at=row.vehicle.last_fix_at,
            gps_age_s=pairing.gps_age_s(row.vehicle.last_fix_at, now),
            battery_pct=row.battery_pct,
        )
        for row in await pairing.devices(uow, actor)
    ]


@router.post(
    "/vehicles/{vehicle_id}/phone-pairing",
    response_model=PhonePairingOut,
    status_code=201,
    dependencies=[IDEMPOTENT],
    summary="Pair a Traccar Client phone: a fresh device id and the QR code that sets it up "
    "(the previously paired phone is refused from now on)",
)
async def pair_phone(
    uow: UoW, state: State, actor: Manager, vehicle_id: PathId, request: Request
) -> PhonePairingOut:
    vehicle = await pairing.pair_phone(uow, actor, vehicle_id)
    assert vehicle.device_id is not None
    server = _base_url(state, request) + state.settings.osmand_path
    link = pairing.traccar_link(server, vehicle.device_id)
    return PhonePairingOut(
        vehicle_id=vehicle.id,
        device_id=vehicle.device_id,
        server_url=server,
        link=link,
        qr_svg=pairing.qr_svg(link),
    )


@router.delete(
    "/vehicles/{vehicle_id}/phone-pairing",
    status_code=204,
    summary="Unpair the unit's phone (lost or replaced): its reports are refused from now on",
)
async def unpair_phone(uow: UoW, actor: Manager, vehicle_id: PathId) -> None:
    await pairing.unpair_phone(uow, actor, vehicle_id)


@router.post(
    "/vehicles/{vehicle_id}/crew-link",
    response_model=CrewLinkOut,
    status_code=201,
    dependencies=[IDEMPOTENT],
    summary="A QR code that opens the crew page logged in as the unit (issues a new device "
    "token: the previous one stops working)",
)
async def crew_link(
    uow: UoW, state: State, actor: Manager, vehicle_id: PathId, request: Request
) -> CrewLinkOut:
    vehicle, token = await service.issue_device_token(uow, actor, vehicle_id)
    assert vehicle.device_token_issued_at is not None
    link = pairing.crew_link(_base_url(state, request), token)
    return CrewLinkOut(
        vehicle_id=vehicle.id,
        link=link,
        qr_svg=pairing.qr_svg(link),
        issued_at=vehicle.device_token_issued_at,
    )
