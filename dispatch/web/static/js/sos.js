// Crew-safety alarms (SOS). The control room: a banner over everything, with a siren made by
// the Web Audio API (no sound file), sounding until a dispatcher acknowledges every open
// alarm. The crew page: an SOS button with a confirm step, sent over /ws/driver and resent
// after a reconnect until the server acknowledges it.

import { $, el, fmtTime, t } from "./common.js";

// --- the siren ----------------------------------------------------------------------------

/** A two-tone siren from oscillators. Browsers start audio only after a user gesture, so
 * ``unlock()`` runs on the first click anywhere (the login button counts). */
export class Siren {
  constructor() {
    this.context = null;
    this.timer = null;
  }

  unlock() {
    const Context = window.AudioContext || window.webkitAudioContext;
    if (!Context) return;
    if (!this.context) this.context = new Context();
    if (this.context.state === "suspended") this.context.resume().catch(() => {});
  }

  get audible() {
    return Boolean(this.context && this.context.state === "running");
  }

  get playing() {
    return this.timer !== null;
  }

  start() {
    if (this.timer !== null) return;
    this.beep();
    this.timer = setInterval(() => this.beep(), 1400);
  }

  stop() {
    clearInterval(this.timer);
    this.timer = null;
  }

  beep() {
    if (!this.audible) return;
    const ctx = this.context;
    const now = ctx.currentTime;
    [
      [960, 0],
      [700, 0.32],
      [960, 0.64],
    ].forEach(([frequency, offset]) => {
      const tone = ctx.createOscillator();
      const gain = ctx.createGain();
      tone.type = "square";
      tone.frequency.value = frequency;
      gain.gain.setValueAtTime(0.0001, now + offset);
      gain.gain.exponentialRampToValueAtTime(0.25, now + offset + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, now + offset + 0.28);
      tone.connect(gain).connect(ctx.destination);
      tone.start(now + offset);
      tone.stop(now + offset + 0.3);
    });
  }
}

const SIREN = new Siren();

/** Let the siren sound: from the first click or key press on (call once, at start-up, so
 * the login itself is the gesture browsers require). */
export function armSound() {
  const unlock = () => SIREN.unlock();
  document.addEventListener("pointerdown", unlock, true);
  document.addEventListener("keydown", unlock, true);
}

// --- control room -------------------------------------------------------------------------

/** The open alarms, shown in ``root`` (hidden when there are none). ``load()`` after every
 * snapshot (a reloaded or resynced screen), ``apply(event)`` for crew_alarm.* events. */
export class AlarmPanel {
  constructor(root, session, { vehicleName, vehiclePosition, onShow }) {
    this.root = root;
    this.session = session;
    this.vehicleName = vehicleName;
    this.vehiclePosition = vehiclePosition;
    this.onShow = onShow;
    this.alarms = new Map();
    this.siren = SIREN;
    this.error = null;
    document.addEventListener("pointerdown", () => setTimeout(() => this.render(), 100));
  }

  async load() {
    const open = await this.session.get("/crew-alarms");
    this.alarms = new Map(open.map((a) => [a.id, a]));
    this.render();
  }

  apply(event) {
    const { type, data } = event;
    if (type === "crew_alarm.raised") {
      if (!this.alarms.has(data.alarm_id)) {
        this.alarms.set(data.alarm_id, {
          id: data.alarm_id,
          vehicle_id: data.vehicle_id,
          kind: data.kind,
          source: data.source,
          raised_at: data.raised_at,
          lat: data.lat,
          lon: data.lon,
          repeats: 0,
          is_open: true,
        });
      }
    } else if (type === "crew_alarm.acknowledged") {
      this.alarms.delete(data.alarm_id);
    }
    this.render();
  }

  async acknowledge(id) {
    try {
      await this.session.post(`/crew-alarms/${id}/acknowledge`);
      this.alarms.delete(id);
      this.error = null;
    } catch (error) {
      this.error = error.message;
    }
    this.render();
  }

  where(alarm) {
    if (alarm.lat !== null && alarm.lat !== undefined) return [alarm.lat, alarm.lon];
    return this.vehiclePosition(alarm.vehicle_id);
  }

  render() {
    const alarms = [...this.alarms.values()].sort((a, b) => Date.parse(a.raised_at) - Date.parse(b.raised_at));
    if (alarms.length) this.siren.start();
    else this.siren.stop();
    this.root.hidden = alarms.length === 0;
    this.root.dataset.count = String(alarms.length);
    this.root.dataset.siren = this.siren.playing ? "on" : "off";
    this.root.dataset.audible = this.siren.audible ? "1" : "0";
    const items = alarms.map((alarm) => {
      const unit = this.vehicleName(alarm.vehicle_id);
      const at = this.where(alarm);
      return el(
        "li",
        { class: "sos-alarm", "data-alarm": alarm.id, "data-unit": unit },
        el("b", { class: "sos-title" }, t("sos.banner", { unit })),
        el("span", {}, t("sos.since", { time: fmtTime(alarm.raised_at) })),
        alarm.repeats ? el("span", {}, t("sos.repeated", { n: alarm.repeats })) : null,
        at ? el("span", { class: "num" }, t("sos.where", { lat: at[0].toFixed(5), lon: at[1].toFixed(5) })) : null,
        at ? el("button", { type: "button", onclick: () => this.onShow(at) }, t("sos.show")) : null,
        el("button", { type: "button", class: "primary", "data-sos-ack": alarm.id, onclick: () => this.acknowledge(alarm.id) }, t("sos.acknowledge")),
      );
    });
    const hint = alarms.length && !this.siren.audible ? el("p", { class: "sos-hint" }, t("sos.sound_blocked")) : null;
    const error = this.error ? el("p", { class: "flash", "data-kind": "error" }, this.error) : null;
    this.root.replaceChildren(...[el("ul", {}, items), hint, error].filter(Boolean));
  }
}

// --- crew page ----------------------------------------------------------------------------

/** The SOS button. ``send(message)`` returns false when the socket is not open; the SOS
 * then waits and goes out on the next welcome, with its original time, so the server
 * folds a resend into the same alarm. */
export class CrewSos {
  constructor(root, { send, position }) {
    this.root = root;
    this.send = send;
    this.position = position;
    this.pending = null;
    this.before = null;
    this.state = "idle"; // idle | confirm | sending | offline | sent | acknowledged | failed
    this.detail = {};
    this.counter = 0;
    this.render();
  }

  ask() {
    this.before = this.state;
    this.state = "confirm";
    this.render();
  }

  cancel() {
    this.state = this.before ?? "idle";
    this.render();
  }

  confirm() {
    const [lat, lon] = this.position() || [null, null];
    this.counter += 1;
    this.pending = { type: "sos", id: `sos-${Date.now()}-${this.counter}`, at: new Date().toISOString(), lat, lon };
    this.transmit();
  }

  transmit() {
    if (!this.pending) return;
    this.state = this.send(this.pending) ? "sending" : "offline";
    this.render();
  }

  /** After every welcome: an SOS not yet acknowledged goes out again. */
  onConnected() {
    if (this.pending) this.transmit();
  }

  /** Returns true when the message was about the SOS. */
  onMessage(data) {
    if (this.pending && data.id === this.pending.id && (data.type === "ack" || data.type === "error")) {
      if (data.type === "ack") {
        this.detail = { time: this.pending.at };
        this.state = "sent";
        this.pending = null;
      } else {
        this.detail = { error: data.message };
        this.state = "failed";
      }
      this.render();
      return true;
    }
    if (data.type === "alarm") {
      this.detail = { who: data.data?.acknowledged_by ?? "" };
      this.state = "acknowledged";
      this.render();
      return true;
    }
    return false;
  }

  render() {
    const status = {
      sending: t("sos.sending"),
      offline: t("sos.offline"),
      sent: t("sos.sent", { time: fmtTime(this.detail.time) }),
      acknowledged: t("sos.acknowledged", { who: this.detail.who }),
      failed: t("sos.failed", { error: this.detail.error }),
    }[this.state];
    const parts = [];
    if (this.state === "confirm") {
      parts.push(
        el("p", { class: "sos-question" }, t("sos.confirm")),
        el(
          "div",
          { class: "sos-actions" },
          el("button", { type: "button", class: "sos-confirm big", "data-testid": "sos-confirm", onclick: () => this.confirm() }, t("sos.send")),
          el("button", { type: "button", class: "big", onclick: () => this.cancel() }, t("sos.cancel")),
        ),
      );
    } else {
      parts.push(el("button", { type: "button", class: "sos-button", "data-testid": "sos-button", onclick: () => this.ask() }, t("sos.button")));
    }
    if (status) parts.push(el("p", { class: "sos-status", "data-testid": "sos-status", "data-state": this.state }, status));
    this.root.dataset.state = this.state;
    this.root.replaceChildren(...parts);
  }
}

/** The banner element of the control room (created once; lives outside the panel grid). */
export function alarmBanner() {
  let root = $("#sos");
  if (!root) {
    root = el("section", { id: "sos", class: "sos-banner", role: "alert", "data-testid": "sos", hidden: true });
    document.body.append(root);
  }
  return root;
}
