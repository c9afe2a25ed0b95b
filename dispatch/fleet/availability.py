"""A station takes a unit out of service (with a reason: no crew, a fault) or puts it back,
from the station screen or the control room. Out of service is ``off_duty`` with its
reason kept on the unit, so every ranking, offer and coverage figure leaves it out."""

from __future__ import annotations

from sqlalchemy import select

from dispatch.audit import service as audit
from dispatch.auth.principal import Principal
from dispatch.db.session import UnitOfWork
from dispatch.errors import Conflict, InvalidInput, NotFound
from dispatch.events import VehicleUpdated
from dispatch.models import Assignment, Vehicle
from dispatch.models.enums import VehicleState
from dispatch.organisations import hierarchy


async def set_service(
    uow: UnitOfWork, actor: Principal, vehicle_id: int, in_service: bool, reason: str | None
) -> Vehicle:
    """Repeating the same change changes nothing; a unit on a job cannot be taken out."""
    vehicle = await uow.session.scalar(
        uow.strategy.lock_for_update(
            select(Vehicle)
            .where(Vehicle.id == vehicle_id)
            .execution_options(populate_existing=True)
        )
    )
    if vehicle is None or not await hierarchy.acts_for_unit(
        uow,
        actor,
        station_id=vehicle.station_id,
        vehicle_id=vehicle.id,
        centre_id=vehicle.organisation_id,
    ):
        raise NotFound(f"Vehicle {vehicle_id} does not exist.")
    before = {"state": vehicle.state.value, "out_of_service_reason": vehicle.out_of_service_reason}
    if in_service:
        if vehicle.state != VehicleState.OFF_DUTY:
            return vehicle
        vehicle.state, vehicle.out_of_service_reason = VehicleState.AVAILABLE, None
    else:
        if vehicle.state == VehicleState.OFF_DUTY and reason in (
            None,
            vehicle.out_of_service_reason,
        ):
            return vehicle
        if not reason:
            raise InvalidInput("reason", "Say why the unit is out of service.")
        busy = await uow.session.scalar(
            select(Assignment.incident_id).where(
                Assignment.vehicle_id == vehicle.id, Assignment.is_active.is_(True)
            )
        )
        if busy is not None:
            raise Conflict(f"{vehicle.call_sign} is on incident {busy}; it cannot go out now.")
        vehicle.state, vehicle.out_of_service_reason = VehicleState.OFF_DUTY, reason
    await uow.session.flush()
    after = {"state": vehicle.state.value, "out_of_service_reason": vehicle.out_of_service_reason}
    audit.record(uow, actor, "vehicle.service", vehicle, before=before, after=after)
    uow.emit(VehicleUpdated(vehicle.id, after))
    return vehicle
