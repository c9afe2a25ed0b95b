"""What a key is and what makes two requests "the same": pure functions, no storage.

The key follows the IETF draft "The Idempotency-Key HTTP Header Field" (a Structured
Field string, so ``"abc"`` with quotes) and Stripe's habit (the bare ``abc``); both forms
name the same key."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass

from dispatch.auth.principal import Principal
from dispatch.errors import InvalidInput

HEADER = "Idempotency-Key"
#: Set on a response that repeats the stored first answer (as Stripe does).
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255

_PRINTABLE = re.compile(r"[\x20-\x7e]+")
_SF_ESCAPE = re.compile(r"\\(.)")
_RULE = f"{HEADER} must be 1-{MAX_KEY_LENGTH} printable ASCII characters, e.g. a UUID."


@dataclass(frozen=True, slots=True)
class KeyedRequest:
    """One write that carries a key: whose, which key, and what was asked."""

    principal: str
    key: str
    fingerprint: str
    request_line: str


def parse_key(values: list[str]) -> str | None:
    """The key sent in ``values`` (every ``Idempotency-Key`` header of the request), None
    when there is none; anything else is a 422 naming the header."""
    if not values:
        return None
    if len(values) > 1:
        raise InvalidInput(
            HEADER, f"Send one {HEADER} header, not {len(values)}.", location="header"
        )
    raw = values[0].strip(" \t")
    key = _unquote(raw) if raw.startswith('"') else raw
    if key is None or not 1 <= len(key) <= MAX_KEY_LENGTH or not _PRINTABLE.fullmatch(key):
        raise InvalidInput(HEADER, _RULE, location="header")
    return key


def _unquote(raw: str) -> str | None:
    """The content of a Structured Field string (RFC 8941 §3.3.3), None if malformed."""
    if len(raw) < 2 or not raw.endswith('"'):
        return None
    inner = raw[1:-1]
    stripped = _SF_ESCAPE.sub("", inner)
    if '"' in stripped or "\\" in stripped:
        return None  # an unescaped quote or a lone backslash
    if any(m.group(1) not in '"\\' for m in _SF_ESCAPE.finditer(inner)):
        return None  # only \" and \\ are escapes
    return _SF_ESCAPE.sub(r"\1", inner)


def principal_id(principal: Principal) -> str:
    """Keys are per caller: a person by user id, a phone by its vehicle."""
    if principal.user_id is not None:
        return f"user:{principal.user_id}"
    return f"device:{principal.vehicle_id}"


def fingerprint(method: str, path: str, query: str, body: bytes) -> str:
    """SHA-256 of method, path (with query) and body. A JSON body counts by its content,
    not its spelling: a client that resends the same object with its keys in another order
    or other spacing is sending the same request."""
    try:
        content = json.dumps(
            json.loads(body), sort_keys=True, separators=(",", ":"), ensure_ascii=False
        ).encode()
    except (ValueError, RecursionError):  # not JSON (or absurdly deep): the bytes count
        content = body
    digest = hashlib.sha256()
    for part in (method.upper().encode(), path.encode(), query.encode()):
        digest.update(part + b"\n")
    digest.update(content)
    return digest.hexdigest()


def keyed_request(
    principal: Principal, key: str, method: str, path: str, query: str, body: bytes
) -> KeyedRequest:
    line = f"{method.upper()} {path}"
    return KeyedRequest(
        principal=principal_id(principal),
        key=key,
        fingerprint=fingerprint(method, path, query, body),
        request_line=line[:300],
    )
