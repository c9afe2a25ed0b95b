// Shared by every screen: configuration, login, API calls, translations, local time and
// triage labels. Plain ES module, no build step.

const LOCALES = { en: "en-GB", th: "th-TH", vi: "vi-VN" };
const LANG_KEY = "dispatch.lang";

let config = null;
let dict = {};
let fallback = {};
let lang = "en";
const renderers = [];

/** The server's screen settings (tile URL, time zone, …), fetched once. */
export async function loadConfig() {
  if (!config) {
    const response = await fetch("/web/config.json");
    config = await response.json();
  }
  return config;
}

export function cfg() {
  return config;
}

// --- translations ---------------------------------------------------------------------

async function fetchDict(code) {
  const response = await fetch(`/static/i18n/${code}.json`);
  if (!response.ok) throw new Error(`no translation ${code}`);
  return response.json();
}

/** Load the saved (or browser) language and English as the fallback for missing keys. */
export async function initI18n() {
  fallback = await fetchDict("en");
  const saved = localStorage.getItem(LANG_KEY);
  const browser = (navigator.language || "en").slice(0, 2);
  const wanted = saved || (LOCALES[browser] ? browser : "en");
  await setLang(wanted, false);
}

export async function setLang(code, persist = true) {
  if (!LOCALES[code]) code = "en";
  dict = code === "en" ? fallback : await fetchDict(code);
  lang = code;
  if (persist) localStorage.setItem(LANG_KEY, code);
  document.documentElement.lang = code;
  applyStatic();
  for (const render of renderers) render();
}

export function currentLang() {
  return lang;
}

/** Re-run ``render`` whenever the language changes (dynamic parts of a screen). */
export function onLangChange(render) {
  renderers.push(render);
}

/** The text for ``key`` in the current language, with {placeholders} filled in. */
export function t(key, vars = {}) {
  let text = dict[key] ?? fallback[key] ?? key;
  for (const [name, value] of Object.entries(vars)) {
    text = text.split(`{${name}}`).join(String(value));
  }
  return text;
}

/** Translate the static parts of the page: data-i18n (text), data-i18n-placeholder,
 * data-i18n-title. */
export function applyStatic(root = document) {
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll("[data-i18n-placeholder]")) {
    el.placeholder = t(el.dataset.i18nPlaceholder);
  }
  for (const el of root.querySelectorAll("[data-i18n-title]")) el.title = t(el.dataset.i18nTitle);
  const title = document.querySelector("title[data-i18n]");
  if (title) document.title = t(title.dataset.i18n);
}

/** Wire a <select> to switch language. */
export function bindLangSelect(select) {
  select.value = lang;
  select.addEventListener("change", () => setLang(select.value));
}

// --- time in the organisation's zone -----------------------------------------------------

function locale() {
  return LOCALES[lang] || "en-GB";
}

function fmt(value, options) {
  if (value === null || value === undefined || value === "") return "–";
  const date = value instanceof Date ? value : new Date(value);
  if (Number.isNaN(date.getTime())) return "–";
  return new Intl.DateTimeFormat(locale(), { timeZone: config.timezone, ...options }).format(date);
}

/** HH:MM:SS in the organisation's time zone (24-hour). */
export function fmtTime(value) {
  return fmt(value, { hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" });
}

/** HH:MM in the organisation's time zone. */
export function fmtShortTime(value) {
  return fmt(value, { hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
}

/** Day and time in the organisation's time zone. */
export function fmtDateTime(value) {
  return fmt(value, {
    weekday: "short",
    day: "numeric",
    month: "short",
    hour: "2-digit",
    minute: "2-digit",
    hourCycle: "h23",
  });
}

/** "m:ss" for a duration in seconds. */
export function fmtDuration(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = String(s % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${rest}` : `${m}:${rest}`;
}

/** An ETA as a dispatcher says it: "9 min" (rounded; "< 1 min" under half a minute), never
 * "9:12", which reads like a clock time. */
export function fmtMinutes(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  const minutes = Math.round(Math.max(0, seconds) / 60);
  return minutes < 1 ? t("common.under_a_minute") : t("common.minutes", { n: minutes });
}

function zoneParts(date) {
  const parts = new Intl.DateTimeFormat("en-US", {
    timeZone: config.timezone,
    hourCycle: "h23",
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
  }).formatToParts(date);
  const get = (type) => Number(parts.find((p) => p.type === type).value);
  return {
    year: get("year"),
    month: get("month"),
    day: get("day"),
    hour: get("hour"),
    minute: get("minute"),
    second: get("second"),
  };
}

/** The organisation's offset from UTC at ``date``, in minutes. */
function zoneOffsetMinutes(date) {
  const p = zoneParts(date);
  const asUtc = Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second);
  return Math.round((asUtc - Math.floor(date.getTime() / 1000) * 1000) / 60000);
}

/** Today's date (YYYY-MM-DD) in the organisation's time zone. */
export function localToday(offsetDays = 0) {
  const p = zoneParts(new Date(Date.now() + offsetDays * 86400000));
  return `${p.year}-${String(p.month).padStart(2, "0")}-${String(p.day).padStart(2, "0")}`;
}

/** "YYYY-MM-DDTHH:MM" as wall-clock time in the organisation's zone → ISO-8601 with offset.
 * (A datetime-local input means the control room's clock, not the browser's.) */
export function zonedInputToIso(value) {
  if (!value) return null;
  const [datePart, timePart] = value.split("T");
  const [y, mo, d] = datePart.split("-").map(Number);
  const [h, mi] = timePart.split(":").map(Number);
  const guess = Date.UTC(y, mo - 1, d, h, mi);
  let offset = zoneOffsetMinutes(new Date(guess));
  offset = zoneOffsetMinutes(new Date(guess - offset * 60000));
  const sign = offset >= 0 ? "+" : "-";
  const abs = Math.abs(offset);
  const off = `${sign}${String(Math.floor(abs / 60)).padStart(2, "0")}:${String(abs % 60).padStart(2, "0")}`;
  return `${datePart}T${String(h).padStart(2, "0")}:${String(mi).padStart(2, "0")}:00${off}`;
}

/** An instant as "YYYY-MM-DDTHH:MM" on the organisation's wall clock (for inputs). */
export function isoToZonedInput(date) {
  const p = zoneParts(date);
  const two = (n) => String(n).padStart(2, "0");
  return `${p.year}-${two(p.month)}-${two(p.day)}T${two(p.hour)}:${two(p.minute)}`;
}

/** "Asia/Bangkok (UTC+07:00)" for the header. */
export function zoneLabel() {
  const offset = zoneOffsetMinutes(new Date());
  const sign = offset >= 0 ? "+" : "-";
  const abs = Math.abs(offset);
  const hhmm = `${String(Math.floor(abs / 60)).padStart(2, "0")}:${String(abs % 60).padStart(2, "0")}`;
  return `${config.timezone} (UTC${sign}${hhmm})`;
}

/** Keep an element showing the organisation's current time. */
export function startClock(el) {
  const tick = () => {
    el.textContent = fmtTime(new Date());
    el.title = zoneLabel();
  };
  tick();
  return setInterval(tick, 1000);
}

// --- domain labels ------------------------------------------------------------------------

export const TRIAGE_LEVELS = ["red", "yellow", "green", "white", "black"];

/** A triage badge: colour and a text label, never colour alone. */
export function triageBadge(level) {
  const span = el("span", { class: `triage triage-${level}`, "data-triage": level });
  span.textContent = t(`triage.${level}`);
  return span;
}

export function stateLabel(state) {
  return t(`state.${state}`);
}

export function complaintLabel(code, serverLabel) {
  const key = `complaint.${code}`;
  const text = t(key);
  return text === key ? serverLabel || code : text;
}

// --- DOM helpers --------------------------------------------------------------------------

/** Create an element: el("td", {class: "x"}, "text", child, …). Text is never parsed as
 * HTML, so server data cannot inject markup. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      node.addEventListener(name.slice(2), value);
    } else if (value === true) {
      node.setAttribute(name, "");
    } else {
      node.setAttribute(name, String(value));
    }
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function $(selector, root = document) {
  return root.querySelector(selector);
}

/** Run ``fn`` at most once per ``ms`` (the last call wins). */
export function debounce(fn, ms) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

// --- login and API calls --------------------------------------------------------------------

export class ApiError extends Error {
  constructor(status, message, body) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

function describe(body, status) {
  if (!body) return `HTTP ${status}`;
  if (typeof body.detail === "string") return body.detail;
  if (Array.isArray(body.detail) && body.detail.length) {
    return body.detail
      .map((d) => `${(d.loc || []).filter((p) => p !== "body").join(".")}: ${d.msg}`)
      .join("; ");
  }
  return `HTTP ${status}`;
}

// --- idempotent writes (README, "Idempotent writes") ---------------------------------------

/** Each user action (a form, or a name such as "assign:12:7") → its pending key and body. */
const actionKeys = new Map();
/** Resends of a keyed write after a network failure or a 503, and the longest wait (ms). */
const RESENDS = 2;
const MAX_RESEND_WAIT_MS = 5000;
/** After a success the same press with the same body within this time is the second half
 * of a double click, not a new action (ms). */
const DOUBLE_PRESS_MS = 1500;

/** A random Idempotency-Key (getRandomValues: unlike randomUUID it also works on a plain
 * http:// control-room LAN address). */
function newKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** The key for ``action`` sending ``body``: the same while the action is pending (a double
 * click, pressing again after an error), a fresh one when the body changed. */
function keyFor(action, body) {
  const text = JSON.stringify(body);
  let pending = actionKeys.get(action);
  if (!pending || pending.body !== text) {
    pending = { body: text, key: newKey() };
    actionKeys.set(action, pending);
  }
  return pending;
}

const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** fetch, resent with the same key after a network failure or a 503 (the server does a
 * keyed write once, so a resend is safe even when the first one did arrive). */
async function fetchKeyed(path, init, resends) {
  for (let attempt = 0; ; attempt += 1) {
    let response;
    try {
      response = await fetch(path, init);
    } catch (error) {
      if (attempt >= resends) throw error;
      await pause(1000);
      continue;
    }
    if (response.status !== 503 || attempt >= resends) return response;
    const after = Number(response.headers.get("Retry-After")) || 1;
    await pause(Math.min(after * 1000, MAX_RESEND_WAIT_MS));
  }
}

/** A screen's session: its token is kept per screen so one browser can run two screens. */
export class Session {
  constructor(screen) {
    this.key = `dispatch.token.${screen}`;
    this.token = localStorage.getItem(this.key);
    this.onExpired = () => {};
  }

  /** Log in. A login changes nothing the crew could lose, so an answer lost on the way (a
   * network blip, a 503 while the database restarts, a 2xx whose body was cut off) is asked
   * for again instead of leaving a driver at the form with a script error. */
  async login(username, password) {
    const body = new URLSearchParams({ username, password });
    for (let attempt = 0; ; attempt += 1) {
      const last = attempt >= RESENDS;
      let response;
      try {
        response = await fetch("/auth/token", { method: "POST", body });
      } catch (error) {
        if (last) throw error;
        await pause(1000);
        continue;
      }
      const data = await response.json().catch(() => null);
      if (response.ok && typeof data?.access_token === "string") {
        this.use(data.access_token);
        return data;
      }
      const lost = response.ok || response.status === 503;
      if (!lost || last) {
        const message = response.ok ? t("login.unreadable") : describe(data, response.status);
        throw new ApiError(response.status, message, data);
      }
      console.warn(`login answer unusable (HTTP ${response.status}); asking again`);
      const after = Number(response.headers.get("Retry-After")) || 1;
      await pause(Math.min(after * 1000, MAX_RESEND_WAIT_MS));
    }
  }

  use(token) {
    this.token = token;
    localStorage.setItem(this.key, token);
  }

  logout() {
    this.token = null;
    localStorage.removeItem(this.key);
  }

  async api(method, path, body, idempotencyKey = null) {
    const headers = { Authorization: `Bearer ${this.token}` };
    const init = { method, headers };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    if (idempotencyKey) headers["Idempotency-Key"] = idempotencyKey;
    return this.answer(await fetchKeyed(path, init, idempotencyKey ? RESENDS : 0));
  }

  /** The body of an answer; a 401 ends the session, any other failure is thrown. */
  async answer(response) {
    const data = response.status === 204 ? null : await response.json().catch(() => null);
    if (response.status === 401) {
      this.logout();
      this.onExpired();
    }
    if (!response.ok) throw new ApiError(response.status, describe(data, response.status), data);
    return data;
  }

  get(path) {
    return this.api("GET", path);
  }

  /** Every row of a paged list, page after page (each names the next in X-Next-Cursor):
   * a screen never shows a list that silently stops at one page. */
  async getAll(path) {
    const rows = [];
    let cursor = null;
    do {
      const joiner = path.includes("?") ? "&" : "?";
      const url = cursor ? `${path}${joiner}cursor=${encodeURIComponent(cursor)}` : path;
      const response = await fetchKeyed(url, { headers: { Authorization: `Bearer ${this.token}` } }, 0);
      rows.push(...(await this.answer(response)));
      cursor = response.headers.get("X-Next-Cursor");
    } while (cursor);
    return rows;
  }

  post(path, body = {}) {
    return this.api("POST", path, body);
  }

  /** POST (or ``method``) ``body`` as one user ``action`` (the form, or a name for what
   * the person did) with an Idempotency-Key: a double click or a resend after a network
   * blip does it once. Shortly after a success the action is done: pressing again is a
   * new one, new key. */
  async act(action, path, body = {}, method = "POST") {
    const pending = keyFor(action, body);
    const data = await this.api(method, path, body, pending.key);
    setTimeout(() => {
      if (actionKeys.get(action) === pending) actionKeys.delete(action);
    }, DOUBLE_PRESS_MS);
    return data;
  }

  patch(path, body) {
    return this.api("PATCH", path, body);
  }

  /** POST a file as the raw body, once per (action, file): a resend after a network blip
   * or a double click reuses the key, so a day's rides are never booked twice. */
  async upload(action, path, file, contentType) {
    const pending = keyFor(action, { path, name: file.name, size: file.size, at: file.lastModified });
    const headers = { Authorization: `Bearer ${this.token}`, "Content-Type": contentType, "Idempotency-Key": pending.key };
    const data = await this.answer(await fetchKeyed(path, { method: "POST", headers, body: file }, RESENDS));
    actionKeys.delete(action);
    return data;
  }

  /** GET ``path`` and hand the answer to the browser as a download named ``name``. */
  async download(path, name) {
    const response = await fetch(path, { headers: { Authorization: `Bearer ${this.token}` } });
    if (!response.ok) {
      const data = await response.json().catch(() => null);
      throw new ApiError(response.status, describe(data, response.status), data);
    }
    const url = URL.createObjectURL(await response.blob());
    const link = el("a", { href: url, download: name, hidden: true });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  }
}

/** Show a message in a status line (errors in red, kept until replaced). */
export function flash(target, message, kind = "info") {
  target.textContent = message;
  target.className = `flash flash-${kind}`;
  target.hidden = !message;
}

/** Wire a login form: on success call ``onLoggedIn(tokenResponse)``; roles outside
 * ``roles`` are refused here, before any screen data is loaded. */
export function bindLogin(form, session, roles, onLoggedIn) {
  const message = form.querySelector(".flash");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    try {
      const token = await session.login(String(data.get("username")), String(data.get("password")));
      if (!roles.includes(token.role)) {
        session.logout();
        flash(message, t("login.wrong_role"), "error");
        return;
      }
      flash(message, "");
      form.reset();
      onLoggedIn(token);
    } catch (error) {
      flash(message, error.status === 401 ? t("login.failed") : error.message, "error");
    }
  });
}

/** Escape hatch for the tests and for operators debugging a wall display. */
export function expose(name, value) {
  window.dispatchScreens = window.dispatchScreens || {};
  window.dispatchScreens[name] = value;
}
