// Station screen, for a satellite station's staff on a phone or a desk PC: the offers made
// to the station (pending ones on top with the time left to answer, counted on the
// server's clock), Accept or Decline with a reason, and the station's units with their
// state and GPS age, taken out of service (with a reason) or put back. Stations are often
// on flaky mobile networks, so the screen asks the API every 2 s instead of holding a
// socket, shows the last data it had while the network is away, and says so.

import {
  $,
  ApiError,
  Session,
  applyStatic,
  bindLangSelect,
  cfg,
  el,
  expose,
  flash,
  fmtDuration,
  fmtMinutes,
  fmtTime,
  initI18n,
  loadConfig,
  onLangChange,
  stateLabel,
  t,
  triageBadge,
} from "./common.js";
import { DECLINE_REASONS, ServerClock, countdown, loadBoard, reasonLabel, statusBadge, tickCountdowns } from "./offers.js";

const POLL_MS = 2000;

const session = new Session("station");
const clock = new ServerClock();
const state = { me: null, station: null, offers: [], loaded: false };
const rows = { offers: new Map(), units: new Map() };
let started = false;
let pollTimer = null;
let inflight = null;
let again = false;

// --- errors in the screen's language ----------------------------------------------------------

/** What went wrong, said in the screen's language (the server's own words are the tooltip). */
function errorText(error, context = "") {
  if (!(error instanceof ApiError)) return t("error.network");
  const status = error.status;
  if (status === 409) return t(context === "unit" ? "error.unit_busy" : context === "offer" ? "error.offer_closed" : "error.conflict");
  if (status === 404) return t("error.not_found");
  if (status === 401) return t("login.again");
  if (status === 403) return t("error.forbidden");
  if (status === 400 || status === 422) return t("error.invalid");
  if (status === 429) return t("error.too_many");
  if (status >= 500) return t("error.server");
  return t("error.other", { status });
}

function say(message, kind, error = null) {
  const target = $("#station-flash");
  flash(target, message, kind);
  target.title = error?.message ?? "";
}

// --- rendering ----------------------------------------------------------------------------

/** Show ``items`` in ``list`` in this order, one node each. A node is built again only when
 * its signature changed, so a half-filled decline or out-of-service form survives the
 * refresh every 2 s; ``update`` refreshes the parts that move on their own (GPS age). */
function keyed(list, cache, items, key, signature, build, update = null) {
  const wanted = [];
  for (const item of items) {
    const id = key(item);
    const sig = signature(item);
    let entry = cache.get(id);
    if (!entry || entry.sig !== sig) {
      entry?.node.remove();
      entry = { sig, node: build(item) };
      cache.set(id, entry);
    } else if (update) {
      update(entry.node, item);
    }
    wanted.push(entry.node);
  }
  const keep = new Set(wanted);
  for (const [id, entry] of cache) {
    if (!keep.has(entry.node)) {
      entry.node.remove();
      cache.delete(id);
    }
  }
  wanted.forEach((node, i) => {
    if (list.children[i] !== node) list.insertBefore(node, list.children[i] ?? null);
  });
}

function unitOf(vehicleId) {
  return state.station?.units.find((u) => u.vehicle_id === vehicleId) ?? null;
}

function callSign(vehicleId) {
  return unitOf(vehicleId)?.call_sign ?? `#${vehicleId}`;
}

/** Waiting offers first (the nearest deadline on top), then the answered ones, newest first. */
function sortedOffers() {
  const pending = state.offers.filter((o) => o.status === "pending").sort((a, b) => Date.parse(a.expires_at) - Date.parse(b.expires_at));
  const done = state.offers.filter((o) => o.status !== "pending").sort((a, b) => b.id - a.id);
  return [...pending, ...done];
}

function renderOffers() {
  const list = $("#offers");
  const offers = sortedOffers();
  keyed(list, rows.offers, offers, (o) => o.id, (o) => [o.status, o.decline_reason, o.assignment_id, callSign(o.vehicle_id)].join("|"), offerCard);
  list.parentElement.querySelector(".no-offers")?.remove();
  if (!offers.length && state.loaded) list.after(el("p", { class: "hint no-offers", "data-testid": "no-offers" }, t("station.no_offers")));
  tick();
}

function offerCard(offer) {
  const unit = unitOf(offer.vehicle_id);
  const head = el(
    "div",
    { class: "job-head" },
    triageBadge(offer.triage),
    el("b", {}, t("station.call", { id: offer.incident_id })),
    el("small", {}, t("station.step", { n: offer.step })),
  );
  const what = el(
    "div",
    { class: "offer-unit", "data-testid": "offer-unit" },
    el("b", {}, callSign(offer.vehicle_id)),
    unit ? ` · ${t(`kind.${unit.kind}`)}` : "",
    ` · ${t("station.eta", { eta: fmtMinutes(offer.eta_s) })}`,
  );
  const attrs = { class: "offer-card", "data-offer": offer.id, "data-status": offer.status, "data-step": offer.step, "data-incident": offer.incident_id };
  if (offer.status !== "pending") {
    return el("li", attrs, head, what, el("div", { class: "offer-outcome", "data-testid": "offer-outcome" }, statusBadge(offer), " ", outcome(offer)));
  }
  const decline = declineForm(offer);
  const buttons = el(
    "div",
    { class: "next-buttons offer-actions" },
    el("button", { type: "button", class: "primary big", "data-offer-action": "accept", onclick: (e) => accept(offer, e.currentTarget) }, t("station.accept")),
    el(
      "button",
      {
        type: "button",
        class: "big",
        "data-offer-action": "decline",
        onclick: () => {
          decline.hidden = false;
          buttons.hidden = true;
        },
      },
      t("station.decline"),
    ),
  );
  decline.addEventListener("reset", () => {
    decline.hidden = true;
    buttons.hidden = false;
  });
  return el(
    "li",
    { ...attrs, "data-deadline": offer.expires_at },
    head,
    what,
    el("div", { class: "offer-timer" }, countdown(offer.expires_at, clock, "station.left")),
    el("p", { class: "time-up" }, t("station.time_up")),
    buttons,
    decline,
  );
}

function declineForm(offer) {
  const form = el(
    "form",
    { class: "decline-form", hidden: true, novalidate: true, "data-testid": "decline-form" },
    el(
      "fieldset",
      { class: "reasons-choice" },
      el("legend", {}, t("station.decline_why")),
      DECLINE_REASONS.map((reason) =>
        el("label", { class: "choice" }, el("input", { type: "radio", name: "reason", value: reason, required: true }), ` ${reasonLabel(reason)}`),
      ),
    ),
    el("label", { class: "note" }, t("station.decline_note"), el("input", { name: "note", maxlength: 500, autocomplete: "off" })),
    el("p", { class: "flash", hidden: true }),
    el(
      "div",
      { class: "next-buttons" },
      el("button", { type: "submit", class: "danger big", "data-offer-action": "decline-send" }, t("station.decline_send")),
      el("button", { type: "reset", class: "big" }, t("station.back")),
    ),
  );
  form.addEventListener("change", () => flash(form.querySelector(".flash"), ""));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const reason = String(data.get("reason") || "");
    if (!reason) {
      flash(form.querySelector(".flash"), t("station.choose_reason"), "error");
      return;
    }
    const note = String(data.get("note") || "").trim();
    declineOffer(offer, { reason, ...(note ? { note } : {}) }, form.querySelector("button[type=submit]"));
  });
  return form;
}

function outcome(offer) {
  const vars = { unit: callSign(offer.vehicle_id), id: offer.incident_id, reason: reasonLabel(offer.decline_reason) };
  const at = offer.answered_at ? ` · ${fmtTime(offer.answered_at)}` : "";
  return `${t(`station.outcome.${offer.status}`, vars)}${at}`;
}

function renderUnits() {
  const units = state.station?.units ?? [];
  $("#units > .hint")?.remove();
  const signature = (u) => JSON.stringify({ ...u, gps_age_s: u.gps_age_s === null });
  keyed($("#units"), rows.units, units, (u) => u.vehicle_id, signature, unitRow, (node, u) => {
    node.querySelector(".gps-age").replaceWith(gpsAge(u));
  });
  if (!units.length && state.loaded) $("#units").append(el("li", { class: "hint" }, t("station.no_units")));
}

function gpsAge(u) {
  if (u.gps_age_s === null) return el("span", { class: "gps-age gps-none" }, t("gps.none"));
  const stale = u.gps_age_s > (cfg()?.stale_after_s ?? 120);
  return el("span", { class: `gps-age${stale ? " gps-stale" : ""}` }, t("station.gps_age", { age: fmtDuration(u.gps_age_s) }), stale ? ` ${t("gps.stale")}` : "");
}

function unitRow(u) {
  const form = el(
    "form",
    { class: "service-form", hidden: true, novalidate: true, "data-testid": "service-form" },
    el("label", {}, t("station.out_reason_label"), el("input", { name: "reason", required: true, maxlength: 200, autocomplete: "off" })),
    el("p", { class: "flash", hidden: true }),
    el(
      "div",
      { class: "next-buttons" },
      el("button", { type: "submit", class: "danger big", "data-unit-action": "out-send" }, t("station.take_out_confirm")),
      el("button", { type: "reset", class: "big" }, t("station.back")),
    ),
  );
  const actions = el("div", { class: "unit-actions" });
  if (u.state === "off_duty") {
    actions.append(el("button", { type: "button", class: "primary", "data-unit-action": "in", onclick: (e) => setService(u, true, null, e.currentTarget) }, t("station.back_in")));
  } else if (u.incident_id === null) {
    const out = el(
      "button",
      {
        type: "button",
        "data-unit-action": "out",
        onclick: () => {
          form.hidden = false;
          actions.hidden = true;
          form.elements.reason.focus();
        },
      },
      t("station.take_out"),
    );
    actions.append(out);
  }
  actions.append(el("a", { href: "/crew", class: "crew-link", "data-testid": "crew-link" }, t("station.crew_page")));
  form.addEventListener("reset", () => {
    form.hidden = true;
    actions.hidden = false;
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const reason = String(new FormData(form).get("reason") || "").trim();
    if (!reason) {
      flash(form.querySelector(".flash"), t("station.reason_needed"), "error");
      return;
    }
    setService(u, false, reason, form.querySelector("button[type=submit]"));
  });
  const facts = [
    u.incident_id !== null ? el("span", { class: "badge" }, t("station.on_call", { id: u.incident_id })) : null,
    u.offer_id !== null ? el("span", { class: "badge" }, t("station.offered")) : null,
    u.out_of_service_reason ? el("span", { class: "out-reason" }, t("station.out_reason", { reason: u.out_of_service_reason })) : null,
  ].filter(Boolean);
  return el(
    "li",
    { class: "station-unit", "data-unit": u.call_sign, "data-state": u.state },
    el("div", { class: "unit-head" }, el("b", { class: "callsign" }, u.call_sign), ` ${t(`kind.${u.kind}`)} `, el("span", { class: `vstate vstate-${u.state}` }, stateLabel(u.state))),
    el("div", { class: "unit-facts" }, gpsAge(u), ...facts.flatMap((f) => [" · ", f])),
    actions,
    form,
  );
}

function render() {
  if (state.station) $("#station-title").textContent = t("station.named", { name: state.station.name });
  renderUnits();
  renderOffers();
}

/** Every second: the countdowns and the clock, on the server's time; an offer whose time is
 * up shows so and offers no buttons (the server moves it on within a second). */
function tick() {
  tickCountdowns($("#offers"), clock);
  for (const card of document.querySelectorAll("#offers .offer-card[data-status=pending]")) {
    card.classList.toggle("expired", clock.left(card.dataset.deadline) <= 0);
  }
  $("#clock").textContent = fmtTime(new Date(clock.now()));
}

// --- actions ------------------------------------------------------------------------------

async function accept(offer, button) {
  button.disabled = true;
  try {
    const answer = await session.act(`accept:${offer.id}`, `/offers/${offer.id}/accept`, {});
    if (answer.status === "accepted") say(t("station.accepted_flash", { unit: callSign(offer.vehicle_id), id: offer.incident_id }), "ok");
    else say(t("station.not_sent", { unit: callSign(offer.vehicle_id) }), "warn");
  } catch (error) {
    say(errorText(error, "offer"), "error", error);
  }
  button.disabled = false;
  await refreshNow();
}

async function declineOffer(offer, body, button) {
  button.disabled = true;
  try {
    await session.act(`decline:${offer.id}`, `/offers/${offer.id}/decline`, body);
    say(t("station.declined_flash"), "ok");
  } catch (error) {
    say(errorText(error, "offer"), "error", error);
  }
  button.disabled = false;
  await refreshNow();
}

async function setService(unit, inService, reason, button) {
  button.disabled = true;
  const body = inService ? { in_service: true } : { in_service: false, reason };
  try {
    await session.act(`service:${unit.vehicle_id}`, `/vehicles/${unit.vehicle_id}/service`, body, "PUT");
    say(t(inService ? "station.in_done" : "station.out_done", { unit: unit.call_sign }), "ok");
  } catch (error) {
    say(errorText(error, "unit"), "error", error);
  }
  button.disabled = false;
  await refreshNow();
}

// --- data ---------------------------------------------------------------------------------

function setFeed(status) {
  document.body.dataset.feed = status;
  const badge = $("#feed-status");
  badge.dataset.state = status;
  badge.textContent = t(`feed.${status}`);
}

async function loadOnce() {
  try {
    const [offers, board] = await Promise.all([session.get("/offers?open_only=false&limit=20"), loadBoard(session, clock)]);
    if (!started) return;
    state.offers = offers;
    state.station = board.stations.find((s) => s.station_id === state.me.station_id) ?? board.stations[0] ?? null;
    state.loaded = true;
    setFeed("live");
    flash($("#poll-flash"), "");
    render();
    $("#app").dataset.loaded = "1";
  } catch (error) {
    if (!started || (error instanceof ApiError && error.status === 401)) return;
    setFeed("reconnecting");
    flash($("#poll-flash"), errorText(error), "warn");
  }
}

/** Read offers and units now; a read asked for while one is running follows it. */
function refreshNow() {
  if (inflight) {
    again = true;
    return inflight;
  }
  inflight = (async () => {
    do {
      again = false;
      await loadOnce();
    } while (again && started);
  })().finally(() => {
    inflight = null;
  });
  return inflight;
}

function poll() {
  clearTimeout(pollTimer);
  pollTimer = setTimeout(async () => {
    await refreshNow();
    if (started) poll();
  }, POLL_MS);
}

async function startScreen() {
  if (started) return;
  const me = await session.get("/auth/me");
  if (me.role !== "station" || me.station_id === null) throw new ApiError(403, t("login.wrong_role"));
  state.me = me;
  started = true;
  $("#login-view").hidden = true;
  $("#app").hidden = false;
  $("#logout").hidden = false;
  setFeed("connecting");
  expose("station", { state, clock });
  await refreshNow();
  poll();
}

function showLogin(message = "") {
  started = false;
  clearTimeout(pollTimer);
  state.loaded = false;
  $("#app").hidden = true;
  $("#logout").hidden = true;
  $("#login-view").hidden = false;
  setFeed(message ? "unauthorized" : "idle");
  flash($("#login-form .flash"), message, "error");
}

function bindStationLogin(form) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const message = form.querySelector(".flash");
    try {
      await session.login(String(data.get("username")), String(data.get("password")));
      await startScreen();
      flash(message, "");
      form.reset();
    } catch (error) {
      session.logout();
      started = false;
      const text = error instanceof ApiError && error.status === 401 ? t("login.failed") : error instanceof ApiError && error.status === 403 ? t("login.wrong_role") : errorText(error);
      flash(message, text, "error");
    }
  });
}

async function main() {
  await loadConfig();
  await initI18n();
  bindLangSelect($("#lang"));
  setFeed("idle");
  onLangChange(() => {
    setFeed(document.body.dataset.feed);
    if (!started) return;
    for (const cache of Object.values(rows)) cache.clear();
    $("#offers").replaceChildren();
    $("#units").replaceChildren();
    render();
  });
  session.onExpired = () => showLogin(t("login.again"));
  bindStationLogin($("#login-form"));
  $("#logout").addEventListener("click", () => {
    session.logout();
    location.reload();
  });
  applyStatic();
  setInterval(tick, 1000);
  tick();
  if (session.token) {
    try {
      await startScreen();
      return;
    } catch (error) {
      started = false;
      if (error instanceof ApiError) session.logout(); // a network failure keeps the login
      showLogin(errorText(error));
      return;
    }
  }
  showLogin();
}

main();
