"""Scenarios: a city's fleet, stations, hospitals, demand, crew timings, targets and
booked transports, read and checked from a file (the demand they generate is
``simulator.city.demand``).

A scenario is a JSON file (YAML too when PyYAML is installed). Relative data paths are
read against the repository root, so ``../shared/data/…`` means the shared data folder
beside the checkout, as elsewhere in the project; a missing file falls back to the
scenario's own list (hospitals) or is simply not used (the map is the server's business).
"""

from __future__ import annotations

import csv
import importlib
import json
import math
from dataclasses import dataclass, field, replace
from datetime import time as dtime
from pathlib import Path
from typing import Any

from simulator.city.answers import AnswerModel, model_from_doc

PACKAGE_DIR = Path(__file__).resolve().parent.parent
REPO_ROOT = PACKAGE_DIR.parent
DEFAULT_SCENARIO = PACKAGE_DIR / "scenarios" / "bangkok.json"
TRIAGE_ORDER = ("red", "yellow", "green", "white", "black")


@dataclass(frozen=True)
class Place:
    name: str
    lat: float
    lon: float


@dataclass(frozen=True)
class Station(Place):
    """Where units wait. ``type`` and ``operator`` say who runs it (HCMC's satellite
    types: a hospital, shared with the centre, or the centre itself; an operator is an
    organisation the server knows by name); ``units``: how many of the fleet wait here.
    All optional, so a scenario without them reads as before."""

    type: str | None = None  # hospital | shared | centre
    operator: str | None = None
    units: int | None = None


STATION_TYPES = ("hospital", "shared", "centre")


@dataclass(frozen=True)
class Post:
    """A candidate standby post: where the server may send idle units to wait."""

    name: str
    kind: str  # hospital, fire_station, parking, other
    lat: float
    lon: float


@dataclass(frozen=True)
class Zone:
    name: str
    lat: float
    lon: float
    sigma_m: float
    weight: float


@dataclass(frozen=True)
class Crew:
    """Crew timings in virtual seconds."""

    dispatch_delay_s: dict[str, float]
    ack_s: float = 20.0
    turnout_s: float = 60.0
    on_scene_s: dict[str, float] = field(default_factory=dict)
    on_scene_jitter: float = 0.3
    transport_share: dict[str, float] = field(default_factory=dict)
    handover_s: float = 900.0
    fix_interval_s: float = 60.0


@dataclass(frozen=True)
class Transports:
    """Booked patient transports of the day: who rides, when, and the vehicles doing them.

    Transport units are ambulances (by default BLS) on a transport shift: a red call may
    take one off its run while nobody is aboard (a preemption), which is what the report
    measures against the baseline, which never preempts."""

    rides_per_day: int
    vehicles: dict[str, int]
    shift_s: tuple[float, float]  # seconds since local midnight
    break_minutes: int
    homes: list[Zone]
    appointment_s: tuple[float, float]  # first and last appointment
    return_share: float
    appointment_length_s: tuple[float, float]  # appointment → return window opens
    return_window_s: float
    mobility_mix: dict[str, float]
    no_show_share: float
    seats: dict[str, int]
    hospitals_nearest: int = 5
    fix_interval_s: float = 300.0  # transport crews' phones report less often

    @property
    def units(self) -> int:
        return sum(self.vehicles.values())


@dataclass(frozen=True)
class Scenario:
    name: str
    timezone: str
    area: tuple[float, float, float, float]  # min_lat, min_lon, max_lat, max_lon
    stations: list[Station]
    fleet: dict[str, int]
    hospitals: list[Place]
    hospitals_source: str
    calls_per_day: float
    hour_profile: list[float]
    triage_mix: dict[str, float]
    zones: list[Zone]
    crew: Crew
    targets_s: dict[str, list[int]]
    map_path: str | None = None
    transports: Transports | None = None
    posts: tuple[Post, ...] = ()
    #: How stations answer offers (the ``offers`` policy) and what the phone loop costs.
    offers: AnswerModel = field(default_factory=AnswerModel)

    @property
    def units(self) -> int:
        return sum(self.fleet.values())

    def home_index(self, i: int) -> int:
        """The station unit ``i`` (1-based) waits at. Without per-station ``units`` the
        units go round the stations (unit 1 at the second station, as always); with them
        a first unit at every station that has one, then a second, and so on, so a
        smaller fleet (``--units``) still covers every station first."""
        if any(st.units is None for st in self.stations):
            return i % len(self.stations)
        slots = [
            k
            for round_ in range(max(st.units or 0 for st in self.stations))
            for k, st in enumerate(self.stations)
            if (st.units or 0) > round_
        ]
        return slots[(i - 1) % len(slots)]

    def with_overrides(
        self,
        *,
        units: int | None,
        calls_per_day: float | None,
        rides_per_day: int | None = None,
        transport_units: int | None = None,
    ) -> Scenario:
        """The same city with another fleet size (kinds kept in proportion), demand or
        transport day (0 transport units: no booked transports)."""
        transports = self.transports
        if transports is not None and (rides_per_day is not None or transport_units is not None):
            vehicles = transports.vehicles
            if transport_units is not None:
                kind = next(iter(vehicles), "bls")
                vehicles = {kind: transport_units} if transport_units > 0 else {}
            transports = replace(
                transports,
                vehicles=vehicles,
                rides_per_day=(
                    transports.rides_per_day if rides_per_day is None else rides_per_day
                ),
            )
            if not transports.vehicles or transports.rides_per_day <= 0:
                transports = None
        fleet = self.fleet
        if units is not None:
            total = self.units
            kinds = list(self.fleet)
            fleet = {k: (self.fleet[k] * units) // total for k in kinds}
            for k in kinds:  # hand out the rounding remainder, first kinds first
                if sum(fleet.values()) >= units:
                    break
                fleet[k] += 1
        return replace(
            self,
            fleet=fleet,
            calls_per_day=self.calls_per_day if calls_per_day is None else calls_per_day,
            transports=transports,
        )


@dataclass(frozen=True)
class Call:
    """One call of the day, identical for every policy."""

    n: int
    t_s: float  # virtual seconds since local midnight of the simulated day
    lat: float
    lon: float
    triage: str
    transport: bool
    on_scene_s: float


@dataclass(frozen=True)
class Ride:
    """One booked ride of the day (virtual seconds since local midnight), identical for
    every policy. ``return_window`` books the way home too."""

    n: int
    lat: float
    lon: float
    hospital: int  # index into the scenario's hospitals
    mobility: str
    appointment_s: float
    return_window: tuple[float, float] | None
    no_show: bool


def _resolve(path: str, base: Path) -> Path:
    p = Path(path)
    if p.is_absolute():
        return p
    for root in (REPO_ROOT, base, Path.cwd()):
        if (root / p).exists():
            return (root / p).resolve()
    return (REPO_ROOT / p).resolve()


def _read_document(path: Path) -> dict[str, Any]:
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() in (".yaml", ".yml"):
        try:  # optional, and untyped: loaded by name
            yaml = importlib.import_module("yaml")
        except ImportError:
            raise ValueError("YAML scenarios need PyYAML; use JSON instead") from None
        data = yaml.safe_load(text)
    else:
        data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a scenario is an object")
    return data


def _hospitals_from_csv(path: Path) -> list[Place]:
    """``amenity=hospital`` rows of an OSM points CSV (latitude/longitude or lat/lon)."""
    found: list[Place] = []
    with path.open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            if (row.get("amenity") or "").strip() != "hospital":
                continue
            lat = float(row.get("latitude") or row.get("lat") or "nan")
            lon = float(row.get("longitude") or row.get("lon") or "nan")
            if not (math.isfinite(lat) and math.isfinite(lon)):
                continue
            name = (row.get("name_en") or row.get("name") or "").strip()
            found.append(Place(name or f"hospital {lat:.4f},{lon:.4f}", lat, lon))
    return found


def load_scenario(path: Path | str = DEFAULT_SCENARIO) -> Scenario:
    """Read and check a scenario file; errors name the field."""
    path = Path(path)
    doc = _read_document(path)
    base = path.resolve().parent
    try:
        area = doc["area"]
        box = (
            float(area["min_lat"]),
            float(area["min_lon"]),
            float(area["max_lat"]),
            float(area["max_lon"]),
        )
        stations = [_station(s) for s in doc["stations"]]
        fleet = {str(k): int(v) for k, v in doc["fleet"].items()}
        hosp = doc.get("hospitals", {})
        hospitals: list[Place] = []
        source = "scenario"
        csv_path = hosp.get("csv")
        if csv_path:
            resolved = _resolve(str(csv_path), base)
            if resolved.exists():
                hospitals = _hospitals_from_csv(resolved)
                source = str(resolved)
        if not hospitals:
            hospitals = [
                Place(h["name"], float(h["lat"]), float(h["lon"])) for h in hosp.get("fallback", [])
            ]
        demand = doc["demand"]
        crew_doc = doc.get("crew", {})
        crew = Crew(
            dispatch_delay_s={k: float(v) for k, v in crew_doc.get("dispatch_delay_s", {}).items()},
            ack_s=float(crew_doc.get("ack_s", 20)),
            turnout_s=float(crew_doc.get("turnout_s", 60)),
            on_scene_s={k: float(v) for k, v in crew_doc.get("on_scene_s", {}).items()},
            on_scene_jitter=float(crew_doc.get("on_scene_jitter", 0.3)),
            transport_share={k: float(v) for k, v in crew_doc.get("transport_share", {}).items()},
            handover_s=float(crew_doc.get("handover_s", 900)),
            fix_interval_s=float(crew_doc.get("fix_interval_s", 60)),
        )
        map_path = doc.get("map")
        transports = _transports(doc["transports"]) if doc.get("transports") else None
        scenario = Scenario(
            name=str(doc.get("name", path.stem)),
            timezone=str(doc.get("timezone", "Asia/Bangkok")),
            area=box,
            stations=stations,
            fleet=fleet,
            hospitals=hospitals,
            hospitals_source=source,
            calls_per_day=float(demand["calls_per_day"]),
            hour_profile=[float(x) for x in demand.get("hour_profile", [1.0] * 24)],
            triage_mix={str(k): float(v) for k, v in demand["triage_mix"].items()},
            zones=[_zone(z) for z in demand.get("zones", [])],
            crew=crew,
            targets_s={k: [int(x) for x in v] for k, v in doc.get("targets_s", {}).items()},
            map_path=str(_resolve(str(map_path), base)) if map_path else None,
            posts=tuple(
                Post(str(p["name"]), str(p.get("kind", "other")), float(p["lat"]), float(p["lon"]))
                for p in doc.get("posts", [])
            ),
            transports=transports,
            offers=model_from_doc(doc.get("offers")),
        )
    except KeyError as exc:
        raise ValueError(f"{path}: missing field {exc.args[0]!r}") from None
    check(scenario)
    return scenario


def _clock_s(text: str, field_name: str) -> float:
    try:
        return parse_time(str(text))
    except ValueError:
        raise ValueError(f"{field_name}: a time of day HH:MM, not {text!r}") from None


def _station(doc: dict[str, Any]) -> Station:
    kind = doc.get("type")
    if kind is not None and kind not in STATION_TYPES:
        raise ValueError(f"stations.type: one of {', '.join(STATION_TYPES)}, not {kind!r}")
    units = doc.get("units")
    if units is not None and int(units) < 0:
        raise ValueError("stations.units: not negative")
    return Station(
        str(doc["name"]),
        float(doc["lat"]),
        float(doc["lon"]),
        type=None if kind is None else str(kind),
        operator=None if doc.get("operator") is None else str(doc["operator"]),
        units=None if units is None else int(units),
    )


def _zone(z: dict[str, Any]) -> Zone:
    return Zone(
        z.get("name", ""),
        float(z["lat"]),
        float(z["lon"]),
        float(z.get("sigma_m", 1000)),
        float(z.get("weight", 1)),
    )


def _transports(doc: dict[str, Any]) -> Transports:
    shift = doc.get("shift", ["07:00", "19:00"])
    first, last = doc.get("appointments", ["08:00", "16:00"])
    length = doc.get("appointment_length_minutes", [60, 150])
    t = Transports(
        rides_per_day=int(doc["rides_per_day"]),
        vehicles={str(k): int(v) for k, v in doc["vehicles"].items()},
        shift_s=(_clock_s(shift[0], "transports.shift"), _clock_s(shift[1], "transports.shift")),
        break_minutes=int(doc.get("break_minutes", 30)),
        homes=[_zone(z) for z in doc.get("homes", [])],
        appointment_s=(
            _clock_s(first, "transports.appointments"),
            _clock_s(last, "transports.appointments"),
        ),
        return_share=float(doc.get("return_share", 0.6)),
        appointment_length_s=(float(length[0]) * 60, float(length[1]) * 60),
        return_window_s=float(doc.get("return_window_minutes", 30)) * 60,
        mobility_mix={str(k): float(v) for k, v in doc.get("mobility_mix", {}).items()}
        or {"ambulatory": 0.4, "wheelchair": 0.45, "stretcher": 0.15},
        no_show_share=float(doc.get("no_show_share", 0.03)),
        seats={str(k): int(v) for k, v in doc.get("seats", {}).items()}
        or {"seated": 2, "wheelchair": 1, "stretcher": 1},
        fix_interval_s=float(doc.get("fix_interval_s", 300)),
    )
    if t.shift_s[0] >= t.shift_s[1]:
        raise ValueError("transports.shift: the shift ends before it starts")
    if not t.appointment_s[0] <= t.appointment_s[1]:
        raise ValueError("transports.appointments: first after last")
    if set(t.mobility_mix) - {"ambulatory", "wheelchair", "stretcher"}:
        raise ValueError("transports.mobility_mix: ambulatory, wheelchair, stretcher")
    if t.units <= 0 or t.rides_per_day < 0:
        raise ValueError("transports.vehicles: at least one; rides_per_day not negative")
    return t


def check(s: Scenario) -> None:
    if len(s.hour_profile) != 24 or min(s.hour_profile) < 0 or sum(s.hour_profile) <= 0:
        raise ValueError("demand.hour_profile: 24 non-negative weights, not all zero")
    if not s.stations:
        raise ValueError("stations: at least one")
    per_station = [st.units for st in s.stations]
    if any(u is not None for u in per_station) and (
        None in per_station or sum(u or 0 for u in per_station) <= 0
    ):
        raise ValueError("stations.units: give it for every station, and at least one unit")
    if s.units <= 0:
        raise ValueError("fleet: at least one unit")
    if not s.hospitals:
        raise ValueError("hospitals: none found (no CSV and no fallback list)")
    if not s.triage_mix or min(s.triage_mix.values()) < 0 or sum(s.triage_mix.values()) <= 0:
        raise ValueError("demand.triage_mix: non-negative shares, not all zero")
    min_lat, min_lon, max_lat, max_lon = s.area
    if not (min_lat < max_lat and min_lon < max_lon):
        raise ValueError("area: min below max")


def parse_time(text: str) -> float:
    text = text.strip()
    if ":" in text:
        t = dtime.fromisoformat(text)
        return t.hour * 3600 + t.minute * 60 + t.second + t.microsecond / 1e6
    return float(text)
