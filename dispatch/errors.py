"""Domain errors carry their HTTP status and a sentence a dispatcher understands; one
handler in the API renders them."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    status_code = 400
    code = "bad_request"
    #: Seconds after which a retry may succeed (sent as ``Retry-After``), when known.
    retry_after_s: int | None = None

    def __init__(self, message: str, **context: Any) -> None:
        super().__init__(message)
        self.message = message
        self.context = context


class NotFound(DomainError):
    status_code = 404
    code = "not_found"


class Conflict(DomainError):
    """The request clashes with the current state (a unit already taken, a stale edit)."""

    status_code = 409
    code = "conflict"


class Unauthorized(DomainError):
    status_code = 401
    code = "unauthorized"


class Forbidden(DomainError):
    status_code = 403
    code = "forbidden"


class InvalidInput(DomainError):
    """Input that is well-formed but wrong given other data (an unknown station id).
    Rendered like FastAPI's own 422 so clients handle one shape."""

    status_code = 422
    code = "invalid"

    def __init__(self, field: str, message: str, *, location: str = "body") -> None:
        super().__init__(message, field=field)
        self.field = field
        self.location = location


class TooManyRequests(DomainError):
    """Over a rate limit; ``retry_after_s`` says when to try again."""

    status_code = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after_s: int) -> None:
        super().__init__(message, retry_after_s=retry_after_s)
        self.retry_after_s = retry_after_s


class Unavailable(DomainError):
    """Nothing was done because a backing service is busy or down; retry shortly."""

    status_code = 503
    code = "unavailable"
    retry_after_s = 2
