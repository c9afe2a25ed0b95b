"""The load run's figures that need more than counting (the server process's memory and
CPU, the machine's load) and the human summary of the JSON report."""

from __future__ import annotations

from typing import Any

from simulator import procinfo


def machine_busy(a: tuple[float, float] | None, b: tuple[float, float] | None) -> float | None:
    if a is None or b is None or b[1] <= a[1]:
        return None
    return round((b[0] - a[0]) / (b[1] - a[1]), 3)


def server_figures(
    before: procinfo.ServerSample,
    run_start: procinfo.ServerSample,
    after: procinfo.ServerSample,
    connections: int,
    wall_s: float,
) -> dict[str, Any]:
    if not after.pids:
        return {
            "best_effort": True,
            "found": False,
            "note": "no local process found listening on the server port(s)",
        }
    mib = 1024 * 1024
    if set(after.rss) != set(before.rss) or set(after.cpu) != set(run_start.cpu):
        return {
            "best_effort": True,
            "found": True,
            "pids": list(after.pids),
            "exited": sorted(set(before.rss) - set(after.rss)),
            "note": "a server process exited during the run (a restart?): its memory and "
            "CPU before and after are not comparable",
        }
    grown = after.rss_total - before.rss_total
    cpu = after.cpu_total - run_start.cpu_total if run_start.cpu else None
    return {
        "best_effort": True,
        "found": True,
        "method": "/proc/net/tcp listening inode -> /proc/*/fd -> VmRSS and utime+stime",
        "pids": list(after.pids),
        "rss_before_mib": round(before.rss_total / mib, 1),
        "rss_after_mib": round(after.rss_total / mib, 1),
        # (after - before) / (vehicles + controls): every phone and screen counts as one
        # connection, whether it holds a websocket or keep-alive HTTP.
        "rss_per_connection_kib": round(grown / connections / 1024, 1) if connections else None,
        "cpu_s": None if cpu is None else round(cpu, 2),
        "cpu_cores_used": None if cpu is None or wall_s <= 0 else round(cpu / wall_s, 2),
    }


def format_table(report: dict[str, Any]) -> str:
    """The human summary."""
    cfg = report["config"]
    w = report["ingest"]["window"]
    ctl = report["controls"]
    lat = ctl["latency_ms"]
    srv = report["server_process"]
    gen = report["generator"]
    rows: list[tuple[str, Any]] = [
        ("protocol", f"{cfg['protocol']} (batch size {cfg['batch_size']})"),
        (
            "vehicles × rate",
            f"{cfg['vehicles']} × {cfg['rate_hz']:g} Hz = "
            f"{cfg['offered_fixes_per_s']:g} fixes/s offered",
        ),
        ("measured window", f"{w['seconds']} s"),
        ("fixes sent", f"{w['fixes_sent']} ({w['fixes_sent_per_s']}/s)"),
        (
            "fixes acknowledged (2xx)",
            f"{w['fixes_acknowledged']} ({w['fixes_acknowledged_per_s']}/s)",
        ),
        (
            "requests ok / sent",
            f"{w['requests_ok']} / {w['requests']} ({w['requests_ok_per_s']}/s ok)",
        ),
        ("server accepted / duplicates", f"{w['server_accepted']} / {w['server_duplicates']}"),
        ("errors", w["errors"] or "none"),
        ("skipped slots (behind)", w["skipped_slots"]),
        ("ack latency ms p50/p99/max", _pcts(w["ack_latency_ms"])),
    ]
    retry = report["retry"]
    if retry["enabled"]:
        rows.append(
            (
                "retry",
                f"{retry['fixes_resent']} fixes resent, {retry['failovers']} failovers, "
                f"flush {retry['flush_s']} s, final backlog {retry['final_backlog']}",
            )
        )
    rows += [
        ("stored fixes/s (by fix time)", _stored(report["stored"])),
        ("newest fix stored check", report["stored"]["last_fix_check"]),
        ("control screens", f"{ctl['healthy']} healthy, {ctl['stalled']} stalled"),
        ("positions received", ctl["positions_received"]),
        (
            "GPS→screen ms p50/p95/p99/max",
            f"{lat['p50']} / {lat['p95']} / {lat['p99']} / {lat['max']} ({lat['count']} samples)",
        ),
        ("per-screen p99 ms", ", ".join(str(c["p99_ms"]) for c in ctl["per_client_p99_ms"])),
        ("stalled screens", "; ".join(_fate(f) for f in ctl["stalled_fate"]) or "none"),
    ]
    if report["calls"] is not None:
        rows.append(("calls created", report["calls"]))
    if srv.get("found") and "note" not in srv:
        rows += [
            (
                "server RSS before → after (best effort)",
                f"{srv['rss_before_mib']} → {srv['rss_after_mib']} MiB, "
                f"{srv['rss_per_connection_kib']} KiB/connection",
            ),
            ("server CPU (cores used)", srv["cpu_cores_used"]),
        ]
    else:
        rows.append(("server process", srv["note"]))
    rows.append(("generator CPU (cores used)", gen["cpu_cores_used"]))
    rows.append(("machine CPU busy", gen["machine_cpu_busy"]))
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def _stored(s: dict[str, Any]) -> str:
    if "fixes" not in s:
        return str(s.get("note", "not counted"))
    text = (
        f"{s['stored_fixes_per_s']}/s ({s['fixes']} stored; acked but missing "
        f"{s['acked_missing']}, duplicates {s['duplicates']}, stored unacked "
        f"{s['stored_unacknowledged']}, sent never stored {s['never_stored_unacked']})"
    )
    if not s["counted"]:
        text += f"; NOT COUNTED: {s.get('errors_total')} vehicles unreadable"
    return text


def _pcts(s: dict[str, Any]) -> str:
    return f"{s['p50']} / {s['p99']} / {s['max']}"


def _fate(f: dict[str, Any]) -> str:
    text = f"#{f['client']} {f['state']}"
    if "code" in f:
        text += f" (code {f['code']} {f.get('reason', '')!r})"
    return text + f", backlog {f.get('backlog_frames', 0)} frames"
