"""The city report: figures per policy (JSON) and a side-by-side table (the HTML page
with charts is ``simulator.city.charts``).

Response time is call received (the server's ``created_at``) → first unit on scene, the
definition ``GET /kpis`` uses, in virtual seconds.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from simulator.city.offerreport import format_offers
from simulator.city.records import CaseRecord, RideRecord, TransportDay, Unit
from simulator.city.scenario import TRIAGE_ORDER, Scenario
from simulator.city.transports import Transports
from simulator.stats import percentile

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
            # tiered response: ALS units sent beside a first unit that was not ALS
            "backups": sum(1 for r in mine if r.backup),
            "als_share": (
                round(sum(1 for r in als if r.unit_kind == "als" or r.backup) / len(als), 4)
                if als
                else None
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
        # tiered response: the ALS units sent beside a first unit that was not ALS
        "backups": sum(1 for r in records if r.backup_assignment_id is not None),
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
    # Every call's outcome, so runs of the same seed can be compared call by call
    # (``python -m simulator compare``): [call number, triage, seconds to the first unit on
    # scene or null].
    responses = {
        name: [
            [r.call.n, r.call.triage, None if r.response_s is None else round(r.response_s, 1)]
            for r in sorted(records, key=lambda r: r.call.n)
            if r.policy == name
        ]
        for name in fleets
    }
    return {
        **meta,
        "targets_s": s.targets_s,
        "policies": policies,
        "transports": rides,
        "responses": responses,
    }


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
    if "offers" in report:
        lines.extend(format_offers(report["offers"]))
    lines.append(f"failed requests: {report['request_failures'] or 0}")
    return "\n".join(lines)
