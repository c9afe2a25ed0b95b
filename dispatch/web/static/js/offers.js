// Offers to stations: a call is offered to the best station's unit, the station accepts or
// declines (with a reason) before its timer runs out, and a decline or a timeout passes
// the offer to the next best station by itself. This module holds what the station screen
// and the control room share (the server's clock, a countdown, an offer's outcome in
// words) and the control room's live list of open chains, which follows "offer.changed"
// events and has a Withdraw button. The server decides; the list reloads after each change.

import { debounce, el, flash, fmtDuration, t, triageBadge } from "./common.js";
import { BoardPanel } from "./board.js";

export const DECLINE_REASONS = ["busy", "no_crew", "vehicle_fault", "too_far", "other"];

/** The server's clock seen from this browser: a phone whose own clock is minutes off still
 * counts an offer's time down right. The offset comes from the board's "now", taken as
 * the middle of the request's round trip. */
export class ServerClock {
  constructor() {
    this.offsetMs = 0;
  }

  sync(serverNow, sentAt, receivedAt) {
    const server = Date.parse(serverNow);
    if (!Number.isNaN(server)) this.offsetMs = server - (sentAt + receivedAt) / 2;
  }

  now() {
    return Date.now() + this.offsetMs;
  }

  /** Seconds left until the ISO time ``at`` on the server's clock (never below 0). */
  left(at) {
    return Math.max(0, (Date.parse(at) - this.now()) / 1000);
  }
}

/** GET /stations/board (a station's staff get their own station only) and set ``clock``. */
export async function loadBoard(session, clock, hours = 3) {
  const sentAt = Date.now();
  const board = await session.get(`/stations/board?hours=${hours}`);
  clock.sync(board.now, sentAt, Date.now());
  return board;
}

/** A countdown that ``tickCountdowns`` keeps current: "0:27", or ``template`` around it. */
export function countdown(expiresAt, clock, template = null) {
  const node = el("span", { class: "countdown", "data-expires": expiresAt, "data-template": template, "data-testid": "countdown" });
  setCountdown(node, clock);
  return node;
}

function setCountdown(node, clock) {
  const left = clock.left(node.dataset.expires);
  const time = fmtDuration(Math.ceil(left));
  node.textContent = node.dataset.template ? t(node.dataset.template, { time }) : time;
  node.dataset.left = String(Math.ceil(left));
  node.classList.toggle("countdown-low", left <= 10);
}

export function tickCountdowns(root, clock) {
  for (const node of root.querySelectorAll("[data-expires]")) setCountdown(node, clock);
}

export function reasonLabel(reason) {
  return reason ? t(`reason.${reason}`) : "";
}

/** The offer's status as a badge (its text, never colour alone). */
export function statusBadge(offer) {
  const text = offer.status === "declined" && offer.decline_reason ? `${t("offer_status.declined")}: ${reasonLabel(offer.decline_reason)}` : t(`offer_status.${offer.status}`);
  return el("span", { class: `offer-status offer-${offer.status}`, "data-testid": "offer-status" }, text);
}

/** How long an answered chain stays in the control room's list (ms). */
const KEEP_ANSWERED_MS = 3 * 60 * 1000;

/** The control room's list of open offer chains. */
export class OfferPanel {
  /**
   * @param {HTMLElement} container
   * @param {import("./common.js").Session} session
   * @param {{vehicleName: (id: number) => string, stationName: (id: number|null) => string,
   *          select: (incidentId: number) => void, clock: ServerClock}} hooks
   */
  constructor(container, session, hooks) {
    this.container = container;
    this.session = session;
    this.hooks = hooks;
    this.offers = new Map();
    this.refresh = debounce(() => this.load().catch(() => {}), 500);
  }

  async load() {
    if (!this.session.token) return;
    const rows = await this.session.get("/offers?limit=100");
    for (const offer of rows) this.offers.set(offer.id, { ...this.offers.get(offer.id), ...offer });
    this.render();
  }

  /** An "offer.changed" event: shown at once, then the full rows are read again. */
  apply(event) {
    if (event.type !== "offer.changed") return;
    const d = event.data;
    const known = this.offers.get(d.offer_id) || { id: d.offer_id };
    this.offers.set(d.offer_id, { ...known, ...d, id: d.offer_id, seen_at: new Date(this.hooks.clock.now()).toISOString() });
    this.render();
    this.refresh();
  }

  /** "Offer to best station" for a call; the answer is said in ``target``. */
  async offer(incidentId, target) {
    try {
      const offer = await this.session.act(`offer:${incidentId}`, `/incidents/${incidentId}/offers`, {});
      this.offers.set(offer.id, offer);
      this.render();
      flash(target, t("offers.offered", { incident: incidentId, station: this.station(offer), unit: this.hooks.vehicleName(offer.vehicle_id) }), "ok");
    } catch (error) {
      flash(target, error.message, "error");
    }
  }

  async withdraw(offer) {
    try {
      await this.session.act(`withdraw:${offer.id}`, `/offers/${offer.id}/withdraw`, {});
    } catch (error) {
      flash(this.container.querySelector(".flash"), error.message, "error");
    }
    await this.load().catch(() => {});
  }

  station(offer) {
    return offer.station_name || this.hooks.stationName(offer.station_id);
  }

  /** Each chain's offers in order; chains still open, or answered a short while ago. */
  chains() {
    const byChain = new Map();
    for (const offer of this.offers.values()) {
      const key = offer.chain_id ?? offer.id;
      if (!byChain.has(key)) byChain.set(key, []);
      byChain.get(key).push(offer);
    }
    const now = this.hooks.clock.now();
    const shown = [];
    for (const chain of byChain.values()) {
      chain.sort((a, b) => a.step - b.step || a.id - b.id);
      const last = chain[chain.length - 1];
      const changed = Date.parse(last.seen_at || last.answered_at || last.offered_at || 0);
      if (last.status === "pending" || now - changed < KEEP_ANSWERED_MS) shown.push(chain);
    }
    return shown.sort((a, b) => b[b.length - 1].id - a[a.length - 1].id);
  }

  render() {
    const chains = this.chains();
    this.container.hidden = chains.length === 0;
    const open = chains.filter((c) => c[c.length - 1].status === "pending").length;
    this.container.replaceChildren(
      el("h3", {}, t("offers.title"), " ", el("span", { class: "count" }, t("offers.open", { n: open }))),
      el("ul", { class: "offers", "data-testid": "offers" }, chains.map((chain) => this.item(chain))),
      el("p", { class: "flash", hidden: true }),
    );
  }

  item(chain) {
    const last = chain[chain.length - 1];
    const pending = last.status === "pending";
    const earlier = chain.slice(0, -1).map((o) => `${o.step}. ${this.station(o)}: ${statusText(o)}`);
    return el(
      "li",
      { class: `offer-chain offer-${last.status}`, "data-chain": last.chain_id ?? last.id, "data-offer": last.id, "data-incident": last.incident_id, "data-status": last.status, "data-step": last.step, "data-station": last.station_id ?? "" },
      el(
        "div",
        { class: "offer-line" },
        last.triage ? triageBadge(last.triage) : null,
        el("b", {}, `#${last.incident_id}`),
        el("span", { class: "offer-where" }, t("offers.line", { step: last.step, station: this.station(last), unit: last.call_sign || this.hooks.vehicleName(last.vehicle_id) })),
        pending ? countdown(last.expires_at, this.hooks.clock) : statusBadge(last),
        el("button", { type: "button", onclick: () => this.hooks.select(last.incident_id) }, t("control.show")),
        pending ? el("button", { type: "button", class: "danger", "data-offer-action": "withdraw", onclick: () => this.withdraw(last) }, t("offers.withdraw")) : null,
      ),
      earlier.length ? el("div", { class: "offer-history", "data-testid": "offer-history" }, earlier.join(" · ")) : null,
    );
  }
}

function statusText(offer) {
  if (offer.status === "declined" && offer.decline_reason) return `${t("offer_status.declined")} (${reasonLabel(offer.decline_reason)})`;
  return t(`offer_status.${offer.status}`);
}

/** The control room's offers list and availability board, wired to the live feed. */
export class StationWork {
  constructor(offersContainer, boardContainer, session, hooks) {
    this.clock = new ServerClock();
    this.board = new BoardPanel(boardContainer, session, this.clock);
    const stationName = (id) => this.board.stationName(id) || hooks.stationName(id);
    this.offers = new OfferPanel(offersContainer, session, { ...hooks, stationName, clock: this.clock });
    setInterval(() => tickCountdowns(offersContainer, this.clock), 1000);
  }

  /** After the first snapshot and after every resync. */
  refresh() {
    this.board.refresh();
    this.offers.refresh();
  }

  apply(event) {
    this.offers.apply(event);
    this.board.apply(event);
  }

  render() {
    this.offers.render();
    this.board.render();
  }
}
