"""Signed access tokens for people (JWT, HS256) and random device tokens for phones.

Device tokens are long random secrets; only their SHA-256 is stored, so a database leak
does not hand out working tokens. A fast hash is enough because the secret has 256 bits.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt

DEVICE_TOKEN_PREFIX = "dvt_"
_ALGORITHM = "HS256"
_AUDIENCE = "dispatch"


class InvalidToken(Exception):
    pass


def create_access_token(
    *,
    user_id: int,
    role: str,
    organisation_id: int,
    key: str,
    minutes: int,
    session_version: int = 0,
) -> tuple[str, datetime]:
    """``session_version``: the user's at issue; the token stops working when it moves on
    (``dispatch.auth.service.principal_for_token``)."""
    now = datetime.now(UTC)
    expires = now + timedelta(minutes=minutes)
    claims = {
        "sub": str(user_id),
        "role": role,
        "org": organisation_id,
        "iat": int(now.timestamp()),
        "exp": int(expires.timestamp()),
        "aud": _AUDIENCE,
        "jti": secrets.token_hex(8),
        "sv": session_version,
    }
    return jwt.encode(claims, key, algorithm=_ALGORITHM), expires


def decode_access_token(token: str, key: str) -> dict[str, Any]:
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=[_ALGORITHM],
            audience=_AUDIENCE,
            options={"require": ["sub", "exp", "aud"]},
        )
    except jwt.PyJWTError as exc:
        raise InvalidToken(str(exc)) from exc
    return claims


def new_device_token() -> str:
    return DEVICE_TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_device_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
