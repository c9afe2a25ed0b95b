"""The seeded demand of a scenario: the day's calls and booked rides, and the draws that
move a call or a ride the server's map cannot reach.

The demand is fixed by the seed alone: every call carries its own draws (triage, place,
on-scene time, whether the patient is carried), so every policy in a run, and every run
with that seed, faces exactly the same day. Each kind of draw has a generator of its own
(seeded with the seed and a tag), so the draws of one kind never shift those of another.
"""

from __future__ import annotations

import csv
import math
from dataclasses import replace
from pathlib import Path
from typing import TextIO

import numpy as np

from simulator.city.scenario import TRIAGE_ORDER, Call, Ride, Scenario, parse_time

#: How often a call's or a ride's place is drawn again before it is used as it is.
RELOCATE_ATTEMPTS = 5


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


def calls_from_csv(s: Scenario, seed: int, path: Path, start_s: float, end_s: float) -> list[Call]:
    """Calls given as a CSV ``time,lat,lon,triage`` (time ``HH:MM[:SS]`` local or seconds
    since midnight); on-scene time and transport still come from the seed."""
    rows: list[tuple[float, float, float, str]] = []
    with path.open(encoding="utf-8", newline="") as fh:
        for i, row in enumerate(csv.DictReader(fh), start=2):
            try:
                t = parse_time(row["time"])
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


def write_history(s: Scenario, first_seed: int, days: int, out: TextIO) -> int:
    """``days`` past days of the scenario's calls (day ``d`` drawn with seed
    ``first_seed + d``) as CSV ``day,time,lat,lon,triage``: the record of calls a centre
    moving to this system brings along (``DISPATCH_COVERAGE_DEMAND_CSV``). Seeds apart
    from the tested days' keep it history, not a preview of the test. Returns the rows."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["day", "time", "lat", "lon", "triage"])
    rows = 0
    for day in range(days):
        for call in generate_calls(s, first_seed + day, 0.0, 86_400.0):
            t = int(call.t_s)
            clock = f"{t // 3600:02d}:{t % 3600 // 60:02d}:{t % 60:02d}"
            writer.writerow([day + 1, clock, f"{call.lat:.6f}", f"{call.lon:.6f}", call.triage])
            rows += 1
    return rows
