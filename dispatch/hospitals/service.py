from __future__ import annotations

from sqlalchemy import select

from dispatch.audit import service as audit
from dispatch.auth.principal import Principal
from dispatch.db.session import UnitOfWork
from dispatch.errors import InvalidInput, NotFound
from dispatch.events import HospitalUpdated
from dispatch.hospitals.schemas import HospitalCreate, HospitalUpdate
from dispatch.models import Hospital, Organisation


async def create(uow: UnitOfWork, actor: Principal, data: HospitalCreate) -> Hospital:
    if (
        data.organisation_id is not None
        and await uow.session.get(Organisation, data.organisation_id) is None
    ):
        raise InvalidInput(
            "organisation_id", f"Organisation {data.organisation_id} does not exist."
        )
    hospital = Hospital(**data.model_dump())
    uow.session.add(hospital)
    await uow.session.flush()
    audit.record(uow, actor, "hospital.created", hospital)
    return hospital


async def list_all(uow: UnitOfWork) -> list[Hospital]:
    return list((await uow.session.scalars(select(Hospital).order_by(Hospital.name))).all())


async def get(uow: UnitOfWork, hospital_id: int) -> Hospital:
    hospital = await uow.session.get(Hospital, hospital_id)
    if hospital is None:
        raise NotFound(f"Hospital {hospital_id} does not exist.")
    return hospital


async def update(
    uow: UnitOfWork, actor: Principal, hospital_id: int, data: HospitalUpdate
) -> Hospital:
    hospital = await get(uow, hospital_id)
    before = audit.snapshot(hospital)
    for key, value in data.model_dump(exclude_unset=True).items():
        setattr(hospital, key, value)
    if hospital.on_diversion is False:
        hospital.diversion_reason = None
    await uow.session.flush()
    old, new = audit.changed(before, audit.snapshot(hospital))
    new.pop("updated_at", None)
    old.pop("updated_at", None)
    if new:
        audit.record(uow, actor, "hospital.updated", hospital, before=old, after=new)
        uow.emit(HospitalUpdated(hospital.id, new))
    return hospital
