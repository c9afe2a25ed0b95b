"""Scenarios (fleet, stations, hospitals, demand, crew timings, targets) and the seeded
demand they generate.

A scenario is a JSON file (YAML too when PyYAML is installed). Relative data paths are
read against the repository root, so ``../shared/data/…`` means the shared data folder
beside the checkout, as elsewhere in the project; a missing file falls back to the
scenario's own list (hospitals) or is simply not used (the map is the server's business).

The demand is fixed by the seed alone: every call carries its own draws (triage, place,
on-scene time, whether the patient is carried), so every policy in a run, and every run
with that seed, faces exactly the same day.
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

import numpy as np

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
    stations: list[Place]
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

    @property
    def units(self) -> int:
        return sum(self.fleet.values())

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
        stations = [Place(s["name"], float(s["lat"]), float(s["lon"])) for s in doc["stations"]]
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
            zones=[
                Zone(
                    z.get("name", ""),
                    float(z["lat"]),
                    float(z["lon"]),
                    float(z.get("sigma_m", 1000)),
                    float(z.get("weight", 1)),
                )
                for z in demand.get("zones", [])
            ],
            crew=crew,
            targets_s={k: [int(x) for x in v] for k, v in doc.get("targets_s", {}).items()},
            map_path=str(_resolve(str(map_path), base)) if map_path else None,
            transports=transports,
        )
    except KeyError as exc:
        raise ValueError(f"{path}: missing field {exc.args[0]!r}") from None
    check(scenario)
    return scenario


def _clock_s(text: str, field_name: str) -> float:
    try:
        return _parse_time(str(text))
    except ValueError:
        raise ValueError(f"{field_name}: a time of day HH:MM, not {text!r}") from None


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


def generate_rides(s: Scenario, seed: int, start_s: float, end_s: float) -> list[Ride]:
    """The day's booked rides from their own generator (seed, 3): appointments on the
    quarter hour, homes around the scenario's home zones (or the call zones), one of the
    ``hospitals_nearest`` hospitals. Only rides that fit in the simulated span are kept:
    the outbound leaves after it starts and the way home closes before it ends."""
    t = s.transports
    if t is None:
        return []
    rng = np.random.default_rng([seed, 3])
    homes = replace(s, zones=t.homes) if t.homes else s
    kinds = list(t.mobility_mix)
    mix = np.array([t.mobility_mix[k] for k in kinds], dtype=float)
    rides: list[Ride] = []
    for n in range(1, t.rides_per_day + 1):
        lat, lon = _place(homes, rng)
        slots = int((t.appointment_s[1] - t.appointment_s[0]) // 900)
        appointment = t.appointment_s[0] + 900 * int(rng.integers(0, slots + 1))
        near = sorted(
            range(len(s.hospitals)),
            key=lambda i: (
                (s.hospitals[i].lat - lat) ** 2
                + ((s.hospitals[i].lon - lon) * math.cos(math.radians(lat))) ** 2
            ),
        )[: max(1, t.hospitals_nearest)]
        hospital = near[int(rng.integers(0, len(near)))]
        mobility = kinds[int(rng.choice(len(kinds), p=mix / mix.sum()))]
        back: tuple[float, float] | None = None
        if rng.random() < t.return_share:
            opens = appointment + float(rng.uniform(*t.appointment_length_s))
            opens = 300.0 * round(opens / 300)
            back = (opens, opens + t.return_window_s)
        no_show = bool(rng.random() < t.no_show_share)
        if appointment - 3600 < start_s or appointment > end_s:
            continue
        if back is not None and back[1] + 3600 > end_s:
            back = None
        rides.append(Ride(n, lat, lon, hospital, mobility, appointment, back, no_show))
    return rides


def check(s: Scenario) -> None:
    if len(s.hour_profile) != 24 or min(s.hour_profile) < 0 or sum(s.hour_profile) <= 0:
        raise ValueError("demand.hour_profile: 24 non-negative weights, not all zero")
    if not s.stations:
        raise ValueError("stations: at least one")
    if s.units <= 0:
        raise ValueError("fleet: at least one unit")
    if not s.hospitals:
        raise ValueError("hospitals: none found (no CSV and no fallback list)")
    if not s.triage_mix or min(s.triage_mix.values()) < 0 or sum(s.triage_mix.values()) <= 0:
        raise ValueError("demand.triage_mix: non-negative shares, not all zero")
    min_lat, min_lon, max_lat, max_lon = s.area
    if not (min_lat < max_lat and min_lon < max_lon):
        raise ValueError("area: min below max")


def _place(s: Scenario, rng: np.random.Generator) -> tuple[float, float]:
    """A point around a zone picked by weight (Gaussian spread); a point outside the area
    is drawn again (clamping would pile calls up on the edges), clamped only as a last
    resort."""
    min_lat, min_lon, max_lat, max_lon = s.area
    lat, lon = rng.uniform(min_lat, max_lat), rng.uniform(min_lon, max_lon)
    if s.zones:
        weights = np.array([z.weight for z in s.zones], dtype=float)
        for _ in range(20):
            zone = s.zones[int(rng.choice(len(s.zones), p=weights / weights.sum()))]
            d_lat = rng.normal(0.0, zone.sigma_m) / 111_195.0
            d_lon = rng.normal(0.0, zone.sigma_m) / (111_195.0 * math.cos(math.radians(zone.lat)))
            lat, lon = zone.lat + d_lat, zone.lon + d_lon
            if min_lat <= lat <= max_lat and min_lon <= lon <= max_lon:
                break
    lat = min(max(lat, min_lat), max_lat)
    lon = min(max(lon, min_lon), max_lon)
    return round(lat, 6), round(lon, 6)


def relocate(s: Scenario, seed: int, call: Call, attempt: int) -> Call:
    """The same call at another place drawn from its own generator (seed, n, attempt):
    for a place the server refuses (too far from its road map)."""
    lat, lon = _place(s, np.random.default_rng([seed, call.n, 2, attempt]))
    return replace(call, lat=lat, lon=lon)


def relocate_ride(s: Scenario, seed: int, ride: Ride, attempt: int) -> Ride:
    """The same ride from another home drawn from its own generator (seed, n, attempt)."""
    t = s.transports
    homes = replace(s, zones=t.homes) if t is not None and t.homes else s
    lat, lon = _place(homes, np.random.default_rng([seed, ride.n, 4, attempt]))
    return replace(ride, lat=lat, lon=lon)


def _call_draws(s: Scenario, seed: int, n: int, t_s: float, triage: str) -> Call:
    """Place and case details of call ``n`` from its own generator (seed, n)."""
    rng = np.random.default_rng([seed, n, 1])
    lat, lon = _place(s, rng)
    mean = s.crew.on_scene_s.get(triage, 600.0)
    jitter = s.crew.on_scene_jitter
    on_scene = float(mean * rng.uniform(1 - jitter, 1 + jitter))
    transport = bool(rng.random() < s.crew.transport_share.get(triage, 0.5))
    return Call(n, t_s, lat, lon, triage, transport, round(on_scene, 1))


def generate_calls(s: Scenario, seed: int, start_s: float, end_s: float) -> list[Call]:
    """A non-homogeneous Poisson process, piecewise constant per local hour: each hour's
    count is Poisson(calls_per_day × its share of the profile), times uniform inside it."""
    rng = np.random.default_rng([seed, 0])
    profile = np.array(s.hour_profile, dtype=float)
    rates = s.calls_per_day * profile / profile.sum()  # expected calls per hour of day
    levels = list(s.triage_mix)
    mix = np.array([s.triage_mix[k] for k in levels], dtype=float)
    times: list[float] = []
    hour = math.floor(start_s / 3600)
    while hour * 3600 < end_s:
        lo, hi = max(hour * 3600.0, start_s), min((hour + 1) * 3600.0, end_s)
        expected = rates[hour % 24] * (hi - lo) / 3600.0
        count = int(rng.poisson(expected))
        times.extend(float(t) for t in rng.uniform(lo, hi, size=count))
        hour += 1
    times.sort()
    triages = [levels[int(i)] for i in rng.choice(len(levels), size=len(times), p=mix / mix.sum())]
    return [
        _call_draws(s, seed, n, round(t, 3), tri)
        for n, (t, tri) in enumerate(zip(times, triages, strict=True), start=1)
    ]


def _parse_time(text: str) -> float:
    text = text.strip()
    if ":" in text:
        t = dtime.fromisoformat(text)
        return t.hour * 3600 + t.minute * 60 + t.second + t.microsecond / 1e6
    return float(text)


def calls_from_csv(s: Scenario, seed: int, path: Path, start_s: float, end_s: float) -> list[Call]:
    """Calls given as a CSV ``time,lat,lon,triage`` (time ``HH:MM[:SS]`` local or seconds
    since midnight); on-scene time and transport still come from the seed."""
    rows: list[tuple[float, float, float, str]] = []
    with path.open(encoding="utf-8", newline="") as fh:
        for i, row in enumerate(csv.DictReader(fh), start=2):
            try:
                t = _parse_time(row["time"])
                lat, lon = float(row["lat"]), float(row["lon"])
                triage = row["triage"].strip().lower()
            except (KeyError, ValueError) as exc:
                raise ValueError(f"{path}:{i}: need time,lat,lon,triage ({exc})") from None
            if triage not in TRIAGE_ORDER:
                raise ValueError(f"{path}:{i}: unknown triage {triage!r}")
            if start_s <= t < end_s:
                rows.append((t, lat, lon, triage))
    rows.sort()
    calls = []
    for n, (t, lat, lon, triage) in enumerate(rows, start=1):
        drawn = _call_draws(s, seed, n, t, triage)
        calls.append(Call(n, t, lat, lon, triage, drawn.transport, drawn.on_scene_s))
    return calls
