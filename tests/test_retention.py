"""``dispatch retention apply`` from cron: finished calls and rides past their period lose
their personal data (and nothing else), old GPS fixes go, the rest is untouched."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from dispatch.db.session import Database
from dispatch.models import AuditEntry, Incident, PlanStop, PositionFix, TransportBooking
from dispatch.models.enums import BookingStatus, IncidentStatus, Triage
from tests.helpers.cli import cli_env, dispatch_cli
from tests.helpers.stacks import Stack
from tests.helpers.world import World

NOW = datetime.now(UTC)
OLD, RECENT = NOW - timedelta(days=400), NOW - timedelta(days=10)


def _call(world: World, status: IncidentStatus, closed_at: datetime | None) -> Incident:
    return Incident(
        organisation_id=world.centre_id,
        caller_phone="+66811112222",
        lat=13.745123,
        lon=100.534567,
        address_text="99/1 Soi Sukhumvit 11",
        chief_complaint="fall",
        triage=Triage.YELLOW,
        notes="HIV positive",
        status=status,
        created_at=(closed_at or OLD) - timedelta(hours=1),
        closed_at=closed_at,
    )


def _ride(world: World, at: datetime) -> TransportBooking:
    return TransportBooking(
        organisation_id=world.care_a_id,
        patient_id=world.patient_a_id,
        pickup_lat=13.801234,
        pickup_lon=100.553456,
        pickup_address="7 Thanon Phahonyothin",
        destination_lat=13.7327,
        destination_lon=100.5354,
        appointment_at=at,
        service_date=at.date(),
        notes="dialysis",
        status=BookingStatus.COMPLETED,
    )


async def test_retention_anonymises_what_is_past_its_period(
    stack: Stack, db: Database, world: World
) -> None:
    async with db.unit_of_work() as uow:
        calls = [
            _call(world, IncidentStatus.CLOSED, OLD),
            _call(world, IncidentStatus.CANCELLED, OLD),
            _call(world, IncidentStatus.CLOSED, RECENT),
            _call(world, IncidentStatus.PENDING, None),  # old but still open
        ]
        rides = [_ride(world, OLD), _ride(world, RECENT)]
        uow.session.add_all([*calls, *rides])
        await uow.session.flush()
        uow.session.add(
            PlanStop(
                service_date=OLD.date(),
                vehicle_id=world.vehicle_ids["T1"],
                seq=0,
                kind="pickup",
                booking_id=rides[0].id,
                lat=13.801234,
                lon=100.553456,
                planned_arrival=OLD,
                planned_start=OLD,
                planned_departure=OLD,
                status="done",
            )
        )
        for at in (NOW - timedelta(days=120), NOW - timedelta(days=1)):
            uow.session.add(
                PositionFix(
                    vehicle_id=world.vehicle_ids["A1"],
                    recorded_at=at,
                    received_at=at,
                    lat=13.74,
                    lon=100.53,
                )
            )
        call_ids, ride_ids = [c.id for c in calls], [r.id for r in rides]

    env = cli_env(DISPATCH_DATABASE_URL=stack.database_url)
    args = ["retention", "apply", "--incident-days", "365", "--booking-days", "365"]
    done = await dispatch_cli([*args, "--gps-days", "90", "--by", "cron"], env)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert (report["incidents"], report["bookings"], report["plan_stops"]) == (2, 1, 1)
    assert report["gps_fixes"] == 1

    async with db.unit_of_work(read_only=True) as uow:
        incidents = {i.id: i for i in await uow.session.scalars(select(Incident))}
        bookings = {b.id: b for b in await uow.session.scalars(select(TransportBooking))}
        stop = await uow.session.scalar(select(PlanStop))
        fixes = await uow.session.scalar(select(func.count()).select_from(PositionFix))
        entries = list(await uow.session.scalars(select(AuditEntry)))
    for old in call_ids[:2]:
        call = incidents[old]
        assert (call.caller_phone, call.address_text, call.notes) == (None, None, None)
        assert (call.lat, call.lon) == (13.75, 100.53)
        assert call.triage == Triage.YELLOW and call.closed_at is not None  # figures stay
    for kept in call_ids[2:]:
        assert incidents[kept].caller_phone == "+66811112222"
        assert incidents[kept].lat == 13.745123
    assert bookings[ride_ids[0]].pickup_address is None and bookings[ride_ids[0]].notes is None
    assert bookings[ride_ids[0]].status == BookingStatus.COMPLETED
    assert bookings[ride_ids[1]].pickup_address == "7 Thanon Phahonyothin"
    assert stop is not None and (stop.lat, stop.lon) == (None, None)
    assert fixes == 1
    [applied] = [e for e in entries if e.action == "retention.applied"]
    assert applied.actor == "cli:cron" and applied.after is not None
    assert applied.after["anonymised"]["incidents"] == 2
    assert "Sukhumvit" not in json.dumps([e.after for e in entries])

    again = await dispatch_cli([*args, "--by", "cron"], env)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["incidents"] == 0
    async with db.unit_of_work(read_only=True) as uow:
        count = await uow.session.scalar(select(func.count()).select_from(AuditEntry))
    assert count == len(entries)  # nothing changed, nothing logged


async def test_a_period_below_a_day_is_refused(stack: Stack) -> None:
    done = await dispatch_cli(
        ["retention", "apply", "--gps-days", "0"],
        cli_env(DISPATCH_DATABASE_URL=stack.database_url),
    )
    assert done.returncode == 2 and "at least 1 day" in done.stderr
