// Crew phone: the current job with its address and map, one tap to the next milestone,
// today's booked-ride manifest, and GPS from the browser's geolocation. The /ws/driver
// channel tells the phone when something changed; the HTTP API stays the source of truth.

import {
  $,
  ApiError,
  Session,
  applyStatic,
  bindLangSelect,
  bindLogin,
  complaintLabel,
  el,
  expose,
  flash,
  fmtShortTime,
  fmtTime,
  initI18n,
  loadConfig,
  localToday,
  onLangChange,
  startClock,
  t,
  triageBadge,
} from "./common.js";
import { DispatchMap, labelIcon, upsertMarker } from "./map.js";
import { CrewSos } from "./sos.js";

/** Allowed next milestones (mirrors the server's state machine; the server still decides). */
const NEXT = {
  notified: ["acknowledged", "en_route"],
  acknowledged: ["en_route"],
  en_route: ["on_scene"],
  on_scene: ["at_patient", "left_scene", "back_in_service"],
  at_patient: ["left_scene", "back_in_service"],
  left_scene: ["at_destination"],
  at_destination: ["handed_over", "back_in_service"],
  handed_over: ["back_in_service"],
  back_in_service: [],
  cancelled: [],
};
const SEND_EVERY_MS = 5000;
const MAX_QUEUED_FIXES = 500;

const session = new Session("crew");
const state = { me: null, vehicle: null, job: null, post: null, manifest: [], fixes: [], lastSent: null, position: null };
let map = null;
const pins = new Map();
let socket = null;
let socketBackoff = 1000;
let sos = null; // the SOS button (sos.js), sent over the socket
let watchId = null;
let sending = false;
let started = false;

// --- rendering ----------------------------------------------------------------------------

function renderJob() {
  const body = $("#job-body");
  const job = state.job;
  if (!job || !job.assignment) {
    body.replaceChildren(state.post ? postTask(state.post) : el("p", { class: "hint", "data-testid": "no-job" }, t("crew.no_job")));
    renderMap();
    return;
  }
  const { assignment, incident } = job;
  const address = incident.address_text || `${incident.lat.toFixed(5)}, ${incident.lon.toFixed(5)}`;
  const buttons = [];
  const next = NEXT[assignment.status] || [];
  next.forEach((status, i) => {
    const label = status === "acknowledged" ? t("crew.acknowledge") : t("crew.next", { state: t(`milestone.${status}`) });
    buttons.push(
      el(
        "button",
        {
          type: "button",
          class: i === 0 ? "primary big" : "big",
          "data-next": status,
          onclick: () => report(assignment.id, status),
        },
        label,
      ),
    );
  });
  const parts = [
    el(
      "div",
      { class: "job-head", "data-assignment": assignment.id },
      triageBadge(incident.triage),
      el("b", {}, `#${incident.id} ${complaintLabel(incident.chief_complaint)}`),
    ),
    el("div", { class: "job-address", "data-testid": "job-address" }, address),
    incident.notes ? el("div", {}, incident.notes) : null,
    el(
      "div",
      { class: "job-status", "data-status": assignment.status },
      t("crew.status_now", { state: t(`milestone.${assignment.status}`) }),
      " · ",
      fmtTime(assignment[`${assignment.status}_at`] || assignment.created_at),
    ),
    el(
      "p",
      {},
      el("a", { href: `geo:${incident.lat},${incident.lon}`, class: "navigate" }, t("crew.navigate")),
    ),
    el("div", { class: "next-buttons" }, buttons),
  ];
  body.replaceChildren(...parts.filter(Boolean));
  renderMap();
}

/** The standby task from an accepted move-up: where to wait, and "arrived" once there. */
function postTask(post) {
  const going = post.status === "accepted";
  return el(
    "div",
    { class: "post-task", "data-testid": "post-task", "data-moveup": post.id, "data-status": post.status },
    el("b", {}, t(going ? "crew.post_go" : "crew.post_wait", { name: post.site_name })),
    el("p", { class: "hint" }, t("crew.post_hint")),
    el("p", {}, el("a", { href: `geo:${post.lat},${post.lon}`, class: "navigate" }, t("crew.navigate"))),
    going
      ? el("div", { class: "next-buttons" }, el("button", { type: "button", class: "primary big", "data-testid": "post-arrived", onclick: () => arrivedAtPost(post.id) }, t("crew.post_arrived")))
      : null,
  );
}

function renderMap() {
  if (!map) return;
  const points = [];
  const incident = state.job?.incident;
  if (incident) {
    upsertMarker(pins, map.layers.incidents, "incident", [incident.lat, incident.lon], labelIcon(`pin-incident triage-${incident.triage}`, `#${incident.id} ${t(`triage_short.${incident.triage}`)}`));
    points.push([incident.lat, incident.lon]);
  } else if (pins.has("incident")) {
    pins.get("incident").remove();
    pins.delete("incident");
  }
  const post = !incident ? state.post : null;
  if (post) {
    upsertMarker(pins, map.layers.incidents, "post", [post.lat, post.lon], labelIcon("pin-post", post.site_name));
    points.push([post.lat, post.lon]);
  } else if (pins.has("post")) {
    pins.get("post").remove();
    pins.delete("post");
  }
  const self = state.position || (state.vehicle?.last_lat != null ? [state.vehicle.last_lat, state.vehicle.last_lon] : null);
  if (self) {
    upsertMarker(pins, map.layers.vehicles, "self", self, labelIcon("pin-self", state.vehicle?.call_sign || "●", { self: "1" }));
    points.push(self);
  }
  if (points.length) map.fit(points, 16);
}

function renderManifest() {
  const list = $("#manifest");
  const stops = state.manifest.filter((s) => s.kind !== "depot");
  if (!stops.length) {
    list.replaceChildren(el("li", { class: "hint" }, t("crew.no_manifest")));
    return;
  }
  list.replaceChildren(
    ...stops.map((s) => {
      const actions = [];
      if (s.booking_id && (s.status === "planned" || s.status === "under_way")) {
        if (s.status === "planned") actions.push(["under_way", t("crew.under_way")]);
        actions.push(["done", t("crew.done")]);
        if (s.kind === "pickup") actions.push(["no_show", t("crew.no_show")]);
      }
      return el(
        "li",
        { class: `stop stop-${s.status}`, "data-stop": s.id },
        el("b", {}, fmtShortTime(s.planned_arrival)),
        ` ${t(`stop.${s.kind}`)} `,
        s.patient_name ? el("b", {}, s.patient_name) : null,
        s.mobility ? ` (${t(`mobility.${s.mobility}`)})` : "",
        s.address ? el("div", {}, s.address) : null,
        el("div", { class: "stop-status" }, t(`stop_status.${s.status}`)),
        actions.length
          ? el(
              "div",
              { class: "stop-actions" },
              actions.map(([status, label]) =>
                el("button", { type: "button", "data-stop-action": status, onclick: () => stopStatus(s.id, status) }, label),
              ),
            )
          : null,
      );
    }),
  );
}

function renderGps() {
  const button = $("#gps-toggle");
  button.textContent = watchId === null ? t("crew.gps_start") : t("crew.gps_stop");
  const status = $("#gps-status");
  if (state.gpsError) status.textContent = state.gpsError;
  else if (state.lastSent) status.textContent = t("crew.gps_sent", { time: fmtTime(state.lastSent.at), acc: Math.round(state.lastSent.accuracy ?? 0) });
  else status.textContent = t("crew.gps_off");
  status.dataset.sent = state.lastSent ? "1" : "0";
}

// --- actions ------------------------------------------------------------------------------

async function report(assignmentId, status) {
  try {
    await session.post(`/assignments/${assignmentId}/status`, { status, at: new Date().toISOString() });
    flash($("#job-flash"), t("crew.sent", { state: t(`milestone.${status}`) }), "ok");
    await loadJob();
  } catch (error) {
    flash($("#job-flash"), error.message, "error");
    await loadJob();
  }
}

async function arrivedAtPost(moveupId) {
  try {
    await session.post(`/moveups/${moveupId}/arrived`);
  } catch (error) {
    flash($("#job-flash"), error.message, "error");
  }
  await loadJob();
}

async function stopStatus(stopId, status) {
  try {
    await session.post(`/plan-stops/${stopId}/status`, { status });
    await loadManifest();
  } catch (error) {
    flash($("#job-flash"), error.message, "error");
  }
}

function toggleGps() {
  if (watchId !== null) {
    navigator.geolocation.clearWatch(watchId);
    watchId = null;
    renderGps();
    return;
  }
  if (!navigator.geolocation) {
    state.gpsError = t("crew.gps_denied");
    renderGps();
    return;
  }
  watchId = navigator.geolocation.watchPosition(onPosition, (error) => {
    state.gpsError = error.code === 1 ? t("crew.gps_denied") : error.message;
    renderGps();
  }, { enableHighAccuracy: true, maximumAge: 5000, timeout: 30000 });
  renderGps();
}

function finite(value) {
  return Number.isFinite(value) ? value : undefined;
}

function onPosition(position) {
  const c = position.coords;
  state.gpsError = null;
  state.position = [c.latitude, c.longitude];
  const fix = {
    lat: c.latitude,
    lon: c.longitude,
    recorded_at: new Date(position.timestamp || Date.now()).toISOString(),
    speed_mps: finite(c.speed),
    heading: finite(c.heading),
    accuracy_m: finite(c.accuracy),
  };
  // Keep what could not be sent yet (no signal) and send it with the next batch.
  state.fixes.push(fix);
  if (state.fixes.length > MAX_QUEUED_FIXES) state.fixes.splice(0, state.fixes.length - MAX_QUEUED_FIXES);
  const due = !state.lastSent || Date.now() - state.lastSent.wall >= SEND_EVERY_MS;
  if (due) sendFixes();
  renderMap();
}

async function sendFixes() {
  if (sending || !state.fixes.length || !state.me) return;
  sending = true;
  const batch = state.fixes.slice();
  try {
    await session.post(`/vehicles/${state.me.vehicle_id}/fixes`, { fixes: batch });
    state.fixes.splice(0, batch.length);
    const last = batch[batch.length - 1];
    state.lastSent = { at: last.recorded_at, wall: Date.now(), accuracy: last.accuracy_m };
  } catch (error) {
    if (error instanceof ApiError && error.status === 422) state.fixes.splice(0, batch.length);
    state.gpsError = error.message;
  } finally {
    sending = false;
    renderGps();
  }
}

// --- data ---------------------------------------------------------------------------------

async function loadJob() {
  const [job, post] = await Promise.all([session.get("/assignments/current"), session.get("/moveups/current")]);
  state.job = job;
  state.post = post;
  renderJob();
}

async function loadManifest() {
  const data = await session.get(`/vehicles/${state.me.vehicle_id}/manifest?service_date=${localToday()}`);
  state.manifest = data.stops;
  renderManifest();
}

function setFeed(status) {
  document.body.dataset.feed = status;
  const badge = $("#feed-status");
  badge.dataset.state = status;
  badge.textContent = t(`feed.${status}`);
}

/** /ws/driver: every assignment, status, cancellation, move-up or manifest message means "reload". */
function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${scheme}://${location.host}/ws/driver`);
  socket = ws;
  setFeed("connecting");
  ws.addEventListener("open", () => ws.send(JSON.stringify({ type: "hello", token: session.token })));
  ws.addEventListener("message", (message) => {
    const data = JSON.parse(message.data);
    if (sos?.onMessage(data)) return;
    if (data.type === "welcome") {
      socketBackoff = 1000;
      setFeed("live");
      sos?.onConnected(); // an SOS not yet acknowledged goes out again
    } else if (["assignment", "cancellation", "status", "moveup"].includes(data.type)) {
      loadJob().catch(() => {});
    } else if (data.type === "manifest") {
      loadManifest().catch(() => {});
    }
  });
  ws.addEventListener("close", (event) => {
    if (ws !== socket || !started) return;
    if (event.code === 4401) {
      // The phone's token was revoked or the driver's sessions ended: log in again.
      setFeed("unauthorized");
      session.logout();
      showLogin();
      flash($("#login-form .flash"), t("login.again"), "error");
      return;
    }
    setFeed("reconnecting");
    setTimeout(connect, socketBackoff);
    socketBackoff = Math.min(socketBackoff * 2, 15000);
  });
}

async function startScreen() {
  if (started) return;
  const me = await session.get("/auth/me");
  if (me.vehicle_id === null) throw new ApiError(403, t("login.wrong_role"));
  started = true;
  state.me = me;
  $("#login-view").hidden = true;
  $("#app").hidden = false;
  $("#logout").hidden = false;
  state.vehicle = await session.get(`/vehicles/${me.vehicle_id}`);
  $("#crew-title").textContent = t("crew.vehicle", { unit: state.vehicle.call_sign });
  map = map || new DispatchMap($("#crew-map"), () => session.get("/map/roads"), { zoom: 15 });
  if (!sos) {
    const card = el("section", { class: "card sos-card", id: "sos-card", "data-testid": "sos" });
    $("#app").prepend(card);
    sos = new CrewSos(card, {
      send: (message) => {
        if (!socket || socket.readyState !== WebSocket.OPEN || document.body.dataset.feed !== "live") return false;
        socket.send(JSON.stringify(message));
        return true;
      },
      position: () => state.position || (state.vehicle?.last_lat != null ? [state.vehicle.last_lat, state.vehicle.last_lon] : null),
    });
  }
  expose("crew", { state, map, sos });
  await Promise.all([loadJob(), loadManifest()]);
  renderGps();
  connect();
  setInterval(() => {
    loadJob().catch(() => {});
    sendFixes();
  }, 30000);
}

function showLogin() {
  started = false;
  socket?.close();
  $("#app").hidden = true;
  $("#logout").hidden = true;
  $("#login-view").hidden = false;
}

async function main() {
  await loadConfig();
  await initI18n();
  bindLangSelect($("#lang"));
  startClock($("#clock"));
  setFeed("idle");
  onLangChange(() => {
    if (!started) return;
    $("#crew-title").textContent = t("crew.vehicle", { unit: state.vehicle?.call_sign ?? "" });
    setFeed(document.body.dataset.feed);
    renderJob();
    renderManifest();
    renderGps();
    sos?.render();
  });
  session.onExpired = showLogin;
  bindLogin($("#login-form"), session, ["driver"], () => startScreen().catch(failStart));
  $("#token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const token = String(new FormData(event.target).get("token") || "").trim();
    session.use(token);
    startScreen().catch((error) => {
      session.logout();
      flash(event.target.querySelector(".flash"), error.status === 401 ? t("login.failed") : error.message, "error");
      showLogin();
    });
  });
  $("#gps-toggle").addEventListener("click", toggleGps);
  $("#logout").addEventListener("click", () => {
    session.logout();
    location.reload();
  });
  applyStatic();
  // Opened from a supervisor's QR code: the unit's device token is in the fragment (which
  // no server sees); keep it and take it out of the address bar and history.
  const linked = new URLSearchParams(location.hash.slice(1)).get("token");
  if (linked) {
    session.use(linked);
    history.replaceState(null, "", location.pathname + location.search);
  }
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

function failStart(error) {
  session.logout();
  showLogin();
  flash($("#login-form .flash"), error.message, "error");
}

main();
