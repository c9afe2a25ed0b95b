"""Password hashing with Argon2 (pwdlib), the current OWASP recommendation.

Argon2 is deliberately slow (tens of milliseconds of CPU); the async helpers run it in a
worker thread so a login never stalls live updates on the event loop.
"""

from __future__ import annotations

import asyncio
from functools import lru_cache

from pwdlib import PasswordHash


@lru_cache(maxsize=1)
def _hasher() -> PasswordHash:
    return PasswordHash.recommended()


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def verify_password(password: str, password_hash: str) -> bool:
    return _hasher().verify(password, password_hash)


#: Verified against when the user does not exist, so a login takes as long for an
#: unknown name as for a wrong password and does not reveal which names exist.
_DUMMY_HASH: str | None = None


def verify_dummy(password: str) -> None:
    global _DUMMY_HASH
    if _DUMMY_HASH is None:
        _DUMMY_HASH = hash_password("not-a-real-password")
    verify_password(password, _DUMMY_HASH)


async def hash_password_async(password: str) -> str:
    return await asyncio.to_thread(hash_password, password)


async def verify_password_async(password: str, password_hash: str | None) -> bool:
    """Verify against the stored hash, or against a dummy when the user does not exist."""
    if password_hash is None:
        await asyncio.to_thread(verify_dummy, password)
        return False
    return await asyncio.to_thread(verify_password, password, password_hash)
