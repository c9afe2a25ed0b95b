from __future__ import annotations

import httpx

from tests.helpers.world import World

SCENE = {"lat": 13.7460, "lon": 100.5340}


async def _hospital(
    client: httpx.AsyncClient, world: World, name: str, lat: float, caps: list[str]
) -> int:
    response = await client.post(
        "/hospitals",
        json={"name": name, "lat": lat, "lon": 100.5340, "capabilities": caps},
        headers=world.headers("supervisor"),
    )
    assert response.status_code == 201
    hospital_id: int = response.json()["id"]
    return hospital_id


async def test_nearest_capable_hospital_not_on_diversion(
    client: httpx.AsyncClient, world: World
) -> None:
    near_no_stroke = await _hospital(client, world, "Near General", 13.7480, ["cardiac"])
    near_stroke = await _hospital(client, world, "Near Stroke Centre", 13.7500, ["stroke"])
    far_stroke = await _hospital(client, world, "Far Stroke Centre", 13.7800, ["stroke"])
    incident = (
        await client.post(
            "/incidents",
            json={**SCENE, "chief_complaint": "stroke"},
            headers=world.headers("dispatcher"),
        )
    ).json()
    url = f"/incidents/{incident['id']}/hospitals"
    first = (await client.get(url, headers=world.headers("dispatcher"))).json()
    assert [h["hospital_id"] for h in first] == [near_stroke, far_stroke, near_no_stroke]
    assert first[0]["recommended"] and "stroke centre" in first[0]["reasons"]
    diverted = await client.patch(
        f"/hospitals/{near_stroke}",
        json={"on_diversion": True, "diversion_reason": "CT down"},
        headers=world.headers("dispatcher"),
    )
    assert diverted.status_code == 200
    second = (await client.get(url, headers=world.headers("dispatcher"))).json()
    assert [h["hospital_id"] for h in second] == [far_stroke, near_no_stroke, near_stroke]
    assert second[-1]["on_diversion"] and not second[-1]["recommended"]
    assert "on diversion: CT down" in second[-1]["reasons"]
    beds = await client.patch(
        f"/hospitals/{far_stroke}",
        json={"available_er_beds": 0},
        headers=world.headers("dispatcher"),
    )
    assert beds.json()["available_er_beds"] == 0
