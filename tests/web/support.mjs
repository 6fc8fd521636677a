// SPDX-License-Identifier: MIT
// What the tests in tests/web share: the real broker ($ROLLCALL_BIN) on a loopback port in a
// temp dir, restartable on the same port and stopped by its PID, HS256 tokens signed with
// its secret, a throwaway redis-server for the live state, and Chromium's launch options.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHmac, randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, connect as netConnect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export class TestBroker {
  // env: extra ROLLCALL_* settings.
  constructor(env = {}) {
    this.bin = process.env.ROLLCALL_BIN;
    assert.ok(this.bin, "ROLLCALL_BIN must name the broker");
    this.secret = randomBytes(32).toString("hex");
    this.dir = mkdtempSync(join(tmpdir(), "rollcall-webtest-"));
    this.env = env;
    this.port = 0; // kept across restarts: the clients reconnect to the same address
    this.child = null;
  }

  // A token for claims, valid ttlS seconds from now (claims may override iat and exp).
  token(claims, ttlS = 300) {
    const now = Math.floor(Date.now() / 1000);
    const b64 = (x) => Buffer.from(x).toString("base64url");
    const head = b64(JSON.stringify({ alg: "HS256", typ: "JWT" }));
    const body = b64(JSON.stringify({ iat: now, exp: now + ttlS, ...claims }));
    const sig = createHmac("sha256", this.secret).update(`${head}.${body}`).digest();
    return `${head}.${body}.${b64(sig)}`;
  }

  async start() {
    const portFile = join(this.dir, "port");
    rmSync(portFile, { force: true });
    this.child = spawn(this.bin, ["--host", "127.0.0.1", "--port", String(this.port),
      "--port-file", portFile, "--data-dir", join(this.dir, "data"), "--drain-timeout", "2"], {
      env: { PATH: process.env.PATH, ROLLCALL_JWT_SECRET: this.secret,
        ROLLCALL_LOG_LEVEL: "warn", ROLLCALL_ANALYZER_THREADS: "1",
        ROLLCALL_ANALYZER_PRELOAD: "0", ...this.env },
      stdio: ["ignore", "ignore", "inherit"],
    });
    const end = Date.now() + 10000;
    while (!(existsSync(portFile) && Number(readFileSync(portFile, "utf8")) > 0)) {
      assert.ok(Date.now() < end, "the broker wrote no port file");
      await sleep(20);
    }
    this.port = Number(readFileSync(portFile, "utf8"));
  }

  // SIGTERM (a drain), then waits for the exit.
  async stop() {
    if (!this.child) return;
    const child = this.child;
    this.child = null;
    const exited = new Promise((r) => child.once("exit", r));
    child.kill("SIGTERM");
    await exited;
  }

  signal(sig) {
    this.child.kill(sig);
  }

  async close() {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

// A free loopback port (bound, then released).
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

// A redis-server on a free loopback port in its own temp dir (append-only file fsync'd at
// every write), stopped by its PID.
export class TestRedis {
  constructor() {
    this.bin = process.env.ROLLCALL_REDIS_SERVER || "/usr/bin/redis-server";
    assert.ok(existsSync(this.bin), `no redis-server at ${this.bin} (scripts/setup.sh installs it)`);
    this.dir = mkdtempSync(join(tmpdir(), "rollcall-webredis-"));
    this.child = null;
  }

  get url() {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start() {
    this.port = await freePort();
    this.child = spawn(this.bin, ["--port", String(this.port), "--bind", "127.0.0.1",
      "--dir", this.dir, "--save", "", "--appendonly", "yes", "--appendfsync", "always",
      "--daemonize", "no", "--logfile", join(this.dir, "redis.log")], { stdio: "ignore" });
    const end = Date.now() + 10000;
    for (;;) {
      if (await this.ping()) return;
      assert.ok(Date.now() < end, "redis-server did not answer");
      await sleep(30);
    }
  }

  ping() {
    return new Promise((resolve) => {
      const sock = netConnect(this.port, "127.0.0.1");
      let got = "";
      sock.setTimeout(1000, () => sock.destroy());
      sock.on("connect", () => sock.write("PING\r\n"));
      sock.on("data", (d) => {
        got += d;
        if (got.includes("\r\n")) sock.end();
      });
      sock.on("close", () => resolve(got.startsWith("+PONG")));
      sock.on("error", () => resolve(false));
    });
  }

  async close() {
    if (this.child) {
      const child = this.child;
      this.child = null;
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      await exited;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

// Debian's Chromium, headless, as the browser tests launch it (never a browser download).
export const CHROMIUM = process.env.ROLLCALL_CHROMIUM || "/usr/bin/chromium";
export const CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync"];

// Waits until the text of the element `selector` matches re; fails with what it last saw.
export async function waitForText(page, selector, re, ms = 20000) {
  const end = Date.now() + ms;
  let got = "";
  while (Date.now() < end) {
    got = (await page.locator(selector).first().textContent({ timeout: 500 }).catch(() => "")) || "";
    if (re.test(got)) return got;
    await sleep(100);
  }
  assert.fail(`${selector}: ${JSON.stringify(got)} does not match ${re}`);
}
