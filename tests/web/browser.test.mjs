// SPDX-License-Identifier: MIT
// web/rollcall.js in a real browser: Debian's Chromium, headless, driven by playwright-core
// (executablePath: /usr/bin/chromium; no browser download), against the real broker serving
// a check page (tests/web/page/) and the client from a temp ROLLCALL_WEB_DIR. The page takes
// its token from the URL fragment and removes it; under the broker's Content-Security-Policy
// the page's inline script does not run while its module does, and the client talks to the
// broker over the page's own origin; after a broker restart it reconnects on its own.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync, existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { TestBroker, sleep } from "./support.mjs";

const HERE = dirname(fileURLToPath(import.meta.url));
const CHROMIUM = process.env.ROLLCALL_CHROMIUM || "/usr/bin/chromium";
const webDir = mkdtempSync(join(tmpdir(), "rollcall-browser-web-"));
const broker = new TestBroker({ ROLLCALL_WEB_DIR: webDir });
let browser = null;

before(async () => {
  assert.ok(existsSync(CHROMIUM), `no Chromium at ${CHROMIUM} (scripts/setup.sh installs it)`);
  copyFileSync(join(HERE, "..", "..", "web", "rollcall.js"), join(webDir, "rollcall.js"));
  for (const f of ["client-check.html", "client-check.js"])
    copyFileSync(join(HERE, "page", f), join(webDir, f));
  await broker.start();
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync"],
  });
});

after(async () => {
  if (browser) await browser.close();
  await broker.close();
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
  const tok = broker.token({ sub: "t-browser", role: "teacher", class_id: "c-browser" });
  await page.goto(`http://127.0.0.1:${broker.port}/static/client-check.html#token=${tok}`);

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
  await broker.stop();
  await waitText(page, "state", "waiting");
  await sleep(300);
  await broker.start();
  await waitText(page, "welcomes", "2", 15000);
  await waitText(page, "pong", "PONG 2");
  assert.deepEqual(problems, []);
  await context.close();
});
