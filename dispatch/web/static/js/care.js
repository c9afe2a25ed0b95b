// Care-centre page: the centre's own patients, booking a ride (arrive-by or a pickup
// window, optional way home, optional weekly repeat) and following the bookings with their
// planned pickup, status and live ETA. Times are entered and shown on the organisation's
// clock, whatever the browser's time zone.

import {
  $,
  Session,
  applyStatic,
  bindLangSelect,
  bindLogin,
  el,
  expose,
  flash,
  fmtDateTime,
  fmtDuration,
  fmtShortTime,
  initI18n,
  isoToZonedInput,
  loadConfig,
  onLangChange,
  startClock,
  t,
  zoneLabel,
  zonedInputToIso,
} from "./common.js";
import { bindFiles } from "./carefiles.js";
import { DispatchMap, labelIcon, upsertMarker } from "./map.js";

const DAYS = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"];
const FINISHED = new Set(["completed", "cancelled", "no_show"]);
const CANCELLABLE = new Set(["requested", "planned", "vehicle_en_route"]);

const session = new Session("care");
const state = { patients: [], hospitals: new Map(), bookings: [], etas: new Map() };
let map = null;
const pins = new Map();
let started = false;

function patientName(id) {
  return state.patients.find((p) => p.id === id)?.full_name ?? `#${id}`;
}

function bookingTime(b) {
  return b.planned_pickup_at || b.pickup_window_start || b.appointment_at;
}

// --- rendering ----------------------------------------------------------------------------

function renderPatients() {
  $("#patients tbody").replaceChildren(
    ...state.patients.map((p) =>
      el(
        "tr",
        { "data-patient": p.id },
        el("td", {}, p.full_name),
        el("td", {}, t(`mobility.${p.mobility}`), p.needs_escort ? ` · ${t("care.escort")}` : ""),
        el("td", {}, p.home_address || "–"),
        el("td", {}, el("button", { type: "button", onclick: () => choosePatient(p.id) }, t("care.book"))),
      ),
    ),
  );
  const select = $("#book-form").elements.patient_id;
  const current = select.value;
  select.replaceChildren(
    el("option", { value: "" }, t("field.choose")),
    ...state.patients.map((p) => el("option", { value: p.id }, `${p.full_name} (${t(`mobility.${p.mobility}`)})`)),
  );
  select.value = current;
}

function renderHospitals() {
  const select = $("#book-form").elements.destination_hospital_id;
  const current = select.value;
  select.replaceChildren(
    el("option", { value: "" }, t("field.choose")),
    ...[...state.hospitals.values()].map((h) =>
      el("option", { value: h.id, disabled: h.on_diversion }, `${h.name}${h.name_local ? ` · ${h.name_local}` : ""}`),
    ),
  );
  select.value = current;
  for (const h of state.hospitals.values()) {
    upsertMarker(pins, map.layers.hospitals, `h${h.id}`, [h.lat, h.lon], labelIcon(`pin-hospital${h.on_diversion ? " diverting" : ""}`, "H")).bindTooltip(h.name);
  }
}

function requestedText(b) {
  if (b.appointment_at) return `${t("care.arrive_by")}: ${fmtDateTime(b.appointment_at)}`;
  if (b.pickup_window_start) return `${fmtDateTime(b.pickup_window_start)}–${fmtShortTime(b.pickup_window_end)}`;
  return "–";
}

function renderBookings() {
  const showPast = $("#show-past").checked;
  const rows = state.bookings
    .filter((b) => showPast || !FINISHED.has(b.status))
    .sort((a, b) => Date.parse(bookingTime(a)) - Date.parse(bookingTime(b)))
    .map((b) => {
      const destination = b.destination_hospital_id
        ? state.hospitals.get(b.destination_hospital_id)?.name ?? `#${b.destination_hospital_id}`
        : b.destination_address || `${b.destination_lat.toFixed(4)}, ${b.destination_lon.toFixed(4)}`;
      const eta = state.etas.get(b.id);
      const notes = [];
      if (b.is_series) notes.push(t("care.series"));
      if (b.return_of_id) notes.push(t("care.return_of", { id: b.return_of_id }));
      if (b.unserved_reason) notes.push(b.unserved_reason);
      if (b.release_reason) notes.push(b.release_reason);
      return el(
        "tr",
        { "data-booking": b.id, "data-status": b.status },
        el("td", { class: "num" }, String(b.id)),
        el("td", {}, patientName(b.patient_id), notes.length ? el("div", { class: "sub" }, notes.join(" · ")) : null),
        el(
          "td",
          { class: "planned" },
          b.planned_pickup_at ? el("b", {}, fmtDateTime(b.planned_pickup_at)) : null,
          el("div", { class: "sub" }, `${t("care.requested_time")}: ${requestedText(b)}`),
        ),
        el("td", {}, destination),
        el("td", {}, el("span", { class: `status-badge status-${b.status}` }, t(`booking.${b.status}`))),
        el("td", { class: "num eta" }, eta ? `${fmtShortTime(eta.eta_at)} (${fmtDuration(eta.eta_s)})` : "–"),
        el(
          "td",
          {},
          CANCELLABLE.has(b.status)
            ? el("button", { type: "button", class: "danger", "data-cancel": b.id, onclick: () => cancel(b.id) }, t("care.cancel"))
            : null,
        ),
      );
    });
  $("#bookings tbody").replaceChildren(...(rows.length ? rows : [el("tr", {}, el("td", { colspan: 7, class: "hint" }, t("care.no_bookings")))]));
}

function renderDays() {
  const box = $("#book-form .days");
  const checked = new Set([...box.querySelectorAll("input:checked")].map((i) => i.value));
  box.replaceChildren(
    ...DAYS.map((d) => el("label", {}, el("input", { type: "checkbox", name: "byday", value: d, checked: checked.has(d) }), t(`day.${d}`))),
  );
}

function renderPickup() {
  const form = $("#book-form");
  const lat = Number(form.elements.pickup_lat.value);
  const lon = Number(form.elements.pickup_lon.value);
  if (!form.elements.pickup_lat.value || !Number.isFinite(lat) || !Number.isFinite(lon)) return;
  upsertMarker(pins, map.layers.pick, "pickup", [lat, lon], labelIcon("pin-pick", t("care.pickup_address")));
  map.map.setView([lat, lon], Math.max(map.map.getZoom(), 14));
}

function syncToggles() {
  const form = $("#book-form");
  const kind = form.elements.time_kind.value;
  for (const node of form.querySelectorAll("[data-when]")) {
    const when = node.dataset.when;
    node.hidden =
      (when === "appointment" && kind !== "appointment") ||
      (when === "window" && kind !== "window") ||
      (when === "return" && !form.elements.return_trip.checked) ||
      (when === "recurring" && !form.elements.recurring.checked);
  }
}

// --- actions ------------------------------------------------------------------------------

function choosePatient(id) {
  const form = $("#book-form");
  form.elements.patient_id.value = String(id);
  const p = state.patients.find((x) => x.id === Number(id));
  if (p && p.home_lat !== null) {
    form.elements.pickup_lat.value = p.home_lat;
    form.elements.pickup_lon.value = p.home_lon;
    form.elements.pickup_address.value = p.home_address || "";
    renderPickup();
  }
}

function bookingBody(form) {
  const f = form.elements;
  const body = {
    patient_id: Number(f.patient_id.value),
    pickup_lat: Number(f.pickup_lat.value),
    pickup_lon: Number(f.pickup_lon.value),
    destination_hospital_id: Number(f.destination_hospital_id.value),
    companions: Number(f.companions.value || 0),
  };
  if (f.pickup_address.value.trim()) body.pickup_address = f.pickup_address.value.trim();
  if (f.notes.value.trim()) body.notes = f.notes.value.trim();
  if (f.time_kind.value === "appointment") {
    body.appointment_at = zonedInputToIso(f.appointment_at.value);
  } else {
    body.pickup_window_start = zonedInputToIso(f.pickup_window_start.value);
    body.pickup_window_end = zonedInputToIso(f.pickup_window_end.value);
  }
  if (f.return_trip.checked) {
    body.return_pickup_window_start = zonedInputToIso(f.return_pickup_window_start.value);
    body.return_pickup_window_end = zonedInputToIso(f.return_pickup_window_end.value);
  }
  if (f.recurring.checked) {
    const days = [...form.querySelectorAll("input[name=byday]:checked")].map((i) => i.value);
    let rule = `FREQ=WEEKLY;BYDAY=${days.join(",")}`;
    if (f.until.value) rule += `;UNTIL=${f.until.value.replaceAll("-", "")}`;
    body.recurrence_rule = rule;
  }
  return body;
}

async function submitBooking(event) {
  event.preventDefault();
  const form = event.target;
  const message = form.querySelector(".flash");
  try {
    const created = await bookOnce(form, message);
    if (!created) return;
    let text = t("care.booked", { id: created.id });
    if (created.is_series) text = t("care.booked_series", { id: created.id, n: created.generated_ids.length });
    else if (created.return_booking_id) text = t("care.booked_return", { id: created.id, back: created.return_booking_id });
    flash(message, text, "ok");
    await loadBookings();
  } catch (error) {
    flash(message, error.message, "error");
  }
}

/** Book the form's ride. The same ride booked for this patient moments ago (a second
 * press, a colleague on the same request) is questioned by the server (409
 * duplicate_booking): book it again only when the clerk confirms. */
async function bookOnce(form, message) {
  const body = bookingBody(form);
  try {
    return await session.act(form, "/bookings", body);
  } catch (error) {
    if (error.status !== 409 || error.body?.code !== "duplicate_booking") throw error;
    const id = error.body.duplicate_of;
    if (!window.confirm(t("care.duplicate_confirm", { id }))) {
      flash(message, t("care.duplicate_kept", { id }), "info");
      return null;
    }
    return await session.act(form, "/bookings", { ...body, allow_duplicate: true });
  }
}

async function cancel(id) {
  if (!window.confirm(t("care.cancel_confirm", { id }))) return;
  try {
    await session.post(`/bookings/${id}/cancel`);
    flash($("#bookings-flash"), t("care.cancelled", { id }), "ok");
    await loadBookings();
  } catch (error) {
    flash($("#bookings-flash"), error.message, "error");
  }
}

// --- data ---------------------------------------------------------------------------------

async function loadBookings() {
  state.bookings = await session.getAll("/bookings");
  // A booking of a patient added elsewhere (another clerk, a file import): read the
  // patients again, so every row shows a name.
  const known = new Set(state.patients.map((p) => p.id));
  if (state.bookings.some((b) => !known.has(b.patient_id))) {
    state.patients = await session.get("/patients");
    renderPatients();
  }
  const moving = state.bookings.filter((b) => b.status === "vehicle_en_route");
  const etas = await Promise.all(moving.map((b) => session.get(`/bookings/${b.id}/eta`).catch(() => null)));
  state.etas = new Map(etas.filter(Boolean).map((e) => [e.booking_id, e]));
  renderBookings();
}

async function startScreen() {
  if (started) return;
  const me = await session.get("/auth/me");
  if (me.role !== "care_centre") throw new Error(t("login.wrong_role"));
  started = true;
  $("#login-view").hidden = true;
  $("#app").hidden = false;
  $("#logout").hidden = false;
  $("#who").textContent = me.name;
  map = map || new DispatchMap($("#care-map"), () => session.get("/map/roads"), { zoom: 13, onClick: (lat, lon) => {
    const form = $("#book-form");
    form.elements.pickup_lat.value = lat.toFixed(6);
    form.elements.pickup_lon.value = lon.toFixed(6);
    renderPickup();
  } });
  const [patients, hospitals] = await Promise.all([session.get("/patients"), session.get("/hospitals")]);
  state.patients = patients;
  state.hospitals = new Map(hospitals.map((h) => [h.id, h]));
  renderPatients();
  renderHospitals();
  renderDays();
  map.fit(hospitals.map((h) => [h.lat, h.lon]));
  // Sensible defaults: tomorrow 09:00 arrival, home between 12:00 and 13:00.
  const tomorrow = isoToZonedInput(new Date(Date.now() + 86400000)).slice(0, 10);
  const f = $("#book-form").elements;
  f.appointment_at.value ||= `${tomorrow}T09:00`;
  f.pickup_window_start.value ||= `${tomorrow}T08:00`;
  f.pickup_window_end.value ||= `${tomorrow}T08:30`;
  f.return_pickup_window_start.value ||= `${tomorrow}T12:00`;
  f.return_pickup_window_end.value ||= `${tomorrow}T13:00`;
  expose("care", { state, map });
  await loadBookings();
  setInterval(() => loadBookings().catch(() => {}), 20000);
}

function showLogin() {
  started = false;
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
  onLangChange(() => {
    if (!started) return;
    renderPatients();
    renderHospitals();
    renderDays();
    renderBookings();
  });
  session.onExpired = showLogin;
  bindLogin($("#login-form"), session, ["care_centre"], () => startScreen().catch(() => showLogin()));
  const form = $("#book-form");
  form.addEventListener("submit", submitBooking);
  form.addEventListener("change", (event) => {
    if (event.target.name === "patient_id") choosePatient(event.target.value);
    syncToggles();
  });
  $("#show-past").addEventListener("change", renderBookings);
  const files = bindFiles(session, () => loadBookings());
  onLangChange(() => files.render());
  $("#logout").addEventListener("click", () => {
    session.logout();
    location.reload();
  });
  applyStatic();
  syncToggles();
  if (session.token) {
    try {
      await startScreen();
      return;
    } catch {
      session.logout();
    }
  }
  showLogin();
}

main();
