// Dispatcher screen: live map, call queue, new call, recommendations with one-click assign,
// offers to stations and the availability board (offers.js, board.js), unit board,
// incident timeline (NEMSIS eTimes), alerts and the day's transport plan.
// Everything live arrives through /ws/control (see feed.js); HTTP is used for actions and
// for data the feed does not carry (recommendations, alerts, manifests, timelines).

import {
  $,
  Session,
  applyStatic,
  bindLangSelect,
  bindLogin,
  cfg,
  complaintLabel,
  currentLang,
  debounce,
  el,
  expose,
  flash,
  fmtDuration,
  fmtMinutes,
  fmtShortTime,
  fmtTime,
  initI18n,
  loadConfig,
  localToday,
  onLangChange,
  startClock,
  stateLabel,
  t,
  triageBadge,
  zoneLabel,
} from "./common.js";
import { bindCallKeys, leaveForm } from "./keys.js";
import { ControlFeed } from "./feed.js";
import { DispatchMap, labelIcon, upsertMarker } from "./map.js";
import { MoveUpPanel } from "./moveups.js";
import { StationWork } from "./offers.js";
import { AlarmPanel, alarmBanner, armSound } from "./sos.js";
import { mountDevicesPanel, renderDevicesPanel } from "./devices.js";
import { mountUsersPanel } from "./users.js";

const ROLES = ["dispatcher", "supervisor", "admin"];
const TRIAGE_ORDER = { red: 0, yellow: 1, green: 2, white: 3, black: 4 };

/** NEMSIS v3 eTimes for each milestone the system records. */
export const MILESTONES = [
  ["notified", "eTimes.03"],
  ["acknowledged", "eTimes.04"],
  ["en_route", "eTimes.05"],
  ["on_scene", "eTimes.06"],
  ["at_patient", "eTimes.07"],
  ["left_scene", "eTimes.09"],
  ["at_destination", "eTimes.11"],
  ["handed_over", "eTimes.12"],
  ["back_in_service", "eTimes.13"],
  ["cancelled", "eTimes.14"],
];
const FINAL = new Set(["back_in_service", "cancelled"]);

const session = new Session("control");
const state = {
  vehicles: new Map(),
  positions: new Map(),
  incidents: new Map(),
  assignments: new Map(),
  hospitals: new Map(),
  stations: [],
  complaints: [],
  alerts: [],
  plan: [],
  selected: null,
  detail: null,
  recommendation: null,
  timeline: [],
  pick: null,
  staleAfterS: 120,
};
const markers = { vehicles: new Map(), incidents: new Map(), hospitals: new Map(), stations: new Map() };
let map = null;
let feed = null;
let alarms = null; // crew SOS banner and siren (sos.js)
let moveups = null; // move-up suggestions and the coverage layer (moveups.js)
let stationWork = null; // offers to stations and the availability board (offers.js)
let started = false;

// --- helpers ------------------------------------------------------------------------------

function vehicleName(id) {
  return state.vehicles.get(id)?.call_sign ?? `#${id}`;
}

function vehiclePosition(v) {
  const p = state.positions.get(v.id);
  if (p) return [p.lat, p.lon];
  if (v.last_lat !== null && v.last_lon !== null) return [v.last_lat, v.last_lon];
  return null;
}

/** "fresh" | "stale" | "none" (never sent a fix): a unit we cannot trust on the map. */
function gpsState(v) {
  const p = state.positions.get(v.id);
  const limit = state.staleAfterS * 1000;
  if (p) return p.stale || Date.now() - p.t > limit ? "stale" : "fresh";
  if (!v.last_fix_at) return "none";
  return Date.now() - Date.parse(v.last_fix_at) > limit ? "stale" : "fresh";
}

function gpsAgeSeconds(v) {
  const p = state.positions.get(v.id);
  const at = p ? p.t : v.last_fix_at ? Date.parse(v.last_fix_at) : null;
  return at === null ? null : (Date.now() - at) / 1000;
}

function activeAssignmentsFor(incidentId) {
  return [...state.assignments.values()].filter((a) => a.incident_id === incidentId && a.is_active !== false);
}

function activeAssignmentOfVehicle(vehicleId) {
  return [...state.assignments.values()].find((a) => a.vehicle_id === vehicleId && a.is_active !== false);
}

function sortedIncidents() {
  return [...state.incidents.values()].sort(
    (a, b) => TRIAGE_ORDER[a.triage] - TRIAGE_ORDER[b.triage] || Date.parse(a.created_at) - Date.parse(b.created_at),
  );
}

// --- rendering ----------------------------------------------------------------------------

function renderQueue() {
  const body = $("#queue tbody");
  const rows = sortedIncidents().map((incident) => {
    const units = activeAssignmentsFor(incident.id).map((a) => vehicleName(a.vehicle_id));
    const waiting = (Date.now() - Date.parse(incident.created_at)) / 1000;
    const row = el(
      "tr",
      {
        class: `queue-row${incident.id === state.selected ? " selected" : ""}${
          incident.triage === "red" && !units.length ? " urgent" : ""
        }`,
        "data-incident": incident.id,
        onclick: () => select(incident.id),
      },
      el("td", {}, triageBadge(incident.triage)),
      el("td", { class: "num" }, String(incident.id)),
      // One line a call, so a busy hour's queue stays in view; the full text is the tooltip.
      el(
        "td",
        { class: "clip", title: [complaintLabel(incident.chief_complaint), incident.address_text].filter(Boolean).join(" · ") },
        complaintLabel(incident.chief_complaint),
        incident.address_text ? el("span", { class: "sub" }, ` · ${incident.address_text}`) : null,
      ),
      el("td", { class: "num waiting", "data-since": incident.created_at }, fmtDuration(waiting)),
      el(
        "td",
        { class: "clip", title: [t(`incident.${incident.status}`), units.join(", ")].filter(Boolean).join(" · ") },
        t(`incident.${incident.status}`),
        units.length ? el("span", { class: "units-cell" }, ` · ${units.join(", ")}`) : null,
      ),
    );
    return row;
  });
  body.replaceChildren(...rows);
  $("#queue-count").textContent = String(rows.length);
}

function vehicleIcon(v, stacked = 0) {
  const gps = gpsState(v);
  const off = v.state === "off_duty";
  const classes = [`vstate-${v.state}`];
  if (!off && gps !== "fresh") classes.push("stale");
  const label = el(
    "span",
    {},
    el("b", {}, v.call_sign),
    el("small", {}, stateLabel(v.state)),
    !off && gps === "stale" ? el("small", { class: "stale-tag" }, t("gps.stale")) : null,
    !off && gps === "none" ? el("small", { class: "stale-tag" }, t("gps.none")) : null,
  );
  return labelIcon(
    `pin-vehicle ${classes.join(" ")}`,
    label,
    { vehicle: v.call_sign, state: v.state, gps },
    [0, -stacked * pinStep],
  );
}

function setMarkerData(marker, latlon) {
  const node = marker.getElement()?.querySelector(".pin");
  if (node) {
    node.dataset.lat = latlon[0].toFixed(5);
    node.dataset.lon = latlon[1].toFixed(5);
  }
}

function renderVehicleMarker(v) {
  const latlon = vehiclePosition(v);
  if (!latlon) return;
  const marker = upsertMarker(markers.vehicles, map.layers.vehicles, v.id, latlon, vehicleIcon(v, pinRows.get(v.id) ?? 0), {
    zIndexOffset: 1000,
  });
  marker.options.title = v.call_sign;
  setMarkerData(marker, latlon);
}

function renderVehicles() {
  pinRows = layoutPins();
  for (const v of state.vehicles.values()) renderVehicleMarker(v);
  schedulePinLayout(); // again with the pins' drawn sizes
  renderUnits();
}

/** A vehicle pin's box on screen (px) until it is drawn, and the most rows it moves. */
const PIN_W = 88;
const PIN_H = 44;
const PIN_MAX_ROWS = 12;
let pinRows = new Map();
let pinStep = PIN_H;
let pinLayoutTimer = null;

function pinSize(v) {
  const node = markers.vehicles.get(v.id)?.getElement()?.querySelector(".pin");
  return node?.offsetWidth ? [node.offsetWidth + 2, node.offsetHeight + 2] : [PIN_W, PIN_H];
}

/** Units at one station, or close together, never hide each other: in call-sign order,
 * each pin takes the first row below its position where it covers no pin placed before
 * it at this zoom (rows as tall as the tallest pin); a unit that moves away gets its own
 * place back. */
function layoutPins() {
  const rows = new Map();
  if (!map) return rows;
  const units = [...state.vehicles.values()].sort((a, b) => a.call_sign.localeCompare(b.call_sign));
  const sizes = new Map(units.map((v) => [v.id, pinSize(v)]));
  pinStep = Math.max(PIN_H, ...[...sizes.values()].map(([, h]) => h));
  const placed = [];
  for (const v of units) {
    const latlon = vehiclePosition(v);
    if (!latlon) continue;
    const p = map.map.latLngToLayerPoint(latlon);
    const [w, h] = sizes.get(v.id);
    let k = 0;
    const covers = (q) =>
      Math.abs(q.x - p.x) < (q.w + w) / 2 && Math.abs(q.y - (p.y + k * pinStep)) < (q.h + h) / 2;
    while (k < PIN_MAX_ROWS && placed.some(covers)) k += 1;
    placed.push({ x: p.x, y: p.y + k * pinStep, w, h });
    rows.set(v.id, k);
  }
  return rows;
}

/** Lay the pins out again soon (a unit moved, the zoom changed): at most five times a
 * second, so a fleet of hundreds reporting every few seconds costs little. */
function schedulePinLayout() {
  if (pinLayoutTimer) return;
  pinLayoutTimer = setTimeout(() => {
    pinLayoutTimer = null;
    const [before, step] = [pinRows, pinStep];
    pinRows = layoutPins();
    for (const v of state.vehicles.values()) {
      if (step !== pinStep || (before.get(v.id) ?? 0) !== (pinRows.get(v.id) ?? 0)) renderVehicleMarker(v);
    }
  }, 200);
}

function renderUnits() {
  const rows = [...state.vehicles.values()]
    .sort((a, b) => a.call_sign.localeCompare(b.call_sign))
    .map((v) => {
      const gps = gpsState(v);
      const age = gpsAgeSeconds(v);
      const job = activeAssignmentOfVehicle(v.id);
      const gpsText = gps === "none" ? t("gps.none") : `${fmtDuration(age)}${gps === "stale" ? ` ${t("gps.stale")}` : ""}`;
      return el(
        "tr",
        { "data-unit": v.call_sign, "data-state": v.state, class: gps !== "fresh" && v.state !== "off_duty" ? "unit-stale" : "" },
        el("td", { class: "callsign" }, v.call_sign),
        el("td", {}, t(`kind.${v.kind}`)),
        el("td", {}, el("span", { class: `vstate vstate-${v.state}` }, stateLabel(v.state))),
        el("td", { class: "num" }, job ? `#${job.incident_id}` : "–"),
        el("td", { class: `gps gps-${gps}` }, gpsText),
      );
    });
  $("#units tbody").replaceChildren(...rows);
}

function renderIncidentMarkers() {
  const seen = new Set();
  for (const incident of state.incidents.values()) {
    seen.add(incident.id);
    const text = `#${incident.id} ${t(`triage_short.${incident.triage}`)}`;
    const marker = upsertMarker(
      markers.incidents,
      map.layers.incidents,
      incident.id,
      [incident.lat, incident.lon],
      labelIcon(`pin-incident triage-${incident.triage}${incident.id === state.selected ? " selected" : ""}`, text, {
        incident: String(incident.id),
        triage: incident.triage,
      }),
      { zIndexOffset: 2000 },
    );
    if (!marker.__bound) {
      marker.on("click", () => select(incident.id));
      marker.__bound = true;
    }
  }
  for (const [id, marker] of markers.incidents) {
    if (!seen.has(id)) {
      marker.remove();
      markers.incidents.delete(id);
    }
  }
}

/** A hospital's name on the map, in the screen's language where the hospital has one. */
function hospitalLabel(h) {
  const name = currentLang() === "th" && h.name_local ? h.name_local : h.name;
  return name.replace(/\s+Hospital$/i, "");
}

function renderHospitals() {
  for (const h of state.hospitals.values()) {
    const text = el(
      "span",
      {},
      h.on_diversion ? `H ${t("hospital.diversion_short")}` : "H",
      el("small", { class: "place-name" }, hospitalLabel(h)),
    );
    const marker = upsertMarker(
      markers.hospitals,
      map.layers.hospitals,
      h.id,
      [h.lat, h.lon],
      labelIcon(`pin-hospital${h.on_diversion ? " diverting" : ""}`, text, {
        hospital: String(h.id),
        diversion: String(h.on_diversion),
      }),
    );
    marker.unbindTooltip();
    marker.bindTooltip(`${h.name}${h.on_diversion ? ` — ${t("hospital.on_diversion")}` : ""}`);
    marker.unbindPopup();
    marker.bindPopup(() => hospitalPopup(h.id));
  }
}

function hospitalPopup(id) {
  const h = state.hospitals.get(id);
  const toggle = el(
    "button",
    {
      type: "button",
      class: h.on_diversion ? "" : "danger",
      onclick: async () => {
        try {
          await session.patch(`/hospitals/${id}`, { on_diversion: !h.on_diversion });
        } catch (error) {
          alertError(error);
        }
      },
    },
    h.on_diversion ? t("hospital.end_diversion") : t("hospital.start_diversion"),
  );
  return el(
    "div",
    { class: "popup" },
    el("b", {}, h.name),
    h.name_local ? el("div", {}, h.name_local) : null,
    el("div", {}, `${t("hospital.er_beds")}: ${h.available_er_beds ?? "–"}`),
    el("div", {}, (h.capabilities || []).join(", ")),
    el("div", { class: h.on_diversion ? "diversion" : "" }, h.on_diversion ? t("hospital.on_diversion") : t("hospital.open")),
    toggle,
  );
}

function renderStations() {
  for (const s of state.stations) {
    const marker = upsertMarker(markers.stations, map.layers.stations, s.id, [s.lat, s.lon], labelIcon("pin-station", "S", { station: String(s.id) }));
    marker.unbindTooltip();
    marker.bindTooltip(s.name);
  }
}

function renderPick() {
  map.layers.pick.clearLayers();
  if (!state.pick) return;
  window.L.marker(state.pick, {
    icon: labelIcon("pin-pick", t("control.new_call_pin"), { pick: "1" }),
    interactive: false,
  }).addTo(map.layers.pick);
}

function renderDetail() {
  const body = $("#detail-body");
  const incident = state.detail;
  if (!incident) {
    body.replaceChildren(el("p", { class: "hint" }, t("control.select_incident")));
    return;
  }
  const open = !["closed", "cancelled"].includes(incident.status);
  const header = el(
    "div",
    { class: "detail-head", "data-incident": incident.id },
    triageBadge(incident.triage),
    el("b", { class: "detail-title" }, `#${incident.id} ${complaintLabel(incident.chief_complaint)}`),
    el("span", { class: "detail-status" }, t(`incident.${incident.status}`)),
  );
  const facts = el(
    "div",
    { class: "facts" },
    el("div", {}, `${t("field.address")}: ${incident.address_text || `${incident.lat.toFixed(5)}, ${incident.lon.toFixed(5)}`}`),
    incident.caller_phone ? el("div", {}, `${t("field.caller_phone")}: ${incident.caller_phone}`) : null,
    el("div", {}, `${t("field.patients")}: ${incident.patient_count} · ${t("col.capability")}: ${incident.required_capability.toUpperCase()}${incident.needs_stretcher ? ` · ${t("field.stretcher")}` : ""}`),
    incident.notes ? el("div", {}, `${t("field.notes")}: ${incident.notes}`) : null,
  );
  const actions = open
    ? el(
        "div",
        { class: "actions" },
        el("button", { type: "button", class: "primary", "data-action": "recommend", onclick: () => recommend(incident.id) }, t("control.recommend")),
        incident.status === "pending" ? el("button", { type: "button", "data-action": "offer", onclick: () => stationWork.offers.offer(incident.id, $("#detail-flash")) }, t("offers.offer_best")) : null,
        el("button", { type: "button", "data-action": "close", onclick: () => closeIncident(incident.id) }, t("control.close_incident")),
        el("button", { type: "button", class: "danger", "data-action": "cancel", onclick: () => cancelIncident(incident.id) }, t("control.cancel_incident")),
      )
    : null;
  // What the last action said stays while the same call is redrawn (events redraw it).
  const kept = $("#detail-flash");
  const message = kept?.dataset.incident === String(incident.id) ? kept : el("p", { class: "flash", id: "detail-flash", hidden: true, "data-incident": incident.id });
  body.replaceChildren(...[header, facts, actions, message, renderRecommendation(), renderTimeline()].filter(Boolean));
}

function renderRecommendation() {
  const rec = state.recommendation;
  if (!rec || rec.incident_id !== state.selected) return el("div");
  const rows = rec.candidates.map((c) =>
    el(
      "tr",
      { "data-candidate": c.call_sign },
      el("td", { class: "num" }, String(c.rank)),
      el("td", { class: "callsign" }, c.call_sign),
      el("td", {}, t(`kind.${c.kind}`)),
      el("td", { class: "num eta", title: fmtDuration(c.eta_s) }, fmtMinutes(c.eta_s)),
      el("td", { class: "num" }, `${(c.distance_m / 1000).toFixed(1)} km`),
      el(
        "td",
        { class: "reasons" },
        c.stale ? el("span", { class: "stale-tag" }, t("gps.stale")) : null,
        c.preemption ? el("span", { class: "stale-tag" }, t("control.preempts", { n: c.preemption.disrupted_rides })) : null,
        c.reasons.join("; ") || t("control.no_penalty"),
      ),
      el(
        "td",
        {},
        el("button", { type: "button", class: "primary assign", "data-assign": c.call_sign, onclick: () => assign(rec.incident_id, c.vehicle_id, c.rank) }, t("control.assign")),
      ),
    ),
  );
  const table = el(
    "table",
    { class: "grid-table", "data-testid": "recommendations" },
    el(
      "thead",
      {},
      el("tr", {}, ...["#", t("col.unit"), t("col.kind"), t("col.eta"), t("col.distance"), t("col.reasons"), ""].map((h) => el("th", {}, h))),
    ),
    el("tbody", {}, rows),
  );
  const excluded = rec.excluded.length
    ? el(
        "details",
        { class: "excluded" },
        el("summary", {}, t("control.excluded", { n: rec.excluded.length, off: rec.off_duty })),
        el("ul", {}, rec.excluded.map((x) => el("li", {}, `${x.call_sign}: ${x.reason}`))),
      )
    : null;
  const b = rec.backup;
  const backup = b
    ? el(
        "p",
        { class: "backup", "data-testid": "backup" },
        t("control.backup", { unit: b.call_sign, eta: fmtMinutes(b.eta_s) }),
        " ",
        el("button", { type: "button", "data-assign-backup": b.call_sign, onclick: () => assign(rec.incident_id, b.vehicle_id, null) }, t("control.backup_send", { unit: b.call_sign })),
      )
    : null;
  return el(
    "div",
    { class: "recommendation" },
    el("h3", {}, t("control.recommendations"), " ", el("small", {}, fmtTime(rec.computed_at))),
    rows.length ? table : el("p", { class: "hint" }, t("control.no_candidates")),
    rows.length ? el("p", { class: "hint keys-hint", "data-testid": "keys-hint" }, t("control.keys_hint")) : null,
    backup,
    excluded,
  );
}

function renderTimeline() {
  const incident = state.detail;
  const start = Date.parse(incident.created_at);
  const rows = [
    el(
      "tr",
      { "data-milestone": "call" },
      el("td", { class: "code" }, "eTimes.01"),
      el("td", {}, t("milestone.call")),
      el("td", {}, "–"),
      el("td", { class: "num" }, fmtTime(incident.created_at)),
      el("td", { class: "num" }, "0:00"),
    ),
  ];
  const events = [];
  for (const a of state.timeline) {
    for (const [status, code] of MILESTONES) {
      const at = a[`${status}_at`];
      if (at) events.push({ at, status, code, unit: vehicleName(a.vehicle_id) });
    }
  }
  events.sort((x, y) => Date.parse(x.at) - Date.parse(y.at));
  for (const e of events) {
    rows.push(
      el(
        "tr",
        { "data-milestone": e.status, "data-unit": e.unit },
        el("td", { class: "code" }, e.code),
        el("td", {}, t(`milestone.${e.status}`)),
        el("td", { class: "callsign" }, e.unit),
        el("td", { class: "num" }, fmtTime(e.at)),
        el("td", { class: "num" }, `+${fmtDuration((Date.parse(e.at) - start) / 1000)}`),
      ),
    );
  }
  if (incident.closed_at) {
    rows.push(
      el(
        "tr",
        { "data-milestone": incident.status },
        el("td", { class: "code" }, ""),
        el("td", {}, t(`incident.${incident.status}`)),
        el("td", {}, "–"),
        el("td", { class: "num" }, fmtTime(incident.closed_at)),
        el("td", { class: "num" }, `+${fmtDuration((Date.parse(incident.closed_at) - start) / 1000)}`),
      ),
    );
  }
  return el(
    "div",
    { class: "timeline" },
    el("h3", {}, t("control.timeline")),
    el(
      "table",
      { class: "grid-table", "data-testid": "timeline" },
      el("thead", {}, el("tr", {}, ...["NEMSIS", t("col.milestone"), t("col.unit"), t("col.time"), t("col.since_call")].map((h) => el("th", {}, h)))),
      el("tbody", {}, rows),
    ),
  );
}

function alertText(a) {
  const vars = {
    incident: a.incident_id ?? "",
    unit: a.vehicle_id ? vehicleName(a.vehicle_id) : "",
    next: a.next_unit?.call_sign ?? "",
    since: fmtShortTime(a.since),
    age: fmtDuration((Date.now() - Date.parse(a.since)) / 1000),
  };
  if (a.kind === "stale_unit" && !state.vehicles.get(a.vehicle_id)?.last_fix_at) {
    return t("alert.no_gps", vars);
  }
  return t(`alert.${a.kind}`, vars);
}

function alertItem(a) {
  return el(
    "li",
    { class: `alert alert-${a.severity}`, "data-kind": a.kind, "data-incident": a.incident_id ?? "" },
    el("span", { class: "alert-sev" }, t(`severity.${a.severity}`)),
    el("span", { class: "alert-text" }, alertText(a)),
    a.incident_id ? el("button", { type: "button", onclick: () => select(a.incident_id) }, t("control.show")) : null,
    a.next_unit && a.incident_id
      ? el(
          "button",
          { type: "button", class: "primary", onclick: () => assign(a.incident_id, a.next_unit.vehicle_id, a.next_unit.rank) },
          t("control.send_next", { unit: a.next_unit.call_sign }),
        )
      : null,
  );
}

/** Three or more units with the same GPS problem are one line ("10 units without GPS"),
 * opened for the list; calls' alerts always stand alone. */
const GROUP_FROM = 3;

function renderAlerts() {
  const units = state.alerts.filter((a) => a.kind === "stale_unit");
  const items = state.alerts.filter((a) => a.kind !== "stale_unit").map(alertItem);
  const never = units.filter((a) => !state.vehicles.get(a.vehicle_id)?.last_fix_at);
  const stale = units.filter((a) => state.vehicles.get(a.vehicle_id)?.last_fix_at);
  for (const [group, name] of [
    [never, "no_gps"],
    [stale, "stale_unit"],
  ]) {
    if (group.length < GROUP_FROM) {
      items.push(...group.map(alertItem));
      continue;
    }
    items.push(
      el(
        "li",
        { class: `alert alert-${group[0].severity} alert-group`, "data-kind": "stale_unit", "data-group": name },
        el(
          "details",
          {},
          el("summary", {}, el("span", { class: "alert-sev" }, t(`severity.${group[0].severity}`)), " ", el("span", { class: "alert-text" }, t(`alert.group.${name}`, { n: group.length }))),
          el("ul", { class: "alert-members" }, group.map((a) => el("li", { "data-unit": vehicleName(a.vehicle_id) }, alertText(a)))),
        ),
      ),
    );
  }
  $("#alerts").replaceChildren(...(items.length ? items : [el("li", { class: "hint" }, t("control.no_alerts"))]));
  $("#alert-count").textContent = String(state.alerts.length);
}

function renderPlan() {
  $("#plan-date").textContent = localToday();
  const blocks = state.plan.map(({ shift, stops }) =>
    el(
      "div",
      { class: "plan-vehicle", "data-plan-vehicle": vehicleName(shift.vehicle_id) },
      el("h3", {}, `${vehicleName(shift.vehicle_id)} `, el("small", {}, `${fmtShortTime(shift.starts_at)}–${fmtShortTime(shift.ends_at)}`)),
      stops.length
        ? el(
            "ol",
            { class: "stops" },
            stops.map((s) =>
              el(
                "li",
                { class: `stop stop-${s.status}` },
                el("span", { class: "num" }, fmtShortTime(s.planned_arrival)),
                ` ${t(`stop.${s.kind}`)} `,
                s.patient_name ? el("b", {}, s.patient_name) : null,
                s.address ? ` · ${s.address}` : "",
                el("span", { class: "stop-status" }, t(`stop_status.${s.status}`)),
              ),
            ),
          )
        : el("p", { class: "hint" }, t("control.no_stops")),
    ),
  );
  $("#plan").replaceChildren(...(blocks.length ? blocks : [el("p", { class: "hint" }, t("control.no_plan"))]));
}

function renderAll() {
  renderQueue();
  renderVehicles();
  renderIncidentMarkers();
  renderHospitals();
  renderStations();
  renderDetail();
  renderAlerts();
  renderPlan();
  renderPick();
  if (moveups?.coverage) moveups.render();
  stationWork?.render();
}

function alertError(error) {
  const target = $("#detail-flash");
  if (target) flash(target, error.message, "error");
}

// --- actions ------------------------------------------------------------------------------

async function select(id) {
  state.selected = id;
  state.detail = state.incidents.get(id) || state.detail;
  if (state.recommendation?.incident_id !== id) state.recommendation = null;
  state.timeline = [];
  renderQueue();
  renderIncidentMarkers();
  renderDetail();
  try {
    state.detail = await session.get(`/incidents/${id}`);
    await loadTimeline();
  } catch (error) {
    alertError(error);
  }
}

async function loadTimeline() {
  if (!state.selected) return;
  const id = state.selected;
  const [incident, timeline] = await Promise.all([session.get(`/incidents/${id}`), session.get(`/incidents/${id}/assignments`)]);
  if (state.selected !== id) return;
  state.detail = incident;
  state.timeline = timeline;
  renderDetail();
}
const refreshTimeline = debounce(() => loadTimeline().catch(() => {}), 300);

async function recommend(id) {
  try {
    state.recommendation = await session.post(`/incidents/${id}/recommendations`);
    renderDetail();
  } catch (error) {
    alertError(error);
  }
}

async function assign(incidentId, vehicleId, rank) {
  try {
    const body = { vehicle_id: vehicleId, recommended_rank: rank ?? null };
    const assignment = await session.act(`assign:${incidentId}:${vehicleId}`, `/incidents/${incidentId}/assignments`, body);
    state.assignments.set(assignment.id, assignment);
    if (state.selected !== incidentId) await select(incidentId);
    await recommend(incidentId);
    await loadTimeline();
    flash($("#detail-flash"), t("control.assigned", { unit: vehicleName(vehicleId), incident: incidentId }), "ok");
    refreshAlerts();
  } catch (error) {
    alertError(error);
  }
}

async function closeIncident(id) {
  try {
    await session.post(`/incidents/${id}/close`);
    await loadTimeline();
  } catch (error) {
    alertError(error);
  }
}

async function cancelIncident(id) {
  const reason = window.prompt(t("control.cancel_reason"));
  if (!reason) return;
  try {
    await session.post(`/incidents/${id}/cancel`, { reason });
    await loadTimeline();
  } catch (error) {
    alertError(error);
  }
}

async function submitCall(event) {
  event.preventDefault();
  const form = event.target;
  const message = form.querySelector(".flash");
  const data = new FormData(form);
  const body = {
    lat: Number(data.get("lat")),
    lon: Number(data.get("lon")),
    chief_complaint: String(data.get("chief_complaint")),
    patient_count: Number(data.get("patient_count") || 1),
  };
  for (const name of ["address_text", "caller_phone", "triage", "triage_override_reason", "notes"]) {
    const value = String(data.get(name) || "").trim();
    if (value) body[name] = value;
  }
  try {
    const intake = await session.act(form, "/incidents", body);
    state.incidents.set(intake.id, intake);
    const dupes = intake.possible_duplicates.map((d) => `#${d.incident_id}`).join(", ");
    flash(message, dupes ? t("control.possible_duplicates", { ids: dupes }) : t("control.call_created", { id: intake.id }), dupes ? "warn" : "ok");
    form.reset();
    state.pick = null;
    renderPick();
    renderQueue();
    renderIncidentMarkers();
    leaveForm(form);
    await select(intake.id);
    await recommend(intake.id);
  } catch (error) {
    flash(message, error.message, "error");
  }
}

function pickLocation(lat, lon) {
  state.pick = [lat, lon];
  const form = $("#call-form");
  form.elements.lat.value = lat.toFixed(6);
  form.elements.lon.value = lon.toFixed(6);
  renderPick();
}

// --- data loading -------------------------------------------------------------------------

async function loadAlerts() {
  state.alerts = await session.get("/alerts");
  renderAlerts();
  $("#alerts").dataset.loaded = "1";
}
const refreshAlerts = debounce(() => loadAlerts().catch(() => {}), 800);

async function loadPlan() {
  const day = localToday();
  const shifts = await session.get(`/transport-shifts?service_date=${day}`);
  const plan = await Promise.all(
    shifts.map(async (shift) => {
      const manifest = await session.get(`/vehicles/${shift.vehicle_id}/manifest?service_date=${day}`);
      return { shift, stops: manifest.stops };
    }),
  );
  state.plan = plan.sort((a, b) => vehicleName(a.shift.vehicle_id).localeCompare(vehicleName(b.shift.vehicle_id)));
  renderPlan();
}
const refreshPlan = debounce(() => loadPlan().catch(() => {}), 1500);

function applySnapshot(snapshot) {
  state.staleAfterS = snapshot.stale_after_s;
  state.vehicles = new Map(snapshot.vehicles.map((v) => [v.id, v]));
  state.positions = new Map(snapshot.positions.map((p) => [p.vehicle_id, p]));
  state.incidents = new Map(snapshot.incidents.map((i) => [i.id, i]));
  state.assignments = new Map(snapshot.assignments.map((a) => [a.id, a]));
  state.hospitals = new Map(snapshot.hospitals.map((h) => [h.id, h]));
  if (!state.fitted) {
    state.fitted = true;
    map.fit([...snapshot.hospitals.map((h) => [h.lat, h.lon]), ...snapshot.vehicles.map(vehiclePosition)]);
  }
  renderAll();
  refreshAlerts();
  alarms?.load().catch(() => {}); // open SOS alarms, also after a reload or a resync
  moveups?.refresh();
  stationWork?.refresh();
  refreshPlan();
  if (state.selected) refreshTimeline();
}

async function applyEvent(event) {
  const { type, data } = event;
  if (type === "incident.created") {
    try {
      const incident = await session.get(`/incidents/${data.incident_id}`);
      if (!["closed", "cancelled"].includes(incident.status)) state.incidents.set(incident.id, incident);
    } catch {
      return;
    }
    renderQueue();
    renderIncidentMarkers();
    refreshAlerts();
  } else if (type === "incident.updated") {
    const incident = state.incidents.get(data.incident_id);
    if (incident) Object.assign(incident, data);
    renderQueue();
    renderIncidentMarkers();
  } else if (type === "incident.closed" || type === "incident.cancelled") {
    state.incidents.delete(data.incident_id);
    for (const [id, a] of state.assignments) if (a.incident_id === data.incident_id) state.assignments.delete(id);
    renderQueue();
    renderIncidentMarkers();
    refreshAlerts();
  } else if (type.startsWith("assignment.")) {
    const status = data.status;
    const existing = state.assignments.get(data.assignment_id) || {
      id: data.assignment_id,
      incident_id: data.incident_id,
      vehicle_id: data.vehicle_id,
    };
    existing.status = status;
    if (data.at) existing[`${status}_at`] = data.at;
    if (FINAL.has(status)) {
      existing.is_active = false;
      state.assignments.delete(data.assignment_id);
    } else {
      existing.is_active = true;
      state.assignments.set(data.assignment_id, existing);
    }
    const vehicle = state.vehicles.get(data.vehicle_id);
    if (vehicle) vehicle.state = data.vehicle_state || (type === "assignment.created" ? "dispatched" : vehicle.state);
    const incident = state.incidents.get(data.incident_id);
    if (incident && data.incident_status) incident.status = data.incident_status;
    else if (incident && type === "assignment.created" && incident.status === "pending") incident.status = "dispatched";
    if (vehicle) renderVehicleMarker(vehicle);
    renderUnits();
    renderQueue();
    refreshAlerts();
  } else if (type === "vehicle.updated") {
    const vehicle = state.vehicles.get(data.vehicle_id);
    if (vehicle) {
      Object.assign(vehicle, data);
      renderVehicleMarker(vehicle);
      renderUnits();
    }
  } else if (type === "hospital.updated") {
    const hospital = state.hospitals.get(data.hospital_id);
    if (hospital) {
      Object.assign(hospital, data);
      renderHospitals();
    }
  } else if (type === "alert.raised") {
    refreshAlerts();
  } else if (type.startsWith("crew_alarm.")) {
    alarms?.apply(event);
  }
  moveups?.apply(event);
  stationWork?.apply(event);
  if (type.startsWith("booking.") || type.startsWith("manifest.")) refreshPlan();
  if (state.selected && data.incident_id === state.selected) refreshTimeline();
}

const renderUnitsSoon = debounce(renderUnits, 500);

function applyPositions(positions) {
  for (const p of positions) {
    state.positions.set(p.vehicle_id, p);
    const vehicle = state.vehicles.get(p.vehicle_id);
    if (vehicle) renderVehicleMarker(vehicle);
  }
  schedulePinLayout();
  renderUnitsSoon();
}

function setFeedStatus(status) {
  document.body.dataset.feed = status;
  const badge = $("#feed-status");
  badge.dataset.state = status;
  badge.textContent = t(`feed.${status}`);
}

// --- start-up -----------------------------------------------------------------------------

async function startScreen() {
  if (started) return;
  started = true;
  $("#login-view").hidden = true;
  $("#app").hidden = false;
  $("#logout").hidden = false;
  const me = await session.get("/auth/me");
  if (!ROLES.includes(me.role)) throw new Error("not dispatch staff");
  $("#who").textContent = me.name;
  mountUsersPanel(session, me); // supervisors and administrators only
  mountDevicesPanel(session, me);
  if (!map) {
    map = new DispatchMap($("#map"), () => session.get("/map/roads"), { onClick: pickLocation });
    map.map.on("zoomend", schedulePinLayout);
  }
  alarms =
    alarms ||
    new AlarmPanel(alarmBanner(), session, {
      vehicleName,
      vehiclePosition: (id) => (state.vehicles.has(id) ? vehiclePosition(state.vehicles.get(id)) : null),
      onShow: (at) => map.fit([at], 16),
    });
  moveups = moveups || new MoveUpPanel($("#moveup-panel"), session, { vehicleName, map: () => map });
  const stationName = (id) => state.stations.find((s) => s.id === id)?.name ?? `#${id}`;
  stationWork = stationWork || new StationWork($("#offer-panel"), $("#board"), session, { vehicleName, stationName, select });
  const [complaints, stations] = await Promise.all([session.get("/complaints"), session.get("/stations")]);
  state.complaints = complaints;
  state.stations = stations;
  fillComplaints();
  feed = new ControlFeed(() => session.token, {
    snapshot: applySnapshot,
    event: (event) => applyEvent(event),
    positions: applyPositions,
    status: setFeedStatus,
    unauthorized: () => {
      session.logout(); // the session ended (revoked, deactivated): log in again
      showLogin();
    },
  });
  expose("control", { state, feed, map, alarms, moveups, stationWork });
  feed.start();
  // Ages, stale flags and waiting times move with the clock, not only with messages.
  setInterval(() => {
    for (const cell of document.querySelectorAll("#queue .waiting")) {
      cell.textContent = fmtDuration((Date.now() - Date.parse(cell.dataset.since)) / 1000);
    }
  }, 1000);
  setInterval(() => {
    renderVehicles();
  }, 5000);
  setInterval(refreshAlerts, 15000);
  setInterval(refreshPlan, 60000);
}

function fillComplaints() {
  const select = $("#call-form").elements.chief_complaint;
  const current = select.value;
  select.replaceChildren(
    el("option", { value: "" }, t("field.choose")),
    ...state.complaints.map((c) => el("option", { value: c.code }, `${complaintLabel(c.code, c.label)} (${t(`triage_short.${c.triage}`)})`)),
  );
  select.value = current;
}

function showLogin() {
  feed?.stop();
  started = false;
  alarms?.alarms.clear();
  alarms?.render();
  $("#users-open").hidden = true;
  if ($("#users-dialog").open) $("#users-dialog").close();
  $("#devices-open").hidden = true;
  if ($("#devices-dialog").open) $("#devices-dialog").close();
  $("#app").hidden = true;
  $("#logout").hidden = true;
  $("#login-view").hidden = false;
}

async function main() {
  await loadConfig();
  await initI18n();
  bindLangSelect($("#lang"));
  $("#zone").textContent = zoneLabel();
  startClock($("#clock"));
  setFeedStatus("idle");
  armSound(); // the login click is the gesture browsers require before any sound
  onLangChange(() => {
    if (!started) return;
    alarms?.render();
    fillComplaints();
    setFeedStatus(document.body.dataset.feed);
    renderAll();
    renderDevicesPanel();
  });
  session.onExpired = showLogin;
  bindLogin($("#login-form"), session, ROLES, () => startScreen());
  $("#logout").addEventListener("click", () => {
    session.logout();
    location.reload();
  });
  $("#call-form").addEventListener("submit", submitCall);
  bindCallKeys({
    recommendation: () => state.recommendation,
    selected: () => state.selected,
    assign,
    recommend,
    newCall: () => $("#call-form").elements.lat.focus(),
  });
  applyStatic();
  if (session.token) {
    try {
      await startScreen();
      return;
    } catch {
      session.logout();
      started = false;
    }
  }
  showLogin();
}

main();
