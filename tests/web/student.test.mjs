// SPDX-License-Identifier: MIT
// The student page (web/student.html) in Debian's Chromium, headless, against the real broker
// serving the repository's web/: with Chromium's built-in fake camera (a synthetic picture,
// no face) the page turns the camera on, takes its token from the fragment and removes it,
// sends frames at the broker's frame_interval, says that no session is running until the
// teacher (a Node client) starts one, then shows the analysis (no face found); a broker that
// goes away is reported as a lost connection; a denied or missing camera is reported in
// words; a hidden tab sends no frames after its grace period, and says so; a student of two
// classes checks in to the class whose session runs (FRAME with its class_id), and the page
// stops sending frames once the teacher ends the day.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import WebSocket from "ws";
import { Rollcall } from "../../web/rollcall.js";
import { TestBroker, sleep } from "./support.mjs";

const HERE = dirname(fileURLToPath(import.meta.url));
const CHROMIUM = process.env.ROLLCALL_CHROMIUM || "/usr/bin/chromium";
const BASE_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync"];
const broker = new TestBroker({ ROLLCALL_FRAME_INTERVAL: "1",
  ROLLCALL_WEB_DIR: join(HERE, "..", "..", "web") });
const token = (claims) => broker.token(claims, 600);

async function waitFor(page, id, re, ms = 20000) {
  const end = Date.now() + ms;
  let got = "";
  while (Date.now() < end) {
    got = (await page.locator(`#${id}`).textContent()) || "";
    if (re.test(got)) return got;
    await sleep(100);
  }
  assert.fail(`#${id}: ${JSON.stringify(got)} does not match ${re}`);
}

before(async () => {
  assert.ok(existsSync(CHROMIUM), `no Chromium at ${CHROMIUM} (scripts/setup.sh installs it)`);
  await broker.start();
});

after(() => broker.close());

test("the student page: camera, frames, session and connection messages", async () => {
  const browser = await chromium.launch({ executablePath: CHROMIUM,
    args: [...BASE_ARGS, "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"] });
  try {
    const page = await browser.newPage();
    const errors = [];
    page.on("pageerror", (e) => errors.push(e.message));
    page.on("console", (m) => {
      if (/Content Security Policy/i.test(m.text())) errors.push(`CSP: ${m.text()}`);
    });
    const tok = token({ sub: "s-page", role: "student", class_id: "c-page", name: "Sam" });
    await page.goto(`http://127.0.0.1:${broker.port}/student#token=${tok}`);
    assert.ok(!page.url().includes("token="), "the token left the address bar");
    await waitFor(page, "connection", /^Connected\.$/);
    await waitFor(page, "camera-status", /camera is on/);
    await waitFor(page, "who", /Signed in as Sam, class c-page/);
    // No session yet: the broker refuses the frames, the page says so in words.
    await waitFor(page, "session-status", /No class session is running/);
    assert.ok(await page.evaluate(() => window.rollcallFramesSent >= 1), "frames were sent");

    // The teacher starts the session; the next frames are analyzed (the fake camera's
    // picture has no face).
    const teacher = new Rollcall({ url: `ws://127.0.0.1:${broker.port}/ws`, WebSocket,
      token: token({ sub: "t-page", role: "teacher", class_id: "c-page" }) });
    const welcomed = new Promise((r) => teacher.on("WELCOME", r));
    teacher.connect();
    await welcomed;
    await teacher.request("SESSION_START", { class_id: "c-page" });
    await waitFor(page, "session-status", /running|started/);
    await waitFor(page, "face", /^No$/, 30000);
    await waitFor(page, "engagement", /^\d+ %$/);
    await waitFor(page, "attendance", /Not decided yet|Present|Absent|Late/);
    teacher.close();

    // The broker goes away: the page says the connection is lost and that it retries.
    await broker.stop();
    await waitFor(page, "connection", /connection was lost\. Trying again/);
    await broker.start();
    await waitFor(page, "connection", /^Connected\.$/, 20000);
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
  }
});

test("the student page says when the camera is denied", async () => {
  // Without the fake UI flag, headless Chromium refuses the camera permission.
  const browser = await chromium.launch({ executablePath: CHROMIUM,
    args: [...BASE_ARGS, "--use-fake-device-for-media-stream"] });
  try {
    const context = await browser.newContext({ permissions: [] });
    const page = await context.newPage();
    const tok = token({ sub: "s-denied", role: "student", class_id: "c-page" });
    await page.goto(`http://127.0.0.1:${broker.port}/student#token=${tok}`);
    await waitFor(page, "camera-status", /Camera access was denied/);
    await waitFor(page, "connection", /^Connected\.$/);
  } finally {
    await browser.close();
  }
});

test("the student page asks for a token when the address has none", async () => {
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: BASE_ARGS });
  try {
    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${broker.port}/student`);
    await waitFor(page, "connection", /sign in to start/);
    assert.equal(await page.locator("#token-box").isVisible(), true);
    // The form is labelled and usable with the keyboard alone.
    await page.locator("#token-input").focus();
    await page.keyboard.type(token({ sub: "s-typed", role: "student", class_id: "c-page" }));
    await page.keyboard.press("Tab");
    await page.keyboard.press("Enter");
    await waitFor(page, "connection", /^Connected\.$/);
    await waitFor(page, "who", /s-typed/);
  } finally {
    await browser.close();
  }
});

test("the student page says when no camera is found", async () => {
  // The permission is granted but the machine has no camera (no fake device).
  const browser = await chromium.launch({ executablePath: CHROMIUM,
    args: [...BASE_ARGS, "--use-fake-ui-for-media-stream"] });
  try {
    const page = await browser.newPage();
    const tok = token({ sub: "s-nocam", role: "student", class_id: "c-page" });
    await page.goto(`http://127.0.0.1:${broker.port}/student#token=${tok}`);
    await waitFor(page, "camera-status", /No camera was found\. Connect a camera, then reload the page\./);
    await waitFor(page, "connection", /^Connected\.$/);
    await sleep(2500); // two frame intervals: nothing to send without a camera
    assert.equal(await page.evaluate(() => window.rollcallFramesSent || 0), 0);
  } finally {
    await browser.close();
  }
});

test("a hidden tab sends no frames after a few seconds, says so, and resumes when shown", async () => {
  const browser = await chromium.launch({ executablePath: CHROMIUM,
    args: [...BASE_ARGS, "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"] });
  try {
    const page = await browser.newPage();
    const tok = token({ sub: "s-hidden", role: "student", class_id: "c-page" });
    await page.goto(`http://127.0.0.1:${broker.port}/student#token=${tok}`);
    await waitFor(page, "camera-status", /camera is on/);
    const sent = () => page.evaluate(() => window.rollcallFramesSent || 0);
    const end = Date.now() + 10000;
    while ((await sent()) < 1 && Date.now() < end) await sleep(100);
    assert.ok((await sent()) >= 1, "frames are sent while the tab is shown");

    // Headless Chromium keeps every tab visible, so the test sets what a browser sets when
    // the student switches tabs (document.hidden, visibilityState) and fires its event.
    const setHidden = (hidden) => page.evaluate((h) => {
      Object.defineProperty(document, "hidden", { configurable: true, get: () => h });
      Object.defineProperty(document, "visibilityState", { configurable: true,
        get: () => (h ? "hidden" : "visible") });
      document.dispatchEvent(new Event("visibilitychange"));
    }, hidden);
    await setHidden(true);
    await waitFor(page, "camera-status", /Frames are paused while this tab is hidden/, 10000);
    const paused = await sent();
    await sleep(2500); // more than two frame intervals
    assert.equal(await sent(), paused, "no frame while hidden past the grace period");

    await setHidden(false);
    await waitFor(page, "camera-status", /camera is on/);
    const back = Date.now() + 10000;
    while ((await sent()) <= paused && Date.now() < back) await sleep(100);
    assert.ok((await sent()) > paused, "frames resume when the tab is shown");
  } finally {
    await browser.close();
  }
});

test("two classes: frames go to the class whose session runs, and stop after DONE", async () => {
  const browser = await chromium.launch({ executablePath: CHROMIUM,
    args: [...BASE_ARGS, "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"] });
  const teacher = new Rollcall({ url: `ws://127.0.0.1:${broker.port}/ws`, WebSocket,
    token: token({ sub: "t-two", role: "teacher", class_id: "c-two-b" }) });
  try {
    const page = await browser.newPage();
    const tok = token({ sub: "s-two", role: "student", classes: ["c-two-a", "c-two-b"], name: "Two" });
    await page.goto(`http://127.0.0.1:${broker.port}/student#token=${tok}`);
    await waitFor(page, "connection", /^Connected\.$/);
    await waitFor(page, "camera-status", /camera is on/);
    assert.equal(await page.locator("#class-box").isVisible(), true, "the class choice is shown");
    assert.equal(await page.getByLabel("Class you are checking in to").inputValue(), "c-two-a");

    // The teacher of the second class starts it: the page follows and is analyzed there.
    const welcomed = new Promise((r) => teacher.on("WELCOME", r));
    teacher.connect();
    await welcomed;
    const updates = [];
    teacher.on("ENGAGEMENT_UPDATE", (m) => updates.push(m.data));
    await teacher.request("SESSION_START", { class_id: "c-two-b" });
    await waitFor(page, "face", /^No$/, 30000);
    assert.equal(await page.getByLabel("Class you are checking in to").inputValue(), "c-two-b");
    assert.ok(updates.some((u) => u.class_id === "c-two-b" &&
      u.students.some((x) => x.student_id === "s-two")), "the teacher of c-two-b got the student's line");

    // DONE: the page says the day is over and sends no more frames.
    await teacher.request("DONE", { class_id: "c-two-b" });
    await waitFor(page, "session-status", /session is over; your attendance is saved/);
    await waitFor(page, "attendance", /^(Present|Absent)$/);
    const sent = () => page.evaluate(() => window.rollcallFramesSent || 0);
    const after = await sent();
    await sleep(2500);
    assert.equal(await sent(), after, "no frame after the day ended");
    await waitFor(page, "session-status", /session is over/);
  } finally {
    teacher.close();
    await browser.close();
  }
});
