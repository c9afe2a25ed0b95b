"""``dispatch user deactivate | activate | reset-password | revoke-sessions``: what the
users panel and ``/users/{id}/…`` do, for an operator on the server (a trusted actor,
audited as "system").

The change is committed at once (the user's old tokens are refused from the next request
on). The news that closes the user's open sockets goes to the running workers through
Redis when ``DISPATCH_REDIS_URL`` is set; without Redis it is left in the event outbox,
which the running server's relay announces within seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

from dispatch.config import Settings

if TYPE_CHECKING:
    from dispatch.db.session import Publisher, UnitOfWork
    from dispatch.models import User

ACTIONS = {
    "deactivate": "deactivate a user: no more logins, every session ends",
    "activate": "let a deactivated user log in again",
    "reset-password": "set a new password (from DISPATCH_NEW_USER_PASSWORD or a prompt); "
    "every session ends",
    "revoke-sessions": "log a user out everywhere",
}
_DONE = {
    "deactivate": "deactivated; their sessions ended",
    "activate": "activated",
    "reset-password": "has a new password; their sessions ended",
    "revoke-sessions": "logged out everywhere",
}


class _NoSharedBus(Exception):
    """No Redis from here: the events stay in the outbox for the server's relay."""


async def _leave_for_the_relay(_events: Sequence[object]) -> None:
    raise _NoSharedBus


def add_commands(user_sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    for name, help_text in ACTIONS.items():
        command = user_sub.add_parser(name, help=help_text)
        command.add_argument("--username", required=True, help="any case")
        command.set_defaults(func=run_command)


async def _run(settings: Settings, command: str, username: str, password: str | None) -> User:
    from dispatch.auth import accounts
    from dispatch.db.session import Database
    from dispatch.realtime.broker import create_bus

    db = Database(settings.database_url, busy_timeout_ms=settings.sqlite_busy_timeout_ms)
    bus = None
    publish: Publisher = _leave_for_the_relay
    if settings.redis_url:
        bus = await create_bus(settings.redis_url, settings.redis_prefix)
        publish = bus.publish
    else:  # the outbox is the way from here: not worth a warning
        logging.getLogger("dispatch.db.session").setLevel(logging.ERROR)
    actions: dict[str, Callable[[UnitOfWork, int], Awaitable[User]]] = {
        "deactivate": lambda uow, uid: accounts.deactivate(uow, None, uid),
        "activate": lambda uow, uid: accounts.activate(uow, None, uid),
        "reset-password": lambda uow, uid: accounts.reset_password(uow, None, uid, password or ""),
        "revoke-sessions": lambda uow, uid: accounts.revoke_sessions(uow, None, uid),
    }
    try:
        async with db.unit_of_work(publish=publish) as uow:
            user_id = await accounts.user_id_by_name(uow, username)
            return await actions[command](uow, user_id)
    finally:
        if bus is not None:
            await bus.close()
        await db.dispose()


def run_command(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from dispatch.auth.schemas import PasswordReset
    from dispatch.errors import DomainError

    command: str = args.user_command
    password = None
    if command == "reset-password":
        entered = os.environ.get("DISPATCH_NEW_USER_PASSWORD") or getpass.getpass("New password: ")
        try:
            password = PasswordReset(password=entered).password
        except ValidationError as exc:
            print(f"error: password: {exc.errors()[0]['msg']}", file=sys.stderr)
            return 2
    try:
        user = asyncio.run(_run(Settings(), command, args.username, password))
    except DomainError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    print(f"user {user.id} ({user.username}) {_DONE[command]}")
    return 0
