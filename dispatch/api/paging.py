"""Paged lists: a list answers one page and, when more rows follow, the cursor of the next
page in ``X-Next-Cursor`` (and ``Link: <…>; rel="next"``). A client pages through
everything instead of reading a list that silently stops at its limit.

Cursors are keysets (the last row's sort key), so a page is the same whether or not rows
were added meanwhile at the top; they are opaque to clients and checked like any input.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import Query, Request, Response

from dispatch.errors import InvalidInput

NEXT_CURSOR = "X-Next-Cursor"
MAX_PAGE = 1000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def limit_query(default: int) -> Any:
    return Query(default=default, ge=1, le=MAX_PAGE, description="Rows per page")


def cursor_query() -> Any:
    return Query(
        default=None,
        max_length=64,
        description=f"The next page: the {NEXT_CURSOR} header of the previous one",
    )


def _bad() -> InvalidInput:
    return InvalidInput("cursor", "is not a cursor this list gave.", location="query")


def id_cursor(text: str | None) -> int | None:
    """A cursor of rows ordered by id, newest first: the last id seen."""
    if text is None:
        return None
    if not text.isdigit() or len(text) > 18:
        raise _bad()
    return int(text)


def time_id_cursor(text: str | None) -> tuple[datetime, int] | None:
    """A cursor of rows ordered by (time, id), newest first."""
    if text is None:
        return None
    micros, dot, row = text.partition(".")
    if not dot or not micros.isdigit() or not row.isdigit() or len(micros) > 18 or len(row) > 18:
        raise _bad()
    return _EPOCH + timedelta(microseconds=int(micros)), int(row)


def time_id_text(at: datetime, row: int) -> str:
    return f"{(at - _EPOCH) // timedelta(microseconds=1)}.{row}"


def page(rows: list[Any], limit: int, request: Request, response: Response, key: Any) -> list[Any]:
    """The first ``limit`` of ``rows`` (asked for ``limit + 1``), announcing the next page
    by ``key(last row)`` when there is one."""
    if len(rows) <= limit:
        return rows
    rows = rows[:limit]
    cursor = str(key(rows[-1]))
    response.headers[NEXT_CURSOR] = cursor
    following = request.url.include_query_params(cursor=cursor)
    response.headers["Link"] = f'<{following.path}?{following.query}>; rel="next"'
    return rows
