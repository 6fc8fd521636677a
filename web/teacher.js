// SPDX-License-Identifier: MIT
// The teacher page: one class at a time (a token may name several), its roster live, each
// student's state right now, engagement and trust, proctoring alerts as they come, manual
// marks, the summary, DONE with the final table, and a chart of the class's engagement.
//
// The broker's events only change the page's model (classes -> students); what changed is
// drawn once per animation frame, so a class of 200 students streaming frames costs one
// DOM pass per frame, not one per event. After a reconnect the page asks for the roster
// and the summary again (the presence snapshot comes on its own), so it is right again
// without a reload.
import { Rollcall, tokenExpired } from "/static/rollcall.js";
import { askForToken, stopIfRefused, tokenFromFragment } from "/static/signin.js";
import { drawChart } from "/static/chart.js";

const $ = (id) => document.getElementById(id);
const MAX_ALERTS = 200; // alerts kept on the page
const CHART_EVERY_MS = 2000; // one chart point per this while a session runs
const CHART_MAX_POINTS = 1800; // then every other point is dropped

const STATUS_WORDS = { present: "Present", late: "Late", absent: "Absent", unmarked: "Not marked" };
const SOURCE_WORDS = { manual: "marked by staff", engagement: "by engagement" };
const KIND_WORDS = { no_face: "no face in view", multi_face: "several faces in view",
  looking_away: "looking away" };

// ---- the model -------------------------------------------------------------------------

const classes = new Map(); // class_id -> class state
let current = null; // the class shown
let rc = null;
let canRenew = false;
let everConnected = false;
let refused = false; // the server answers but keeps refusing the sign-in
// For the tests and the curious: events received, drawing passes, the most events one pass
// drew, connections opened (WELCOMEs) and tokens renewed in place.
const stats = { events: 0, renders: 0, maxBatch: 0, connects: 0, renewals: 0 };
let sinceRender = 0;
window.rollcallTeacher = stats;

function classState(id) {
  let c = classes.get(id);
  if (!c) {
    c = { id, name: null, rostered: false, students: new Map(), session: { state: "none" },
      final: null, points: [], alerts: [], newAlerts: [], removed: new Set() };
    classes.set(id, c);
  }
  return c;
}

// A student taken off the class's roster: late events about them (an engagement line still
// on its way, an offline PRESENCE, the day's summary) must not bring their row back.
const GONE = () => ({ id: "", name: null, online: false, rostered: false, status: "unmarked",
  source: null, faces: null, looking: null, engaged: null, pct: null, trust: null, frames: 0 });

function offline(s) {
  s.online = false;
  s.faces = s.looking = s.engaged = null;
}

function student(c, id, name) {
  if (c.removed.has(id)) return GONE();
  let s = c.students.get(id);
  if (!s) {
    s = { id, name: name || null, online: false, rostered: false, status: "unmarked",
      source: null, faces: null, looking: null, engaged: null, pct: null, trust: null,
      frames: 0 };
    c.students.set(id, s);
    if (c === current) dirty.all = true;
  } else if (name && s.name !== name) {
    s.name = name;
    if (c === current) dirty.all = true; // the order may change
  }
  if (c === current) dirty.rows.add(id);
  return s;
}

// ---- drawing, once per animation frame -------------------------------------------------

const dirty = { all: false, rows: new Set(), counts: false, session: false, alerts: false,
  final: false, chart: false, scheduled: false };

function touch(what) {
  if (what) dirty[what] = true;
  if (!dirty.scheduled) {
    dirty.scheduled = true;
    requestAnimationFrame(render);
  }
}

function render() {
  dirty.scheduled = false;
  stats.renders += 1;
  stats.maxBatch = Math.max(stats.maxBatch, sinceRender);
  sinceRender = 0;
  if (!current) return;
  if (dirty.all) {
    renderAllRows();
  } else {
    for (const id of dirty.rows) {
      const s = current.students.get(id);
      const tr = rowOf(id);
      if (s && tr) fillRow(tr, s);
    }
  }
  dirty.all = false;
  dirty.rows.clear();
  renderCounts();
  if (dirty.session) renderSession();
  if (dirty.alerts || dirty.alertsAll) renderAlerts(dirty.alertsAll);
  if (dirty.final) renderFinal();
  if (dirty.chart) renderChart();
  dirty.session = dirty.alerts = dirty.alertsAll = dirty.final = dirty.chart = false;
}

const displayName = (s) => s.name || s.id;

function sortedStudents(c) {
  return [...c.students.values()].sort((a, b) =>
    displayName(a).localeCompare(displayName(b)) || a.id.localeCompare(b.id));
}

function rowOf(id) {
  return $("roster-body").querySelector(`tr[data-student="${CSS.escape(id)}"]`);
}

// label: the column's header, shown beside the value when a narrow screen (or a 200 %
// zoom) stacks a row's cells.
function cell(tr, tag, label) {
  const td = document.createElement(tag);
  if (label) td.dataset.label = label;
  tr.append(td);
  return td;
}

function newRow(s) {
  const tr = document.createElement("tr");
  tr.dataset.student = s.id;
  const th = cell(tr, "th");
  th.scope = "row";
  th.className = "name";
  cell(tr, "td", "Connection").className = "conn";
  cell(tr, "td", "Right now").className = "now";
  const eng = cell(tr, "td", "Engagement");
  eng.className = "eng";
  const bar = document.createElement("span");
  bar.className = "bar";
  bar.setAttribute("aria-hidden", "true");
  bar.append(document.createElement("span"));
  const pct = document.createElement("span");
  pct.className = "pct";
  eng.append(bar, pct);
  cell(tr, "td", "Trust").className = "trust";
  cell(tr, "td", "Attendance").className = "att";
  const marks = cell(tr, "td", "Mark as");
  marks.className = "marks";
  for (const status of ["present", "late", "absent"]) {
    const b = document.createElement("button");
    b.type = "button";
    b.dataset.mark = status;
    b.textContent = STATUS_WORDS[status];
    marks.append(b);
  }
  return tr;
}

function nowWords(s) {
  if (!s.online) return ["Offline", "off"];
  if (s.faces === null) return ["Waiting for a picture", "wait"];
  if (s.faces === 0) return ["No face", "bad"];
  if (s.faces > 1) return ["Several faces", "bad"];
  if (!s.looking) return ["Looking away", "bad"];
  if (!s.engaged) return ["Eyes closed", "bad"];
  return ["Engaged", "good"];
}

function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}

function fillRow(tr, s) {
  const name = displayName(s);
  setText(tr.querySelector(".name"), name);
  const conn = tr.querySelector(".conn");
  setText(conn, s.online ? "Online" : "Offline");
  conn.dataset.tone = s.online ? "good" : "off";
  const [now, tone] = nowWords(s);
  const nowEl = tr.querySelector(".now");
  setText(nowEl, now);
  nowEl.dataset.tone = tone;
  const pct = s.pct === null ? null : Math.max(0, Math.min(100, s.pct));
  tr.querySelector(".bar > span").style.width = `${pct ?? 0}%`;
  setText(tr.querySelector(".pct"), pct === null ? "—" : `${Math.round(pct)} %`);
  setText(tr.querySelector(".trust"), s.trust === null ? "—" : String(s.trust));
  const att = STATUS_WORDS[s.status] || s.status;
  setText(tr.querySelector(".att"), s.source && s.status !== "unmarked"
    ? `${att} (${SOURCE_WORDS[s.source] || s.source})` : att);
  for (const b of tr.querySelectorAll("button[data-mark]")) {
    const label = `Mark ${name} ${STATUS_WORDS[b.dataset.mark].toLowerCase()}`;
    if (b.getAttribute("aria-label") !== label) b.setAttribute("aria-label", label);
    b.setAttribute("aria-pressed", String(s.status === b.dataset.mark && s.source === "manual"));
    b.disabled = current.session.state === "finalized";
  }
}

function renderAllRows() {
  const body = $("roster-body");
  const focused = document.activeElement;
  // Rows are moved only where the order changed, so a keyboard user's focus stays put.
  let i = 0;
  for (const s of sortedStudents(current)) {
    const tr = rowOf(s.id) || newRow(s);
    fillRow(tr, s);
    if (body.children[i] !== tr) body.insertBefore(tr, body.children[i] || null);
    i += 1;
  }
  while (body.children.length > i) body.lastElementChild.remove();
  if (focused && focused !== document.activeElement && focused.isConnected) focused.focus();
  $("roster-note").textContent = current.students.size === 0
    ? (current.rostered ? "Nobody has joined this class yet." : "No student has connected yet.")
    : current.rostered ? "Everyone on the class list." : "Students who connected or were marked today.";
}

function countsOf(c) {
  const n = { online: 0, present: 0, late: 0, absent: 0, unmarked: 0, total: c.students.size };
  for (const s of c.students.values()) {
    if (s.online) n.online += 1;
    n[s.status in n ? s.status : "unmarked"] += 1;
  }
  return n;
}

function renderCounts() {
  const n = countsOf(current);
  for (const k of Object.keys(n)) setText($(`count-${k}`), String(n[k]));
}

function timeOf(iso) {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? "" : d.toLocaleTimeString();
}

function renderSession() {
  const s = current.session;
  const words = s.state === "active" ? `The session is running (started at ${timeOf(s.started_at)}).`
    : s.state === "finalized" ? "Today's session is over; its attendance is saved."
      : "No session yet today. Start it when the class begins.";
  setText($("session-status"), words);
  $("start-button").disabled = s.state !== "none";
  $("done-button").disabled = s.state === "finalized";
  for (const b of $("roster-body").querySelectorAll("button[data-mark]")) {
    b.disabled = s.state === "finalized";
  }
}

function alertItem(a) {
  const li = document.createElement("li");
  li.dataset.kind = a.kind;
  li.textContent = `${timeOf(a.at)}: ${a.name || a.student_id}, ${KIND_WORDS[a.kind] || a.kind}` +
    ` (${a.count === 1 ? "first time" : `${a.count} times`} today), trust now ${a.trust_score}`;
  return li;
}

// The list is a live log: a new alert is added at the top, the rest stay (a screen reader
// announces only the new one). A class switch draws the whole list.
function renderAlerts(all) {
  const list = $("violations");
  if (all) {
    list.replaceChildren(...current.alerts.map(alertItem));
  } else {
    for (const a of current.newAlerts) list.prepend(alertItem(a));
    while (list.children.length > MAX_ALERTS) list.lastElementChild.remove();
  }
  current.newAlerts = [];
  $("violations-none").hidden = current.alerts.length > 0;
}

function minutes(sec) {
  const t = Math.round(sec);
  return `${Math.floor(t / 60)} min ${t % 60} s`;
}

function renderFinal() {
  const f = current.final;
  $("final-box").hidden = !f;
  if (!f) return;
  const sum = f.summary || {};
  $("final-summary").textContent = `${sum.present ?? 0} present, ${sum.late ?? 0} late, ` +
    `${sum.absent ?? 0} absent of ${sum.total ?? 0} (${sum.percentage ?? 0} % attended).`;
  const rows = (f.records || []).slice().sort((a, b) =>
    (a.student_name || a.student_id).localeCompare(b.student_name || b.student_id)).map((r) => {
    const tr = document.createElement("tr");
    tr.dataset.student = r.student_id;
    const th = cell(tr, "th");
    th.scope = "row";
    th.textContent = r.student_name || r.student_id;
    cell(tr, "td", "Status").textContent = STATUS_WORDS[r.status] || r.status;
    cell(tr, "td", "Decided by").textContent = r.source === "manual" ? "Staff" : "Engagement";
    cell(tr, "td", "Engagement").textContent = `${Math.round(r.engagement_percentage)} %`;
    cell(tr, "td", "Engaged time").textContent = minutes(r.engagement_duration_seconds);
    cell(tr, "td", "Frames").textContent = String(r.frames_analyzed);
    cell(tr, "td", "Trust").textContent = String(r.trust_score);
    return tr;
  });
  $("final-body").replaceChildren(...rows);
}

function renderChart() {
  const c = current;
  drawChart($("chart"), c.points, c.session.started_at ? Date.parse(c.session.started_at) : null);
  const last = c.points[c.points.length - 1];
  const text = last
    ? `Now: ${Math.round(last.engagedNow)} % of the students online are engaged; ` +
      `the class's average engagement is ${Math.round(last.average)} %.`
    : "The chart starts when the session does.";
  setText($("chart-text"), text);
  $("chart").setAttribute("aria-label", `Chart of the class's engagement. ${text}`);
}

// A chart point: the share of online students engaged right now, and the class's mean
// engagement percentage (of those with figures).
function samplePoint() {
  if (!rc || rc.state !== "open") return; // no figures while disconnected
  for (const c of classes.values()) {
    if (c.session.state !== "active") continue;
    let online = 0;
    let engaged = 0;
    let sum = 0;
    let withPct = 0;
    for (const s of c.students.values()) {
      if (s.online) {
        online += 1;
        if (s.engaged) engaged += 1;
      }
      if (s.pct !== null) {
        sum += s.pct;
        withPct += 1;
      }
    }
    c.points.push({ t: Date.now(), engagedNow: online ? (100 * engaged) / online : 0,
      average: withPct ? sum / withPct : 0 });
    if (c.points.length > CHART_MAX_POINTS) c.points = c.points.filter((_, i) => i % 2 === 0);
    if (c === current) touch("chart");
  }
}

// ---- what the broker says --------------------------------------------------------------

function mine(data) {
  return data && classes.has(data.class_id) ? classes.get(data.class_id) : null;
}

const classLabel = (c) => (c.name ? `${c.name} (${c.id})` : c.id);

// The connection's classes, from WELCOME or, after a renewal in place, AUTHENTICATED:
// classes no longer allowed go, new ones come (their presence snapshot follows).
function setClasses(list) {
  for (const id of list) classState(id);
  for (const id of [...classes.keys()]) if (!list.includes(id)) classes.delete(id);
  const select = $("class-select");
  const keep = current && classes.has(current.id) ? current.id : list[0];
  select.replaceChildren(...list.map((id) => {
    const o = document.createElement("option");
    o.value = id;
    o.textContent = classLabel(classes.get(id));
    return o;
  }));
  select.value = keep;
  if (!current || current.id !== keep) show(keep);
  refreshClass();
}

function onWelcome(m) {
  const d = m.data;
  stats.connects += 1;
  $("who").textContent = `Signed in as ${d.name || d.user_id} (${d.role}).`;
  for (const c of classes.values()) for (const s of c.students.values()) offline(s); // the snapshot follows
  current = current && d.classes.includes(current.id) ? current : null;
  if (current) show(current.id);
  setClasses(d.classes);
}

function onAuthenticated(m) {
  stats.renewals += 1;
  setClasses(m.data.classes);
}

function show(id) {
  current = classState(id);
  for (const box of ["session-box", "roster-box", "chart-box", "violations-box"]) $(box).hidden = false;
  dirty.all = dirty.session = dirty.alertsAll = dirty.final = dirty.chart = true;
  touch();
}

async function refreshClass() {
  if (!current || !rc) return;
  const id = current.id;
  try {
    const [roster, summary] = await Promise.all([
      rc.request("ROSTER", { class_id: id }),
      rc.request("TODAY_SUMMARY", { class_id: id }),
    ]);
    applyRoster(roster.data);
    applySummary(summary.data);
  } catch (e) {
    tellAction(errorWords(e));
  }
}

function applyRoster(d) {
  const c = mine(d);
  if (!c) return;
  c.name = d.name || null;
  c.rostered = !!d.rostered;
  const option = [...$("class-select").options].find((o) => o.value === c.id);
  if (option) option.textContent = classLabel(c);
  if (c.rostered) {
    const listed = new Set(d.students.map((x) => x.student_id));
    for (const [id, s] of c.students) {
      if (s.rostered && !listed.has(id)) { // left or removed
        c.students.delete(id);
        c.removed.add(id);
      }
    }
    for (const x of d.students) {
      c.removed.delete(x.student_id); // joined (again)
      const seen = c.students.has(x.student_id);
      const s = student(c, x.student_id, x.name);
      s.rostered = true;
      // ROSTER's online covers this broker instance only: PRESENCE and the snapshot know
      // every instance, so it only seeds a student the page has not seen yet.
      if (!seen) s.online = !!x.online;
    }
  }
  if (c === current) touch("all");
}

// A day finalized before this page opened: its final table comes from the report endpoint.
async function loadReport(c, sessionId) {
  try {
    const r = await fetch(`/attendance/report/${encodeURIComponent(c.id)}/${encodeURIComponent(sessionId)}`,
      { headers: { Authorization: `Bearer ${rc.token}` }, cache: "no-store" });
    if (!r.ok || c.final) return;
    c.final = await r.json();
    if (c === current) touch("final");
  } catch {
    // the live figures stay; the table comes with the next summary
  }
}

function applySummary(d) {
  const c = mine(d);
  if (!c) return;
  c.session = { state: d.state, session_id: d.session_id, started_at: d.started_at };
  if (d.state === "finalized" && !c.final && d.session_id) loadReport(c, d.session_id);
  for (const x of d.students) {
    const s = student(c, x.student_id, x.name);
    s.status = x.status;
    s.source = x.source;
    if (x.online) s.online = true;
    else offline(s);
    s.pct = x.engagement_percentage;
    s.trust = x.trust_score;
    s.frames = x.frames_analyzed;
  }
  if (c === current) {
    dirty.session = true;
    touch("all");
  }
}

function onPresenceSnapshot(m) {
  const c = mine(m.data);
  if (!c) return;
  for (const x of m.data.students) student(c, x.student_id, x.name).online = true;
  touch();
}

function onPresence(m) {
  const c = mine(m.data);
  if (!c) return;
  const s = student(c, m.data.student_id, m.data.name);
  if (m.data.status === "online") s.online = true;
  else offline(s);
  touch();
}

function onEngagement(m) {
  const c = mine(m.data);
  if (!c) return;
  for (const x of m.data.students) {
    const s = student(c, x.student_id, x.name);
    // Lines are held back up to ROLLCALL_ENGAGEMENT_UPDATE_MS: one may come after the
    // student's offline PRESENCE. Presence alone says who is online.
    if (s.online) {
      s.faces = x.faces;
      s.looking = x.looking;
      s.engaged = x.engaged;
    }
    s.pct = x.engagement_pct;
    s.trust = x.trust_score;
    s.frames = x.frames_analyzed;
  }
  touch();
}

function onViolation(m) {
  const c = mine(m.data);
  if (!c) return;
  student(c, m.data.student_id, m.data.name).trust = m.data.trust_score;
  c.alerts.unshift(m.data);
  c.newAlerts.push(m.data);
  if (c.alerts.length > MAX_ALERTS) c.alerts.length = MAX_ALERTS;
  if (c.newAlerts.length > MAX_ALERTS) c.newAlerts.shift();
  if (c === current) touch("alerts");
}

function onMarked(m) {
  const c = mine(m.data);
  if (!c) return;
  const s = student(c, m.data.student_id);
  s.status = m.data.status;
  s.source = "manual";
  if (c.session.state === "none") {
    c.session = { state: "active", session_id: m.data.session_id, started_at: m.data.marked_at };
    if (c === current) dirty.session = true;
  }
  touch();
}

function onSessionStarted(m) {
  const c = mine(m.data);
  if (!c) return;
  c.session = { state: "active", session_id: m.data.session_id, started_at: m.data.started_at };
  if (c === current) touch("session");
}

function onFinalized(m) {
  const c = mine(m.data);
  if (!c || !m.data.records) return;
  c.session = { ...c.session, state: "finalized" };
  c.final = m.data;
  for (const r of m.data.records) {
    const s = student(c, r.student_id, r.student_name);
    s.status = r.status;
    s.source = r.source;
    s.pct = r.engagement_percentage;
    s.trust = r.trust_score;
  }
  if (c === current) {
    dirty.session = dirty.final = true;
    touch("all");
  }
}

function onRosterPush(m) {
  applyRoster(m.data);
}

// ---- what the teacher does -------------------------------------------------------------

const ERROR_WORDS = {
  SESSION_FINALIZED: "Today's session is already over and saved.",
  NO_SESSION: "There is no session today to end.",
  NOT_ON_ROSTER: "This student is not on the class list.",
  UNAVAILABLE: "The server cannot save this right now. Try again in a moment.",
  FORBIDDEN: "Your account may not do this.",
  CLASS_FORBIDDEN: "Your sign-in does not cover this class.",
};

function errorWords(e) {
  if (e && e.code) return ERROR_WORDS[e.code] || `The server refused: ${e.message}`;
  return "Not connected: try again once the connection is back.";
}

function tellAction(text) {
  setText($("action-message"), text);
}

async function act(event, data, done) {
  if (!current) return;
  tellAction("");
  try {
    const m = await rc.request(event, { class_id: current.id, ...data });
    if (done) done(m);
  } catch (e) {
    tellAction(errorWords(e));
  }
}

function wireControls() {
  $("class-select").addEventListener("change", (ev) => {
    show(ev.target.value);
    refreshClass();
  });
  $("start-button").addEventListener("click", () => act("SESSION_START", {}, (m) => {
    onSessionStarted(m);
    tellAction(m.data.already_active ? "The session was already running." : "The session has started.");
  }));
  $("summary-button").addEventListener("click", () => act("TODAY_SUMMARY", {}, (m) => {
    applySummary(m.data);
    tellAction("The summary is up to date.");
  }));
  $("done-button").addEventListener("click", () => {
    if (!window.confirm("End today's session and save the attendance? It cannot be changed afterwards.")) return;
    act("DONE", {}, (m) => {
      onFinalized(m);
      tellAction("The attendance is saved.");
    });
  });
  $("roster-body").addEventListener("click", (ev) => {
    const b = ev.target.closest("button[data-mark]");
    if (!b) return;
    const id = b.closest("tr").dataset.student;
    const s = current.students.get(id);
    act("ATTENDANCE_MARKED", { student_id: id, status: b.dataset.mark,
      ...(s && s.name ? { name: s.name } : {}) }, (m) => onMarked(m));
  });
}

// ---- the connection --------------------------------------------------------------------

function onState(s) {
  if (s.state === "open") {
    everConnected = true;
    setText($("connection"), "Connected.");
    $("connection").dataset.tone = "good";
  } else if (s.state === "connecting") {
    setText($("connection"), "Connecting…");
    delete $("connection").dataset.tone;
  } else if (s.state === "waiting") {
    const secs = Math.ceil(s.delayMs / 1000);
    setText($("connection"), everConnected
      ? `The connection was lost. Trying again in ${secs} s… The figures below may be out of date.`
      : `The server cannot be reached. Trying again in ${secs} s…`);
    $("connection").dataset.tone = "bad";
    for (const c of classes.values()) for (const x of c.students.values()) offline(x);
    touch("all");
    stopIfRefused(rc, s.attempt, () => { refused = true; });
  } else if (s.state === "closed") {
    setText($("connection"), s.code === 4003
      ? "Your sign-in has expired. Reload the page and sign in again."
      : refused ? "The server refused this sign-in. Reload the page and sign in again, or ask for a new link."
        : "Disconnected.");
    $("connection").dataset.tone = "bad";
  }
}

function start({ token, getToken }) {
  canRenew = !!getToken;
  if (tokenExpired(token) && !canRenew) {
    onState({ state: "closed", code: 4003 });
    return;
  }
  rc = new Rollcall({ token, getToken: getToken || undefined });
  rc.on("state", onState);
  rc.on("WELCOME", onWelcome);
  rc.on("PRESENCE_SNAPSHOT", onPresenceSnapshot);
  rc.on("PRESENCE", onPresence);
  rc.on("ENGAGEMENT_UPDATE", onEngagement);
  rc.on("VIOLATION", onViolation);
  rc.on("ATTENDANCE_MARKED", onMarked);
  rc.on("SESSION_STARTED", onSessionStarted);
  rc.on("ATTENDANCE_FINALIZED", onFinalized);
  rc.on("ROSTER", onRosterPush);
  rc.on("TOKEN_EXPIRING", (m) => {
    if (!canRenew) {
      setText($("connection"), `Connected. Your sign-in ends in about ${Math.max(1, Math.round(m.data.expires_in / 60))} min: ` +
        "reload the page and sign in again to stay connected.");
    }
  });
  rc.on("*", () => {
    stats.events += 1;
    sinceRender += 1;
  });
  rc.on("AUTHENTICATED", onAuthenticated);
  rc.on("renew-failed", () => {
    setText($("connection"), "Connected, but your sign-in could not be renewed: it will end soon. " +
      "Reload the page and sign in again.");
    $("connection").dataset.tone = "bad";
  });
  rc.connect();
}

wireControls();
setInterval(samplePoint, CHART_EVERY_MS);
const token = tokenFromFragment();
if (token) {
  start({ token, getToken: null });
} else {
  setText($("connection"), "Not connected: sign in to start.");
  askForToken({ role: "teacher", onToken: start });
}
