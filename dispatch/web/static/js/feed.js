// The control room's live feed (/ws/control): hello → snapshot, then events with a gap-free
// sequence number, coalesced position frames and heartbeats. When the connection drops —
// network, server restart, or close code 4409 because this screen fell behind — it
// reconnects and resumes from the last {epoch, seq} it applied, so no event is lost and the
// page is never reloaded. Only when the server no longer has the missed events does it send
// a fresh snapshot instead.

const CLOSE_UNAUTHORIZED = 4401;
const CLOSE_RESYNC = 4409;
const MAX_BACKOFF_MS = 10000;

export class ControlFeed {
  /**
   * @param {() => string|null} token the current access token
   * @param {{snapshot: Function, event: Function, positions: Function, status: Function,
   *          unauthorized: Function}} handlers
   */
  constructor(token, handlers) {
    this.token = token;
    this.handlers = handlers;
    this.epoch = null;
    this.seq = null;
    this.ws = null;
    this.backoff = 500;
    this.stopped = false;
    this.stats = { connects: 0, snapshots: 0, resumes: 0, resyncs: 0, events: 0 };
    this.lastMessageAt = 0;
  }

  start() {
    this.stopped = false;
    this.connect();
    // A silent socket (no heartbeat for three intervals) is treated as dead.
    this.watchdog = setInterval(() => {
      if (this.ws && this.ws.readyState === WebSocket.OPEN && Date.now() - this.lastMessageAt > 50000) {
        this.ws.close();
      }
    }, 5000);
  }

  stop() {
    this.stopped = true;
    clearInterval(this.watchdog);
    clearTimeout(this.retryTimer);
    if (this.ws) this.ws.close(1000, "screen closed");
  }

  connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(`${scheme}://${location.host}/ws/control`);
    this.ws = ws;
    this.handlers.status("connecting");
    ws.addEventListener("open", () => {
      this.stats.connects += 1;
      this.lastMessageAt = Date.now();
      const hello = { type: "hello", token: this.token() };
      if (this.epoch !== null && this.seq !== null) hello.resume = { epoch: this.epoch, seq: this.seq };
      ws.send(JSON.stringify(hello));
    });
    ws.addEventListener("message", (message) => {
      if (ws !== this.ws) return;
      this.lastMessageAt = Date.now();
      this.receive(JSON.parse(message.data));
    });
    ws.addEventListener("close", (event) => {
      if (ws !== this.ws) return;
      this.ws = null;
      if (this.stopped) return;
      if (event.code === CLOSE_UNAUTHORIZED) {
        this.handlers.status("unauthorized");
        this.handlers.unauthorized();
        return;
      }
      this.handlers.status("reconnecting");
      let delay = this.backoff;
      if (event.code === CLOSE_RESYNC) {
        this.stats.resyncs += 1;
        delay = 0; // told to resume: do it at once
      } else {
        this.backoff = Math.min(this.backoff * 2, MAX_BACKOFF_MS);
      }
      this.retryTimer = setTimeout(() => this.connect(), delay);
    });
  }

  receive(message) {
    switch (message.type) {
      case "snapshot":
        this.epoch = message.epoch;
        this.seq = message.seq;
        this.backoff = 500;
        this.stats.snapshots += 1;
        this.handlers.snapshot(message);
        this.handlers.status("live");
        break;
      case "resumed":
        this.epoch = message.epoch;
        this.seq = message.seq;
        this.backoff = 500;
        this.stats.resumes += 1;
        this.handlers.status("live");
        break;
      case "event":
        if (this.seq !== null && message.seq <= this.seq) return; // already applied
        if (this.seq !== null && message.seq !== this.seq + 1) {
          // A gap should never happen; if it does, start over with a full picture.
          this.epoch = null;
          this.seq = null;
          this.ws?.close();
          return;
        }
        this.seq = message.seq;
        this.stats.events += 1;
        this.handlers.event(message.event, message.seq);
        break;
      case "positions":
        this.handlers.positions(message.positions);
        break;
      default:
        break; // heartbeat
    }
  }
}
