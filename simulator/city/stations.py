"""The scenario's stations on the server: who runs each (an operator organisation and a
station type, where the scenario says), found by name or created."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from simulator.city.api import Api
from simulator.city.config import CityConfig


@dataclass
class StationSetup:
    """Station ids in the scenario's order, and what the run could set up around them."""

    ids: list[int]
    #: operator name → organisation id (found or created)
    operators: dict[str, int] = field(default_factory=dict)
    #: operators the login may not create (``POST /organisations`` is an administrator's):
    #: their stations are run by the centre on the server; create them with
    #: ``dispatch org create --kind hospital_operator``
    operators_missing: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "stations": len(self.ids),
            "operators": len(self.operators),
            "operators_missing": self.operators_missing,
        }


async def ensure_stations(cfg: CityConfig, api: Api) -> StationSetup:
    """Every station of the scenario, found by name (``<prefix> <name>``) or created with
    its type and operator; a station found keeps what it has."""
    s = cfg.scenario
    setup = StationSetup([])
    wanted = sorted({st.operator for st in s.stations if st.operator})
    if wanted:
        known = {o["name"]: int(o["id"]) for o in (await api.send("GET", "/organisations")).json()}
        for name in wanted:
            full = f"{cfg.prefix} {name}"[:200]
            if full not in known:
                org = {"name": full, "kind": "hospital_operator", "timezone": s.timezone}
                reply = await api.send("POST", "/organisations", body=org, ok=(201, 403))
                if reply.status_code == 403:
                    setup.operators_missing.append(name)
                    continue
                known[full] = int(reply.json()["id"])
            setup.operators[name] = known[full]
    stations = {st["name"]: st for st in (await api.send("GET", "/stations")).json()}
    for place in s.stations:
        name = f"{cfg.prefix} {place.name}"
        if name not in stations:
            body: dict[str, Any] = {"name": name, "lat": place.lat, "lon": place.lon}
            if place.type is not None:
                body["station_type"] = place.type
            if place.operator in setup.operators:
                body["operator_id"] = setup.operators[place.operator]
            stations[name] = (await api.send("POST", "/stations", body=body)).json()
        setup.ids.append(int(stations[name]["id"]))
    return setup
