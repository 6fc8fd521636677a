// SPDX-License-Identifier: MIT
// The student page: connects with the student's token, turns the camera on, and every
// frame_interval seconds (the broker's setting, from WELCOME) draws a 640x480 picture to a
// canvas, encodes it as JPEG and sends it as one binary message. Shows the student's own live
// status from FRAME_RESULT and MY_ATTENDANCE, and says in plain words when the camera is
// denied or missing, when no session is running, when the connection is lost, and when
// frames are paused because the tab is hidden. The token comes from the URL fragment
// (#token=...), the login form (with accounts) or a paste box (signin.js), and is kept
// only in memory.
import { Rollcall, tokenExpired } from "/static/rollcall.js";
import { askForToken, stopIfRefused, tokenFromFragment } from "/static/signin.js";

const $ = (id) => document.getElementById(id);
const HIDDEN_GRACE_MS = 3000; // a tab hidden longer than this sends no frames

// Writes only a change: these are live regions, and the same words again would be read out
// again at every frame.
function say(id, text, tone) {
  const el = $(id);
  if (el.textContent !== text) el.textContent = text;
  if (tone) el.dataset.tone = tone;
  else delete el.dataset.tone;
}

let rc = null;
let stream = null;
let classId = null; // the class the frames go to
let classes = []; // the connection's classes
const finalized = new Set(); // classes whose day is over: no more frames for them
let maxBytes = 1048576;
let refused = false;
let intervalMs = 3000;
let timer = null;
let hiddenSince = null;
let everConnected = false;

function start({ token, getToken }) {
  if (tokenExpired(token) && !getToken) {
    say("connection", "Your sign-in has expired. Reload the page and sign in again.", "bad");
    return;
  }
  rc = new Rollcall({ token, getToken: getToken || undefined });
  rc.on("state", (s) => {
    if (s.state === "open") {
      everConnected = true;
      say("connection", "Connected.", "good");
    } else if (s.state === "connecting") say("connection", "Connecting…");
    else if (s.state === "waiting") {
      const secs = Math.ceil(s.delayMs / 1000);
      say("connection", everConnected
        ? `The connection was lost. Trying again in ${secs} s…`
        : `The server cannot be reached. Trying again in ${secs} s…`, "bad");
      stopIfRefused(rc, s.attempt, () => { refused = true; });
    } else if (s.state === "closed") {
      const why = s.code === 4004 ? "You are not on this class's list. Ask your teacher to add you."
        : s.code === 4003 ? "Your sign-in has expired. Reload the page and sign in again."
          : refused ? "The server refused this sign-in. Reload the page and sign in again, or ask your school for a new link."
            : "Disconnected.";
      say("connection", why, "bad");
      stopFrames();
    }
  });
  rc.on("WELCOME", (m) => {
    const d = m.data;
    const set = d.settings || {};
    // Every frame_interval seconds, never faster than frame_rate a second.
    intervalMs = Math.max(500, (set.frame_interval ?? 3) * 1000, set.frame_rate ? 1000 / set.frame_rate : 0);
    maxBytes = set.frame_max_bytes || maxBytes;
    setClasses(d.classes);
    say("who", `Signed in as ${d.name || d.user_id}${classes.length === 1 ? `, class ${classes[0]}` : ""}.`);
    startFrames();
  });
  rc.on("AUTHENTICATED", (m) => setClasses(m.data.classes));
  rc.on("CLASS_REMOVED", (m) => {
    say("session-status", `You were taken off the list of class ${m.data.class_id}.`, "bad");
    setClasses(classes.filter((c) => c !== m.data.class_id));
  });
  rc.on("FRAME_RESULT", (m) => {
    const d = m.data;
    say("session-status", "The class session is running: your check-in counts.", "good");
    say("face", d.faces > 0 ? "Yes" : "No", d.faces > 0 ? "good" : "bad");
    say("looking", d.faces === 0 ? "—" : d.looking ? "Yes" : "No, you seem to look away",
      d.looking ? "good" : "bad");
    say("engagement", `${Math.round(d.engagement_pct)} %`);
  });
  rc.on("ERROR", (m) => {
    const code = m.data.code;
    if (m.data.ref !== null && m.data.ref !== undefined) return; // a request's own answer
    if (code === "NO_SESSION" && !finalized.has(classId)) {
      say("session-status", "No class session is running right now. Your camera stays on; " +
        "check-in starts when your teacher starts the class.", "bad");
    } else if (code === "SESSION_FINALIZED") {
      over(classId);
    } else if (code === "BAD_FRAME" || code === "FRAME_TOO_LARGE") {
      say("camera-status", "The server could not use the last picture from your camera. " +
        "The next one is on its way.", "bad");
    } else if (code === "CLASS_REQUIRED" || code === "CLASS_FORBIDDEN") {
      say("session-status", "Your sign-in does not name this class. Reload the page and sign in again.", "bad");
    }
  });
  rc.on("SESSION_STARTED", (m) => {
    // With several classes, frames go to the class whose session started last.
    if (classes.includes(m.data.class_id)) chooseClass(m.data.class_id);
    say("session-status", "Your teacher started the class.", "good");
  });
  rc.on("TOKEN_EXPIRING", (m) => {
    if (getToken) return; // renewed in place by the client
    say("connection", `Connected. Your sign-in ends in about ${Math.max(1, Math.round(m.data.expires_in / 60))} min: ` +
      "reload the page and sign in again to keep checking in.", "bad");
  });
  rc.on("MY_ATTENDANCE", (m) => {
    if (m.data.class_id !== classId) return;
    showAttendance(m.data);
    if (m.data.finalized) over(m.data.class_id);
  });
  rc.on("ATTENDANCE_FINALIZED", (m) => {
    if (!m.data.record) return;
    if (m.data.class_id === classId) showAttendance(m.data.record);
    over(m.data.class_id);
  });
  rc.on("ATTENDANCE_MARKED", () => refreshAttendance());
  rc.connect();
  startCamera();
}

// The class's day is over: no more frames for it.
function over(id) {
  finalized.add(id);
  if (id === classId) {
    say("session-status", "The class session is over; your attendance is saved. " +
      "You can close this page.", "good");
  }
}

function chooseClass(id) {
  classId = id;
  $("class-select").value = id;
  refreshAttendance();
}

function setClasses(list) {
  classes = [...list];
  const select = $("class-select");
  select.replaceChildren(...classes.map((id) => {
    const o = document.createElement("option");
    o.value = id;
    o.textContent = id;
    return o;
  }));
  $("class-box").hidden = classes.length < 2;
  chooseClass(classes.includes(classId) ? classId : classes[0] || null);
}

function showAttendance(d) {
  const words = { present: "Present", late: "Late", absent: "Absent" };
  say("attendance", words[d.status] || "Not decided yet");
}

async function refreshAttendance() {
  if (!rc || !classId) return;
  try {
    const m = await rc.request("MY_ATTENDANCE", { class_id: classId });
    showAttendance(m.data);
  } catch {
    // shown again at the next refresh
  }
}

async function startCamera() {
  if (!navigator.mediaDevices?.getUserMedia) {
    say("camera-status", "This browser cannot use a camera here. Try a current browser.", "bad");
    return;
  }
  say("camera-status", "Asking for your camera…");
  try {
    stream = await navigator.mediaDevices.getUserMedia({
      video: { width: { ideal: 640 }, height: { ideal: 480 } }, audio: false });
    $("preview").srcObject = stream;
    say("camera-status", "The camera is on.", "good");
  } catch (e) {
    const denied = e && (e.name === "NotAllowedError" || e.name === "SecurityError");
    const missing = e && (e.name === "NotFoundError" || e.name === "OverconstrainedError");
    say("camera-status", denied
      ? "Camera access was denied. Allow the camera for this site in your browser's settings, then reload the page."
      : missing ? "No camera was found. Connect a camera, then reload the page."
        : "The camera could not be started. Close other apps that use it, then reload the page.",
    "bad");
  }
}

function startFrames() {
  stopFrames();
  timer = setInterval(sendFrame, intervalMs);
}

function stopFrames() {
  clearInterval(timer);
  timer = null;
}

function jpeg(canvas, quality) {
  return new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", quality));
}

async function sendFrame() {
  const video = $("preview");
  if (!stream || !rc || rc.state !== "open" || video.readyState < 2 || !classId) return;
  if (finalized.has(classId)) return;
  if (hiddenSince !== null && Date.now() - hiddenSince > HIDDEN_GRACE_MS) return;
  const canvas = $("frame");
  canvas.getContext("2d").drawImage(video, 0, 0, canvas.width, canvas.height);
  let blob = await jpeg(canvas, 0.85);
  if (blob && blob.size > maxBytes) blob = await jpeg(canvas, 0.5); // the broker's limit
  if (!blob || blob.size > maxBytes || !rc) return;
  if (classes.length === 1) {
    // One class: the raw bytes, as a binary message.
    rc.sendFrame(await blob.arrayBuffer());
  } else {
    // Several: a binary frame cannot name its class, so FRAME with the image and class_id.
    const url = await new Promise((resolve) => {
      const r = new FileReader();
      r.onload = () => resolve(r.result);
      r.readAsDataURL(blob);
    });
    rc.send("FRAME", { image: url, class_id: classId });
  }
  window.rollcallFramesSent = (window.rollcallFramesSent || 0) + 1;
}

document.addEventListener("visibilitychange", () => {
  if (document.hidden) {
    hiddenSince = Date.now();
    setTimeout(() => {
      if (document.hidden) {
        say("camera-status", "Frames are paused while this tab is hidden. Come back to this tab to check in.", "bad");
      }
    }, HIDDEN_GRACE_MS + 100);
  } else {
    hiddenSince = null;
    if (stream) say("camera-status", "The camera is on.", "good");
  }
});

setInterval(refreshAttendance, 30000);
$("class-select").addEventListener("change", (ev) => chooseClass(ev.target.value));

const token = tokenFromFragment();
if (token) {
  start({ token, getToken: null });
} else {
  say("connection", "Not connected: sign in to start.");
  askForToken({ role: "student", onToken: start });
}
