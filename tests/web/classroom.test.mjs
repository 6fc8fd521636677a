// SPDX-License-Identifier: MIT
// A class in Debian's Chromium against the real broker, its live state in a real Redis (so
// that a broker restart keeps the session): a student page whose fake camera plays real
// photos from ../shared/data/faces (a .y4m made by ffmpeg: a face looking at the camera,
// then the same kind of photo turned away), and the teacher page in a second browser.
//  - the teacher starts the session from the page;
//  - the teacher page shows the student engaged, then looking away, and the alert;
//    the student page shows its own figures the same way;
//  - classmates (Node clients) come online; one is marked late from the page;
//  - the broker restarts: both pages say the connection is lost, reconnect on their own,
//    and the teacher's roster equals the broker's summary again;
//  - DONE from the page: the final table has each student's right status, also on a
//    teacher page opened afterwards.
// Screenshots of both pages go to $ROLLCALL_ARTIFACTS (default: build dir's web-artifacts).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, statSync } from "node:fs";
import { join, dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import WebSocket from "ws";
import { Rollcall } from "../../web/rollcall.js";
import { TestBroker, TestRedis, CHROMIUM, CHROMIUM_ARGS, sleep, waitForText } from "./support.mjs";

const HERE = dirname(fileURLToPath(import.meta.url));
const FACES = resolve(HERE, "..", "..", "..", "shared", "data", "faces");
const LOOKING = "aflw2000_image00050.jpg"; // one face, yaw 0.9, pitch -4.7 (labels.csv)
const AWAY = "aflw2000_image00108.jpg"; // one face, yaw 82.3: turned away
const ARTIFACTS = process.env.ROLLCALL_ARTIFACTS || join(HERE, "artifacts");
const CLASS = "c-live";

const redis = new TestRedis();
let broker;
let video;

// 8 s of the looking photo, then 4 s of the turned-away one, 1 picture a second, 640x480
// (the photo scaled to fit and padded), yuv420p: Chromium's fake camera loops it.
function makeVideo(dir) {
  const out = join(dir, "looking-then-away.y4m");
  const fit = "scale=640:480:force_original_aspect_ratio=decrease," +
    "pad=640:480:(ow-iw)/2:(oh-ih)/2,setsar=1,format=yuv420p";
  const r = spawnSync("ffmpeg", ["-loglevel", "error", "-y",
    "-loop", "1", "-framerate", "1", "-t", "8", "-i", join(FACES, LOOKING),
    "-loop", "1", "-framerate", "1", "-t", "4", "-i", join(FACES, AWAY),
    "-filter_complex", `[0]${fit}[a];[1]${fit}[b];[a][b]concat=n=2:v=1[v]`,
    "-map", "[v]", "-r", "1", "-pix_fmt", "yuv420p", out], { encoding: "utf8" });
  assert.equal(r.status, 0, `ffmpeg failed: ${r.stderr || r.error}`);
  assert.ok(statSync(out).size > 12 * 640 * 480, "the video has its 12 pictures");
  return out;
}

const token = (claims) => broker.token(claims, 900);
const teacherToken = () => token({ sub: "t-ms-lee", role: "teacher", class_id: CLASS, name: "Ms Lee" });
const studentToken = (sub, name) => token({ sub, role: "student", class_id: CLASS, name });

function rowSel(id, cls) {
  return `#roster-body tr[data-student="${id}"] .${cls}`;
}

async function nodeStudent(sub, name) {
  const c = new Rollcall({ url: `ws://127.0.0.1:${broker.port}/ws`, WebSocket,
    token: studentToken(sub, name), backoffMinMs: 100, backoffMaxMs: 1000 });
  const welcomed = new Promise((r) => c.on("WELCOME", r));
  c.connect();
  await welcomed;
  return c;
}

// What the broker says, asked by a teacher client of its own (TODAY_SUMMARY; DONE answers
// an already finalized day with its records).
async function ask(event) {
  const c = new Rollcall({ url: `ws://127.0.0.1:${broker.port}/ws`, WebSocket,
    token: token({ sub: "t-check", role: "teacher", class_id: CLASS }) });
  const welcomed = new Promise((r) => c.on("WELCOME", r));
  c.connect();
  await welcomed;
  try {
    return (await c.request(event, { class_id: CLASS })).data;
  } finally {
    c.close();
  }
}

before(async () => {
  assert.ok(existsSync(CHROMIUM), `no Chromium at ${CHROMIUM} (scripts/setup.sh installs it)`);
  assert.ok(existsSync(join(FACES, LOOKING)), `no test photos in ${FACES}`);
  await redis.start();
  broker = new TestBroker({ ROLLCALL_FRAME_INTERVAL: "1", ROLLCALL_VIOLATION_SECONDS: "2",
    ROLLCALL_ATTENDANCE_THRESHOLD: "10", ROLLCALL_ENGAGEMENT_UPDATE_MS: "200",
    ROLLCALL_REDIS_URL: redis.url, ROLLCALL_WEB_DIR: join(HERE, "..", "..", "web") });
  video = makeVideo(broker.dir);
  mkdirSync(ARTIFACTS, { recursive: true });
  await broker.start();
});

after(async () => {
  if (broker) await broker.close();
  await redis.close();
});

test("a class: real faces on the student page, live on the teacher page, a restart, DONE", async () => {
  const teacherBrowser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  const studentBrowser = await chromium.launch({ executablePath: CHROMIUM,
    args: [...CHROMIUM_ARGS, "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
      `--use-file-for-fake-video-capture=${video}`] });
  const classmates = [];
  const errors = [];
  const watch = (page, who) => {
    page.on("pageerror", (e) => errors.push(`${who}: ${e.message}`));
    page.on("console", (m) => {
      if (/Content Security Policy/i.test(m.text())) errors.push(`${who} CSP: ${m.text()}`);
    });
  };
  try {
    const teacher = await (await teacherBrowser.newContext({ viewport: { width: 1280, height: 1000 } })).newPage();
    watch(teacher, "teacher");
    teacher.on("dialog", (d) => d.accept()); // the DONE confirmation
    await teacher.goto(`http://127.0.0.1:${broker.port}/teacher#token=${teacherToken()}`);
    assert.ok(!teacher.url().includes("token="), "the token left the teacher's address bar");
    await waitForText(teacher, "#connection", /^Connected\.$/);
    await waitForText(teacher, "#who", /Signed in as Ms Lee \(teacher\)/);
    await waitForText(teacher, "#session-status", /No session yet today/);
    await teacher.getByRole("button", { name: "Start the session" }).click();
    await waitForText(teacher, "#session-status", /The session is running/);
    assert.equal(await teacher.getByRole("button", { name: "Start the session" }).isDisabled(), true);

    const student = await studentBrowser.newPage();
    watch(student, "student");
    await student.goto(`http://127.0.0.1:${broker.port}/student#token=${studentToken("s-ana", "Ana")}`);
    await waitForText(student, "#camera-status", /camera is on/);

    // Looking at the screen: engaged, on both pages.
    await waitForText(teacher, rowSel("s-ana", "conn"), /^Online$/);
    await waitForText(teacher, rowSel("s-ana", "now"), /^Engaged$/, 60000);
    await waitForText(student, "#looking", /^Yes$/, 20000);
    await waitForText(student, "#face", /^Yes$/);
    await student.screenshot({ path: join(ARTIFACTS, "student-engaged.png"), fullPage: true });
    await teacher.screenshot({ path: join(ARTIFACTS, "teacher-engaged.png"), fullPage: true });
    // Then turned away: the page says so, and the alert comes after 2 s of it.
    await waitForText(teacher, rowSel("s-ana", "now"), /^Looking away$/, 30000);
    await waitForText(student, "#looking", /^No/, 20000);
    await waitForText(teacher, "#violations li", /Ana, looking away/, 30000);
    await waitForText(teacher, rowSel("s-ana", "trust"), /^\d+$/);
    assert.ok(Number(await teacher.locator(rowSel("s-ana", "trust")).textContent()) < 100,
      "the trust score fell with the alert");
    await teacher.screenshot({ path: join(ARTIFACTS, "teacher-looking-away.png"), fullPage: true });
    await waitForText(teacher, "#chart-text", /% of the students online are engaged/);

    // Classmates come online; one is marked late from the page (keyboard: focus, Enter).
    classmates.push(await nodeStudent("s-bo", "Bo"), await nodeStudent("s-cy", "Cy"));
    await waitForText(teacher, rowSel("s-bo", "conn"), /^Online$/);
    await waitForText(teacher, rowSel("s-cy", "conn"), /^Online$/);
    await teacher.getByRole("button", { name: "Mark Cy late" }).focus();
    await teacher.keyboard.press("Enter");
    await waitForText(teacher, rowSel("s-cy", "att"), /^Late \(marked by staff\)$/);
    await waitForText(teacher, "#count-late", /^1$/);
    await waitForText(teacher, "#count-online", /^3$/);

    // The broker restarts: both pages notice, reconnect on their own, and the roster
    // matches the broker's again (the live state is in Redis).
    await broker.stop();
    await waitForText(teacher, "#connection", /connection was lost\. Trying again/);
    await waitForText(student, "#connection", /connection was lost\. Trying again/);
    await waitForText(teacher, rowSel("s-ana", "conn"), /^Offline$/);
    await broker.start();
    await waitForText(teacher, "#connection", /^Connected\.$/, 30000);
    await waitForText(student, "#connection", /^Connected\.$/, 30000);
    for (const id of ["s-ana", "s-bo", "s-cy"]) {
      await waitForText(teacher, rowSel(id, "conn"), /^Online$/, 30000);
    }
    await waitForText(teacher, "#session-status", /The session is running/);
    const truth = await ask("TODAY_SUMMARY");
    assert.equal(truth.state, "active");
    for (const s of truth.students) {
      const want = { present: "Present", late: "Late", absent: "Absent", unmarked: "Not marked" }[s.status];
      await waitForText(teacher, rowSel(s.student_id, "att"), new RegExp(`^${want}`));
      await waitForText(teacher, rowSel(s.student_id, "conn"), s.online ? /^Online$/ : /^Offline$/);
    }
    assert.equal(await teacher.locator("#roster-body tr").count(), truth.students.length);
    // Frames flow again after the restart.
    await waitForText(teacher, rowSel("s-ana", "now"), /^(Engaged|Looking away)$/, 30000);

    // DONE from the page: Ana, engaged two thirds of the time she streamed (over a 10 %
    // threshold), is present by engagement; Bo, who sent no picture, absent; Cy late as
    // marked. The table shows the broker's records.
    await teacher.getByRole("button", { name: "End the session and save attendance" }).click();
    await waitForText(teacher, "#final-summary", /1 present, 1 late, 1 absent of 3/);
    const finalRow = (id) => `#final-body tr[data-student="${id}"]`;
    await waitForText(teacher, finalRow("s-ana"), /Ana.*Present.*Engagement/);
    await waitForText(teacher, finalRow("s-bo"), /Bo.*Absent.*Engagement/);
    await waitForText(teacher, finalRow("s-cy"), /Cy.*Late.*Staff/);
    await waitForText(teacher, "#session-status", /session is over/);
    const done = await ask("DONE");
    assert.equal(done.already_finalized, true);
    for (const r of done.records) {
      const want = { present: "Present", late: "Late", absent: "Absent" }[r.status];
      await waitForText(teacher, finalRow(r.student_id),
        new RegExp(`${want}.*${Math.round(r.engagement_percentage)} %.*${r.frames_analyzed}\\s*${r.trust_score}$`));
    }
    assert.equal(await teacher.getByRole("button", { name: "Mark Bo present" }).isDisabled(), true);
    await waitForText(student, "#attendance", /^Present$/, 20000);
    await teacher.screenshot({ path: join(ARTIFACTS, "teacher-final.png"), fullPage: true });
    // A teacher page opened after DONE shows the day's final table (from the report).
    const later = await (await teacherBrowser.newContext()).newPage();
    watch(later, "teacher, later");
    await later.goto(`http://127.0.0.1:${broker.port}/teacher#token=${teacherToken()}`);
    await waitForText(later, "#session-status", /session is over/);
    await waitForText(later, "#final-summary", /1 present, 1 late, 1 absent of 3/);
    await waitForText(later, finalRow("s-cy"), /Cy.*Late.*Staff/);
    await student.screenshot({ path: join(ARTIFACTS, "student-final.png"), fullPage: true });
    assert.deepEqual(errors, []);
  } finally {
    for (const c of classmates) c.close();
    await studentBrowser.close();
    await teacherBrowser.close();
  }
});
