"""Log output: plain text for a developer's terminal, one JSON object per line for a log
collector (``DISPATCH_LOG_FORMAT=json``). Every line written while a request is handled
carries its request id, so a dispatcher's complaint ("the assign button failed at 10:42")
leads to the right lines on the right worker.

Nothing here logs request bodies; uvicorn's access lines lose their query string, which
can hold an OsmAnd device identifier (a credential) or a search term.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Literal

from dispatch import context

LogFormat = Literal["text", "json"]
_ACCESS_LOGGER = "uvicorn.access"
_TEXT = "%(asctime)s %(levelname)s %(name)s%(rid)s %(message)s"


class ContextFilter(logging.Filter):
    """Adds the current request id (if any) and hides query strings in access lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        rid = context.request_id.get()
        record.request_id = rid
        record.rid = f" [{rid}]" if rid else ""
        if record.name == _ACCESS_LOGGER and isinstance(record.args, tuple):
            args = list(record.args)
            if len(args) == 5 and isinstance(args[2], str):
                args[2] = args[2].split("?", 1)[0]
                record.args = tuple(args)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC), level, logger, message, request id; access
    lines also get method, path and status as fields."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        rid = getattr(record, "request_id", None)
        if rid:
            data["request_id"] = rid
        args = record.args
        if record.name == _ACCESS_LOGGER and isinstance(args, tuple) and len(args) == 5:
            _client, method, path, _version, status = args
            data.update(method=method, path=path, status=status)
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False, default=str)


_handler: logging.Handler | None = None


def configure_logging(level: str = "INFO", fmt: str = "text") -> None:
    """Send every log line (ours and uvicorn's) to stderr in the chosen format. Safe to
    call again (a worker process calls it after the parent did)."""
    global _handler
    if fmt not in ("text", "json"):
        raise ValueError(f"DISPATCH_LOG_FORMAT must be text or json, not {fmt!r}")
    root = logging.getLogger()
    if _handler is not None:
        root.removeHandler(_handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(_TEXT))
    handler.addFilter(ContextFilter())
    root.addHandler(handler)
    root.setLevel(level.upper())
    _handler = handler
    # uvicorn's loggers write through ours (uvicorn is started with log_config=None).
    for name in ("uvicorn", "uvicorn.error", _ACCESS_LOGGER):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
