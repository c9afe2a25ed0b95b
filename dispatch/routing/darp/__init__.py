"""Dial-a-ride scheduling of booked patient transports. Pure: plain data in, plain data out.

Bookings become a :class:`Problem` (requests, vehicles, a travel-time matrix over location
indices, see :mod:`.matrices`); :func:`solve` returns a :class:`Plan` whose every route has
been re-timed and verified (:func:`verify`) and whose every other request is listed unserved
with a reason. :func:`insert` re-plans during the day from the plan in force.

Modules: :mod:`.model` (data), :mod:`.precheck` (reasons before solving), :mod:`.engine`
(OR-Tools model), :mod:`.alns` (large-neighbourhood improvement), :mod:`.timetable`
(re-timing), :mod:`.check` (independent verifier), :mod:`.commitments` (re-planning rules),
:mod:`.cordeau` and :mod:`.bench` (benchmark).
"""

from dispatch.routing.darp.check import Violation, verify
from dispatch.routing.darp.commitments import InvalidProblemError
from dispatch.routing.darp.engine import SearchOptions
from dispatch.routing.darp.matrices import ride_limit, timed_matrix, travel_matrix
from dispatch.routing.darp.model import (
    OPEN,
    SEAT_KINDS,
    Aboard,
    Break,
    Plan,
    Problem,
    Request,
    ScheduledBreak,
    StopRef,
    TimeWindow,
    Unserved,
    Vehicle,
    VehicleRoute,
    Visit,
)
from dispatch.routing.darp.rush import TravelBands
from dispatch.routing.darp.solver import insert, solve

__all__ = [
    "OPEN",
    "SEAT_KINDS",
    "Aboard",
    "Break",
    "InvalidProblemError",
    "Plan",
    "Problem",
    "Request",
    "ScheduledBreak",
    "SearchOptions",
    "StopRef",
    "TimeWindow",
    "TravelBands",
    "Unserved",
    "Vehicle",
    "VehicleRoute",
    "Violation",
    "Visit",
    "insert",
    "ride_limit",
    "solve",
    "timed_matrix",
    "travel_matrix",
    "verify",
]
