"""Every failure becomes a clear JSON error: domain errors with their status, stale
edits and uniqueness clashes as 409, an unreachable database as 503 with Retry-After.
Client input never produces a 500."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm.exc import StaleDataError
from starlette.exceptions import HTTPException

from dispatch.errors import DomainError, InvalidInput, Unauthorized

log = logging.getLogger(__name__)


async def _domain_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    if isinstance(exc, InvalidInput):
        body: dict[str, object] = {
            "detail": [{"loc": [exc.location, exc.field], "msg": exc.message, "type": exc.code}]
        }
    else:
        body = {"detail": exc.message, "code": exc.code, **exc.context}
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, Unauthorized) else None
    if exc.retry_after_s is not None:
        headers = {"Retry-After": str(exc.retry_after_s)}
    return JSONResponse(body, status_code=exc.status_code, headers=headers)


def _field_error(error: object) -> dict[str, object]:
    """One validation error as ``InputErrorOut`` declares it: where, what, which rule.
    The offending input is not echoed: it may be ``NaN`` (not JSON), a megabyte of text,
    or bytes that do not decode, and the client has it anyway."""
    found = error if isinstance(error, dict) else {}
    loc = found.get("loc", ())
    return {
        "loc": [p if isinstance(p, int) and not isinstance(p, bool) else str(p) for p in loc]
        if isinstance(loc, list | tuple)
        else [str(loc)],
        "msg": str(found.get("msg", "Invalid input.")),
        "type": str(found.get("type", "value_error")),
    }


async def _invalid_request(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return JSONResponse({"detail": [_field_error(e) for e in exc.errors()]}, status_code=422)


async def _stale(_request: Request, _exc: Exception) -> JSONResponse:
    return JSONResponse(
        {
            "detail": "Someone else changed this record meanwhile; reload and try again.",
            "code": "conflict",
        },
        status_code=409,
    )


async def _integrity(_request: Request, exc: Exception) -> JSONResponse:
    log.warning("integrity error: %s", exc)
    return JSONResponse(
        {
            "detail": "This clashes with existing data (a duplicate or a missing reference).",
            "code": "conflict",
        },
        status_code=409,
    )


#: SQLSTATEs that say the database is (for now) not there rather than that the request was
#: wrong: connection exceptions (class 08), too many connections (53300), and the server
#: shutting down or starting up (57P01-57P03), as during a restart or a fail-over.
_UNAVAILABLE_STATES = ("08", "53300", "57P01", "57P02", "57P03")


def _unreachable(exc: DBAPIError) -> bool:
    if exc.connection_invalidated or isinstance(exc.orig, OSError | ConnectionError):
        return True
    state = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    return isinstance(state, str) and state.startswith(_UNAVAILABLE_STATES)


async def _database(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DBAPIError)
    if _unreachable(exc):
        return JSONResponse(
            {"detail": "The database is unreachable; try again shortly.", "code": "unavailable"},
            status_code=503,
            headers={"Retry-After": "2"},
        )
    log.exception("database error", exc_info=exc)
    return JSONResponse({"detail": "Internal error.", "code": "internal"}, status_code=500)


#: What FastAPI says when a body cannot even be decoded (bytes that are not UTF-8 JSON).
_UNPARSEABLE_BODY = "There was an error parsing the body"


async def _http_error(request: Request, exc: Exception) -> Response:
    """FastAPI's own answers, except an undecodable body: a 422 naming the body, like
    any other JSON that cannot be read, instead of an undocumented 400."""
    assert isinstance(exc, HTTPException)
    if exc.status_code == 400 and exc.detail == _UNPARSEABLE_BODY:
        error = {
            "loc": ["body"],
            "msg": "The body could not be read: JSON in UTF-8 is expected.",
            "type": "json_invalid",
        }
        return JSONResponse({"detail": [error]}, status_code=422)
    return await http_exception_handler(request, exc)


def install(app: FastAPI) -> None:
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(StaleDataError, _stale)
    app.add_exception_handler(IntegrityError, _integrity)
    app.add_exception_handler(DBAPIError, _database)
    app.add_exception_handler(ConnectionError, _unavailable)
    app.add_exception_handler(TimeoutError, _unavailable)


async def _unavailable(_request: Request, exc: Exception) -> JSONResponse:
    log.warning("backing service unreachable: %s", exc)
    return JSONResponse(
        {"detail": "A backing service is unreachable; try again shortly.", "code": "unavailable"},
        status_code=503,
        headers={"Retry-After": "2"},
    )
