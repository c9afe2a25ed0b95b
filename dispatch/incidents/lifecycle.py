"""The assignment state machine (NEMSIS v3 eTimes milestones) and what each milestone
means for the unit and for the incident.

Allowed moves skip optional milestones (a crew may go en route without a separate
acknowledgement; a patient treated on scene means no transport), but never go backwards.
"""

from __future__ import annotations

from collections.abc import Iterable

from dispatch.models.enums import AssignmentStatus as S
from dispatch.models.enums import IncidentStatus, VehicleState

NEXT: dict[S, frozenset[S]] = {
    S.NOTIFIED: frozenset({S.ACKNOWLEDGED, S.EN_ROUTE, S.CANCELLED}),
    S.ACKNOWLEDGED: frozenset({S.EN_ROUTE, S.CANCELLED}),
    S.EN_ROUTE: frozenset({S.ON_SCENE, S.CANCELLED}),
    S.ON_SCENE: frozenset({S.AT_PATIENT, S.LEFT_SCENE, S.BACK_IN_SERVICE, S.CANCELLED}),
    S.AT_PATIENT: frozenset({S.LEFT_SCENE, S.BACK_IN_SERVICE}),
    S.LEFT_SCENE: frozenset({S.AT_DESTINATION}),
    S.AT_DESTINATION: frozenset({S.HANDED_OVER, S.BACK_IN_SERVICE}),
    S.HANDED_OVER: frozenset({S.BACK_IN_SERVICE}),
    S.BACK_IN_SERVICE: frozenset(),
    S.CANCELLED: frozenset(),
}

FINAL = frozenset({S.BACK_IN_SERVICE, S.CANCELLED})

#: Milestones implied by a later one when the crew skipped reporting them.
IMPLIED: dict[S, tuple[S, ...]] = {S.EN_ROUTE: (S.ACKNOWLEDGED,)}

#: The unit's state once the assignment reaches a milestone.
VEHICLE_STATE: dict[S, VehicleState] = {
    S.NOTIFIED: VehicleState.DISPATCHED,
    S.ACKNOWLEDGED: VehicleState.DISPATCHED,
    S.EN_ROUTE: VehicleState.EN_ROUTE,
    S.ON_SCENE: VehicleState.ON_SCENE,
    S.AT_PATIENT: VehicleState.ON_SCENE,
    S.LEFT_SCENE: VehicleState.TRANSPORTING,
    S.AT_DESTINATION: VehicleState.AT_DESTINATION,
    S.HANDED_OVER: VehicleState.AT_DESTINATION,
    S.BACK_IN_SERVICE: VehicleState.RETURNING,
}

_ORDER = list(NEXT)


def allowed_next(current: S) -> list[str]:
    return [s.value for s in _ORDER if s in NEXT[current]]


def can_move(current: S, new: S) -> bool:
    return new in NEXT[current]


def vehicle_state_after_cancel(reached: S) -> VehicleState:
    """A unit stood down before it left is simply available; one on the road returns."""
    return (
        VehicleState.AVAILABLE
        if reached in (S.NOTIFIED, S.ACKNOWLEDGED)
        else VehicleState.RETURNING
    )


def incident_status(active: Iterable[S]) -> IncidentStatus | None:
    """The incident's status from its active assignments' milestones (None: none active)."""
    reached = list(active)
    if not reached:
        return None
    if any(s in (S.LEFT_SCENE, S.AT_DESTINATION, S.HANDED_OVER) for s in reached):
        return IncidentStatus.TRANSPORTING
    if any(s in (S.ON_SCENE, S.AT_PATIENT) for s in reached):
        return IncidentStatus.ON_SCENE
    return IncidentStatus.DISPATCHED
