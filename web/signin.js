// SPDX-License-Identifier: MIT
// How a page gets its token, shared by the teacher and the student page:
//  1. from the URL fragment (#token=...), removed from the address bar at once;
//  2. from the login form, when the broker has accounts (GET /auth/me without a token
//     answers 401; 404 means accounts are off and the form stays hidden). A login also gives
//     the page a way to renew the token (POST /auth/refresh). An account in no class yet is
//     offered the step that gives it one: a student joins with the class code, a teacher
//     creates a class;
//  3. from a paste box.
// The token is kept only in memory (the caller's), never written to storage or logged; a
// reload asks again.

import { tokenClaims } from "/static/rollcall.js";

const $ = (id) => document.getElementById(id);

// The token in the fragment, or null; the fragment is removed either way.
export function tokenFromFragment() {
  const t = new URLSearchParams(location.hash.slice(1)).get("token");
  if (location.hash) history.replaceState(null, "", location.pathname + location.search);
  return t || null;
}

function classesOf(token) {
  const c = tokenClaims(token) || {};
  if (Array.isArray(c.classes)) return c.classes;
  return c.class_id ? [c.class_id] : [];
}

async function api(method, path, body, token) {
  const headers = {};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (token) headers.Authorization = `Bearer ${token}`;
  const r = await fetch(path, { method, headers, cache: "no-store",
    body: body === undefined ? undefined : JSON.stringify(body) });
  let data = null;
  try {
    data = await r.json();
  } catch {
    // an empty or non-JSON answer
  }
  return { status: r.status, data };
}

function tell(id, text) {
  const el = $(id);
  el.textContent = text;
  el.hidden = !text;
}

// True when the broker answers over HTTP.
async function serverUp() {
  try {
    return (await fetch("/healthz", { cache: "no-store" })).ok;
  } catch {
    return false;
  }
}

// For a page's "waiting" state: a socket that has failed `attempt` times in a row and never
// got its WELCOME, while the broker answers over HTTP, is a refused sign-in (a bad
// signature, no class, another audience: the browser sees only 1006), not a server that is
// down. Then onRefused() runs and the client stops retrying, which the page sees as
// "closed".
export function stopIfRefused(rc, attempt, onRefused) {
  if (rc.welcome || attempt < 3) return;
  serverUp().then((up) => {
    if (up && !rc.welcome && rc.state !== "open") {
      onRefused();
      rc.close();
    }
  });
}

// Shows the sign-in box and calls onToken({token, getToken}) once the page has a token.
// getToken (after a login) fetches a fresh one with the current token; null otherwise.
// role: "teacher" or "student", for the words and the no-class step.
export async function askForToken({ role, onToken }) {
  $("token-box").hidden = false;
  let current = null;
  const getToken = async () => {
    const r = await api("POST", "/auth/refresh", undefined, current);
    if (r.status !== 200) return null;
    current = r.data.access_token;
    return current;
  };
  let done = false;
  const finish = (token, viaLogin) => {
    if (done) return; // a second submit while the first was answered
    done = true;
    $("token-box").hidden = true;
    onToken({ token, getToken: viaLogin ? getToken : null });
  };

  $("token-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const t = $("token-input").value.trim();
    $("token-input").value = "";
    if (t) finish(t, false);
  });

  // Accounts on? A GET /auth/me without a token answers 401 then, 404 when they are off.
  let accounts = false;
  try {
    accounts = (await api("GET", "/auth/me")).status === 401;
  } catch {
    accounts = false;
  }
  if (!accounts) return;
  $("login-form").hidden = false;

  const afterClassStep = (token) => {
    current = token;
    if (classesOf(token).length > 0) {
      finish(token, true);
      return;
    }
    // An account in no class cannot open the live channel yet.
    $("login-form").hidden = true;
    $("class-form").hidden = false;
    tell("class-message", role === "student"
      ? "You are not in a class yet. Type the class code your teacher gave you."
      : "You have no class yet. Name your first class to create it.");
  };

  // One request at a time per form: a second Enter while a (slow) login or a class creation
  // is answered would sign in twice or make two classes.
  const once = (form, fn) => form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (form.dataset.busy) return;
    form.dataset.busy = "1";
    form.querySelector("button[type=submit]").disabled = true;
    try {
      await fn();
    } finally {
      delete form.dataset.busy;
      form.querySelector("button[type=submit]").disabled = false;
    }
  });

  once($("login-form"), async () => {
    const email = $("login-email").value.trim();
    const password = $("login-password").value;
    tell("login-message", "Signing in…");
    let r;
    try {
      r = await api("POST", "/auth/login", { email, password });
    } catch {
      tell("login-message", "The server cannot be reached. Try again in a moment.");
      return;
    }
    $("login-password").value = "";
    if (r.status === 200) {
      tell("login-message", "");
      afterClassStep(r.data.access_token);
    } else if (r.status === 401) {
      tell("login-message", "Wrong email or password.");
    } else if (r.status === 429) {
      tell("login-message", "Too many attempts. Wait a few minutes, then try again.");
    } else {
      tell("login-message", `Signing in failed (${r.data?.error || r.status}).`);
    }
  });

  once($("class-form"), async () => {
    const value = $("class-input").value.trim();
    if (!value) return;
    const r = role === "student"
      ? await api("POST", "/classes/join", { code: value }, current)
      : await api("POST", "/classes", { name: value }, current);
    if (r.status === 200 || r.status === 201) {
      $("class-form").hidden = true;
      tell("class-message", "");
      afterClassStep(r.data.access_token);
    } else if (r.status === 404 && role === "student") {
      tell("class-message", "No class has this code. Check it with your teacher.");
    } else {
      tell("class-message", `That did not work (${r.data?.error || r.status}).`);
    }
  });
}
