// The control screen's phones panel, for supervisors and administrators: every unit with
// its paired Traccar Client phone, crew-page token, last fix and battery; *Pair phone*
// shows the QR code Traccar Client scans to set its server and device id; *Crew page code*
// shows one that opens the crew page logged in as the unit; *Unpair* refuses the phone.

import { $, el, flash, fmtMinutes, fmtShortTime, t } from "./common.js";

const MANAGERS = ["supervisor", "admin"];

let session = null;
let bound = false;
let shown = null; // the code on screen: { kind, unit, answer }

/** Show the "Phones" button to managers and wire the panel. */
export function mountDevicesPanel(screenSession, who) {
  session = screenSession;
  const button = $("#devices-open");
  button.hidden = !MANAGERS.includes(who.role);
  if (bound) return;
  bound = true;
  const dialog = $("#devices-dialog");
  button.addEventListener("click", () => {
    dialog.showModal();
    refresh();
  });
  $("#devices-close").addEventListener("click", () => {
    showCode(null);
    dialog.close();
  });
}

export function renderDevicesPanel() {
  if ($("#devices-dialog").open) refresh();
  if (shown) showCode(shown);
}

async function refresh() {
  try {
    const devices = await session.get("/devices");
    $("#devices-table tbody").replaceChildren(...devices.map(row));
    $("#devices-table").dataset.loaded = String(Date.now());
  } catch (error) {
    flash($("#devices-flash"), error.message, "error");
  }
}

function row(d) {
  const button = (key, handler) =>
    el("button", { type: "button", "data-action": key, onclick: () => handler(d) }, t(`devices.${key}`));
  const age = d.gps_age_s == null ? "–" : `${fmtShortTime(d.last_fix_at)} (${fmtMinutes(d.gps_age_s)})`;
  return el(
    "tr",
    { "data-unit": d.call_sign },
    el("td", {}, el("strong", {}, d.call_sign)),
    el("td", {}, d.station || "–"),
    el("td", { "data-testid": "phone-state" }, d.phone_paired ? t("devices.paired", { end: d.device_id_end }) : t("devices.not_paired")),
    el("td", {}, d.crew_token ? t("devices.token") : t("devices.no_token")),
    el("td", { "data-testid": "last-fix" }, age),
    el("td", {}, d.battery_pct == null ? "–" : `${Math.round(d.battery_pct)} %`),
    el(
      "td",
      { class: "actions" },
      button("pair", pair),
      d.phone_paired ? button("unpair", unpair) : null,
      button("crew_qr", crewCode),
    ),
  );
}

function showCode(code) {
  shown = code;
  const figure = $("#devices-qr");
  figure.hidden = !code;
  if (!code) {
    figure.querySelector(".qr-code").replaceChildren();
    return;
  }
  // The server's own SVG (segno): parsed apart (nothing in it runs), only the <svg> taken.
  const svg = new DOMParser().parseFromString(code.answer.qr_svg, "text/html").querySelector("svg");
  figure.querySelector(".qr-code").replaceChildren(document.importNode(svg, true));
  figure.dataset.link = code.answer.link;
  const caption = code.kind === "pair"
    ? t("devices.scan_pair", { unit: code.unit, server: code.answer.server_url })
    : t("devices.scan_crew", { unit: code.unit });
  figure.querySelector("figcaption").textContent = caption;
}

async function pair(d) {
  try {
    const answer = await session.act(`pair:${d.vehicle_id}`, `/vehicles/${d.vehicle_id}/phone-pairing`);
    showCode({ kind: "pair", unit: d.call_sign, answer });
    flash($("#devices-flash"), "");
    await refresh();
  } catch (error) {
    flash($("#devices-flash"), error.message, "error");
  }
}

async function crewCode(d) {
  try {
    const answer = await session.act(`crew:${d.vehicle_id}`, `/vehicles/${d.vehicle_id}/crew-link`);
    showCode({ kind: "crew", unit: d.call_sign, answer });
    flash($("#devices-flash"), "");
    await refresh();
  } catch (error) {
    flash($("#devices-flash"), error.message, "error");
  }
}

async function unpair(d) {
  if (!window.confirm(t("devices.confirm_unpair", { unit: d.call_sign }))) return;
  try {
    await session.api("DELETE", `/vehicles/${d.vehicle_id}/phone-pairing`);
    if (shown?.unit === d.call_sign && shown.kind === "pair") showCode(null);
    flash($("#devices-flash"), t("devices.unpaired", { unit: d.call_sign }), "ok");
    await refresh();
  } catch (error) {
    flash($("#devices-flash"), error.message, "error");
  }
}
