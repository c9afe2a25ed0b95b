"""A care centre's day in a spreadsheet: import rides from CSV or XLSX (checked first, then
booked), export the day's bookings as CSV. Registered before ``transports`` so that
``/bookings/export`` is not read as a booking id."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from dispatch.api.deps import CurrentPrincipal, State, Transport, UoW
from dispatch.api.idempotency import IDEMPOTENT, IdempotentRoute
from dispatch.incidents.recommend import check_location
from dispatch.schemas import MAX_DB_INT, Day
from dispatch.transports import exports, imports
from dispatch.transports.schemas import ImportErrorOut, ImportOut, ImportRowOut
from dispatch.transports.tables import XLSX_TYPES, read_rows

router = APIRouter(tags=["transports"], route_class=IdempotentRoute)

_FILE_BODY = {
    "required": True,
    "content": {
        "text/csv": {"schema": {"type": "string"}},
        **{kind: {"schema": {"type": "string", "format": "binary"}} for kind in XLSX_TYPES},
    },
}


@router.post(
    "/bookings/import",
    response_model=ImportOut,
    dependencies=[IDEMPOTENT],
    summary="Book rides from a CSV or XLSX file; dry_run=true (the default) only checks",
    description="The body is the file itself (Content-Type text/csv or the XLSX type). Each "
    "row is checked and reported with its row number and column; with dry_run=false the rows "
    "without errors are booked in one go and rides already booked are skipped (README: Care "
    "centre files).",
    openapi_extra={"requestBody": _FILE_BODY},
)
async def import_bookings(
    uow: UoW,
    state: State,
    actor: CurrentPrincipal,
    cfg: Transport,
    request: Request,
    dry_run: bool = Query(default=True, description="Check only: write nothing"),
    organisation_id: int | None = Query(
        default=None, ge=1, le=MAX_DB_INT, description="Dispatch staff importing for a centre"
    ),
) -> ImportOut:
    rows = read_rows(await request.body(), request.headers.get("content-type", ""))

    def check_place(lat: float, lon: float, field: str) -> None:
        check_location(state.emergency, lat, lon, field)

    found = await imports.import_bookings(
        uow,
        actor,
        rows,
        cfg,
        commit=not dry_run,
        check_place=check_place,
        organisation_id=organisation_id,
    )
    results = [
        ImportRowOut(
            row=r.row,
            errors=[ImportErrorOut(**e) for e in r.errors],
            patient=r.patient,
            patient_id=r.patient_id,
            new_patient=r.new_patient,
            destination=r.destination,
            appointment_at=r.appointment_at,
            pickup_window_start=r.pickup_window_start,
            pickup_window_end=r.pickup_window_end,
            duplicate_of=r.duplicate_of,
            booking_id=r.booking_id,
        )
        for r in found.rows
    ]
    return ImportOut(
        committed=found.committed,
        rows=len(results),
        valid=found.valid,
        created=found.created,
        duplicates=sum(1 for r in found.rows if r.duplicate_of is not None),
        failed=sum(1 for r in found.rows if r.errors),
        ignored_columns=found.ignored_columns,
        results=results,
    )


@router.get(
    "/bookings/export",
    summary="The bookings of a local day as CSV (the import's columns plus the plan's)",
    response_class=Response,
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
)
async def export_bookings(
    uow: UoW,
    actor: CurrentPrincipal,
    service_date: Annotated[Day, Query(description="The local day")],
    organisation_id: int | None = Query(default=None, ge=1, le=MAX_DB_INT),
) -> Response:
    body = await exports.day_csv(uow, actor, service_date, organisation_id)
    name = f"bookings-{service_date.isoformat()}.csv"
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
