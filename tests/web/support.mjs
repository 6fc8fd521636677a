// SPDX-License-Identifier: MIT
// What the tests in tests/web share: the real broker ($ROLLCALL_BIN) on a loopback port in a
// temp dir, restartable on the same port and stopped by its PID, and HS256 tokens signed
// with its secret.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHmac, randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
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
