// SPDX-License-Identifier: MIT
// A page for tests/web/browser.test.mjs: rollcall.js in a real browser, under the broker's
// Content-Security-Policy. Takes the token from the URL fragment and removes it at once,
// then reports what the client does into the DOM for the test to read.
import { Rollcall, RollcallError } from "/static/rollcall.js";

const token = new URLSearchParams(location.hash.slice(1)).get("token");
history.replaceState(null, "", location.pathname + location.search);
const $ = (id) => document.getElementById(id);
$("hash").textContent = location.hash === "" ? "empty" : "still there";

const rc = new Rollcall({ token, backoffMinMs: 50, backoffMaxMs: 500 });
let welcomes = 0;
rc.on("state", (s) => { $("state").textContent = s.state; });
rc.on("WELCOME", async (m) => {
  welcomes += 1;
  $("welcomes").textContent = String(welcomes);
  $("user").textContent = m.data.user_id;
  const pong = await rc.request("PING", { ts: welcomes });
  $("pong").textContent = `${pong.event} ${pong.data.ts}`;
  try {
    await rc.request("MY_ATTENDANCE", {});
    $("refusal").textContent = "none";
  } catch (e) {
    $("refusal").textContent = e instanceof RollcallError ? e.code : String(e);
  }
});
rc.connect();
