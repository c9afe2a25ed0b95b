"""The ``Idempotency-Key`` header on the writes a screen or phone may repeat (README,
"Idempotent writes"): one dependency and one route class, so a router only says which
routes take the header, never how it works.

* ``dependencies=[IDEMPOTENT]`` on a route of an ``IdempotentRoute`` router: the key is
  claimed in the request's unit of work before the route runs, and the serialized answer
  is stored in the same unit of work after it ran (before the commit), so the answer is
  durable exactly when the write is. A request sent again gets that answer byte for byte,
  marked ``Idempotent-Replayed: true``, and nothing is done twice.
* ``KeyForOwnTransactions`` for a route that writes in its own units of work (a plan is
  solved outside any write transaction): the service calls the hook it is given inside
  the unit of work that writes, and the key is claimed and answered there.

Only an answered success is stored: a request that fails rolls back with its write, so
the same key may be sent again (after a 503, a fixed 422 …).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Header, Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, serialize_response

from dispatch.api.deps import State, UoW, current_principal, principal_outside_request_transaction
from dispatch.auth.principal import Principal
from dispatch.clock import Clock
from dispatch.db.session import UnitOfWork
from dispatch.idempotency import service
from dispatch.idempotency.keys import (
    HEADER,
    MAX_KEY_LENGTH,
    REPLAYED_HEADER,
    KeyedRequest,
    keyed_request,
    parse_key,
)
from dispatch.idempotency.service import Replayed, StoredResponse

T = TypeVar("T")
#: What a service running its own units of work calls inside the one that writes.
WriteHook = Callable[[UnitOfWork, T], Awaitable[None]]

_SCOPE_KEY = "dispatch.idempotency"

_KEY_PARAM = Header(
    alias=HEADER,
    description=(
        "Makes this write safe to resend: the same key from the same caller within 24 h "
        "returns the first answer (marked `Idempotent-Replayed: true`) and does nothing "
        "again; the same key with another request is a 422. 1-255 printable ASCII "
        'characters, bare (`abc`) or as a Structured Field string (`"abc"`); a fresh '
        "one (e.g. a UUID) per user action."
    ),
    json_schema_extra={"minLength": 1, "maxLength": MAX_KEY_LENGTH + 2, "pattern": "^[ -~]+$"},
)
KeyHeader = Annotated[str | None, _KEY_PARAM]


@dataclass
class _Claimed:
    """A key claimed in the request's unit of work, answered when the route returns."""

    request: KeyedRequest
    uow: UnitOfWork

    async def finish(self, response: Response) -> Response:
        body = getattr(response, "body", None)
        if 200 <= response.status_code < 300 and isinstance(body, bytes):
            stored = StoredResponse(
                response.status_code, response.headers.get("content-type"), body
            )
            await service.complete(self.uow, self.request, stored)
        else:  # not a success, or nothing to keep: the key stays free for a retry
            await service.release(self.uow, self.request)
        return response


@dataclass
class KeyInOwnTransactions:
    """For a route whose service opens its own units of work: ``hook(render)`` is what
    the service calls inside the one that writes (None without a key)."""

    request: KeyedRequest | None
    clock: Clock
    route: APIRoute
    stored: StoredResponse | None = field(default=None)

    def hook(self, render: Callable[[T], object]) -> WriteHook[T] | None:
        keyed = self.request
        if keyed is None:
            return None

        async def store(uow: UnitOfWork, result: T) -> None:
            await service.claim(uow, keyed, self.clock.now())
            body = await serialize_response(
                field=self.route.response_field,
                response_content=render(result),
                include=self.route.response_model_include,
                exclude=self.route.response_model_exclude,
                by_alias=self.route.response_model_by_alias,
                exclude_unset=self.route.response_model_exclude_unset,
                exclude_defaults=self.route.response_model_exclude_defaults,
                exclude_none=self.route.response_model_exclude_none,
                dump_json=True,
            )
            assert isinstance(body, bytes)
            stored = StoredResponse(self.route.status_code or 200, "application/json", body)
            await service.complete(uow, keyed, stored)
            self.stored = stored

        return store

    def finish(self, response: Response) -> Response:
        """Answer exactly the bytes that were stored (what a resend will get)."""
        if self.stored is None:
            return response
        return Response(
            self.stored.body, self.stored.status_code, media_type=self.stored.media_type
        )


def _route(request: Request) -> APIRoute:
    route = request.scope.get("route")
    if not isinstance(route, IdempotentRoute):
        raise RuntimeError(f"{request.url.path}: {HEADER} needs the router's IdempotentRoute")
    return route


async def _keyed(
    request: Request, principal: Principal, key_header: str | None
) -> KeyedRequest | None:
    if key_header is None:
        return None
    key = parse_key(request.headers.getlist(HEADER))
    assert key is not None
    body = await request.body()
    return keyed_request(principal, key, request.method, request.url.path, request.url.query, body)


async def _idempotent(
    request: Request,
    uow: UoW,
    state: State,
    principal: Annotated[Principal, Depends(current_principal)],
    idempotency_key: KeyHeader = None,
) -> None:
    keyed = await _keyed(request, principal, idempotency_key)
    if keyed is None:
        return
    _route(request)
    await service.claim(uow, keyed, state.clock.now())  # waits for a concurrent first
    request.scope[_SCOPE_KEY] = _Claimed(keyed, uow)


async def _own_transactions(
    request: Request,
    state: State,
    principal: Annotated[Principal, Depends(principal_outside_request_transaction)],
    idempotency_key: KeyHeader = None,
) -> KeyInOwnTransactions:
    keyed = await _keyed(request, principal, idempotency_key)
    own = KeyInOwnTransactions(keyed, state.clock, _route(request))
    if keyed is not None:
        async with state.db.unit_of_work(read_only=True) as uow:
            await service.check(uow, keyed, state.clock.now())  # answered: no work at all
        request.scope[_SCOPE_KEY] = own
    return own


#: ``dependencies=[IDEMPOTENT]``: the route takes the header (README, "Idempotent writes").
IDEMPOTENT = Depends(_idempotent)
#: A parameter for routes whose services write in their own units of work.
KeyForOwnTransactions = Annotated[KeyInOwnTransactions, Depends(_own_transactions)]


def _replay(stored: StoredResponse) -> Response:
    headers = {REPLAYED_HEADER: "true"}
    if stored.media_type:
        headers["content-type"] = stored.media_type
    return Response(stored.body, stored.status_code, headers=headers)


def _takes_key(dependant: Dependant) -> bool:
    stack = [dependant]
    while stack:
        current = stack.pop()
        if current.call in (_idempotent, _own_transactions):
            return True
        stack.extend(current.dependencies)
    return False


class IdempotentRoute(APIRoute):
    """The route class of routers with idempotent writes: answers a resent request from
    the stored answer, and stores a first answer before the unit of work commits (this
    handler returns inside the request's function-scoped dependencies, so the unit of
    work is still open). Routes without the header are untouched."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        if _takes_key(self.dependant):
            success = self.responses.setdefault(self.status_code or 200, {})
            success.setdefault("headers", {})[REPLAYED_HEADER] = {
                "description": f"`true` when this repeats the first answer to the {HEADER}",
                "schema": {"type": "string", "enum": ["true"]},
            }

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                response = await handle(request)
            except Replayed as replay:
                return _replay(replay.response)
            pending = request.scope.get(_SCOPE_KEY)
            if isinstance(pending, _Claimed):
                return await pending.finish(response)
            if isinstance(pending, KeyInOwnTransactions):
                return pending.finish(response)
            return response

        return handler
