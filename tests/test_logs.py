"""Log lines: JSON or text, with the request id, and no query strings from access lines
(an OsmAnd query string carries the phone's identifier, a credential)."""

from __future__ import annotations

import json
import logging

import pytest

from dispatch import context
from dispatch.observability.logs import ContextFilter, JsonFormatter, configure_logging


def _access_record() -> logging.LogRecord:
    return logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("10.0.0.7:5512", "GET", "/osmand?id=secret-device&lat=13.7", "1.1", 200),
        None,
    )


def test_json_lines_carry_the_request_id_and_drop_query_strings() -> None:
    record = _access_record()
    token = context.request_id.set("req-42")
    try:
        ContextFilter().filter(record)
    finally:
        context.request_id.reset(token)
    line = json.loads(JsonFormatter().format(record))
    assert line["request_id"] == "req-42"
    assert line["path"] == "/osmand" and line["method"] == "GET" and line["status"] == 200
    assert "secret-device" not in json.dumps(line)
    assert line["level"] == "INFO" and line["logger"] == "uvicorn.access"


def test_lines_outside_a_request_have_no_request_id() -> None:
    record = logging.LogRecord("dispatch.app", logging.WARNING, __file__, 1, "hi %s", ("x",), None)
    ContextFilter().filter(record)
    assert "request_id" not in json.loads(JsonFormatter().format(record))
    assert record.rid == ""  # type: ignore[attr-defined]


def test_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="text or json"):
        configure_logging("INFO", "xml")
