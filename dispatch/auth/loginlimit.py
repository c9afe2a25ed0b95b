"""Login throttling that an attacker cannot turn against the people it protects.

Counting failures per name alone let anyone lock the real dispatcher out with a few wrong
passwords; counting per address alone lets a botnet guess forever. So failures are counted
three ways, in fixed windows:

* per (name, address): ``per_pair`` in 15 minutes, then that address may not try that name;
* per address: ``per_address`` in 15 minutes, whatever the names (one address spraying);
* per name: ``per_name`` an hour from anywhere (guessing spread over many addresses). Past
  it, the name is refused only from addresses that have failed for it in the current
  15 minutes: a correct password from an address that has not been failing always gets in,
  and each further attacking address gets one guess per window.

An attempt is counted *before* its password is checked (and given back if it succeeds), so
a burst of parallel guesses cannot slip through before the first failure lands. Counters
live in Redis when ``DISPATCH_REDIS_URL`` is set (one Lua script: shared by every worker and
atomic); otherwise, or while Redis is unreachable, in this process. Windows follow the
injectable clock's wall time (workers agree on it; tests move it).
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import redis.asyncio as aioredis

from dispatch.clock import SYSTEM_CLOCK, Clock
from dispatch.errors import TooManyRequests, Unauthorized

log = logging.getLogger(__name__)

PAIR_WINDOW_S = 15 * 60
ADDRESS_WINDOW_S = 15 * 60
NAME_WINDOW_S = 60 * 60

#: What refused an attempt (0: nothing).
ALLOWED, BY_PAIR, BY_ADDRESS, BY_NAME = 0, 1, 2, 3


@dataclass(frozen=True, slots=True)
class LoginPolicy:
    per_pair: int = 10
    per_address: int = 50
    per_name: int = 100


@dataclass(frozen=True, slots=True)
class _Counters:
    """The three counters of one attempt, in the current windows."""

    keys: tuple[str, str, str]  # pair, address, name
    ends: tuple[float, float, float]  # when each window ends (wall-clock seconds)


class CounterStore(Protocol):
    async def reserve(self, c: _Counters, limits: tuple[int, int, int], now: float) -> int:
        """Check the limits; when none refuses, count the attempt. What refused it."""
        ...

    async def release(self, c: _Counters, *, succeeded: bool) -> None:
        """Give the attempt back; a success also clears the (name, address) failures."""
        ...

    async def close(self) -> None: ...


def _verdict(pair: int, address: int, name: int, limits: tuple[int, int, int]) -> int:
    if pair >= limits[0]:
        return BY_PAIR
    if address >= limits[1]:
        return BY_ADDRESS
    if pair > 0 and name >= limits[2]:
        return BY_NAME
    return ALLOWED


def _client_block(address: str) -> str:
    """The unit an address is counted by: itself for IPv4, its /64 for IPv6 (one
    subscriber holds a whole /64, so counting single IPv6 addresses counts nothing)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


class MemoryStore:
    """This process's counters (one worker, or the fallback while Redis is down)."""

    def __init__(self, max_keys: int = 100_000) -> None:
        self.max_keys = max_keys
        self._counts: dict[str, tuple[int, float]] = {}  # key -> (count, window end)

    def _get(self, key: str) -> int:
        hit = self._counts.get(key)
        return hit[0] if hit else 0

    async def reserve(self, c: _Counters, limits: tuple[int, int, int], now: float) -> int:
        pair, address, name = (self._get(k) for k in c.keys)
        verdict = _verdict(pair, address, name, limits)
        if verdict != ALLOWED:
            return verdict
        if len(self._counts) + 3 > self.max_keys:  # bounded under a flood of made-up names
            # Expired windows go first, then single failures; never every counter (a flood
            # must not reset a guessed name's count). Still full: this attempt waits.
            self._counts = {k: v for k, v in self._counts.items() if v[1] > now}
            if len(self._counts) + 3 > self.max_keys:
                self._counts = {k: v for k, v in self._counts.items() if v[0] > 1}
            if len(self._counts) + 3 > self.max_keys:
                return BY_ADDRESS
        for key, end in zip(c.keys, c.ends, strict=True):
            self._counts[key] = (self._get(key) + 1, end)
        return ALLOWED

    async def release(self, c: _Counters, *, succeeded: bool) -> None:
        for i, key in enumerate(c.keys):
            hit = self._counts.get(key)
            if hit is None:
                continue
            if (i == 0 and succeeded) or hit[0] <= 1:
                del self._counts[key]
            else:
                self._counts[key] = (hit[0] - 1, hit[1])

    async def close(self) -> None:
        self._counts.clear()


_RESERVE = """
local pair = tonumber(redis.call('GET', KEYS[1]) or '0')
if pair >= tonumber(ARGV[1]) then return 1 end
if tonumber(redis.call('GET', KEYS[2]) or '0') >= tonumber(ARGV[2]) then return 2 end
if pair > 0 and tonumber(redis.call('GET', KEYS[3]) or '0') >= tonumber(ARGV[3]) then
  return 3
end
for i = 1, 3 do
  if redis.call('INCR', KEYS[i]) == 1 then redis.call('EXPIRE', KEYS[i], ARGV[3 + i]) end
end
return 0
"""

_RELEASE = """
for i = 1, 3 do
  if i == 1 and ARGV[1] == '1' then
    redis.call('DEL', KEYS[1])
  elseif tonumber(redis.call('GET', KEYS[i]) or '0') > 0 then
    redis.call('DECR', KEYS[i])
  end
end
return 0
"""


class RedisStore:
    """Counters every worker shares; each step is one atomic script."""

    def __init__(self, url: str) -> None:
        # Short timeouts: a login must not hang on a dead Redis (the caller falls back).
        self._redis = aioredis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
        self._reserve = self._redis.register_script(_RESERVE)
        self._release = self._redis.register_script(_RELEASE)

    async def reserve(self, c: _Counters, limits: tuple[int, int, int], now: float) -> int:
        ttls = [max(1, math.ceil(end - now)) for end in c.ends]
        result: Any = await self._reserve(keys=list(c.keys), args=[*limits, *ttls])
        return int(result)

    async def release(self, c: _Counters, *, succeeded: bool) -> None:
        await self._release(keys=list(c.keys), args=["1" if succeeded else "0"])

    async def warm(self) -> None:
        """Connect and load both scripts now, so the first login a worker sees does not pay
        for them (on a loaded machine that took past the 2 s timeout, and the attempt was
        counted in the worker alone)."""
        await self._redis.ping()
        for script in (self._reserve, self._release):
            await self._redis.script_load(script.script)

    async def close(self) -> None:
        await self._redis.aclose()


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:24]  # bounded keys, no names in Redis


class LoginLimiter:
    def __init__(
        self,
        policy: LoginPolicy | None = None,
        store: CounterStore | None = None,
        *,
        prefix: str = "dispatch:",
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.policy = policy or LoginPolicy()
        self.local = MemoryStore()
        self.store: CounterStore = store or self.local
        self.prefix = prefix
        self.clock = clock

    @property
    def limits(self) -> tuple[int, int, int]:
        p = self.policy
        return p.per_pair, p.per_address, p.per_name

    def _counters(self, username: str, address: str, now: float) -> _Counters:
        name, addr = _digest(username.strip().casefold()), _digest(_client_block(address))

        def window(seconds: int) -> tuple[int, float]:
            number = int(now // seconds)
            return number, (number + 1) * seconds

        pw, pair_end = window(PAIR_WINDOW_S)
        aw, address_end = window(ADDRESS_WINDOW_S)
        nw, name_end = window(NAME_WINDOW_S)
        k = self.prefix + "login:"
        return _Counters(
            keys=(f"{k}pair:{name}:{addr}:{pw}", f"{k}addr:{addr}:{aw}", f"{k}name:{name}:{nw}"),
            ends=(pair_end, address_end, name_end),
        )

    async def start(self) -> None:
        """Get the shared counters ready before the first login (see ``RedisStore.warm``)."""
        if isinstance(self.store, RedisStore):
            try:
                await self.store.warm()
            except Exception as exc:  # the first login tries again
                log.warning("login counters not reachable at start (%s)", exc)

    async def _reserve(self, c: _Counters, now: float) -> tuple[int, CounterStore]:
        if self.store is not self.local:
            # Once more before giving up: a slow moment is not an outage, and counting in
            # this worker alone lets a guesser spread attempts over the workers.
            for attempt in (1, 2):
                try:
                    return await self.store.reserve(c, self.limits, now), self.store
                except Exception as exc:  # Redis down: still limit, per worker, meanwhile
                    if attempt == 2:
                        log.warning("login counters unreachable (%s); counting in this worker", exc)
        return await self.local.reserve(c, self.limits, now), self.local

    @asynccontextmanager
    async def attempt(self, username: str, address: str) -> AsyncIterator[None]:
        """Around one password check: refused (429) when a limit says so; otherwise the
        attempt counts as a failure unless the body finishes without ``Unauthorized``."""
        now = self.clock.now().timestamp()
        counters = self._counters(username, address, now)
        verdict, store = await self._reserve(counters, now)
        if verdict != ALLOWED:
            pair_end, address_end, name_end = counters.ends
            end = {BY_PAIR: pair_end, BY_ADDRESS: address_end}.get(verdict, min(pair_end, name_end))
            raise TooManyRequests(
                "Too many failed logins; try again later.",
                retry_after_s=max(1, math.ceil(end - now)),
            )
        try:
            yield
        except Unauthorized:
            raise  # a wrong password: it stays counted
        except BaseException:
            await self._release(store, counters, succeeded=False)  # not a guess (e.g. 503)
            raise
        await self._release(store, counters, succeeded=True)

    @staticmethod
    async def _release(store: CounterStore, counters: _Counters, *, succeeded: bool) -> None:
        try:
            await store.release(counters, succeeded=succeeded)
        except Exception as exc:
            log.warning("could not give back a login attempt: %s", exc)

    async def close(self) -> None:
        if self.store is not self.local:
            await self.store.close()


def build_login_limiter(
    *,
    per_pair: int,
    per_address: int,
    per_name: int,
    redis_url: str | None,
    prefix: str,
    clock: Clock,
) -> LoginLimiter:
    store = RedisStore(redis_url) if redis_url else None
    return LoginLimiter(
        LoginPolicy(per_pair, per_address, per_name), store, prefix=prefix, clock=clock
    )
