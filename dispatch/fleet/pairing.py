"""Phones paired by QR code: a supervisor shows a code, the crew scans it, the phone reports.

Traccar Client's own QR scanner (and its ``org.traccar.client://config?…`` link) sets the
app's server URL and device identifier at once, so nobody types a 20-character id on a
phone in a moving ambulance. The identifier is the phone's credential on the OsmAnd door
(``realtime.gpsdoor``), so it is made here, random and unguessable, and a new pairing
replaces the old one: the old phone's reports are refused from the commit on. The crew page
can be opened the same way: a code holding the page's address with a fresh device token in
the fragment (never sent to a server log), which the page keeps and removes from the bar.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote, urlencode

import segno
from sqlalchemy import and_, select

from dispatch.auth.principal import Principal
from dispatch.db.session import UnitOfWork
from dispatch.fleet import service
from dispatch.fleet.schemas import VehicleUpdate
from dispatch.models import PositionFix, Station, Vehicle

#: How Traccar Client should report for a unit on call: every 10 s, high accuracy.
TRACKING = {"accuracy": "high", "interval": "10", "distance": "0", "angle": "0"}


def new_device_id() -> str:
    """An identifier nobody can guess (it is the phone's credential): 96 random bits."""
    return "dsp-" + secrets.token_hex(12)


def traccar_link(server_url: str, device_id: str) -> str:
    """The configuration link Traccar Client applies (after asking) when it scans it."""
    return "org.traccar.client://config?" + urlencode(
        {"url": server_url, "id": device_id, **TRACKING}
    )


def crew_link(base_url: str, device_token: str) -> str:
    return f"{base_url.rstrip('/')}/crew#token={quote(device_token, safe='')}"


def qr_svg(text: str) -> str:
    """The code as inline SVG (dark on white, a quiet zone of four modules)."""
    code = segno.make(text, error="m", micro=False)
    svg: str = code.svg_inline(scale=5, border=4, dark="#000", light="#fff")
    return svg


async def pair_phone(uow: UnitOfWork, actor: Principal, vehicle_id: int) -> Vehicle:
    """Give the unit a fresh phone identifier (the previous phone stops being accepted)."""
    return await service.update_vehicle(
        uow, actor, vehicle_id, VehicleUpdate(device_id=new_device_id())
    )


async def unpair_phone(uow: UnitOfWork, actor: Principal, vehicle_id: int) -> Vehicle:
    """A lost phone, or a unit retired: its identifier is refused from the commit on."""
    return await service.update_vehicle(uow, actor, vehicle_id, VehicleUpdate(device_id=None))


@dataclass(frozen=True)
class DeviceRow:
    vehicle: Vehicle
    station: str | None
    battery_pct: float | None


async def devices(uow: UnitOfWork, actor: Principal) -> list[DeviceRow]:
    """Every unit with what its phone last said (the battery of its latest fix)."""
    del actor  # (managers only: the route checks the role)
    vehicles = await service.list_vehicles(uow)
    stations = {s.id: s.name for s in await uow.session.scalars(select(Station))}
    batteries: dict[int, float | None] = {}
    ids = [v.id for v in vehicles if v.last_fix_at is not None]
    if ids:
        rows = await uow.session.execute(
            select(PositionFix.vehicle_id, PositionFix.battery_pct)
            .join(
                Vehicle,
                and_(
                    Vehicle.id == PositionFix.vehicle_id,
                    Vehicle.last_fix_at == PositionFix.recorded_at,
                ),
            )
            .where(PositionFix.vehicle_id.in_(ids))
        )
        batteries = {int(r[0]): r[1] for r in rows.all()}
    return [
        DeviceRow(v, stations.get(v.station_id) if v.station_id else None, batteries.get(v.id))
        for v in sorted(vehicles, key=lambda v: v.call_sign)
    ]


def gps_age_s(last_fix_at: datetime | None, now: datetime) -> float | None:
    return None if last_fix_at is None else max(0.0, (now - last_fix_at).total_seconds())
