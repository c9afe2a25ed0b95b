"""Managing accounts: supervisors and administrators deactivate and reactivate users, set
new passwords and log users out everywhere; old tokens stop on the next request; usernames
are one name whatever their case. Every action is audited."""

from __future__ import annotations

from typing import Any

import httpx
import jwt
import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from dispatch.auth.passwords import hash_password
from dispatch.db.session import Database
from dispatch.models import User
from dispatch.models.enums import Role
from tests.helpers.stacks import TEST_SECRET
from tests.helpers.world import TEST_PASSWORD, World

NEW_PASSWORD = "a brand new password"


async def _login(client: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    return await client.post("/auth/token", data={"username": username, "password": password})


async def _bearer(client: httpx.AsyncClient, username: str, password: str) -> dict[str, str]:
    response = await _login(client, username, password)
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def _act(
    client: httpx.AsyncClient, world: World, who: str, user: str, action: str, **body: Any
) -> httpx.Response:
    return await client.post(
        f"/users/{world.user_ids[user]}/{action}", json=body, headers=world.headers(who)
    )


async def _audit(client: httpx.AsyncClient, world: World) -> list[tuple[str, str, int]]:
    trail = (await client.get("/audit?limit=1000", headers=world.headers("admin"))).json()
    return [
        (e["actor"], e["action"], e["entity_id"])
        for e in reversed(trail)
        if e["action"].startswith("user.") and e["action"] != "user.created"
    ]


async def test_deactivated_user_is_refused_at_once_and_reactivation_needs_a_new_login(
    client: httpx.AsyncClient, world: World
) -> None:
    old = world.headers("dispatcher")
    assert (await client.get("/vehicles", headers=old)).status_code == 200
    done = await _act(client, world, "supervisor", "dispatcher", "deactivate")
    assert done.status_code == 200, done.text
    assert done.json()["is_active"] is False
    assert (await client.get("/vehicles", headers=old)).status_code == 401
    assert (await _login(client, "dispatcher", TEST_PASSWORD)).status_code == 401
    again = await _act(client, world, "supervisor", "dispatcher", "deactivate")  # repeated
    assert again.status_code == 200 and again.json()["is_active"] is False
    back = await _act(client, world, "supervisor", "dispatcher", "activate")
    assert back.status_code == 200 and back.json()["is_active"] is True
    assert (await client.get("/vehicles", headers=old)).status_code == 401  # stays ended
    fresh = await _bearer(client, "dispatcher", TEST_PASSWORD)
    assert (await client.get("/vehicles", headers=fresh)).status_code == 200
    dispatcher = world.user_ids["dispatcher"]
    assert await _audit(client, world) == [
        ("user:supervisor", "user.deactivated", dispatcher),
        ("user:supervisor", "user.activated", dispatcher),
    ]  # the repeat changed nothing, so it recorded nothing


async def test_password_reset_ends_the_old_sessions(
    client: httpx.AsyncClient, world: World
) -> None:
    before = await _bearer(client, "driver", TEST_PASSWORD)
    reset = await _act(client, world, "admin", "driver", "reset-password", password=NEW_PASSWORD)
    assert reset.status_code == 200, reset.text
    for old in (before, world.headers("driver")):
        assert (await client.get("/auth/me", headers=old)).status_code == 401
    assert (await _login(client, "driver", TEST_PASSWORD)).status_code == 401
    after = await _bearer(client, "driver", NEW_PASSWORD)
    assert (await client.get("/auth/me", headers=after)).status_code == 200
    short = await _act(client, world, "admin", "driver", "reset-password", password="short")
    assert short.status_code == 422
    assert short.json()["detail"][0]["loc"] == ["body", "password"]
    audited = await _audit(client, world)
    assert audited == [("user:admin", "user.password_reset", world.user_ids["driver"])]
    trail = (await client.get("/audit?limit=1000", headers=world.headers("admin"))).json()
    assert NEW_PASSWORD not in str(trail) and "password_hash" not in str(trail)


async def test_revoking_sessions_logs_a_user_out_everywhere(
    client: httpx.AsyncClient, world: World
) -> None:
    second = await _bearer(client, "dispatcher2", TEST_PASSWORD)
    revoked = await _act(client, world, "supervisor", "dispatcher2", "revoke-sessions")
    assert revoked.status_code == 200, revoked.text
    for old in (second, world.headers("dispatcher2")):
        assert (await client.get("/vehicles", headers=old)).status_code == 401
    assert (await client.get("/vehicles", headers=world.headers("dispatcher"))).status_code == 200
    again = await _bearer(client, "dispatcher2", TEST_PASSWORD)  # the password still works
    assert (await client.get("/vehicles", headers=again)).status_code == 200
    audited = await _audit(client, world)
    assert audited == [("user:supervisor", "user.sessions_revoked", world.user_ids["dispatcher2"])]


@pytest.mark.parametrize("action", ["deactivate", "activate", "reset-password", "revoke-sessions"])
async def test_who_may_act_on_whom(client: httpx.AsyncClient, world: World, action: str) -> None:
    body = {"password": NEW_PASSWORD} if action == "reset-password" else {}
    on_admin = await _act(client, world, "supervisor", "admin", action, **body)
    assert on_admin.status_code == 403, on_admin.text
    assert "administrator" in on_admin.json()["detail"]
    for who in ("dispatcher", "driver", "care_a", "device:A1"):
        assert (await _act(client, world, who, "dispatcher2", action, **body)).status_code == 403
    missing = await client.post(
        "/users/999999/" + action, json=body, headers=world.headers("admin")
    )
    assert missing.status_code == 404
    assert (await client.get("/auth/me", headers=world.headers("admin"))).status_code == 200
    assert await _audit(client, world) == []  # nothing refused was recorded


async def test_the_last_active_administrator_cannot_be_deactivated(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    self_lockout = await _act(client, world, "admin", "admin", "deactivate")
    assert self_lockout.status_code == 409
    assert "last active administrator" in self_lockout.json()["detail"]
    async with db.unit_of_work() as uow:  # a second administrator
        second = User(
            organisation_id=world.centre_id,
            username="admin2",
            full_name="Admin Two",
            role=Role.ADMIN,
            password_hash=hash_password(TEST_PASSWORD),
        )
        uow.session.add(second)
    other = await _bearer(client, "admin2", TEST_PASSWORD)
    first_goes = await _act(client, world, "admin", "admin", "deactivate")  # now allowed
    assert first_goes.status_code == 200, first_goes.text
    assert (await client.get("/auth/me", headers=world.headers("admin"))).status_code == 401
    alone = await client.post(f"/users/{second.id}/deactivate", headers=other)
    assert alone.status_code == 409  # admin2 is now the last one
    back = await client.post(f"/users/{world.user_ids['admin']}/activate", headers=other)
    assert back.status_code == 200 and back.json()["is_active"] is True


async def test_usernames_are_unique_whatever_their_case(
    client: httpx.AsyncClient, world: World
) -> None:
    base = {"full_name": "Somchai", "password": TEST_PASSWORD, "organisation_id": world.centre_id}
    created = await client.post(
        "/users",
        json={**base, "username": "Somchai", "role": "dispatcher"},
        headers=world.headers("supervisor"),
    )
    assert created.status_code == 201, created.text
    for clash in ("somchai", "SOMCHAI", "Dispatcher"):
        twin = await client.post(
            "/users",
            json={**base, "username": clash, "role": "dispatcher"},
            headers=world.headers("supervisor"),
        )
        assert twin.status_code == 409, (clash, twin.text)
    for spelling in ("Somchai", "somchai", "SOMCHAI"):
        login = await _login(client, spelling, TEST_PASSWORD)
        assert login.status_code == 200, (spelling, login.text)
        me = await client.get(
            "/auth/me", headers={"Authorization": f"Bearer {login.json()['access_token']}"}
        )
        assert me.json()["user_id"] == created.json()["id"] and me.json()["name"] == "Somchai"


async def test_the_database_itself_refuses_names_differing_only_in_case(
    db: Database, world: World
) -> None:
    with pytest.raises(IntegrityError):
        async with db.unit_of_work() as uow:
            uow.session.add(
                User(
                    organisation_id=world.centre_id,
                    username="DISPATCHER",
                    full_name="Twin",
                    role=Role.DISPATCHER,
                    password_hash="x",
                )
            )
    async with db.unit_of_work(read_only=True) as uow:
        names = (await uow.session.scalars(select(User.username))).all()
    assert sorted(n for n in names if n.lower() == "dispatcher") == ["dispatcher"]


async def test_tokens_from_before_session_versions_still_work_until_sessions_end(
    client: httpx.AsyncClient, world: World
) -> None:
    """Tokens issued by the previous release carry no ``sv``: they count as version 0."""
    legacy = jwt.encode(
        {"sub": str(world.user_ids["dispatcher"]), "aud": "dispatch", "exp": 2**31 - 1},
        TEST_SECRET,
    )
    headers = {"Authorization": f"Bearer {legacy}"}
    assert (await client.get("/auth/me", headers=headers)).status_code == 200
    await _act(client, world, "supervisor", "dispatcher", "revoke-sessions")
    assert (await client.get("/auth/me", headers=headers)).status_code == 401
