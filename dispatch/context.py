"""Per-request context that logs and the audit log pick up without threading it through
every call."""

from __future__ import annotations

from contextvars import ContextVar

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
