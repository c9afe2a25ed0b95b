"""The city report as an HTML page: the table, response-time CDFs, utilisation over the
day and a map of the slow calls, with inline SVG charts drawn here (no plotting library,
no CDN: the page opens offline).
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from simulator.city.records import CaseRecord
from simulator.city.report import format_table
from simulator.city.scenario import TRIAGE_ORDER

COLOURS = {"system": "#1f6fd1", "baseline": "#d9730d"}
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
