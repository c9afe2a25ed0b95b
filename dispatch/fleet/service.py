"""Fleet operations. ``claim_vehicle`` is the one place that decides whether a unit can
take a job, so emergency assignment and (later) transport planning share one rule."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import select

from dispatch import clock
from dispatch.audit import service as audit
from dispatch.auth import tokens
from dispatch.auth.principal import MANAGER_ROLES, Principal
from dispatch.db.session import UnitOfWork
from dispatch.errors import Conflict, Forbidden, InvalidInput, NotFound
from dispatch.events import DeviceTokenRevoked, VehicleUpdated
from dispatch.fleet.schemas import StationCreate, VehicleCreate, VehicleUpdate
from dispatch.models import Assignment, Organisation, Station, Vehicle
from dispatch.models.enums import CLAIMABLE_STATES, OrganisationKind, VehicleState
from dispatch.transports import service as transports


async def _operating_organisation(uow: UnitOfWork, actor: Principal, requested: int | None) -> int:
    organisation_id = requested or actor.organisation_id
    organisation = await uow.session.get(Organisation, organisation_id)
    if organisation is None or organisation.kind != OrganisationKind.DISPATCH_CENTRE:
        raise InvalidInput(
            "organisation_id", f"Organisation {organisation_id} is not a dispatch centre."
        )
    return organisation_id


async def create_station(uow: UnitOfWork, actor: Principal, data: StationCreate) -> Station:
    organisation_id = await _operating_organisation(uow, actor, data.organisation_id)
    if (
        data.operator_id is not None
        and await uow.session.get(Organisation, data.operator_id) is None
    ):
        raise InvalidInput("operator_id", f"Organisation {data.operator_id} does not exist.")
    station = Station(
        organisation_id=organisation_id,
        operator_id=data.operator_id or organisation_id,
        station_type=data.station_type,
        name=data.name,
        lat=data.lat,
        lon=data.lon,
        address=data.address,
    )
    uow.session.add(station)
    await uow.session.flush()
    audit.record(uow, actor, "station.created", station)
    return station


async def list_stations(uow: UnitOfWork) -> list[Station]:
    return list((await uow.session.scalars(select(Station).order_by(Station.id))).all())


async def _check_station(uow: UnitOfWork, station_id: int | None, organisation_id: int) -> None:
    if station_id is None:
        return
    station = await uow.session.get(Station, station_id)
    if station is None or station.organisation_id != organisation_id:
        raise InvalidInput("station_id", f"Station {station_id} does not exist.")


async def _check_device_id(uow: UnitOfWork, device_id: str | None, vehicle_id: int | None) -> None:
    if device_id is None:
        return
    owner = await uow.session.scalar(select(Vehicle.id).where(Vehicle.device_id == device_id))
    if owner is not None and owner != vehicle_id:
        raise Conflict(f"Device {device_id} is already paired with vehicle {owner}.")


async def create_vehicle(uow: UnitOfWork, actor: Principal, data: VehicleCreate) -> Vehicle:
    organisation_id = await _operating_organisation(uow, actor, data.organisation_id)
    await _check_station(uow, data.station_id, organisation_id)
    await _check_device_id(uow, data.device_id, None)
    taken = await uow.session.scalar(
        select(Vehicle.id).where(
            Vehicle.organisation_id == organisation_id, Vehicle.call_sign == data.call_sign
        )
    )
    if taken is not None:
        raise Conflict(f"Call sign {data.call_sign} is already used by vehicle {taken}.")
    vehicle = Vehicle(
        organisation_id=organisation_id,
        **data.model_dump(exclude={"organisation_id"}),
    )
    uow.session.add(vehicle)
    await uow.session.flush()
    audit.record(uow, actor, "vehicle.created", vehicle)
    return vehicle


async def list_vehicles(
    uow: UnitOfWork,
    *,
    state: VehicleState | None = None,
    centres: Collection[int] | None = None,
) -> list[Vehicle]:
    """``centres``: only the units of these dispatch centres (None: every unit)."""
    stmt = select(Vehicle).order_by(Vehicle.call_sign)
    if state is not None:
        stmt = stmt.where(Vehicle.state == state)
    if centres is not None:
        stmt = stmt.where(Vehicle.organisation_id.in_(sorted(centres)))
    return list((await uow.session.scalars(stmt)).all())


async def get_vehicle(uow: UnitOfWork, actor: Principal, vehicle_id: int) -> Vehicle:
    if not actor.is_operational and actor.vehicle_id != vehicle_id:
        raise Forbidden("You can only see your own vehicle.")
    vehicle = await uow.session.get(Vehicle, vehicle_id)
    if vehicle is None:
        raise NotFound(f"Vehicle {vehicle_id} does not exist.")
    return vehicle


async def update_vehicle(
    uow: UnitOfWork, actor: Principal, vehicle_id: int, data: VehicleUpdate
) -> Vehicle:
    """Dispatchers change any vehicle; a crew changes only its own vehicle's state."""
    changes = data.model_dump(exclude_unset=True, exclude={"version"})
    if not actor.is_operational:
        if actor.vehicle_id != vehicle_id:
            raise Forbidden("You can only act for your own vehicle.")
        if set(changes) - {"state"}:
            raise Forbidden("A crew can change only its vehicle's state.")
    vehicle = await get_vehicle(uow, actor, vehicle_id)
    if data.version is not None and data.version != vehicle.version:
        raise Conflict(
            f"Vehicle {vehicle.call_sign} was changed by someone else (version {vehicle.version}, "
            f"you had {data.version}); reload and try again."
        )
    if "station_id" in changes:
        await _check_station(uow, changes["station_id"], vehicle.organisation_id)
    phone_setup = "device_id" in changes or "speed_unit" in changes
    if phone_setup and actor.role not in MANAGER_ROLES:
        raise Forbidden("Only supervisors pair a phone with a vehicle or set it up.")
    if "device_id" in changes:
        await _check_device_id(uow, changes["device_id"], vehicle.id)
    if changes.get("speed_unit", "") is None:
        raise InvalidInput("speed_unit", "must be knots or mps.")
    if not changes:
        return vehicle
    before = audit.snapshot(vehicle)
    for key, value in changes.items():
        setattr(vehicle, key, value)
    await uow.session.flush()
    old, new = audit.changed(before, audit.snapshot(vehicle))
    if new:
        audit.record(uow, actor, "vehicle.updated", vehicle, before=old, after=new)
        uow.emit(VehicleUpdated(vehicle.id, new))
    return vehicle


async def issue_device_token(
    uow: UnitOfWork, actor: Principal, vehicle_id: int
) -> tuple[Vehicle, str]:
    """A new token for the vehicle's phone; the previous one stops working at once (and,
    once committed, its open sockets close on every worker)."""
    vehicle = await get_vehicle(uow, actor, vehicle_id)
    if vehicle.device_token_hash is not None:
        uow.emit(DeviceTokenRevoked(vehicle.id))
    token = tokens.new_device_token()
    vehicle.device_token_hash = tokens.hash_device_token(token)
    vehicle.device_token_issued_at = clock.now()
    await uow.session.flush()
    audit.record(
        uow, actor, "vehicle.device_token_issued", vehicle, after={"vehicle_id": vehicle.id}
    )
    return vehicle, token


async def revoke_device_token(uow: UnitOfWork, actor: Principal, vehicle_id: int) -> Vehicle:
    """A lost or stolen phone: its token stops working (and the vehicle has none until a
    supervisor issues a new one). Once committed, every worker closes the phone's open
    sockets and forgets the token."""
    vehicle = await get_vehicle(uow, actor, vehicle_id)
    uow.emit(DeviceTokenRevoked(vehicle.id))
    vehicle.device_token_hash = None
    vehicle.device_token_issued_at = None
    await uow.session.flush()
    audit.record(
        uow, actor, "vehicle.device_token_revoked", vehicle, after={"vehicle_id": vehicle.id}
    )
    return vehicle


async def active_incident_of(uow: UnitOfWork, vehicle_id: int) -> int | None:
    return await uow.session.scalar(
        select(Assignment.incident_id).where(
            Assignment.vehicle_id == vehicle_id, Assignment.is_active.is_(True)
        )
    )


@dataclass(frozen=True, slots=True)
class Claim:
    vehicle: Vehicle
    #: Booked rides the unit leaves behind (a preemption); they must be re-planned.
    preempted_booking_ids: tuple[int, ...] = ()


async def claim_vehicle(uow: UnitOfWork, vehicle_id: int, *, may_preempt: bool = False) -> Claim:
    """Take a unit for a job, safely under concurrency.

    The vehicle row is locked for the rest of the transaction (``FOR UPDATE`` on
    PostgreSQL; SQLite's write transaction already began ``IMMEDIATE``), then its state is
    checked and set to *dispatched*. Of any number of concurrent claims exactly one
    succeeds; the others wait for it and then see the unit taken.

    A unit out on a booked transport may be taken only when ``may_preempt`` (red calls)
    and only while no patient is aboard.
    """
    stmt = uow.strategy.lock_for_update(
        select(Vehicle).where(Vehicle.id == vehicle_id).execution_options(populate_existing=True)
    )
    vehicle = await uow.session.scalar(stmt)
    if vehicle is None:
        raise InvalidInput("vehicle_id", f"Vehicle {vehicle_id} does not exist.")
    holder = await active_incident_of(uow, vehicle_id)
    if holder is not None:
        raise Conflict(
            f"{vehicle.call_sign} is already assigned to incident {holder}.",
            vehicle_id=vehicle_id,
            incident_id=holder,
        )
    if vehicle.state == VehicleState.OFF_DUTY:
        raise Conflict(
            f"{vehicle.call_sign} is off duty and cannot take a job.", vehicle_id=vehicle_id
        )
    load = (await transports.transport_loads(uow, [vehicle_id])).get(vehicle_id)
    preempted: tuple[int, ...] = ()
    if load is not None and load.on_board:
        raise Conflict(
            f"{vehicle.call_sign} has a patient aboard (booking {load.on_board[0]}); "
            "it cannot be taken off that ride.",
            vehicle_id=vehicle_id,
        )
    if load is not None and load.busy:
        if not may_preempt:
            raise Conflict(
                f"{vehicle.call_sign} is on a booked transport; only a red call may take it.",
                vehicle_id=vehicle_id,
            )
        preempted = load.remaining
    elif vehicle.state not in CLAIMABLE_STATES:
        raise Conflict(
            f"{vehicle.call_sign} is {vehicle.state.value.replace('_', ' ')} "
            "and cannot take a job.",
            vehicle_id=vehicle_id,
        )
    vehicle.state = VehicleState.DISPATCHED
    await uow.session.flush()
    return Claim(vehicle, preempted)
