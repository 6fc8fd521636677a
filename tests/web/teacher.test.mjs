// SPDX-License-Identifier: MIT
// The teacher page (web/teacher.html) in Debian's Chromium, headless, against the real
// broker serving the repository's web/:
//  - a student's state right now from real photos (no face, then engaged), and a reload that
//    asks for the token again (kept in memory only, never on the console);
//  - a class of 200 students: every one listed and counted, 200 marks in a burst shown, the
//    events drawn in batches (many events per animation frame), the chart started;
//  - the sign-in: a login form (accounts on) that creates the teacher's first class, a
//    student who logs in and joins with the class code, the token renewed in place;
//  - an expired token and a broker that is down are said in words on both pages.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import WebSocket from "ws";
import { Rollcall } from "../../web/rollcall.js";
import { TestBroker, CHROMIUM, CHROMIUM_ARGS, sleep, waitForText } from "./support.mjs";

const HERE = dirname(fileURLToPath(import.meta.url));
const FACES = join(HERE, "..", "..", "..", "shared", "data", "faces");
const ARTIFACTS = process.env.ROLLCALL_ARTIFACTS || join(HERE, "artifacts");
// Broker-issued tokens live 60 s (and the 30 s leeway); they are warned about 80 s before
// their end: a login renews within about 10 s.
const broker = new TestBroker({ ROLLCALL_WEB_DIR: join(HERE, "..", "..", "web"),
  ROLLCALL_TOKEN_TTL: "60", ROLLCALL_TOKEN_WARNING: "80", ROLLCALL_PASSWORD_COST: "4",
  ROLLCALL_LOGIN_ADDRESS_LIMIT: "1000" });
const token = (claims, ttl = 600) => broker.token(claims, ttl);
let browser;

async function page(path, who) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const p = await context.newPage();
  p.errors = [];
  p.on("pageerror", (e) => p.errors.push(`${who}: ${e.message}`));
  p.on("console", (m) => {
    if (/Content Security Policy/i.test(m.text())) p.errors.push(`${who} CSP: ${m.text()}`);
  });
  p.on("dialog", (d) => d.accept());
  await p.goto(`http://127.0.0.1:${broker.port}${path}`);
  return p;
}

async function post(path, body, tok) {
  const headers = { "content-type": "application/json" };
  if (tok) headers.authorization = `Bearer ${tok}`;
  const r = await fetch(`http://127.0.0.1:${broker.port}${path}`, { method: "POST", headers,
    body: body === undefined ? undefined : JSON.stringify(body) });
  return { status: r.status, data: await r.json().catch(() => null) };
}

before(async () => {
  assert.ok(existsSync(CHROMIUM), `no Chromium at ${CHROMIUM} (scripts/setup.sh installs it)`);
  mkdirSync(ARTIFACTS, { recursive: true });
  await broker.start();
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
});

after(async () => {
  if (browser) await browser.close();
  await broker.close();
});

test("the state right now follows the photos; a reload asks for the token again", async () => {
  const CLASS = "c-now";
  const tok = token({ sub: "t-now", role: "teacher", class_id: CLASS, name: "Ms Now" });
  const teacher = await page(`/teacher#token=${tok}`, "teacher");
  const consoleText = [];
  teacher.on("console", (m) => consoleText.push(m.text()));
  try {
    await waitForText(teacher, "#connection", /^Connected\.$/);
    await teacher.getByRole("button", { name: "Start the session" }).click();
    await waitForText(teacher, "#session-status", /The session is running/);
    const student = new Rollcall({ url: `ws://127.0.0.1:${broker.port}/ws`, WebSocket,
      token: token({ sub: "s-now", role: "student", class_id: CLASS, name: "Eve" }) });
    const welcomed = new Promise((r) => student.on("WELCOME", r));
    student.connect();
    await welcomed;
    const row = (cls) => `#roster-body tr[data-student="s-now"] .${cls}`;
    await waitForText(teacher, row("now"), /^Waiting for a picture$/);
    const send = async (photo, want) => {
      // The broker allows 2 frames a second; one every 0.6 s until the page shows it.
      const end = Date.now() + 60000;
      for (;;) {
        student.sendFrame(readFileSync(join(FACES, photo)));
        await sleep(600);
        const got = await teacher.locator(row("now")).textContent();
        if (want.test(got)) return;
        assert.ok(Date.now() < end, `${photo}: the page shows ${JSON.stringify(got)}`);
      }
    };
    await send("dlib_ffmpeg_eagle.jpg", /^No face$/); // an eagle: no face
    await send("aflw2000_image00050.jpg", /^Engaged$/); // one face, looking at the camera
    await waitForText(teacher, row("eng"), /\d+ %$/);
    student.close();
    await waitForText(teacher, row("now"), /^Offline$/);

    // The token lived only in the page's memory: a reload asks for it again.
    await teacher.reload();
    await waitForText(teacher, "#connection", /sign in to start/);
    assert.equal(await teacher.locator("#token-box").isVisible(), true);
    const stored = await teacher.evaluate(() => localStorage.length + sessionStorage.length +
      document.cookie.length);
    assert.equal(stored, 0, "nothing kept in storage or cookies");
    assert.ok(!consoleText.some((t) => t.includes(tok)), "the token never reached the console");
    assert.deepEqual(teacher.errors, []);
  } finally {
    await teacher.context().close();
  }
});

test("a class of 200: every student listed, a burst of marks drawn in batches", async () => {
  const CLASS = "c-200";
  const teacher = await page(`/teacher#token=${token({ sub: "t-200", role: "teacher", class_id: CLASS })}`, "teacher");
  await waitForText(teacher, "#connection", /^Connected\.$/);
  await waitForText(teacher, "#roster-note", /No student has connected yet/);

  // 200 students connect (plain WebSockets, 20 at a time).
  const sockets = [];
  const name = (i) => `Student ${String(i).padStart(3, "0")}`;
  for (let i = 0; i < 200; i += 20) {
    await Promise.all(Array.from({ length: 20 }, (_, k) => new Promise((resolve, reject) => {
      const n = i + k;
      const ws = new WebSocket(`ws://127.0.0.1:${broker.port}/ws?token=` +
        token({ sub: `s-${n}`, role: "student", class_id: CLASS, name: name(n) }));
      ws.on("message", (d) => {
        if (JSON.parse(d).event === "WELCOME") resolve();
      });
      ws.on("error", reject);
      sockets.push(ws);
    })));
  }
  try {
    await waitForText(teacher, "#count-online", /^200$/, 30000);
    assert.equal(await teacher.locator("#roster-body tr").count(), 200);
    // Sorted by name, each online.
    await waitForText(teacher, "#roster-body tr:first-child .name", /^Student 000$/);
    await waitForText(teacher, "#roster-body tr:last-child .name", /^Student 199$/);
    assert.equal(await teacher.locator("#roster-body .conn", { hasText: "Online" }).count(), 200);

    // Another staff connection marks all 200 at once; the page shows every mark, and draws
    // them in far fewer passes than events.
    const staff = new Rollcall({ url: `ws://127.0.0.1:${broker.port}/ws`, WebSocket,
      token: token({ sub: "t-helper", role: "teacher", class_id: CLASS }) });
    const welcomed = new Promise((r) => staff.on("WELCOME", r));
    staff.connect();
    await welcomed;
    await staff.request("SESSION_START", { class_id: CLASS });
    await waitForText(teacher, "#session-status", /The session is running/);
    const before = await teacher.evaluate(() => ({ ...window.rollcallTeacher }));
    await Promise.all(Array.from({ length: 200 }, (_, n) => staff.request("ATTENDANCE_MARKED",
      { class_id: CLASS, student_id: `s-${n}`, status: n % 10 === 0 ? "late" : "present" })));
    await waitForText(teacher, "#count-present", /^180$/, 20000);
    await waitForText(teacher, "#count-late", /^20$/);
    await waitForText(teacher, '#roster-body tr[data-student="s-10"] .att', /^Late \(marked by staff\)$/);
    const after = await teacher.evaluate(() => ({ ...window.rollcallTeacher }));
    const events = after.events - before.events;
    const renders = after.renders - before.renders;
    assert.ok(events >= 200, `the page got the 200 marks (${events} events)`);
    assert.ok(after.maxBatch >= 10, `several events per drawing pass (at most ${after.maxBatch})`);
    assert.ok(renders < events, `${renders} drawing passes for ${events} events`);
    await waitForText(teacher, "#chart-text", /% of the students online are engaged/, 10000);
    await teacher.screenshot({ path: join(ARTIFACTS, "teacher-200.png") });
    staff.close();

    // Students who leave are shown offline, and counted.
    for (const ws of sockets.splice(0, 50)) ws.close();
    await waitForText(teacher, "#count-online", /^150$/, 20000);
    await waitForText(teacher, '#roster-body tr[data-student="s-0"] .conn', /^Offline$/);
    assert.deepEqual(teacher.errors, []);
  } finally {
    for (const ws of sockets) ws.close();
    await teacher.context().close();
  }
});

test("the login form: a teacher's first class, a student who joins by code, renewal in place", async () => {
  const reg = (name, email, role) => post("/auth/register",
    { name, email, password: "a long password", role });
  assert.equal((await reg("Mr Park", "park@school.example", "teacher")).status, 201);
  assert.equal((await reg("Dee", "dee@school.example", "student")).status, 201);

  const teacher = await page("/teacher", "teacher");
  try {
    await waitForText(teacher, "#connection", /sign in to start/);
    await teacher.locator("#login-form").waitFor({ state: "visible" });
    // A wrong password is said, and the page stays on the form.
    await teacher.getByLabel("Email").fill("park@school.example");
    await teacher.getByLabel("Password").fill("not the password");
    await teacher.getByRole("button", { name: "Sign in" }).click();
    await waitForText(teacher, "#login-message", /Wrong email or password/);
    await teacher.getByLabel("Password").fill("a long password");
    await teacher.getByRole("button", { name: "Sign in" }).click();
    // No class yet: the page offers to create one.
    await waitForText(teacher, "#class-message", /no class yet/);
    await teacher.getByLabel("Name of the class").fill("Biology 1");
    await teacher.getByRole("button", { name: "Create the class" }).click();
    await waitForText(teacher, "#connection", /^Connected\.$/);
    await waitForText(teacher, "#who", /Signed in as Mr Park \(teacher\)/);
    await waitForText(teacher, "#class-select option", /^Biology 1 \(/);
    await waitForText(teacher, "#roster-note", /Nobody has joined this class yet/);
    assert.equal(await teacher.locator("#token-box").isVisible(), false);

    // The student logs in and joins with the code the teacher reads out.
    const login = await post("/auth/login", { email: "park@school.example", password: "a long password" });
    const classes = await fetch(`http://127.0.0.1:${broker.port}/classes`, {
      headers: { authorization: `Bearer ${login.data.access_token}` } }).then((r) => r.json());
    const code = classes.classes[0].join_code;
    assert.match(code, /^[A-Z0-9]{6}$/);
    const student = await page("/student", "student");
    try {
      await student.locator("#login-form").waitFor({ state: "visible" });
      await student.getByLabel("Email").fill("dee@school.example");
      await student.getByLabel("Password").fill("a long password");
      await student.keyboard.press("Enter");
      await waitForText(student, "#class-message", /class code your teacher gave you/);
      await student.getByLabel("Class code").fill("NOPE22");
      await student.getByRole("button", { name: "Join the class" }).click();
      await waitForText(student, "#class-message", /No class has this code/);
      await student.getByLabel("Class code").fill(code.toLowerCase());
      await student.getByRole("button", { name: "Join the class" }).click();
      await waitForText(student, "#connection", /^Connected\.$/);
      await waitForText(student, "#who", /Signed in as Dee/);
      // The teacher's roster gets her at once (ROSTER is pushed on a join), online.
      await waitForText(teacher, "#roster-body tr .name", /^Dee$/);
      await waitForText(teacher, "#roster-body tr .conn", /^Online$/);
      await waitForText(teacher, "#roster-note", /Everyone on the class list/);

      // The broker warns 80 s before the tokens end (60 s and the 30 s leeway): the page
      // renews in place through /auth/refresh and AUTH, on the same connection.
      const end = Date.now() + 30000;
      let stats;
      do {
        await sleep(250);
        stats = await teacher.evaluate(() => ({ ...window.rollcallTeacher }));
      } while (stats.renewals < 1 && Date.now() < end);
      assert.ok(stats.renewals >= 1, "the teacher's token was renewed");
      assert.equal(stats.connects, 1, "on the same connection");
      await waitForText(teacher, "#connection", /^Connected\.$/);

      // The teacher removes her: her row goes, and stays gone (her offline PRESENCE and
      // the day's summary, which still names her, do not bring it back).
      const dee = (await post("/auth/login", { email: "dee@school.example", password: "a long password" })).data.user.id;
      const del = await fetch(`http://127.0.0.1:${broker.port}/classes/${classes.classes[0].id}/students/${dee}`,
        { method: "DELETE", headers: { authorization: `Bearer ${login.data.access_token}` } });
      assert.equal(del.status, 204);
      await waitForText(teacher, "#roster-note", /Nobody has joined this class yet/);
      await waitForText(student, "#session-status", /taken off the list/);
      await teacher.getByRole("button", { name: "Refresh the summary" }).click();
      await waitForText(teacher, "#action-message", /summary is up to date/);
      await sleep(500);
      assert.equal(await teacher.locator("#roster-body tr").count(), 0);
      assert.deepEqual([...teacher.errors, ...student.errors], []);
    } finally {
      await student.context().close();
    }
  } finally {
    await teacher.context().close();
  }
});

test("an expired token is said in words, on both pages, without retrying", async () => {
  const past = Math.floor(Date.now() / 1000) - 600;
  for (const [path, claims] of [["/teacher", { sub: "t-old", role: "teacher", class_id: "c-x" }],
    ["/student", { sub: "s-old", role: "student", class_id: "c-x" }]]) {
    const p = await page(`${path}#token=${token({ ...claims, iat: past - 60, exp: past })}`, path);
    try {
      await waitForText(p, "#connection", /Your sign-in has expired\. Reload the page and sign in again\./);
      await sleep(1500);
      await waitForText(p, "#connection", /Your sign-in has expired/);
      assert.ok(!p.url().includes("token="));
      assert.deepEqual(p.errors, []);
    } finally {
      await p.context().close();
    }
  }
});

test("a sign-in the server refuses is said in words, on both pages, once it is clear", async () => {
  // Signed with another secret: the upgrade is refused (a browser sees only 1006) while
  // the server answers over HTTP.
  const bad = new TestBroker(); // its secret, not the broker's
  for (const [path, claims] of [["/teacher", { sub: "t-bad", role: "teacher", class_id: "c-x" }],
    ["/student", { sub: "s-bad", role: "student", class_id: "c-x" }]]) {
    const p = await page(`${path}#token=${bad.token(claims)}`, path);
    try {
      await waitForText(p, "#connection", /The server refused this sign-in/, 30000);
      assert.deepEqual(p.errors, []);
    } finally {
      await p.context().close();
    }
  }
  await bad.close(); // never started: only its secret was used
});

test("a broker that is down is said in words, and the page connects once it is back", async () => {
  for (const [path, claims] of [["/teacher", { sub: "t-down", role: "teacher", class_id: "c-down" }],
    ["/student", { sub: "s-down", role: "student", class_id: "c-down" }]]) {
    // The page is loaded, then the broker goes away before the page connects.
    const p = await page(path, path);
    try {
      await p.locator("#token-form").waitFor({ state: "visible" });
      await broker.stop();
      await p.getByLabel(/paste/).fill(token(claims));
      await p.getByRole("button", { name: "Connect" }).click();
      await waitForText(p, "#connection", /The server cannot be reached\. Trying again in \d+ s/);
      await broker.start();
      await waitForText(p, "#connection", /^Connected\.$/, 30000);
      assert.deepEqual(p.errors, []);
    } finally {
      await p.context().close();
    }
  }
});

test("every page at 200 % zoom: no sideways scrolling, every control named and reached by Tab", async () => {
  // 200 % zoom on a 1280 px wide screen is a 640 px wide CSS viewport at twice the pixels.
  const context = await browser.newContext({ viewport: { width: 640, height: 450 }, deviceScaleFactor: 2 });
  const students = [];
  try {
    for (const n of [1, 2]) {
      const ws = new WebSocket(`ws://127.0.0.1:${broker.port}/ws?token=` +
        token({ sub: `s-zoom-${n}`, role: "student", class_id: "c-zoom", name: `A student with a rather long name ${n}` }));
      await new Promise((r) => ws.once("message", r));
      students.push(ws);
    }
    // [path, what to wait for, the fewest controls it shows]
    const pages = [
      ["/", null, 2],
      ["/teacher", null, 4], // the login form and the paste box
      [`/teacher#token=${token({ sub: "t-zoom", role: "teacher", class_id: "c-zoom" })}`, "#roster-body tr", 10],
      ["/student", null, 4],
      [`/student#token=${token({ sub: "s-zoom-3", role: "student", class_id: "c-zoom" })}`, null, 0],
    ];
    for (const [path, ready, fewest] of pages) {
      const p = await context.newPage();
      await p.goto(`http://127.0.0.1:${broker.port}${path}`);
      if (path.startsWith("/teacher") || path.startsWith("/student")) {
        await waitForText(p, "#connection", /Connected\.|sign in to start/);
      }
      if (ready) await p.locator(ready).first().waitFor();
      await sleep(300);
      const where = path.split("#")[0] + (path.includes("#") ? " (signed in)" : "");
      const width = await p.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
      assert.ok(width[0] <= width[1], `${where}: the page scrolls sideways (${width[0]} > ${width[1]})`);
      const boxes = await p.evaluate(() => [...document.querySelectorAll(".scroll")]
        .filter((e) => e.scrollWidth > e.clientWidth).map((e) => e.firstElementChild?.id));
      assert.deepEqual(boxes, [], `${where}: tables that scroll sideways`);

      const controls = await p.evaluate(() => {
        const shown = (el) => el.getClientRects().length > 0 && !el.closest("[hidden]") && !el.disabled;
        const nameOf = (el) => (el.getAttribute("aria-label") ||
          [...(el.labels || [])].map((l) => l.textContent).join(" ") || el.textContent || "").trim();
        return [...document.querySelectorAll("a[href], button, input, select, textarea")]
          .filter(shown).map((el, i) => {
            el.dataset.a11y = String(i);
            return { i, tag: el.tagName, name: nameOf(el) };
          });
      });
      assert.ok(controls.length >= fewest, `${where}: ${controls.length} controls`);
      for (const c of controls) assert.ok(c.name, `${where}: a ${c.tag} without a name`);
      const reached = new Set();
      for (let k = 0; k < controls.length + 5; k++) {
        await p.keyboard.press("Tab");
        const i = await p.evaluate(() => document.activeElement?.dataset?.a11y);
        if (i !== undefined) reached.add(Number(i));
      }
      const missed = controls.filter((c) => !reached.has(c.i));
      assert.deepEqual(missed, [], `${where}: controls Tab does not reach`);
      if (ready) await p.screenshot({ path: join(ARTIFACTS, "teacher-200-percent-zoom.png"), fullPage: true });
      await p.close();
    }
  } finally {
    for (const ws of students) ws.close();
    await context.close();
  }
});
