// Move-up on the control screen: the open suggestions with their gain ("+6 % of red calls
// reached within 10 min around Din Daeng"), one click to accept or reject (or to call an
// accepted move back), and a coverage layer that colours each zone by the expected time
// from a call to the first free unit now. The server decides; this panel reloads on every
// "moveup.changed" event and after each fleet change.

import { debounce, el, flash, t } from "./common.js";

/** Seconds to a colour: green within the red target, amber to 15 min, red beyond. */
function zoneColour(seconds) {
  if (seconds === null) return "#7f1d1d";
  if (seconds <= 600) return "#15803d";
  if (seconds <= 900) return "#ca8a04";
  return "#b91c1c";
}

export class MoveUpPanel {
  /**
   * @param {HTMLElement} container where the list goes
   * @param {import("./common.js").Session} session
   * @param {{vehicleName: (id: number) => string, map: () => any}} hooks
   */
  constructor(container, session, hooks) {
    this.container = container;
    this.session = session;
    this.hooks = hooks;
    this.moves = [];
    this.coverage = null;
    this.layerOn = false;
    this.layer = null;
    this.refresh = debounce(() => this.load().catch(() => {}), 400);
  }

  async load() {
    const [moves, coverage] = await Promise.all([this.session.get("/moveups"), this.session.get("/coverage")]);
    this.moves = moves;
    this.coverage = coverage;
    this.render();
  }

  /** A live event: move-ups change with every fleet change. */
  apply(event) {
    if (event.type === "moveup.changed" || event.type.startsWith("assignment.") || event.type === "vehicle.updated") {
      this.refresh();
    }
  }

  async decide(move, action) {
    try {
      await this.session.post(`/moveups/${move.id}/${action}`);
    } catch (error) {
      flash(this.container.querySelector(".flash"), error.message, "error");
    }
    await this.load();
  }

  render() {
    this.container.hidden = !this.coverage?.enabled; // move-up needs coverage-aware dispatch
    const items = this.moves.map((m) => {
      const buttons = [];
      if (m.status === "suggested") {
        buttons.push(el("button", { type: "button", class: "primary", "data-moveup-action": "accept", onclick: () => this.decide(m, "accept") }, t("control.moveup_accept")));
      }
      buttons.push(el("button", { type: "button", "data-moveup-action": "reject", onclick: () => this.decide(m, "reject") }, t("control.moveup_reject")));
      return el(
        "li",
        { "data-moveup": m.id, "data-status": m.status },
        el("b", {}, t("control.moveup_line", { unit: this.hooks.vehicleName(m.vehicle_id), post: m.site_name })),
        " ",
        el("span", { class: "badge" }, t(`control.moveup_status.${m.status}`)),
        m.auto ? el("span", { class: "badge" }, ` ${t("control.moveup_auto")}`) : null,
        el("div", { class: "why" }, m.reason),
        el("div", {}, buttons),
      );
    });
    const share = this.coverage?.ready ? this.coverage.values.red : null;
    const toggle = el(
      "label",
      { class: "coverage-toggle" },
      el("input", { type: "checkbox", "data-testid": "coverage-layer", checked: this.layerOn ? "" : null, onchange: (e) => this.showLayer(e.target.checked) }),
      ` ${t("control.coverage_layer")}`,
    );
    this.container.replaceChildren(
      el("h3", {}, t("control.moveups"), " ", toggle),
      share === null ? null : el("div", { class: "coverage-share", "data-testid": "coverage-share" }, t("control.coverage_now", { share: `${Math.round(share * 100)} %` })),
      items.length ? el("ul", { class: "moveups", "data-testid": "moveups" }, items) : el("p", { class: "hint", "data-testid": "no-moveups" }, t("control.no_moveups")),
      el("p", { class: "flash", hidden: "" }),
    );
    if (this.layerOn) this.drawLayer();
  }

  showLayer(on) {
    this.layerOn = on;
    if (on) this.drawLayer();
    else this.clearLayer();
  }

  clearLayer() {
    this.layer?.remove();
    this.layer = null;
  }

  drawLayer() {
    const map = this.hooks.map();
    if (!map || !this.coverage?.ready) return;
    this.clearLayer();
    this.layer = L.layerGroup().addTo(map.map);
    for (const zone of this.coverage.zones) {
      const minutes = zone.expected_s === null ? "–" : `${Math.round(zone.expected_s / 60)} min`;
      L.rectangle(
        [
          [zone.south, zone.west],
          [zone.north, zone.east],
        ],
        { color: zoneColour(zone.expected_s), weight: 0, fillOpacity: 0.25, interactive: true, className: "coverage-zone" },
      )
        .bindTooltip(`${zone.name}: ${minutes}`)
        .addTo(this.layer);
    }
  }
}
