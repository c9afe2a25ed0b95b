"""Claiming a unit is safe under concurrency: of many simultaneous claims exactly one
wins, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from dispatch.auth.principal import Principal
from dispatch.db.session import Database
from dispatch.errors import Conflict
from dispatch.incidents import assignments
from dispatch.incidents import service as incidents
from dispatch.incidents.schemas import IncidentCreate
from dispatch.models import Assignment, Vehicle
from dispatch.models.enums import Role, Triage, VehicleState
from tests.helpers.world import World, dispatch_config

CONCURRENT = 20


def _dispatcher(world: World) -> Principal:
    return Principal(
        role=Role.DISPATCHER,
        organisation_id=world.centre_id,
        user_id=world.user_ids["dispatcher"],
        name="dispatcher",
    )


async def _incidents(db: Database, world: World, count: int) -> list[int]:
    ids = []
    async with db.unit_of_work() as uow:
        for n in range(count):
            incident = await incidents.create(
                uow,
                _dispatcher(world),
                IncidentCreate(
                    lat=13.74 + n * 1e-4,
                    lon=100.53,
                    chief_complaint="chest_pain",
                    triage=Triage.RED,
                ),
                dispatch_config(duplicate_radius_m=0),
            )
            ids.append(incident.incident.id)
    return ids


async def test_twenty_concurrent_claims_one_wins(db: Database, world: World) -> None:
    incident_ids = await _incidents(db, world, CONCURRENT)
    vehicle_id = world.vehicle_ids["A1"]

    async def claim(incident_id: int) -> int | Conflict:
        try:
            async with db.unit_of_work() as uow:
                incident = await incidents.get(uow, _dispatcher(world), incident_id)
                assignment = await assignments.assign(uow, _dispatcher(world), incident, vehicle_id)
                return assignment.incident_id
        except Conflict as exc:
            return exc

    results = await asyncio.gather(*(claim(i) for i in incident_ids))
    winners = [r for r in results if isinstance(r, int)]
    losers = [r for r in results if isinstance(r, Conflict)]
    assert len(winners) == 1, results
    assert len(losers) == CONCURRENT - 1
    winner = winners[0]
    for conflict in losers:
        assert f"incident {winner}" in conflict.message
        assert conflict.context["incident_id"] == winner

    async with db.unit_of_work(read_only=True) as uow:
        active = (
            await uow.session.scalars(select(Assignment).where(Assignment.vehicle_id == vehicle_id))
        ).all()
        vehicle = await uow.session.get(Vehicle, vehicle_id)
    assert [a.incident_id for a in active] == [winner]
    assert vehicle is not None and vehicle.state == VehicleState.DISPATCHED


async def test_concurrent_http_assignments_one_201_rest_409(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    incident_ids = await _incidents(db, world, CONCURRENT)
    vehicle_id = world.vehicle_ids["B1"]
    who = ["dispatcher", "dispatcher2"]

    async def post(n: int, incident_id: int) -> httpx.Response:
        return await client.post(
            f"/incidents/{incident_id}/assignments",
            json={"vehicle_id": vehicle_id},
            headers=world.headers(who[n % 2]),
        )

    responses = await asyncio.gather(*(post(n, i) for n, i in enumerate(incident_ids)))
    codes = sorted(r.status_code for r in responses)
    assert codes == [201] + [409] * (CONCURRENT - 1)
    winner = next(r for r in responses if r.status_code == 201).json()["incident_id"]
    for response in responses:
        if response.status_code == 409:
            body = response.json()
            assert body["detail"] == f"B1 is already assigned to incident {winner}."
            assert body["incident_id"] == winner


async def test_claiming_an_off_duty_unit_is_a_conflict(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    [incident_id] = await _incidents(db, world, 1)
    response = await client.post(
        f"/incidents/{incident_id}/assignments",
        json={"vehicle_id": world.vehicle_ids["T1"]},
        headers=world.headers("dispatcher"),
    )
    assert response.status_code == 409
    assert response.json()["detail"] == "T1 is off duty and cannot take a job."


async def test_database_refuses_two_active_assignments_for_one_vehicle(
    db: Database, world: World
) -> None:
    first, second = await _incidents(db, world, 2)
    vehicle_id = world.vehicle_ids["A1"]
    with pytest.raises(IntegrityError):
        async with db.unit_of_work() as uow:
            uow.session.add_all(
                [
                    Assignment(incident_id=first, vehicle_id=vehicle_id),
                    Assignment(incident_id=second, vehicle_id=vehicle_id),
                ]
            )
    # Ended assignments do not count: history may hold many per vehicle.
    async with db.unit_of_work() as uow:
        uow.session.add_all(
            [
                Assignment(incident_id=first, vehicle_id=vehicle_id, is_active=False),
                Assignment(incident_id=second, vehicle_id=vehicle_id, is_active=False),
                Assignment(incident_id=second, vehicle_id=vehicle_id),
            ]
        )


async def test_assigning_unknown_vehicle_names_the_field(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    [incident_id] = await _incidents(db, world, 1)
    response = await client.post(
        f"/incidents/{incident_id}/assignments",
        json={"vehicle_id": 99999},
        headers=world.headers("dispatcher"),
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "vehicle_id"]
