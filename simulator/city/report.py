"""The city report: figures per policy (JSON), a side-by-side table, and an HTML page
with inline SVG charts drawn here (no plotting library, no CDN: it opens offline).

Response time is call received (the server's ``created_at``) → first unit on scene, the
definition ``GET /kpis`` uses, in virtual seconds.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from simulator.city.engine import CaseRecord, Unit
from simulator.city.scenario import TRIAGE_ORDER, Scenario
from simulator.city.transports import RideRecord, TransportDay, Transports
from simulator.stats import percentile

COLOURS = {"system": "#1f6fd1", "baseline": "#d9730d"}
NO_TRANSPORTS = "not simulated in this run (--no-transports, or the scenario has none)"


def _pct(values: Sequence[float], q: float) -> float | None:
    return round(percentile(sorted(values), q), 1) if values else None


def _busy_in(intervals: list[tuple[float, float]], lo: float, hi: float) -> float:
    return sum(max(0.0, min(b, hi) - max(a, lo)) for a, b in intervals)


def policy_figures(
    records: list[CaseRecord], units: list[Unit], s: Scenario, start_s: float, end_s: float
) -> dict[str, Any]:
    levels: dict[str, Any] = {}
    present = sorted({r.call.triage for r in records}, key=TRIAGE_ORDER.index)
    for triage in present:
        mine = [r for r in records if r.call.triage == triage and r.incident_id is not None]
        times = [r.response_s for r in mine if r.response_s is not None]
        within = {
            str(t): (round(sum(1 for x in times if x <= t) / len(mine), 4) if mine else None)
            for t in s.targets_s.get(triage, [])
        }
        to_notify = [
            r.notified_v - r.created_v
            for r in mine
            if r.notified_v is not None and r.created_v is not None
        ]
        travel = [
            r.on_scene_v - r.notified_v
            for r in mine
            if r.on_scene_v is not None and r.notified_v is not None
        ]
        als = [r for r in mine if r.unit_kind is not None]
        levels[triage] = {
            "calls": len(mine),
            "reached": len(times),
            "p50_s": _pct(times, 50),
            "p90_s": _pct(times, 90),
            "share_within": within,
            # call → unit notified: the dispatcher's delay and any wait for a free unit
            "call_to_notify_p50_s": _pct(to_notify, 50),
            # unit notified → on scene: turnout and driving
            "notify_to_scene_p50_s": _pct(travel, 50),
            "als_share": (
                round(sum(1 for r in als if r.unit_kind == "als") / len(als), 4) if als else None
            ),
        }
    waited = [r.waited_s for r in records if r.waited_s is not None]
    span = max(end_s - start_s, 1.0)
    hours = []
    h = start_s
    while h < end_s:
        hi = min(h + 3600, end_s)
        busy = sum(_busy_in(u.intervals, h, hi) for u in units)
        hours.append(
            {"hour": int(h // 3600) % 24, "utilisation": round(busy / (len(units) * (hi - h)), 4)}
        )
        h = hi
    busy_all = sum(_busy_in(u.intervals, start_s, end_s) for u in units)
    ranks = [r.rank for r in records if r.rank is not None]
    return {
        "calls": len(records),
        "incidents": sum(1 for r in records if r.incident_id is not None),
        "refused": sum(1 for r in records if r.refused),
        "errors": sum(1 for r in records if r.error),
        "assigned": sum(1 for r in records if r.assignment_id is not None),
        "reached": sum(1 for r in records if r.on_scene_v is not None),
        "transported": sum(1 for r in records if r.at_destination_v is not None),
        "triage": levels,
        "waiting": {
            "calls": len(waited),
            "p50_s": _pct(waited, 50),
            "p90_s": _pct(waited, 90),
            "max_s": round(max(waited), 1) if waited else None,
        },
        "utilisation": round(busy_all / (len(units) * span), 4) if units else None,
        "utilisation_by_hour": hours,
        "drive_to_scene_p50_s": _pct([r.drive_s for r in records if r.drive_s is not None], 50),
        # the server ranks a unit whose last fix is older than DISPATCH_STALE_GPS_S (real
        # seconds) lower; at high speed-ups that is many virtual hours, so this stays 0
        "chosen_with_stale_gps": sum(1 for r in records if r.chosen_stale),
        "recommended_rank_1_share": (
            round(sum(1 for x in ranks if x == 1) / len(ranks), 4) if ranks else None
        ),
        "error_samples": [r.error for r in records if r.error][:5],
        "refusal_samples": [r.refused for r in records if r.refused][:3],
    }


def ride_figures(day: TransportDay) -> dict[str, Any]:
    """Booked rides of one policy: served on time against what was booked (arrive by the
    appointment; picked up by the end of the return window), delays, and what became of
    the rides released for emergencies."""
    recs = [r for r in day.records if r.booking_id is not None]
    due = [r for r in recs if not r.no_show]

    def outcome(group: list[RideRecord]) -> dict[str, Any]:
        delays = [r.delay_s for r in group if r.delay_s is not None]
        late = sorted(d for d in delays if d > 0)
        return {
            "rides": len(group),
            "on_time": sum(1 for d in delays if d <= 0),
            "late": len(late),
            "not_served": len(group) - len(delays),
            "on_time_share": (
                round(sum(1 for d in delays if d <= 0) / len(group), 4) if group else None
            ),
            "late_p50_s": _pct(late, 50),
            "late_p90_s": _pct(late, 90),
            "late_max_s": round(late[-1], 1) if late else None,
        }

    return {
        "service_date": day.day.isoformat(),
        "units": len(day.units),
        "booked": len(recs),
        "outbound": sum(1 for r in recs if r.leg == "outbound"),
        "returns": sum(1 for r in recs if r.leg == "return"),
        "day_plan": day.plan,
        "unserved_by_day_plan": sum(1 for r in recs if r.unserved_reason),
        "unserved_reasons": sorted({r.unserved_reason for r in recs if r.unserved_reason})[:3],
        "completed": sum(1 for r in recs if r.completed),
        "no_shows": sum(1 for r in recs if r.no_show),
        "all": outcome(due),
        "outbound_rides": outcome([r for r in due if r.leg == "outbound"]),
        "return_rides": outcome([r for r in due if r.leg == "return"]),
        "released": outcome([r for r in due if r.released]),
        "released_replanned_into_the_past": day.replanned_into_past,
    }


def preemption_figures(records: list[CaseRecord]) -> dict[str, Any]:
    """Emergencies that took a unit off its booked rides: how many, what they gained over
    the best unit that was free without one, and how fast those calls were reached."""
    taken = [r for r in records if r.preempted_rides]
    gains = [
        float(r.best_free_eta_s - r.eta_s)
        for r in taken
        if r.best_free_eta_s is not None and r.eta_s is not None
    ]
    responses = [r.response_s for r in taken if r.response_s is not None]
    return {
        "assignments": len(taken),
        "rides_released": sum(len(r.preempted_rides) for r in taken),
        "eta_gain_p50_s": _pct(gains, 50),
        "eta_gain_min_s": round(min(gains), 1) if gains else None,
        "no_free_unit": sum(1 for r in taken if r.best_free_eta_s is None),
        "response_p50_s": _pct(responses, 50),
        "calls": [r.call.n for r in taken][:20],
    }


def build_report(
    meta: dict[str, Any],
    records: list[CaseRecord],
    fleets: dict[str, list[Unit]],
    s: Scenario,
    start_s: float,
    end_s: float,
    transports: Transports | None = None,
) -> dict[str, Any]:
    policies = {
        name: policy_figures(
            [r for r in records if r.policy == name],
            [u for u in units if not u.transport],  # utilisation of the emergency fleet
            s,
            start_s,
            end_s,
        )
        for name, units in fleets.items()
    }
    for name, figures in policies.items():
        figures["preemptions"] = preemption_figures([r for r in records if r.policy == name])
    rides: dict[str, Any] | str = NO_TRANSPORTS
    if transports is not None:
        rides = {name: ride_figures(day) for name, day in transports.days.items()}
        for name in rides:
            rides[name]["crew_errors"] = transports.errors[:5]
    return {**meta, "targets_s": s.targets_s, "policies": policies, "transports": rides}


def _fmt_s(value: float | None) -> str:
    return "-" if value is None else f"{value / 60:.1f} min"


def _fmt_sec(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} s"


def _fmt_share(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f} %"


def format_table(report: dict[str, Any]) -> str:
    names = list(report["policies"])
    rows: list[tuple[str, ...]] = [("", *names)]
    pol = report["policies"]
    levels = [t for t in TRIAGE_ORDER if any(t in pol[n]["triage"] for n in names)]
    for t in levels:
        get = [pol[n]["triage"].get(t, {}) for n in names]
        rows.append(
            (f"{t}: calls / reached", *(f"{g.get('calls')} / {g.get('reached')}" for g in get))
        )
        rows.append(
            (
                f"{t}: p50 / p90",
                *(f"{_fmt_s(g.get('p50_s'))} / {_fmt_s(g.get('p90_s'))}" for g in get),
            )
        )
        rows.append(
            (
                f"{t}: call→notify / notify→scene p50",
                *(
                    f"{_fmt_sec(g.get('call_to_notify_p50_s'))} / "
                    f"{_fmt_s(g.get('notify_to_scene_p50_s'))}"
                    for g in get
                ),
            )
        )
        rows.append((f"{t}: sent an ALS unit", *(_fmt_share(g.get("als_share")) for g in get)))
        for target in report["targets_s"].get(t, []):
            rows.append(
                (
                    f"{t}: within {target / 60:g} min",
                    *(_fmt_share(g.get("share_within", {}).get(str(target))) for g in get),
                )
            )
    rows.append(("calls waiting for a unit", *(str(pol[n]["waiting"]["calls"]) for n in names)))
    rows.append(("  wait p90", *(_fmt_s(pol[n]["waiting"]["p90_s"]) for n in names)))
    rows.append(("unit utilisation", *(_fmt_share(pol[n]["utilisation"]) for n in names)))
    rows.append(("drive to scene p50", *(_fmt_s(pol[n]["drive_to_scene_p50_s"]) for n in names)))
    rows.append(("transported", *(str(pol[n]["transported"]) for n in names)))
    rows.append(("refused / errors", *(f"{pol[n]['refused']} / {pol[n]['errors']}" for n in names)))
    rows.append(
        ("unit sent with stale GPS", *(str(pol[n]["chosen_with_stale_gps"]) for n in names))
    )
    pre = [pol[n]["preemptions"] for n in names]
    rows.append(
        (
            "preemptions / rides released",
            *(f"{p['assignments']} / {p['rides_released']}" for p in pre),
        )
    )
    rows.append(("  ETA gained p50", *(_fmt_sec(p["eta_gain_p50_s"]) for p in pre)))
    rides = report["transports"]
    if isinstance(rides, dict):
        get = [rides.get(n, {}) for n in names]
        rows.append(
            (
                "booked rides: booked / done / no-show",
                *(f"{g.get('booked')} / {g.get('completed')} / {g.get('no_shows')}" for g in get),
            )
        )
        rows.append(
            ("  unserved by the day plan", *(str(g.get("unserved_by_day_plan")) for g in get))
        )
        for key, label in (
            ("all", "  on time (all)"),
            ("outbound_rides", "  on time (to appointment)"),
            ("return_rides", "  on time (way home)"),
            ("released", "  on time (released rides)"),
        ):
            rows.append(
                (
                    label,
                    *(
                        f"{_fmt_share(g[key]['on_time_share'])} of {g[key]['rides']}" if g else "-"
                        for g in get
                    ),
                )
            )
        rows.append(
            (
                "  late p50 / max",
                *(
                    f"{_fmt_s(g['all']['late_p50_s'])} / {_fmt_s(g['all']['late_max_s'])}"
                    if g
                    else "-"
                    for g in get
                ),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [
        f"city {report['scenario']} seed {report['seed']}: {report['calls']} calls, "
        f"{report['hours']:g} h, {report['units_per_policy']} units per policy, map "
        f"{report['map_source']}, wall {report['wall_s']} s, {report['requests']} requests"
    ]
    for r in rows:
        lines.append(
            "  ".join(c.ljust(widths[i]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(r))
        )
    v = report.get("verify")
    if v:
        lines.append(
            f"server: {v['incidents_stored']} incidents ({v['incidents_closed']} closed), "
            f"by policy {json.dumps(v['by_policy'])}, response max |diff| "
            f"{v['response_max_abs_diff_s']} s"
        )
    if not isinstance(rides, dict):
        lines.append(f"booked transports: {rides}")
    elif v and v.get("transports"):
        for name, t in v["transports"].items():
            lines.append(
                f"server, {name} rides on {t['service_date']}: {json.dumps(t['stored_statuses'])}"
                f", {len(t['status_mismatches'])} differ; released {t['released_by_server']}"
                f" (simulator saw {t['released_seen']})"
            )
    for name, c in report["clocks"].items():
        lines.append(
            f"{name} clock: {c['instants']} virtual moments, {c['virtual_per_real']}x; stood "
            f"still {c['busy_s']} s for the server, {c['paced_s']} s for the speed cap "
            f"({c['speed_cap'] or 'none'})"
        )
    lines.append(f"failed requests: {report['request_failures'] or 0}")
    return "\n".join(lines)


# --- HTML -------------------------------------------------------------------------------------

W, H, PAD = 460, 260, 40


def _svg_lines(
    series: dict[str, list[tuple[float, float]]],
    x_max: float,
    y_max: float,
    x_label: str,
    y_label: str,
    marks: Sequence[float] = (),
) -> str:
    def sx(x: float) -> float:
        return PAD + (W - 2 * PAD) * min(x, x_max) / x_max

    def sy(y: float) -> float:
        return H - PAD - (H - 2 * PAD) * min(y, y_max) / y_max

    parts = [f'<svg width="{W}" height="{H}" xmlns="http://www.w3.org/2000/svg">']
    inner = (W - 2 * PAD, H - 2 * PAD)
    parts.append(
        f'<rect x="{PAD}" y="{PAD}" width="{inner[0]}" height="{inner[1]}" '
        'fill="none" stroke="#999"/>'
    )
    for i in range(5):
        x, y = x_max * i / 4, y_max * i / 4
        parts.append(
            f'<text x="{sx(x):.0f}" y="{H - PAD + 14}" font-size="10" '
            f'text-anchor="middle">{x:g}</text>'
        )
        parts.append(
            f'<text x="{PAD - 4}" y="{sy(y) + 3:.0f}" font-size="10" text-anchor="end">{y:g}</text>'
        )
    for m in marks:
        parts.append(
            f'<line x1="{sx(m):.1f}" y1="{PAD}" x2="{sx(m):.1f}" y2="{H - PAD}" '
            'stroke="#c00" stroke-dasharray="4 3"/>'
        )
    for k, (name, pts) in enumerate(series.items()):
        colour = COLOURS.get(name, "#555")
        if pts:
            path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in pts)
            parts.append(
                f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{path}"/>'
            )
        parts.append(
            f'<text x="{PAD + 8}" y="{PAD + 14 + 14 * k}" font-size="11" '
            f'fill="{colour}">{html.escape(name)}</text>'
        )
    parts.append(
        f'<text x="{W / 2}" y="{H - 6}" font-size="11" '
        f'text-anchor="middle">{html.escape(x_label)}</text>'
    )
    parts.append(
        f'<text x="12" y="{H / 2}" font-size="11" transform="rotate(-90 12 {H / 2})" '
        f'text-anchor="middle">{html.escape(y_label)}</text>'
    )
    parts.append("</svg>")
    return "".join(parts)


def _cdf(values: list[float], n: int) -> list[tuple[float, float]]:
    pts = [(0.0, 0.0)]
    for i, v in enumerate(sorted(values), start=1):
        pts.append((v / 60, i / n))
    return pts


def _svg_map(
    records: list[CaseRecord],
    targets: dict[str, list[int]],
    roads: list[list[list[float]]],
    box: tuple[float, float, float, float],
) -> str:
    min_lat, min_lon, max_lat, max_lon = box
    height = 440.0
    # equal scale in metres on both axes: a degree of longitude is cos(lat) of one of latitude
    aspect = (max_lon - min_lon) * math.cos(math.radians((min_lat + max_lat) / 2))
    width = round(20 + (height - 20) * aspect / (max_lat - min_lat))

    def xy(lat: float, lon: float) -> tuple[float, float]:
        return (
            10 + (width - 20) * (lon - min_lon) / (max_lon - min_lon),
            10 + (height - 20) * (max_lat - lat) / (max_lat - min_lat),
        )

    parts = [f'<svg width="{width}" height="{height:.0f}" xmlns="http://www.w3.org/2000/svg">']
    parts.append(f'<rect width="{width}" height="{height:.0f}" fill="#fafafa" stroke="#999"/>')
    for line in roads:
        pts = " ".join("{:.1f},{:.1f}".format(*xy(p[0], p[1])) for p in line)
        parts.append(f'<polyline fill="none" stroke="#ccc" stroke-width="0.7" points="{pts}"/>')
    for r in records:
        if r.incident_id is None:
            continue
        goal = targets.get(r.call.triage, [None])[0] if targets.get(r.call.triage) else None
        resp = r.response_s
        slow = resp is None or (goal is not None and resp > goal)
        x, y = xy(r.call.lat, r.call.lon)
        colour = "#d11" if slow else "#2a2"
        radius = 3.2 if slow else 1.8
        title = f"call {r.call.n} {r.call.triage}: " + (
            "not reached" if resp is None else f"{resp / 60:.1f} min"
        )
        parts.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{radius}" fill="{colour}" fill-opacity="0.75">'
            f"<title>{html.escape(title)}</title></circle>"
        )
    parts.append("</svg>")
    return "".join(parts)


def write_html(
    report: dict[str, Any],
    records: list[CaseRecord],
    roads: list[list[list[float]]],
    box: tuple[float, float, float, float],
    path: Path,
) -> None:
    """Response-time CDF per triage, utilisation over the day, and a map of slow calls."""
    names = list(report["policies"])
    blocks: list[str] = []
    for triage in TRIAGE_ORDER:
        series: dict[str, list[tuple[float, float]]] = {}
        for name in names:
            mine = [
                r for r in records if r.policy == name and r.call.triage == triage and r.incident_id
            ]
            times = [r.response_s for r in mine if r.response_s is not None]
            if mine:
                series[name] = _cdf(times, len(mine))
        if series:
            marks = [t / 60 for t in report["targets_s"].get(triage, [])]
            svg = _svg_lines(
                series, 30, 1, "minutes from call to first unit on scene", "share of calls", marks
            )
            blocks.append(
                f"<figure><figcaption>{triage}: response-time CDF</figcaption>{svg}</figure>"
            )
    util = {
        name: [
            (float(h["hour"]) + 0.5, float(h["utilisation"]))
            for h in report["policies"][name]["utilisation_by_hour"]
        ]
        for name in names
    }
    blocks.append(
        "<figure><figcaption>unit utilisation by hour (share of units on a case)</figcaption>"
        + _svg_lines(util, 24, 1, "hour of day", "utilisation")
        + "</figure>"
    )
    for name in names:
        mine = [r for r in records if r.policy == name]
        blocks.append(
            f"<figure><figcaption>{html.escape(name)}: calls (red = over the first target or "
            f"not reached)</figcaption>{_svg_map(mine, report['targets_s'], roads, box)}</figure>"
        )
    table = html.escape(format_table(report))
    page = (
        "<!doctype html><html><head><meta charset='utf-8'><title>city simulation "
        f"{html.escape(str(report['scenario']))}</title><style>body{{font-family:sans-serif;margin:1em}}"
        "figure{display:inline-block;margin:0.5em;vertical-align:top}figcaption{font-size:13px}"
        "</style></head><body>"
        f"<h1>City simulation: {html.escape(str(report['scenario']))}, seed {report['seed']}</h1>"
        f"<pre>{table}</pre>{''.join(blocks)}"
        "<p>Map data © OpenStreetMap contributors (ODbL) when the server runs on an OSM map.</p>"
        "</body></html>"
    )
    path.write_text(page, encoding="utf-8")
