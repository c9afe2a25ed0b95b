from __future__ import annotations

import time

import httpx
import jwt
import pytest
from fastapi import FastAPI

from dispatch.app import create_app
from dispatch.db.session import Database
from dispatch.models import User
from tests.helpers.stacks import TEST_SECRET, Stack
from tests.helpers.world import TEST_PASSWORD, World


async def test_login_issues_a_token_that_works(client: httpx.AsyncClient, world: World) -> None:
    response = await client.post(
        "/auth/token", data={"username": "dispatcher", "password": TEST_PASSWORD}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer" and body["role"] == "dispatcher"
    me = await client.get("/auth/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200
    assert me.json()["user_id"] == world.user_ids["dispatcher"]
    assert me.json()["kind"] == "user"


@pytest.mark.parametrize(
    ("username", "password"), [("dispatcher", "wrong password!"), ("nobody", TEST_PASSWORD)]
)
async def test_bad_login_is_401_and_does_not_say_which_part_was_wrong(
    client: httpx.AsyncClient, world: World, username: str, password: str
) -> None:
    response = await client.post("/auth/token", data={"username": username, "password": password})
    assert response.status_code == 401
    assert response.json()["detail"] == "Wrong username or password."


async def test_every_protected_route_is_401_without_a_token(
    app: FastAPI, client: httpx.AsyncClient, world: World
) -> None:
    public = {"/healthz", "/readyz", "/auth/token"}
    checked = 0
    for path, operations in app.openapi()["paths"].items():
        if path in public:
            continue
        concrete = path
        for name in ("vehicle_id", "incident_id", "patient_id", "booking_id", "hospital_id"):
            concrete = concrete.replace("{" + name + "}", "1")
        for method in operations:
            response = await client.request(method.upper(), concrete, json={})
            assert response.status_code == 401, (method, concrete, response.text)
            assert response.headers["www-authenticate"] == "Bearer"
            checked += 1
    assert checked >= 20


@pytest.mark.parametrize(
    "token",
    [
        "not-a-jwt",
        jwt.encode({"sub": "1", "aud": "dispatch", "exp": int(time.time()) - 10}, TEST_SECRET),
        jwt.encode(
            {"sub": "1", "aud": "dispatch", "exp": int(time.time()) + 600}, "other-key-" * 5
        ),
        "dvt_not-a-real-device-token",
    ],
    ids=["garbage", "expired", "wrong-key", "unknown-device"],
)
async def test_invalid_tokens_are_401(client: httpx.AsyncClient, world: World, token: str) -> None:
    response = await client.get("/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401


async def test_deactivated_user_loses_access_at_once(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    assert (await client.get("/vehicles", headers=world.headers("dispatcher"))).status_code == 200
    async with db.unit_of_work() as uow:
        user = await uow.session.get(User, world.user_ids["dispatcher"])
        assert user is not None
        user.is_active = False
    assert (await client.get("/vehicles", headers=world.headers("dispatcher"))).status_code == 401
    login = await client.post(
        "/auth/token", data={"username": "dispatcher", "password": TEST_PASSWORD}
    )
    assert login.status_code == 401


@pytest.mark.parametrize(
    ("who", "method", "path", "expected"),
    [
        ("care_a", "GET", "/vehicles", 403),
        ("care_a", "GET", "/incidents", 403),
        ("care_a", "POST", "/stations", 403),
        ("driver", "GET", "/vehicles", 403),
        ("driver", "GET", "/patients", 403),
        ("device:A1", "GET", "/bookings", 403),
        ("dispatcher", "POST", "/users", 403),
        ("dispatcher", "POST", "/vehicles", 403),
        ("dispatcher", "GET", "/audit", 403),
        ("supervisor", "POST", "/organisations", 403),
        ("dispatcher", "GET", "/vehicles", 200),
        ("dispatcher", "GET", "/patients", 200),
        ("supervisor", "GET", "/audit", 200),
        ("driver", "POST", "/incidents", 403),
        ("care_a", "POST", "/incidents", 403),
        ("device:A1", "GET", "/kpis", 403),
        ("device:A1", "GET", "/alerts", 403),
        ("care_a", "GET", "/complaints", 200),
    ],
)
async def test_role_checks(
    client: httpx.AsyncClient, world: World, who: str, method: str, path: str, expected: int
) -> None:
    body: dict[str, object] | None = {} if method == "POST" else None
    response = await client.request(method, path, headers=world.headers(who), json=body)
    assert response.status_code == expected, response.text


async def test_driver_acts_only_for_own_vehicle(client: httpx.AsyncClient, world: World) -> None:
    own, other = world.vehicle_ids["A1"], world.vehicle_ids["B1"]
    for who in ("driver", "device:A1"):
        ok = await client.patch(
            f"/vehicles/{own}", json={"state": "en_route"}, headers=world.headers(who)
        )
        assert ok.status_code == 200, ok.text
        assert ok.json()["state"] == "en_route"
        denied = await client.patch(
            f"/vehicles/{other}", json={"state": "en_route"}, headers=world.headers(who)
        )
        assert denied.status_code == 403
        assert (
            await client.get(f"/vehicles/{other}", headers=world.headers(who))
        ).status_code == 403
    station_change = await client.patch(
        f"/vehicles/{own}", json={"station_id": world.station_id}, headers=world.headers("driver")
    )
    assert station_change.status_code == 403


async def test_device_token_identifies_its_vehicle_and_reissue_revokes_it(
    client: httpx.AsyncClient, world: World
) -> None:
    me = await client.get("/auth/me", headers=world.headers("device:A1"))
    assert me.json()["kind"] == "device"
    assert me.json()["vehicle_id"] == world.vehicle_ids["A1"]
    reissued = await client.post(
        f"/vehicles/{world.vehicle_ids['A1']}/device-token", headers=world.headers("supervisor")
    )
    assert reissued.status_code == 201
    new_token = reissued.json()["device_token"]
    assert (await client.get("/auth/me", headers=world.headers("device:A1"))).status_code == 401
    fresh = await client.get("/auth/me", headers={"Authorization": f"Bearer {new_token}"})
    assert fresh.status_code == 200


async def test_supervisor_creates_users_but_not_admins(
    client: httpx.AsyncClient, world: World
) -> None:
    base = {
        "full_name": "New Person",
        "password": "a long password",
        "organisation_id": world.centre_id,
    }
    created = await client.post(
        "/users",
        json={**base, "username": "newdisp", "role": "dispatcher"},
        headers=world.headers("supervisor"),
    )
    assert created.status_code == 201, created.text
    login = await client.post(
        "/auth/token", data={"username": "newdisp", "password": "a long password"}
    )
    assert login.status_code == 200
    admin = await client.post(
        "/users",
        json={**base, "username": "newadmin", "role": "admin"},
        headers=world.headers("supervisor"),
    )
    assert admin.status_code == 403
    duplicate = await client.post(
        "/users",
        json={**base, "username": "newdisp", "role": "dispatcher"},
        headers=world.headers("admin"),
    )
    assert duplicate.status_code == 409
    wrong_org = await client.post(
        "/users",
        json={**base, "username": "carer", "role": "care_centre"},
        headers=world.headers("admin"),
    )
    assert wrong_org.status_code == 422
    assert wrong_org.json()["detail"][0]["loc"] == ["body", "role"]


async def test_an_organisation_without_a_time_zone_gets_the_deployments(
    stack: Stack, world: World
) -> None:
    """Its service days follow the server's DISPATCH_TIMEZONE, never a silent Asia/Bangkok
    (a 20:00 New York pickup landed on the next service day)."""
    application = create_app(stack.settings(timezone="America/New_York"))
    async with (
        application.router.lifespan_context(application),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=application), base_url="http://t"
        ) as http,
    ):
        made = await http.post(
            "/organisations",
            json={"name": "No zone given", "kind": "care_centre"},
            headers=world.headers("admin"),
        )
        assert made.status_code == 201, made.text
        assert made.json()["timezone"] == "America/New_York"
        named = await http.post(
            "/organisations",
            json={"name": "Saigon care", "kind": "care_centre", "timezone": "Asia/Ho_Chi_Minh"},
            headers=world.headers("admin"),
        )
        assert named.json()["timezone"] == "Asia/Ho_Chi_Minh"
