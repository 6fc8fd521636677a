// SPDX-License-Identifier: MIT
// web/rollcall.js in a real browser: Debian's Chromium, headless, driven by playwright-core
// (executablePath: /usr/bin/chromium; no browser download), against the real broker serving
// a check page (tests/web/page/) and the client from a temp ROLLCALL_WEB_DIR. The page takes
// its token from the URL fragment and removes it; under the broker's Content-Security-Policy
// the page's inline script does not run while its module does, and the client talks to the
// broker over the page's own origin; after a broker restart it reconnects on its own.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHmac, randomBytes } from "node:crypto";
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const HERE = dirname(fileURLToPath(import.meta.url));
const BIN = process.env.ROLLCALL_BIN;
const CHROMIUM = process.env.ROLLCALL_CHROMIUM || "/usr/bin/chromium";
const SECRET = randomBytes(32).toString("hex");
const dir = mkdtempSync(join(tmpdir(), "rollcall-browser-"));
const webDir = mkdtempSync(join(tmpdir(), "rollcall-browser-web-"));
let broker = null;
let port = 0;
let browser = null;

function token(claims) {
  const now = Math.floor(Date.now() / 1000);
  const b64 = (x) => Buffer.from(x).toString("base64url");
  const head = b64(JSON.stringify({ alg: "HS256", typ: "JWT" }));
  const body = b64(JSON.stringify({ iat: now, exp: now + 300, ...claims }));
  const sig = createHmac("sha256", SECRET).update(`${head}.${body}`).digest();
  return `${head}.${body}.${b64(sig)}`;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function startBroker() {
  const portFile = join(dir, "port");
  rmSync(portFile, { force: true });
  broker = spawn(BIN, ["--host", "127.0.0.1", "--port", String(port), "--port-file", portFile,
    "--data-dir", join(dir, "data"), "--drain-timeout", "2"], {
    env: { PATH: process.env.PATH, ROLLCALL_JWT_SECRET: SECRET, ROLLCALL_LOG_LEVEL: "warn",
      ROLLCALL_ANALYZER_THREADS: "1", ROLLCALL_ANALYZER_PRELOAD: "0",
      ROLLCALL_WEB_DIR: webDir },
    stdio: ["ignore", "ignore", "inherit"],
  });
  const end = Date.now() + 10000;
  while (!(existsSync(portFile) && Number(readFileSync(portFile, "utf8")) > 0)) {
    assert.ok(Date.now() < end, "the broker wrote no port file");
    await sleep(20);
  }
  port = Number(readFileSync(portFile, "utf8"));
}

async function stopBroker() {
  if (!broker) return;
  const child = broker;
  broker = null;
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGTERM");
  await exited;
}

before(async () => {
  assert.ok(BIN, "ROLLCALL_BIN must name the broker");
  assert.ok(existsSync(CHROMIUM), `no Chromium at ${CHROMIUM} (scripts/setup.sh installs it)`);
  copyFileSync(join(HERE, "..", "..", "web", "rollcall.js"), join(webDir, "rollcall.js"));
  for (const f of ["client-check.html", "client-check.js"])
    copyFileSync(join(HERE, "page", f), join(webDir, f));
  await startBroker();
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync"],
  });
});

after(async () => {
  if (browser) await browser.close();
  await stopBroker();
  rmSync(dir, { recursive: true, force: true });
  rmSync(webDir, { recursive: true, force: true });
});

async function text(page, id) {
  return page.locator(`#${id}`).textContent();
}

async function waitText(page, id, want, ms = 10000) {
  const end = Date.now() + ms;
  let got;
  while (Date.now() < end) {
    got = await text(page, id);
    if (got === want) return;
    await sleep(50);
  }
  assert.fail(`#${id}: ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
}

test("rollcall.js in Chromium: token from the fragment, requests, CSP, reconnection", async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  const problems = [];
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  const cspReports = [];
  page.on("console", (m) => {
    if (/Content Security Policy/i.test(m.text())) cspReports.push(m.text());
  });
  const tok = token({ sub: "t-browser", role: "teacher", class_id: "c-browser" });
  await page.goto(`http://127.0.0.1:${port}/static/client-check.html#token=${tok}`);

  await waitText(page, "pong", "PONG 1");
  assert.equal(await text(page, "user"), "t-browser");
  assert.equal(await text(page, "refusal"), "FORBIDDEN");
  assert.equal(await text(page, "hash"), "empty", "the token left the address bar");
  assert.ok(!page.url().includes(tok), "the token is not in the URL any more");
  // The module ran; the inline script did not (the broker's CSP), and said so.
  assert.equal(await page.evaluate(() => window.inlineRan), undefined);
  assert.ok(cspReports.some((t) => /inline/i.test(t)), `no CSP report: ${cspReports}`);
  assert.ok(!cspReports.some((t) => /connect-src/i.test(t)),
    `the WebSocket was blocked: ${cspReports}`);

  // The broker restarts: the page reconnects on its own.
  await stopBroker();
  await waitText(page, "state", "waiting");
  await sleep(300);
  await startBroker();
  await waitText(page, "welcomes", "2", 15000);
  await waitText(page, "pong", "PONG 2");
  assert.deepEqual(problems, []);
  await context.close();
});
