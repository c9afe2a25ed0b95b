"""Places are checked on write like a call's (service area, distance to the mapped roads),
and one place the road map cannot reach never breaks a whole answer: a hospital saved at
0,0 once made ``GET /incidents/{id}/hospitals`` a 500 for every incident."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from dispatch.db.session import Database
from dispatch.models import Hospital, Incident
from dispatch.models.enums import Capability, Triage
from tests.helpers.stacks import Stack
from tests.helpers.world import World

#: One two-way road along latitude 13.74 in central Bangkok.
ROAD = [(13.74, 100.520 + i * 0.002) for i in range(11)]
NEAR = (13.7405, 100.530)  # ~55 m from the road
FAR_AWAY = (0.0, 0.0)


def _write_map(path: Path) -> Path:
    nodes = "\n".join(
        f'  <node id="{i + 1}" version="1" lat="{lat}" lon="{lon}"/>'
        for i, (lat, lon) in enumerate(ROAD)
    )
    refs = "\n".join(f'    <nd ref="{i + 1}"/>' for i in range(len(ROAD)))
    path.write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n<osm version="0.6" generator="test">\n'
        f'{nodes}\n  <way id="1" version="1">\n{refs}\n'
        '    <tag k="highway" v="primary"/>\n  </way>\n</osm>\n',
        encoding="utf-8",
    )
    return path


@pytest.fixture
async def mapped(stack: Stack, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """The app with a road map (places far from its roads are outside the service area)."""
    from dispatch.app import create_app

    settings = stack.settings(osm_path=_write_map(tmp_path / "road.osm"), cache_dir=tmp_path)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            yield http


@pytest.mark.parametrize("path", ["/hospitals", "/stations"])
async def test_a_place_off_the_road_map_is_refused_naming_the_field(
    mapped: httpx.AsyncClient, world: World, path: str
) -> None:
    body: dict[str, Any] = {"name": "Somewhere"}
    refused = await mapped.post(
        path, json={**body, "lat": FAR_AWAY[0], "lon": FAR_AWAY[1]}, headers=world.headers("admin")
    )
    assert refused.status_code == 422, refused.text
    assert refused.json()["detail"][0]["loc"] == ["body", "lat"]
    assert "outside the service area" in refused.json()["detail"][0]["msg"]
    accepted = await mapped.post(
        path, json={**body, "lat": NEAR[0], "lon": NEAR[1]}, headers=world.headers("admin")
    )
    assert accepted.status_code == 201, accepted.text


async def _add(db: Database, *rows: Any) -> list[int]:
    """Rows saved as older versions did, without the check (data already out there)."""
    async with db.unit_of_work() as uow:
        uow.session.add_all(rows)
        await uow.session.flush()
        return [row.id for row in rows]


async def test_a_hospital_the_map_cannot_place_is_listed_last_without_breaking_the_list(
    mapped: httpx.AsyncClient, world: World, db: Database
) -> None:
    good, lost = await _add(
        db,
        Hospital(name="On the road", lat=13.7402, lon=100.534, capabilities=["cardiac"]),
        Hospital(name="At 0,0", lat=0.0, lon=0.0, capabilities=["cardiac"]),
    )
    call = await mapped.post(
        "/incidents",
        json={"lat": NEAR[0], "lon": NEAR[1], "chief_complaint": "chest_pain"},
        headers=world.headers("dispatcher"),
    )
    assert call.status_code == 201, call.text
    answer = await mapped.get(
        f"/incidents/{call.json()['id']}/hospitals", headers=world.headers("dispatcher")
    )
    assert answer.status_code == 200, answer.text
    first, last = answer.json()
    assert first["hospital_id"] == good and first["recommended"] and first["eta_s"] > 0
    assert last["hospital_id"] == lost and not last["recommended"] and last["eta_s"] is None
    assert "no road ETA" in last["reasons"][0] and "off the road map" in last["reasons"][0]


async def test_a_scene_the_map_cannot_place_still_lists_the_hospitals(
    mapped: httpx.AsyncClient, world: World, db: Database
) -> None:
    await _add(db, Hospital(name="On the road", lat=13.7402, lon=100.534, capabilities=[]))
    (incident_id,) = await _add(
        db,
        Incident(
            organisation_id=world.centre_id,
            lat=FAR_AWAY[0],
            lon=FAR_AWAY[1],
            chief_complaint="chest_pain",
            triage=Triage.RED,
            required_capability=Capability.ALS,
        ),
    )
    answer = await mapped.get(
        f"/incidents/{incident_id}/hospitals", headers=world.headers("dispatcher")
    )
    assert answer.status_code == 200, answer.text
    (only,) = answer.json()
    assert only["eta_s"] is None and not only["recommended"]
    assert "the scene is off the road map" in only["reasons"][0]
