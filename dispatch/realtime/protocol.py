"""Websocket wire protocol: message shapes and close codes (see README, "Live updates").

Control room (``/ws/control``)::

    client → {"type": "hello", "token": "...", "resume": {"epoch": "...", "seq": 41}}
    server → {"type": "snapshot", "epoch", "seq", "vehicles", "positions", "incidents",
              "assignments", "hospitals", "stale_after_s"}
           | {"type": "resumed", "epoch", "seq"} followed by the missed events
    server → {"type": "event", "seq", "event": {"type", "data"}}        never dropped
    server → {"type": "positions", "positions": [...]}                  coalesced, latest wins
    server → {"type": "heartbeat", "seq", "at"}
    close 4409: fell behind; 1012: worker restarting. Either way: reconnect and resume.

Driver phone (``/ws/driver``)::

    client → {"type": "hello", "token": "dvt_..."}
    client → {"type": "fixes", "id": "m1", "fixes": [{"lat", "lon", "t", "speed", ...}]}
    client → {"type": "status", "id": "m2", "assignment_id", "status", "at"}
    client → {"type": "sos", "id": "m3", "lat", "lon", "at"}        crew-safety alarm
    server → {"type": "ack", "id", ...} | {"type": "error", "id", "code", "field", "message"}
    server → {"type": "assignment", "assignment", "incident"} | {"type": "cancellation", ...}
           | {"type": "status", "assignment_id", "status"}
           | {"type": "alarm", "data": {"alarm_id", "acknowledged_by", …}}  SOS taken in charge
"""

from __future__ import annotations

from typing import Any, Literal, NotRequired, TypedDict

from dispatch.events import (
    AssignmentCreated,
    AssignmentProgressed,
    CrewAlarmAcknowledged,
    ManifestStopProgressed,
    ManifestUpdated,
    MoveUpChanged,
)

#: Bad or missing credentials, or the session ended (device token revoked, user deactivated
#: or logged out everywhere): log in again.
CLOSE_UNAUTHORIZED = 4401
#: The client fell too far behind; reconnect and resume (or reload the snapshot).
CLOSE_RESYNC = 4409
#: The server is going away (restart); reconnect, possibly to another worker.
CLOSE_GOING_AWAY = 1001
#: This worker is draining before a restart: reconnect (through the proxy, to another
#: worker) and resume from the last sequence number.
CLOSE_SERVICE_RESTART = 1012
#: A message over ``MAX_MESSAGE_CHARS`` (500 fixes take ~100 kB).
CLOSE_TOO_BIG = 1009
MAX_MESSAGE_CHARS = 1_000_000
#: Malformed first message.
CLOSE_BAD_HELLO = 4400

HELLO_TIMEOUT_S = 10.0


# --- the event log (what the bus carries and a screen resumes from) ------------------------


class LogEntry(TypedDict):
    """A committed event with its place in the global log."""

    seq: int
    type: str
    data: dict[str, Any]


# --- control room: server → screen ---------------------------------------------------------


class EventBody(TypedDict):
    type: str
    data: dict[str, Any]


class EventFrame(TypedDict):
    type: Literal["event"]
    seq: int
    event: EventBody


class ResumedFrame(TypedDict):
    type: Literal["resumed"]
    epoch: str
    seq: int


class PositionsFrame(TypedDict):
    type: Literal["positions"]
    positions: list[dict[str, Any]]


class HeartbeatFrame(TypedDict):
    type: Literal["heartbeat"]
    seq: int
    at: int


def event_frame(entry: LogEntry) -> EventFrame:
    return {
        "type": "event",
        "seq": entry["seq"],
        "event": {"type": entry["type"], "data": entry["data"]},
    }


def resumed_frame(epoch: str, seq: int) -> ResumedFrame:
    return {"type": "resumed", "epoch": epoch, "seq": seq}


def positions_frame(positions: list[dict[str, Any]]) -> PositionsFrame:
    return {"type": "positions", "positions": positions}


def heartbeat_frame(seq: int, at_ms: int) -> HeartbeatFrame:
    return {"type": "heartbeat", "seq": seq, "at": at_ms}


def snapshot_frame(
    *,
    epoch: str,
    seq: int,
    stale_after_s: float,
    positions: list[dict[str, Any]],
    picture: dict[str, Any],
) -> dict[str, Any]:
    """The full picture a screen starts from: ``picture`` holds ``vehicles``,
    ``incidents``, ``assignments`` and ``hospitals`` (``realtime.snapshot``)."""
    return {
        "type": "snapshot",
        "epoch": epoch,
        "seq": seq,
        "stale_after_s": stale_after_s,
        "positions": positions,
        **picture,
    }


# --- crew phone ----------------------------------------------------------------------------


class Hello(TypedDict):
    """The first message on either socket."""

    type: Literal["hello"]
    token: str
    resume: NotRequired[dict[str, Any]]


class WelcomeMsg(TypedDict):
    type: Literal["welcome"]
    vehicle_id: int


class AssignmentMsg(TypedDict):
    type: Literal["assignment"]
    seq: NotRequired[int]
    assignment: dict[str, Any]
    incident: NotRequired[dict[str, Any]]


class CancellationMsg(TypedDict):
    type: Literal["cancellation"]
    seq: int
    assignment_id: int
    incident_id: int


class StatusMsg(TypedDict):
    type: Literal["status"]
    seq: int
    assignment_id: int
    status: str


class ManifestMsg(TypedDict):
    type: Literal["manifest"]
    seq: int
    data: dict[str, Any]


class AlarmMsg(TypedDict):
    type: Literal["alarm"]
    seq: int
    data: dict[str, Any]


class MoveUpMsg(TypedDict):
    """ "Go to standby post X" (``accepted``), "you are there" (``arrived``), or the task is
    over (``ended``; ``rejected``: called back). The crew reloads its task on each."""

    type: Literal["moveup"]
    seq: NotRequired[int]
    data: dict[str, Any]


#: Move-up states a crew hears about.
CREW_MOVE_STATES = frozenset({"accepted", "arrived", "ended", "rejected"})


class AckMsg(TypedDict):
    type: Literal["ack"]
    id: Any
    accepted: NotRequired[int]
    duplicates: NotRequired[int]
    dropped: NotRequired[list[dict[str, Any]]]
    alarm_id: NotRequired[int]
    repeated: NotRequired[bool]
    assignment_id: NotRequired[int]
    status: NotRequired[str]


class PongMsg(TypedDict):
    type: Literal["pong"]
    id: Any


class ErrorMsg(TypedDict):
    type: Literal["error"]
    id: Any
    code: str
    field: str | None
    message: str


DriverMsg = (
    WelcomeMsg
    | AssignmentMsg
    | CancellationMsg
    | StatusMsg
    | ManifestMsg
    | AlarmMsg
    | MoveUpMsg
    | AckMsg
    | PongMsg
    | ErrorMsg
)

#: Client → server message types on ``/ws/driver`` (after the hello).
DRIVER_FIXES = "fixes"
DRIVER_STATUS = "status"
DRIVER_SOS = "sos"
DRIVER_PING = ("ack", "ping")


def error_msg(msg_id: Any, code: str, message: str, field: str | None = None) -> ErrorMsg:
    return {"type": "error", "id": msg_id, "code": code, "field": field, "message": message}


def fixes_ack(
    msg_id: Any, accepted: int, duplicates: int, dropped: list[dict[str, Any]] | None = None
) -> AckMsg:
    """``dropped`` (only when there are any): fixes acknowledged but not stored, with the
    reason; the phone must not resend them."""
    ack: AckMsg = {"type": "ack", "id": msg_id, "accepted": accepted, "duplicates": duplicates}
    if dropped:
        ack["dropped"] = dropped
    return ack


def alarm_ack(msg_id: Any, alarm_id: int, *, repeated: bool) -> AckMsg:
    return {"type": "ack", "id": msg_id, "alarm_id": alarm_id, "repeated": repeated}


def status_ack(msg_id: Any, assignment_id: int, status: str) -> AckMsg:
    return {"type": "ack", "id": msg_id, "assignment_id": assignment_id, "status": status}


_CANCELLED = f"{AssignmentProgressed.PREFIX}cancelled"


def driver_message(entry: LogEntry) -> DriverMsg | None:
    """What a crew's phone is told about a logged event concerning its vehicle."""
    kind, data = entry["type"], entry["data"]
    if kind == AssignmentCreated.NAME:
        return {"type": "assignment", "seq": entry["seq"], "assignment": data}
    if kind == _CANCELLED:
        return {
            "type": "cancellation",
            "seq": entry["seq"],
            "assignment_id": data["assignment_id"],
            "incident_id": data["incident_id"],
        }
    if kind == CrewAlarmAcknowledged.NAME:
        return {"type": "alarm", "seq": entry["seq"], "data": data}
    if kind == MoveUpChanged.NAME and data.get("status") in CREW_MOVE_STATES:
        return {"type": "moveup", "seq": entry["seq"], "data": data}
    if kind in (ManifestUpdated.NAME, ManifestStopProgressed.NAME):
        return {"type": "manifest", "seq": entry["seq"], "data": data}
    if kind.startswith(AssignmentProgressed.PREFIX):
        return {
            "type": "status",
            "seq": entry["seq"],
            "assignment_id": data["assignment_id"],
            "status": data["status"],
        }
    return None
