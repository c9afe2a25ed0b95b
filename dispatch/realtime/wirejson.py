"""JSON from phones and screens, parsed within bounds.

``json.loads`` recurses once per nesting level: a body of 100,000 ``[`` raises
``RecursionError`` (a 500, or a dropped websocket), and whatever walks the parsed value
recurses again. The nesting is therefore measured first, cheaply, with no recursion: strings
are cut out and everything but brackets removed (replace, translate and a simple regular
expression, all in C), then innermost pairs are removed round by round. Our messages are a
few levels deep, and most have too few brackets to need even that.
"""

from __future__ import annotations

import json
import re
from typing import Any

#: Deep enough for every message we accept (a fix batch is 3 levels).
MAX_DEPTH = 16

#: ``str.translate`` table deleting every ASCII character but brackets and quotes.
_KEEP_STRUCTURE = {c: None for c in range(128) if chr(c) not in '[]{}"'}
_STRINGS = re.compile(r'"[^"]*"')
_NOT_BRACKETS = re.compile(r"[^\[\]{}]+")


class TooDeep(ValueError):
    """Nested deeper than allowed (or brackets that do not pair up)."""


def nesting_within(text: str, max_depth: int = MAX_DEPTH) -> bool:
    """Whether ``text`` nests arrays and objects at most about ``max_depth`` deep.

    Each round removes every innermost pair, so a document of depth ``d`` needs at most
    ``d`` rounds; alternating ``[{[{…`` can lose two levels in one round, so a depth up to
    twice the bound may pass (far below any recursion limit). Unpaired brackets never
    empty out and fail too (the parser would refuse them anyway)."""
    if text.count("[") + text.count("{") <= max_depth:
        return True  # every single message and OsmAnd location: no scan at all
    # Escapes go first (``\\`` pairs, then ``\"``), so quotes delimit strings exactly; then
    # all but brackets and quotes, then the strings: C passes, the last over a short text.
    structure = text.replace("\\\\", "").replace('\\"', "").translate(_KEEP_STRUCTURE)
    brackets = _STRINGS.sub("", structure)
    if len(brackets) != sum(brackets.count(b) for b in "[]{}"):
        brackets = _NOT_BRACKETS.sub("", brackets)  # characters outside strings: not JSON
    for _ in range(max_depth):
        if not brackets:
            return True
        reduced = brackets.replace("[]", "").replace("{}", "")
        if len(reduced) == len(brackets):
            return False
        brackets = reduced
    return not brackets


def loads(data: str | bytes, max_depth: int = MAX_DEPTH) -> Any:
    """Parse JSON, refusing documents nested deeper than ``max_depth`` before parsing.
    Raises ``ValueError`` (``TooDeep`` for the nesting) for anything that is not JSON."""
    # A UnicodeDecodeError is a ValueError too.
    text = data.decode("utf-8") if isinstance(data, bytes) else data
    if not nesting_within(text, max_depth):
        raise TooDeep(f"nested more than {max_depth} levels deep")
    try:
        return json.loads(text)
    except RecursionError:  # not reachable within the bound; never a 500 all the same
        raise TooDeep(f"nested more than {max_depth} levels deep") from None
