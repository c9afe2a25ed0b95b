"""Websockets: the control room's live feed and the crew phone's channel.

Neither handler holds a database session while it waits: each piece of database work
opens and closes its own unit of work.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from dispatch.auth import service as auth_service
from dispatch.auth.principal import Principal
from dispatch.coverage import moveups
from dispatch.errors import DomainError
from dispatch.incidents import assignments
from dispatch.incidents.schemas import AssignmentOut, IncidentOut, MilestoneIn
from dispatch.models import Incident
from dispatch.organisations import hierarchy
from dispatch.realtime import protocol, snapshot, wirejson
from dispatch.realtime.gpsdoor import parse_fixes
from dispatch.realtime.scope import Scope
from dispatch.schemas import MAX_DB_INT
from dispatch.state import AppState

log = logging.getLogger(__name__)
router = APIRouter()

#: Messages from one phone handled at the same time.
DRIVER_IN_FLIGHT = 8


async def _refuse_while_draining(ws: WebSocket, state: AppState) -> bool:
    """A draining worker takes no new websockets: a 503 to the handshake (the proxy tries
    another worker), or, where the server cannot answer a handshake with a response, an
    immediate close with 1012."""
    if not state.lifecycle.draining:
        return False
    if "websocket.http.response" in ws.scope.get("extensions", {}):
        await ws.send_denial_response(
            JSONResponse(
                {"detail": "This server is restarting; connect again."},
                status_code=503,
                headers={"Retry-After": "1"},
            )
        )
    else:
        await ws.accept()
        await ws.close(code=protocol.CLOSE_SERVICE_RESTART, reason="server restarting")
    return True


async def _receive(ws: WebSocket) -> str | None:
    """The next message's text, or None for a binary frame (both sockets speak JSON text;
    a binary frame is answered, never allowed to end the connection by surprise)."""
    message = await ws.receive()
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000), message.get("reason"))
    text = message.get("text")
    return text if isinstance(text, str) else None


async def _hello(ws: WebSocket, state: AppState) -> tuple[dict[str, Any], Principal, int] | None:
    """Read the first message and authenticate it; close the socket when it is wrong.
    Also returns the principal cache's generation read before the lookup (``_still_valid``)."""
    try:
        text = await asyncio.wait_for(_receive(ws), protocol.HELLO_TIMEOUT_S)
    except WebSocketDisconnect:
        return None
    except TimeoutError:
        await ws.close(code=protocol.CLOSE_BAD_HELLO, reason="send a hello message first")
        return None
    if text is None or len(text) > protocol.MAX_MESSAGE_CHARS:
        await ws.close(code=protocol.CLOSE_BAD_HELLO, reason="the hello is a small JSON text")
        return None
    try:
        hello = wirejson.loads(text)  # bounded nesting: a deep one is refused, not a crash
    except ValueError:
        await ws.close(code=protocol.CLOSE_BAD_HELLO, reason="send a hello message first")
        return None
    if (
        not isinstance(hello, dict)
        or hello.get("type") != "hello"
        or not isinstance(hello.get("token"), str)
    ):
        await ws.close(code=protocol.CLOSE_BAD_HELLO, reason="expected {type: hello, token}")
        return None
    seen = state.principals.generation
    try:
        async with state.db.unit_of_work(read_only=True) as uow:
            principal = await auth_service.principal_for_token(
                uow, hello["token"], key=state.settings.token_key
            )
    except DomainError:
        await ws.close(code=protocol.CLOSE_UNAUTHORIZED, reason="invalid or expired token")
        return None
    return hello, principal, seen


async def _still_valid(state: AppState, token: str, seen: int) -> bool:
    """After the socket joined the hub: was a session ended between the hello's lookup and
    the attach (the hub found no socket to close then)? Any revocation handled meanwhile
    raised the cache's generation; only then is the token looked up again."""
    if state.principals.generation == seen:
        return True
    try:
        async with state.db.unit_of_work(read_only=True) as uow:
            await auth_service.principal_for_token(uow, token, key=state.settings.token_key)
    except DomainError:
        return False
    return True


@router.websocket("/ws/control")
async def control_feed(ws: WebSocket) -> None:
    state: AppState = ws.app.state.dispatch
    if await _refuse_while_draining(ws, state):
        return
    await ws.accept()
    greeted = await _hello(ws, state)
    if greeted is None:
        return
    hello, principal, seen = greeted
    if not principal.is_operational:
        await ws.close(code=protocol.CLOSE_UNAUTHORIZED, reason="dispatch staff only")
        return
    hub = state.hub
    scope = await _scope(state, principal)
    # From now on events queue up for this client (and it closes when its session ends).
    client = hub.attach_control(ws, principal.user_id, scope)
    writer: asyncio.Task[None] | None = None
    if state.lifecycle.draining:  # began while this client said hello
        await hub.disconnect(client, protocol.CLOSE_SERVICE_RESTART, "server restarting")
        return
    if not await _still_valid(state, hello["token"], seen):
        await hub.disconnect(client, protocol.CLOSE_UNAUTHORIZED, "the session has ended")
        return
    try:
        resumed = await _resume(state, hello.get("resume"))
        if resumed is not None:
            seq, missed = resumed
            await ws.send_json(protocol.resumed_frame(state.broker.epoch, seq))
            for message in missed:
                if scope is None or scope.sees_event(message):
                    await ws.send_json(protocol.event_frame(message))
            client.skip_through = missed[-1]["seq"] if missed else seq
            await ws.send_json(protocol.positions_frame(hub.position_list(scope)))
        else:
            seq = await state.broker.last_seq()
            picture = await snapshot.build(state.db)
            if scope is not None:
                picture = scope.picture(picture)
            await ws.send_json(
                protocol.snapshot_frame(
                    epoch=state.broker.epoch,
                    seq=seq,
                    stale_after_s=state.settings.stale_gps_s,
                    positions=hub.position_list(scope),
                    picture=picture,
                )
            )
            client.skip_through = seq
        writer = asyncio.create_task(client.run(hub.heartbeat_s, lambda: hub.last_seq))
        reader = asyncio.create_task(_drain(ws))
        await asyncio.wait({writer, reader}, return_when=asyncio.FIRST_COMPLETED)
        reader.cancel()
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        hub.detach_control(client)
        if writer is not None:
            writer.cancel()
            with contextlib.suppress(BaseException):
                await writer


async def _scope(state: AppState, principal: Principal) -> Scope | None:
    """The area this dispatcher's screen sees; None when it is every centre."""
    async with state.db.unit_of_work(read_only=True) as uow:
        tree = await hierarchy.parents(uow)
        centres = await hierarchy.visible_centres(uow, principal)
    if centres is None or set(tree) <= centres:
        return None
    await state.hub.centres.load(state.db)
    return Scope(frozenset(centres), state.hub.centres)


async def _resume(state: AppState, resume: Any) -> tuple[int, list[protocol.LogEntry]] | None:
    """The missed events when the client's position in the log is still known."""
    if not isinstance(resume, dict) or resume.get("epoch") != state.broker.epoch:
        return None
    seq = resume.get("seq")
    if not isinstance(seq, int) or seq < max(0, state.hub.resync_floor):
        return None
    missed = await state.broker.events_after(seq)
    if missed is None or len(missed) >= 5000:
        return None
    return seq, missed


async def _drain(ws: WebSocket) -> None:
    """Read (and ignore, binary frames included) what a screen sends, so its close is
    noticed."""
    while True:
        await _receive(ws)


@router.websocket("/ws/driver")
async def driver_channel(ws: WebSocket) -> None:
    state: AppState = ws.app.state.dispatch
    if await _refuse_while_draining(ws, state):
        return
    await ws.accept()
    greeted = await _hello(ws, state)
    if greeted is None:
        return
    hello_msg, principal, seen = greeted
    if state.lifecycle.draining:  # began while this phone said hello
        await ws.close(code=protocol.CLOSE_SERVICE_RESTART, reason="server restarting")
        return
    if principal.vehicle_id is None:
        await ws.close(code=protocol.CLOSE_UNAUTHORIZED, reason="a crew's vehicle token is needed")
        return
    session = state.hub.attach_driver(ws, principal.vehicle_id, principal.user_id)
    if not await _still_valid(state, hello_msg["token"], seen):
        state.hub.detach_driver(session)
        await ws.close(code=protocol.CLOSE_UNAUTHORIZED, reason="the session has ended")
        return
    writer = asyncio.create_task(session.run())
    try:
        session.send({"type": "welcome", "vehicle_id": principal.vehicle_id})
        current = await _current_job(state, principal.vehicle_id)
        if current is not None:
            session.send(current)
        standby = await _current_move(state, principal.vehicle_id)
        if standby is not None:
            session.send(standby)
        # Messages are handled concurrently (a few at a time): a phone's next batch of fixes
        # need not wait for the previous one's commit. Replies carry the message id.
        slots = asyncio.Semaphore(DRIVER_IN_FLIGHT)
        handling: set[asyncio.Task[None]] = set()

        async def respond(message: Any) -> None:
            try:
                reply = await _handle_driver_message(state, principal, message)
            except Exception:  # never leave a phone waiting for an answer that won't come
                log.exception("driver message from vehicle %s failed", principal.vehicle_id)
                msg_id = message.get("id") if isinstance(message, dict) else None
                reply = protocol.error_msg(
                    msg_id, "internal", "could not handle this message; retry later"
                )
            finally:
                slots.release()
            session.send(reply)

        while True:
            text = await _receive(ws)
            if text is None:
                session.send(protocol.error_msg(None, "invalid", "send JSON text, not binary"))
                continue
            if len(text) > protocol.MAX_MESSAGE_CHARS:
                await ws.close(code=protocol.CLOSE_TOO_BIG, reason="message too big")
                return
            try:
                message = wirejson.loads(text)
            except ValueError as exc:  # one garbled message does not cost the phone its link
                why = str(exc) if isinstance(exc, wirejson.TooDeep) else "not JSON"
                session.send(
                    protocol.error_msg(None, "invalid", f"messages are JSON objects ({why})")
                )
                continue
            await slots.acquire()
            task = asyncio.create_task(respond(message))
            handling.add(task)
            task.add_done_callback(handling.discard)
    except (WebSocketDisconnect, RuntimeError, ValueError):
        pass
    finally:
        state.hub.detach_driver(session)
        writer.cancel()
        with contextlib.suppress(BaseException):
            await writer


async def _current_job(state: AppState, vehicle_id: int) -> protocol.AssignmentMsg | None:
    async with state.db.unit_of_work(read_only=True) as uow:
        assignment = await assignments.current_for_vehicle(uow, vehicle_id)
        if assignment is None:
            return None
        incident = await uow.session.get(Incident, assignment.incident_id)
        return {
            "type": "assignment",
            "assignment": AssignmentOut.model_validate(assignment).model_dump(mode="json"),
            "incident": IncidentOut.model_validate(incident).model_dump(mode="json"),
        }


async def _current_move(state: AppState, vehicle_id: int) -> protocol.MoveUpMsg | None:
    """The crew's standby task, if it has one (a phone that reconnects hears it again)."""
    async with state.db.unit_of_work(read_only=True) as uow:
        event = await moveups.current_event(uow, vehicle_id)
        return None if event is None else {"type": "moveup", "data": event.data()}


async def _handle_driver_message(
    state: AppState, principal: Principal, message: Any
) -> protocol.DriverMsg:
    if not isinstance(message, dict):
        return protocol.error_msg(None, "invalid", "messages are JSON objects")
    msg_id = message.get("id")
    kind = message.get("type")
    assert principal.vehicle_id is not None
    if kind == protocol.DRIVER_FIXES:
        try:
            items = parse_fixes(message.get("fixes"))
            result = await state.gps.from_crew(principal, principal.vehicle_id, items)
        except DomainError as exc:
            return protocol.error_msg(msg_id, exc.code, exc.message, exc.context.get("field"))
        dropped = [
            {"index": d.index, "reason": d.reason, "field": d.field, "message": d.message}
            for d in result.dropped
        ]
        return protocol.fixes_ack(msg_id, result.accepted, result.duplicates, dropped)
    if kind == protocol.DRIVER_STATUS:
        assignment_id = message.get("assignment_id")
        if (
            not isinstance(assignment_id, int)
            or isinstance(assignment_id, bool)
            or not 1 <= assignment_id <= MAX_DB_INT
        ):
            return protocol.error_msg(
                msg_id, "invalid", "assignment_id must be a known id", "assignment_id"
            )
        try:
            data = MilestoneIn.model_validate(
                {
                    k: v
                    for k, v in message.items()
                    if k in ("status", "at", "destination_hospital_id")
                }
            )
        except ValidationError as exc:
            first = exc.errors()[0]
            return protocol.error_msg(
                msg_id, "invalid", first["msg"], ".".join(str(p) for p in first["loc"])
            )
        try:
            async with state.db.unit_of_work(publish=state.broker.publish) as uow:
                assignment = await assignments.get(uow, principal, assignment_id)
                updated = await assignments.apply_milestone(
                    uow,
                    principal,
                    assignment,
                    data.status,
                    data.at,
                    destination_hospital_id=data.destination_hospital_id,
                )
                status = updated.status.value
        except DomainError as exc:
            return protocol.error_msg(msg_id, exc.code, exc.message, exc.context.get("field"))
        return protocol.status_ack(msg_id, assignment_id, status)
    if kind == protocol.DRIVER_SOS:
        try:
            raised = await state.gps.sos_from_crew(
                principal,
                principal.vehicle_id,
                message.get("lat"),
                message.get("lon"),
                message.get("at"),
            )
        except DomainError as exc:
            return protocol.error_msg(msg_id, exc.code, exc.message, exc.context.get("field"))
        return protocol.alarm_ack(msg_id, raised.alarm_id, repeated=not raised.created)
    if kind in protocol.DRIVER_PING:
        return {"type": "pong", "id": msg_id}
    return protocol.error_msg(msg_id, "invalid", f"unknown message type {kind!r}", "type")
