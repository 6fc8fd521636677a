// SPDX-License-Identifier: MIT
// web/rollcall.js against the real broker ($ROLLCALL_BIN on a loopback port), in Node with
// the `ws` package as the WebSocket: requests resolve with their reply or reject with the
// broker's ERROR code or a timeout; events reach subscribers; a broker restart is survived
// on its own (backoff with jitter) and a student off the roster is not retried; TOKEN_EXPIRING
// renews the token in place through getToken and AUTH; binary frames reach the broker.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import WebSocket from "ws";
import { Rollcall, RollcallError } from "../../web/rollcall.js";
import { TestBroker, sleep } from "./support.mjs";

const HERE = dirname(fileURLToPath(import.meta.url));
const PHOTO = join(HERE, "..", "..", "..", "shared", "data", "faces", "aflw2000_image00050.jpg");
const broker = new TestBroker({ ROLLCALL_TOKEN_WARNING: "120" });
const token = (claims) => broker.token(claims);

async function until(what, fn, ms = 10000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await fn()) return;
    await sleep(20);
  }
  assert.fail(`timed out waiting for ${what}`);
}

function client(tok, extra = {}) {
  return new Rollcall({ url: `ws://127.0.0.1:${broker.port}/ws`, token: tok, WebSocket,
    backoffMinMs: 50, backoffMaxMs: 400, ...extra });
}

function next(rc, event, pred = () => true, ms = 5000) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => { off(); reject(new Error(`no ${event}`)); }, ms);
    const off = rc.on(event, (m) => {
      if (!pred(m)) return;
      clearTimeout(t);
      off();
      resolve(m);
    });
  });
}

before(() => broker.start());

after(() => broker.close());

test("requests resolve with their reply, or reject with the ERROR code", async () => {
  const rc = client(token({ sub: "t-1", role: "teacher", class_id: "c-js" }));
  const welcome = next(rc, "WELCOME");
  rc.connect();
  assert.equal((await welcome).data.user_id, "t-1");
  assert.equal(rc.welcome.settings.frame_interval, 3, "the broker's frame interval");
  const pong = await rc.request("PING", { ts: 7 });
  assert.equal(pong.event, "PONG");
  assert.equal(pong.data.ts, 7);
  await assert.rejects(rc.request("ATTENDANCE_MARKED", { class_id: "c-js" }),
    (e) => e instanceof RollcallError && e.code === "INVALID_PAYLOAD");
  await assert.rejects(rc.request("MY_ATTENDANCE", { class_id: "c-js" }),
    (e) => e instanceof RollcallError && e.code === "FORBIDDEN");
  // Events: a session start reaches the subscriber.
  const started = next(rc, "SESSION_STARTED");
  await rc.request("SESSION_START", { class_id: "c-js" });
  assert.equal((await started).data.class_id, "c-js");
  rc.close();
  await assert.rejects(rc.request("PING", {}), /not connected/);
});

test("a request times out when the broker does not answer", async () => {
  const rc = client(token({ sub: "t-2", role: "teacher", class_id: "c-js" }),
    { requestTimeoutMs: 300 });
  const w = next(rc, "WELCOME");
  rc.connect();
  await w;
  broker.signal("SIGSTOP");
  try {
    await assert.rejects(rc.request("PING", {}), /no reply within 300 ms/);
  } finally {
    broker.signal("SIGCONT");
  }
  assert.equal((await rc.request("PING", {})).event, "PONG");
  rc.close();
});

test("reconnects on its own across a broker restart, with backoff", async () => {
  const rc = client(token({ sub: "t-3", role: "teacher", class_id: "c-js" }));
  const states = [];
  rc.on("state", (s) => states.push(s));
  let welcomes = 0;
  rc.on("WELCOME", () => { welcomes += 1; });
  rc.connect();
  await until("the first WELCOME", () => welcomes === 1);
  await broker.stop();
  await until("a wait before retrying", () => states.some((s) => s.state === "waiting"));
  const waits = states.filter((s) => s.state === "waiting");
  assert.equal(waits[0].code, 1001, "the drain closes with 1001");
  await sleep(600); // a few failed attempts while the broker is down
  await broker.start();
  await until("the WELCOME after the restart", () => welcomes === 2, 15000);
  const delays = states.filter((s) => s.state === "waiting").map((s) => s.delayMs);
  assert.ok(delays.length >= 2, `several attempts: ${JSON.stringify(delays)}`);
  assert.ok(delays.every((d) => d >= 1 && d <= 400), `within the backoff cap: ${delays}`);
  assert.equal((await rc.request("PING", {})).event, "PONG");
  rc.close();
  assert.equal(rc.state, "closed");
});

test("TOKEN_EXPIRING renews the token in place through getToken and AUTH", async () => {
  let asked = 0;
  const rc = client(token({ sub: "s-4", role: "student", class_id: "c-js", exp:
    Math.floor(Date.now() / 1000) + 60 }), {
    getToken: async () => {
      asked += 1;
      return token({ sub: "s-4", role: "student", classes: ["c-js", "c-more"] });
    },
  });
  const authed = next(rc, "AUTHENTICATED");
  rc.connect();
  const m = await authed; // TOKEN_EXPIRING came at once (60 s left < ROLLCALL_TOKEN_WARNING)
  assert.equal(asked, 1);
  assert.deepEqual(m.data.classes.sort(), ["c-js", "c-more"]);
  rc.close();
});

test("an expired token is not retried without a way to renew it, and renewed first with one", async () => {
  const past = Math.floor(Date.now() / 1000) - 120;
  const expired = token({ sub: "s-6", role: "student", class_id: "c-js", iat: past - 60, exp: past });
  const states = [];
  const rc = client(expired);
  rc.on("state", (s) => states.push(s.state));
  const closed = next(rc, "state", (s) => s.state === "closed");
  rc.connect();
  const s = await closed;
  assert.equal(s.code, 4003);
  assert.equal(s.reason, "token expired");
  await sleep(300);
  assert.ok(!states.includes("connecting"), `no attempt with the expired token: ${states}`);
  assert.equal(rc.state, "closed");

  let asked = 0;
  const renewing = client(expired, { getToken: async () => {
    asked += 1;
    return token({ sub: "s-6", role: "student", class_id: "c-js" });
  } });
  const w = next(renewing, "WELCOME");
  renewing.connect();
  assert.equal((await w).data.user_id, "s-6");
  assert.equal(asked, 1);
  renewing.close();
});

test("binary frames reach the broker", async () => {
  const rc = client(token({ sub: "s-5", role: "student", class_id: "c-js-frames" }));
  const w = next(rc, "WELCOME");
  rc.connect();
  await w;
  // No session in this class yet: the broker answers the frame with NO_SESSION.
  const err = next(rc, "ERROR");
  assert.ok(rc.sendFrame(readFileSync(PHOTO)));
  assert.equal((await err).data.code, "NO_SESSION");
  rc.close();
});

test("a student refused by the roster (4004) is not retried", async () => {
  // A roster exists only for classes made through the accounts: make one.
  const reg = await fetch(`http://127.0.0.1:${broker.port}/auth/register`, {
    method: "POST", headers: { "content-type": "application/json" },
    body: JSON.stringify({ name: "T", email: "t@web.example", password: "correct horse",
      role: "teacher" }),
  }).then((r) => r.json());
  const made = await fetch(`http://127.0.0.1:${broker.port}/classes`, {
    method: "POST", headers: { "content-type": "application/json",
      authorization: `Bearer ${reg.access_token}` },
    body: JSON.stringify({ name: "Roster" }),
  }).then((r) => r.json());
  const rc = client(token({ sub: "not-on-it", role: "student", class_id: made.class.id }));
  const closed = next(rc, "state", (s) => s.state === "closed");
  rc.connect();
  const s = await closed;
  assert.equal(s.code, 4004);
  await sleep(300);
  assert.equal(rc.state, "closed", "no reconnection after 4004");
});
