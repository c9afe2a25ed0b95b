from __future__ import annotations

from fastapi import APIRouter

from dispatch.api.deps import CurrentPrincipal, PathId, UoW
from dispatch.errors import InvalidInput
from dispatch.incidents import assignments
from dispatch.incidents.schemas import AssignmentOut, CurrentAssignmentOut, IncidentOut, MilestoneIn
from dispatch.models import Incident

router = APIRouter(prefix="/assignments", tags=["assignments"])


@router.get(
    "/current",
    response_model=CurrentAssignmentOut,
    summary="The calling crew's active assignment and its incident (empty when none)",
)
async def current(uow: UoW, actor: CurrentPrincipal) -> CurrentAssignmentOut:
    if actor.vehicle_id is None:
        raise InvalidInput("vehicle", "Only a crew (driver or vehicle phone) has a current job.")
    assignment = await assignments.current_for_vehicle(uow, actor.vehicle_id)
    if assignment is None:
        return CurrentAssignmentOut(assignment=None, incident=None)
    incident = await uow.session.get(Incident, assignment.incident_id)
    return CurrentAssignmentOut(
        assignment=AssignmentOut.model_validate(assignment),
        incident=IncidentOut.model_validate(incident),
    )


@router.get("/{assignment_id}", response_model=AssignmentOut)
async def get_assignment(uow: UoW, actor: CurrentPrincipal, assignment_id: PathId) -> AssignmentOut:
    return AssignmentOut.model_validate(await assignments.get(uow, actor, assignment_id))


@router.post(
    "/{assignment_id}/status",
    response_model=AssignmentOut,
    summary="Report a milestone (acknowledged, en route, on scene, …); repeating one is a no-op",
    responses={409: {"description": "Not allowed from the current state (lists allowed ones)"}},
)
async def report_status(
    uow: UoW,
    actor: CurrentPrincipal,
    assignment_id: PathId,
    data: MilestoneIn,
) -> AssignmentOut:
    assignment = await assignments.get(uow, actor, assignment_id)
    updated = await assignments.apply_milestone(
        uow,
        actor,
        assignment,
        data.status,
        data.at,
        destination_hospital_id=data.destination_hospital_id,
    )
    return AssignmentOut.model_validate(updated)
