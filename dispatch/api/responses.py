"""The error answers every route may give, declared in the OpenAPI schema with their
bodies, so client generators and contract tests know them (README, "Errors").

The rules follow from the handlers in ``api.errors`` and the dependencies in ``api.deps``
rather than being repeated on each route: a route that needs a login can answer 401 and
403; one with an id in its path, 404; every write can clash with current state (409); a
route that reads input can refuse it (422, FastAPI's own shape, which ``InvalidInput``
reuses); every route that touches storage can find it unreachable (503 with Retry-After).
A description given on the route itself is kept.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.security import OAuth2PasswordBearer
from pydantic import BaseModel, ConfigDict, Field

WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: Routes whose writes cannot clash (a login creates nothing).
NO_CONFLICT = frozenset({"/auth/token"})
#: Routes that count attempts (README, "Abuse limits").
RATE_LIMITED = frozenset({"/auth/token", "/vehicles/{vehicle_id}/fixes"})
#: Routes that touch no storage.
NO_STORAGE = frozenset({"/healthz"})


class FieldErrorOut(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class InputErrorOut(BaseModel):
    """422: FastAPI's own shape, which ``InvalidInput`` from the services reuses."""

    detail: list[FieldErrorOut]


class ErrorOut(BaseModel):
    """Every error but 422: a sentence for a person and a code for a program; some
    errors add context (``allowed_next``, ``retry_after_s``, ``field``)."""

    model_config = ConfigDict(extra="allow")

    detail: str = Field(description="What went wrong, in words a dispatcher understands")
    code: str = Field(description="unauthorized, forbidden, not_found, conflict, …")


def _uses_bearer(dependant: Dependant) -> bool:
    stack = [dependant]
    while stack:
        current = stack.pop()
        if isinstance(current.call, OAuth2PasswordBearer):
            return True
        stack.extend(current.dependencies)
    return False


def _error(description: str) -> dict[str, Any]:
    return {"model": ErrorOut, "description": description}


def errors_for(route: APIRoute) -> dict[int | str, dict[str, Any]]:
    """The error answers ``route`` can give, by status."""
    found: dict[int | str, dict[str, Any]] = {}
    if _uses_bearer(route.dependant):
        found[401] = _error("Not logged in, or the token expired or was revoked")
        found[403] = _error("Logged in, but this role or tenant may not do this")
    if route.dependant.path_params:
        found[404] = _error("No such record (or it belongs to another tenant)")
    if (route.methods or set()) & WRITES and route.path not in NO_CONFLICT:
        found[409] = _error("Clashes with the current state (the sentence says which)")
    if route.path in RATE_LIMITED:
        found[429] = _error("Too many attempts; wait for Retry-After seconds")
    if route.path not in NO_STORAGE:
        found[503] = _error("Storage or the bus is unreachable or busy; retry after Retry-After")
    return found


def document_errors(router: APIRouter) -> None:
    """Add the error answers to every route of ``router`` (before it is included)."""
    for route in router.routes:
        if not isinstance(route, APIRoute) or not route.include_in_schema:
            continue
        for status, spec in errors_for(route).items():
            declared = route.responses.setdefault(status, {})
            declared.setdefault("model", spec["model"])
            declared.setdefault("description", spec["description"])
        has_input = bool(route.dependant.path_params or route.dependant.query_params) or (
            route.body_field is not None
        )
        if _uses_bearer(route.dependant) and not has_input and 422 not in route.responses:
            # Services refuse what only the data can judge (InvalidInput) even on routes
            # without parameters (FastAPI declares 422 itself where there are some).
            route.responses[422] = {
                "model": InputErrorOut,
                "description": "Refused; names the field",
            }
