// SPDX-License-Identifier: MIT
// rollcall.js: the small client the teacher and student pages use (and any other page or
// script): one WebSocket to the broker, with
//  - requests that carry an id and resolve with their reply, or reject with the broker's
//    ERROR (a RollcallError with its code) or a timeout;
//  - event subscription (on/off), for what the broker pushes;
//  - reconnection on its own, with exponential backoff and full jitter, until close();
//  - token renewal in place: on TOKEN_EXPIRING it asks getToken() (when the page has a way
//    to get a new token) and sends AUTH; a connection refused or closed for an expired
//    token asks getToken() before it tries again;
//  - binary frames (a webcam JPEG) sent as they are.
// The token lives only in this object's memory and in the connection's URL; it is never
// logged. No dependency; an ES module for the browser (a WebSocket implementation may be
// passed in, for Node).

export class RollcallError extends Error {
  constructor(code, message, reply) {
    super(message);
    this.name = "RollcallError";
    this.code = code;
    this.reply = reply;
  }
}

// Close codes after which trying again cannot help (docs/PROTOCOL.md "Close codes").
const FINAL_CLOSES = new Set([
  4004, // not on the class roster
]);
const TOKEN_CLOSES = new Set([4003]); // the token expired: a new one is needed

// The token's claims, decoded without checking the signature (the broker checks it): for a
// page's own words (who, which classes, when it ends). null when unreadable.
export function tokenClaims(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const bin = atob(part + "=".repeat((4 - (part.length % 4)) % 4));
    const claims = JSON.parse(new TextDecoder().decode(Uint8Array.from(bin, (c) => c.charCodeAt(0))));
    return claims && typeof claims === "object" ? claims : null;
  } catch {
    return null;
  }
}

// True when the token's exp has passed by this machine's clock, with the broker's default
// leeway (30 s) so that a clock a little ahead does not refuse a good token. A broker
// refuses an expired token at the upgrade, which a browser sees only as 1006, so the client
// tells it apart itself and stops retrying when it cannot get a new one.
export const EXPIRY_LEEWAY_MS = 30000;
export function tokenExpired(token) {
  const c = tokenClaims(token);
  return !!c && typeof c.exp === "number" && c.exp * 1000 + EXPIRY_LEEWAY_MS <= Date.now();
}

export class Rollcall {
  // options:
  //   url               ws(s)://host/ws (default: this page's origin + /ws)
  //   token             the JWT
  //   getToken          async () => a new token, or null (optional)
  //   requestTimeoutMs  10000
  //   backoffMinMs      500, backoffMaxMs 15000
  //   WebSocket         an implementation (default: globalThis.WebSocket)
  constructor(options = {}) {
    const loc = globalThis.location;
    this.url = options.url ||
      (loc ? `${loc.protocol === "https:" ? "wss:" : "ws:"}//${loc.host}/ws` : null);
    if (!this.url) throw new Error("rollcall: no url");
    this.token = options.token || null;
    this.getToken = options.getToken || null;
    this.requestTimeoutMs = options.requestTimeoutMs ?? 10000;
    this.backoffMinMs = options.backoffMinMs ?? 500;
    this.backoffMaxMs = options.backoffMaxMs ?? 15000;
    this.WS = options.WebSocket || globalThis.WebSocket;
    this.ws = null;
    this.state = "idle"; // idle, connecting, open, waiting (to reconnect), closed
    this.attempt = 0;
    this.handlers = new Map();
    this.pending = new Map();
    this.nextId = 1;
    this.timer = null;
    this.welcome = null;
    this.stopped = false;
    this.renewing = null;
  }

  // Subscribes to an event: a broker event name ("WELCOME", "PRESENCE", ...), "*" for every
  // message, or one of the client's own: "state" ({state, attempt, delayMs, code, reason}),
  // "renewed" (the AUTHENTICATED reply of a renewal in place), "renew-failed" (its error).
  // Returns the function that unsubscribes.
  on(event, fn) {
    if (!this.handlers.has(event)) this.handlers.set(event, new Set());
    this.handlers.get(event).add(fn);
    return () => this.off(event, fn);
  }

  off(event, fn) {
    const set = this.handlers.get(event);
    if (set) set.delete(fn);
  }

  emit(event, arg) {
    for (const key of [event, "*"]) {
      const set = this.handlers.get(key);
      if (!set) continue;
      for (const fn of [...set]) {
        try {
          fn(arg);
        } catch (e) {
          // A page's handler must not break the client; show it where developers look.
          setTimeout(() => { throw e; });
        }
      }
    }
  }

  setState(state, extra = {}) {
    this.state = state;
    const set = this.handlers.get("state");
    if (set) for (const fn of [...set]) fn({ state, attempt: this.attempt, ...extra });
  }

  // Opens the connection (and keeps it open until close()).
  connect() {
    this.stopped = false;
    if (this.state === "open" || this.state === "connecting") return;
    clearTimeout(this.timer);
    this.open();
  }

  open() {
    if (!this.token) {
      this.setState("closed", { code: 0, reason: "no token" });
      return;
    }
    if (tokenExpired(this.token)) {
      this.closed(4003, "token expired");
      return;
    }
    this.setState("connecting");
    const sep = this.url.includes("?") ? "&" : "?";
    const ws = new this.WS(`${this.url}${sep}token=${encodeURIComponent(this.token)}`);
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    ws.onopen = () => {
      if (this.ws !== ws) return;
      this.attempt = 0;
      this.setState("open");
    };
    ws.onmessage = (ev) => {
      if (this.ws !== ws || typeof ev.data !== "string") return;
      let msg;
      try {
        msg = JSON.parse(ev.data);
      } catch {
        return;
      }
      this.dispatch(msg);
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.dropPending("the connection closed");
      this.closed(ev.code, ev.reason || "");
    };
    ws.onerror = () => {}; // a close follows
  }

  dispatch(msg) {
    if (msg.event === "WELCOME") this.welcome = msg.data;
    if (msg.event === "TOKEN_EXPIRING") this.renew();
    if (msg.id !== undefined && this.pending.has(msg.id)) {
      const p = this.pending.get(msg.id);
      this.pending.delete(msg.id);
      clearTimeout(p.timer);
      if (msg.event === "ERROR") {
        const d = msg.data || {};
        p.reject(new RollcallError(d.code, d.message, msg));
      } else {
        p.resolve(msg);
      }
    }
    this.emit(msg.event, msg);
  }

  async renew() {
    if (!this.getToken || this.renewing) return;
    this.renewing = (async () => {
      try {
        const token = await this.getToken();
        if (!token || token === this.token) {
          this.emit("renew-failed", new Error("no new token"));
          return;
        }
        this.token = token;
        if (this.state === "open") {
          const m = await this.request("AUTH", { token });
          this.emit("renewed", m);
        }
      } catch (e) {
        this.emit("renew-failed", e);
      } finally {
        this.renewing = null;
      }
    })();
    return this.renewing;
  }

  async closed(code, reason) {
    if (this.stopped || code === 1000) {
      this.setState("closed", { code, reason });
      return;
    }
    if (FINAL_CLOSES.has(code)) {
      this.setState("closed", { code, reason });
      return;
    }
    if (TOKEN_CLOSES.has(code) || tokenExpired(this.token) || (code === 1006 && this.attempt > 0)) {
      // An expired token (or an upgrade refused again and again, which a browser reports
      // as 1006): ask for a new one first when the page can.
      let renewed = false;
      if (this.getToken) {
        try {
          const t = await this.getToken();
          if (t && t !== this.token) {
            this.token = t;
            renewed = true;
          }
        } catch {
          // keep the old one; the backoff below still applies
        }
      }
      if (this.stopped) return;
      // The broker said the token ended (4003), whatever this machine's clock says, or
      // the clock says so: without a new token, trying again cannot help.
      if (!renewed && (TOKEN_CLOSES.has(code) || tokenExpired(this.token))) {
        this.setState("closed", { code: 4003, reason: "token expired" });
        return;
      }
    }
    const cap = Math.min(this.backoffMaxMs, this.backoffMinMs * 2 ** this.attempt);
    const delayMs = Math.floor(Math.random() * cap) + 1;
    this.attempt += 1;
    this.setState("waiting", { code, reason, delayMs });
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      if (!this.stopped) this.open();
    }, delayMs);
  }

  dropPending(why) {
    for (const [, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new Error(why));
    }
    this.pending.clear();
  }

  // Sends {event, data} without waiting for anything. Returns false when not connected.
  send(event, data = {}) {
    if (!this.ws || this.state !== "open") return false;
    this.ws.send(JSON.stringify({ event, data }));
    return true;
  }

  // Sends a request with an id; resolves with the reply message ({event, data, id}) or
  // rejects with a RollcallError (the broker's ERROR: .code, .message) or an Error (not
  // connected, timed out, connection lost).
  request(event, data = {}, { timeoutMs } = {}) {
    if (!this.ws || this.state !== "open") {
      return Promise.reject(new Error("not connected"));
    }
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${event}: no reply within ${timeoutMs ?? this.requestTimeoutMs} ms`));
      }, timeoutMs ?? this.requestTimeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      this.ws.send(JSON.stringify({ event, data, id }));
    });
  }

  // Sends one binary message (a JPEG or PNG frame: ArrayBuffer, typed array or Blob).
  sendFrame(bytes) {
    if (!this.ws || this.state !== "open") return false;
    this.ws.send(bytes);
    return true;
  }

  // Closes for good (no reconnection).
  close() {
    this.stopped = true;
    clearTimeout(this.timer);
    this.dropPending("closed");
    if (this.ws) {
      const ws = this.ws;
      this.ws = null;
      ws.close(1000, "bye");
    }
    this.setState("closed", { code: 1000, reason: "closed by the page" });
  }
}
