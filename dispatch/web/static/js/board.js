// The control room's availability board: every station of the area with its units (state,
// GPS age), who runs it, its answers to offers in the last hours (declines by reason) and
// a warning on a station that declined "busy" or "no crew" while its unit showed available.
// Read from GET /stations/board every 10 s and soon after any offer or unit change.

import { cfg, debounce, el, fmtDuration, stateLabel, t } from "./common.js";

const HOURS = 3;
const EVERY_MS = 10000;

export class BoardPanel {
  /**
   * @param {HTMLElement} container
   * @param {import("./common.js").Session} session
   * @param {import("./offers.js").ServerClock} clock set from the board's "now"
   */
  constructor(container, session, clock) {
    this.container = container;
    this.session = session;
    this.clock = clock;
    this.board = null;
    this.refresh = debounce(() => this.load().catch(() => {}), 800);
    this.timer = setInterval(() => this.load().catch(() => {}), EVERY_MS);
  }

  async load() {
    if (!this.session.token) return; // logged out: the next login starts again
    const sentAt = Date.now();
    const board = await this.session.get(`/stations/board?hours=${HOURS}`);
    this.clock.sync(board.now, sentAt, Date.now());
    this.board = board;
    this.render();
    this.container.dataset.loaded = "1";
  }

  apply(event) {
    if (event.type === "offer.changed" || event.type === "vehicle.updated" || event.type.startsWith("assignment.")) {
      this.refresh();
    }
  }

  stationName(id) {
    return this.board?.stations.find((s) => s.station_id === id)?.name ?? null;
  }

  render() {
    if (!this.board) return;
    // A flagged station first, so its warning is in view without scrolling.
    const stations = [...this.board.stations].sort((a, b) => Number(b.flagged) - Number(a.flagged)).map((s) => this.station(s));
    this.container.replaceChildren(...(stations.length ? stations : [el("p", { class: "hint" }, t("board.empty"))]));
  }

  station(s) {
    const declines = Object.entries(s.declined)
      .sort((a, b) => b[1] - a[1])
      .map(([reason, n]) => `${t(`reason.${reason}`)} ${n}`);
    const who = [t(`station_type.${s.station_type}`), s.operator_name && s.operator_id !== s.centre_id ? s.operator_name : null].filter(Boolean).join(" · ");
    return el(
      "div",
      { class: `board-station${s.flagged ? " flagged" : ""}`, "data-station": s.station_id, "data-flagged": String(s.flagged) },
      el(
        "div",
        { class: "board-head" },
        el("b", {}, s.name),
        el("small", {}, ` ${who}`),
        s.flagged
          ? el("span", { class: "flag-badge", "data-testid": "board-flag", title: t("board.flag_hint") }, t("board.flag", { n: s.declined_while_available }))
          : null,
      ),
      el("div", { class: "board-units" }, s.units.map((u) => unitChip(u))),
      el(
        "div",
        { class: "board-stats" },
        t("board.answers", { offers: s.offers, accepted: s.accepted, timed_out: s.timed_out, hours: HOURS }),
        s.accept_p50_s === null ? "" : ` · ${t("board.accept_median", { time: fmtDuration(s.accept_p50_s) })}`,
        " · ",
        declines.length ? t("board.declines", { list: declines.join(", ") }) : t("board.no_declines"),
      ),
    );
  }
}

function unitChip(u) {
  const stale = u.gps_age_s !== null && u.gps_age_s > (cfg()?.stale_after_s ?? 120);
  const gps = u.gps_age_s === null ? t("gps.none") : fmtDuration(u.gps_age_s);
  const title = [u.out_of_service_reason, u.incident_id ? `#${u.incident_id}` : null].filter(Boolean).join(" · ");
  return el(
    "span",
    { class: "board-unit", "data-unit": u.call_sign, "data-state": u.state, title: title || null },
    el("b", {}, u.call_sign),
    " ",
    el("span", { class: `vstate vstate-${u.state}` }, stateLabel(u.state)),
    " ",
    el("small", { class: stale || u.gps_age_s === null ? "gps-stale" : "" }, gps),
  );
}
