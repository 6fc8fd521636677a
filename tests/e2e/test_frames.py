# SPDX-License-Identifier: MIT
"""Frames end to end with real photos (../shared/data/faces): FRAME_RESULT to the student,
coalesced ENGAGEMENT_UPDATEs and VIOLATIONs to the teacher, engagement in TODAY_SUMMARY and
MY_ATTENDANCE, and DONE deciding present/absent by engagement with the right percentages.
Then every kind of bad frame: each an ERROR with a stable code, the broker alive."""

import asyncio
import base64
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Broker, Client, check, check_error, data_of, eq, fail, http_get,  # noqa: E402
                     pong_ok, records_by_id, run_tests, students_by_id)

FACES = os.path.join(os.environ.get("ROLLCALL_SRC", os.path.join(os.path.dirname(__file__),
                                                                   "..", "..")),
                     "..", "shared", "data", "faces")
LOOKING = "aflw2000_image00050.jpg"  # one face, yaw 0.9, pitch -4.7 (labels.csv)
AWAY = "aflw2000_image00108.jpg"     # one face, yaw 82.3: turned away
NOFACE = "dlib_ffmpeg_eagle.jpg"     # no face

INTERVAL = 0.3


def photo(name):
    with open(os.path.join(FACES, name), "rb") as f:
        return f.read()


def data_url(b):
    return "data:image/jpeg;base64," + base64.b64encode(b).decode()


def frames_broker(extra=None):
    env = {"ROLLCALL_FRAME_INTERVAL": str(INTERVAL), "ROLLCALL_FRAME_RATE": "20",
           "ROLLCALL_VIOLATION_SECONDS": "0.5", "ROLLCALL_ENGAGEMENT_UPDATE_MS": "1000",
           "ROLLCALL_ATTENDANCE_THRESHOLD": "10", "ROLLCALL_ANALYZER_THREADS": "2"}
    env.update(extra or {})
    return Broker(env=env).start()


async def connect(b, sub, role, cls="c1", name=None):
    return await Client.open(b, b.token(sub=sub, role=role, class_id=cls, name=name),
                             label=f"{role}:{sub}")


async def warm_up(s, img):
    """The harness loads models on the first frame: one frame before the session both
    warms the analyzer and shows a frame without a session is refused."""
    await s.send("FRAME", {"image": data_url(img)}, id="warm")
    m = await s.recv_event(None, id="warm", timeout=120)
    check_error(m, "NO_SESSION", "warm", what="frame before SESSION_START")


async def test_engagement_decides_attendance():
    b = frames_broker()
    looking, away = photo(LOOKING), photo(AWAY)
    t = await connect(b, "t-1", "teacher")
    a = await connect(b, "s-a", "student", name="Ann")
    z = await connect(b, "s-z", "student", name="Zed")
    await warm_up(a, looking)
    await t.call("SESSION_START", {})
    t.clear()

    # Ann streams binary JPEGs looking at the screen; Zed streams data: URLs turned away.
    sent = {"s-a": [], "s-z": []}
    results = {"s-a": [], "s-z": []}
    n = 10
    for i in range(n):
        sent["s-a"].append(time.monotonic())
        await a.send_raw(looking)
        sent["s-z"].append(time.monotonic())
        await z.send("FRAME", {"image": data_url(away)}, id=f"z{i}")
        results["s-a"].append(data_of(await a.recv_event("FRAME_RESULT", timeout=10)))
        results["s-z"].append(data_of(await z.recv_event("FRAME_RESULT", id=f"z{i}",
                                                          timeout=10)))
        await asyncio.sleep(max(0.0, INTERVAL - (time.monotonic() - sent["s-a"][-1])))

    for r in results["s-a"]:
        eq((r["faces"], r["looking"], r["engaged"]), (1, True, True), "Ann's FRAME_RESULT")
        check(r["yaw"] is not None and abs(r["yaw"]) < 30, f"Ann's yaw {r['yaw']}")
        eq(r["violation"], None, "Ann's violation")
    for r in results["s-z"]:
        eq((r["looking"], r["engaged"]), (False, False), "Zed's FRAME_RESULT")
    ann_last, zed_last = results["s-a"][-1], results["s-z"][-1]
    eq(ann_last["frames_analyzed"], n, "Ann's frames_analyzed")
    # Credit is the time between consecutive frames (capped at 2 x interval), none for the
    # first: what Ann's client measured between its sends.
    gaps = [y - x for x, y in zip(sent["s-a"], sent["s-a"][1:])]
    span = sum(min(g, 2 * INTERVAL) for g in gaps)
    check(abs(ann_last["engaged_seconds"] - span) < 0.5,
          f"Ann's engaged_seconds {ann_last['engaged_seconds']} vs {span:.2f} s streamed")
    eq(zed_last["engaged_seconds"], 0, "Zed's engaged_seconds")
    check(zed_last["trust_score"] < 100, f"Zed's trust score {zed_last['trust_score']}")
    eq(ann_last["trust_score"], 100, "Ann's trust score")

    # The teacher saw coalesced updates for both (fewer messages than frames) and Zed's
    # violation (turned away for longer than 0.5 s).
    streamed = time.monotonic() - sent["s-a"][0]
    await asyncio.sleep(1.3)  # the trailing update of the last 1 s window
    updates = [data_of(m) for m in t.buf if m.get("event") == "ENGAGEMENT_UPDATE"]
    check(updates, "no ENGAGEMENT_UPDATE reached the teacher")
    # At most one update per class per second (plus the leading and trailing ones).
    check(len(updates) <= streamed / 1.0 + 2,
          f"{len(updates)} updates for {2 * n} frames in {streamed:.1f} s: not coalesced")
    last = {}
    for u in updates:
        eq(u["class_id"], "c1", "ENGAGEMENT_UPDATE class_id")
        for row in u["students"]:
            last[row["student_id"]] = row
    eq(set(last), {"s-a", "s-z"}, "students in ENGAGEMENT_UPDATEs")
    eq((last["s-a"]["engaged"], last["s-a"]["frames_analyzed"]), (True, n), "Ann's last update")
    eq((last["s-z"]["engaged"], last["s-z"]["name"]), (False, "Zed"), "Zed's last update")
    check(last["s-a"]["engagement_pct"] > 10, f"Ann's live engagement {last['s-a']}")
    viol = [data_of(m) for m in t.buf if m.get("event") == "VIOLATION"]
    check(any(v["student_id"] == "s-z" and v["kind"] in ("looking_away", "no_face")
              for v in viol), f"no VIOLATION for Zed: {viol}")
    check(all(v["student_id"] != "s-a" for v in viol), f"VIOLATION for Ann: {viol}")
    # Students never see each other's engagement.
    check(not [m for m in a.buf + z.buf if m.get("event") in ("ENGAGEMENT_UPDATE",
                                                            "VIOLATION")],
          "a student received ENGAGEMENT_UPDATE or VIOLATION")

    summ = students_by_id(data_of(await t.call("TODAY_SUMMARY", {})))
    eq(summ["s-a"]["frames_analyzed"], n, "TODAY_SUMMARY Ann frames_analyzed")
    check(summ["s-a"]["engagement_percentage"] > 10, f"TODAY_SUMMARY Ann {summ['s-a']}")
    eq(summ["s-z"]["engagement_percentage"], 0, "TODAY_SUMMARY Zed engagement")
    mine = data_of(await a.call("MY_ATTENDANCE", {}))
    check(mine["engaged_seconds"] > 0 and mine["frames_analyzed"] == n, f"MY_ATTENDANCE {mine}")

    fin = data_of(await t.call("DONE", {}))
    recs = records_by_id(fin)
    ra, rz = recs["s-a"], recs["s-z"]
    eq((ra["status"], ra["source"]), ("present", "engagement"), "Ann's record")
    eq((rz["status"], rz["source"]), ("absent", "engagement"), "Zed's record")
    eq(ra["frames_analyzed"], n, "Ann's record frames_analyzed")
    total = ra["total_class_duration_seconds"]
    want = ra["engagement_duration_seconds"] / total * 100
    check(abs(ra["engagement_percentage"] - want) < 0.01,
          f"Ann's percentage {ra['engagement_percentage']} != {want:.2f}")
    check(abs(ra["engagement_duration_seconds"] - span) < 0.5,
          f"Ann's record engaged {ra['engagement_duration_seconds']} vs {span:.2f}")
    eq(rz["engagement_duration_seconds"], 0, "Zed's record engaged seconds")
    eq(ra["trust_score"], 100, "Ann's record trust score")
    eq(rz["trust_score"], zed_last["trust_score"], "Zed's record trust score")
    check(rz["trust_score"] < 100, f"Zed's record trust score {rz['trust_score']}")
    # The durable records (report endpoint) carry the same.
    r = http_get(b.port, f"/attendance/report/c1/{fin['session_id']}",
                 headers={"Authorization": "Bearer " + b.token(sub="t-1", role="teacher",
                                                                class_id="c1")})
    eq(r.status, 200, "report status")
    rep = {x["student_id"]: x for x in json.loads(r.body)["records"]}
    eq((rep["s-a"]["trust_score"], rep["s-z"]["trust_score"]),
       (100, rz["trust_score"]), "report trust scores")
    eq(rep["s-a"]["frames_analyzed"], n, "report frames_analyzed")
    # Frames after DONE are not counted.
    await a.send_raw(looking)
    m = await a.recv_event(None, timeout=10, pred=lambda m: m.get("event") in ("ERROR",
                                                                               "FRAME_RESULT"))
    check_error(m, "NO_SESSION", what="frame after DONE")
    m = b.metrics()
    check(m.get("rollcall_frames_total", outcome="analyzed") >= 2 * n + 1,
          "rollcall_frames_total{outcome=analyzed}")
    check(m.get("rollcall_violations_total", kind="looking_away") +
          m.get("rollcall_violations_total", kind="no_face") >= 1, "rollcall_violations_total")
    check(m.get("rollcall_engagement_updates_total") >= 1, "rollcall_engagement_updates_total")


async def test_two_tabs_earn_the_time_once():
    """A student with two tabs open streams from both: credit is per student (the time since
    the student's newest earlier frame, from either tab), so the two earn the wall time once,
    not twice."""
    b = frames_broker()
    looking = photo(LOOKING)
    t = await connect(b, "t-1", "teacher")
    tab1 = await connect(b, "s-b", "student", name="Bea")
    tab2 = await connect(b, "s-b", "student", name="Bea")
    await warm_up(tab1, looking)
    await t.call("SESSION_START", {})
    sent, last = [], None
    n = 12
    for i in range(n):
        tab = tab1 if i % 2 == 0 else tab2
        sent.append(time.monotonic())
        await tab.send_raw(looking)
        last = data_of(await tab.recv_event("FRAME_RESULT", timeout=10))
        eq(last["engaged"], True, f"frame {i}")
        await asyncio.sleep(max(0.0, INTERVAL / 2 - (time.monotonic() - sent[-1])))
    eq(last["frames_analyzed"], n, "frames from both tabs")
    gaps = [y - x for x, y in zip(sent, sent[1:])]
    span = sum(min(g, 2 * INTERVAL) for g in gaps)
    check(abs(last["engaged_seconds"] - span) < 0.5,
          f"two tabs earned {last['engaged_seconds']} s over {span:.2f} s of streaming")
    # Per connection it would have been about twice the span.
    check(last["engaged_seconds"] < 1.5 * span,
          f"two tabs earned {last['engaged_seconds']} s: counted twice over {span:.2f} s")


async def test_bad_frames():
    b = frames_broker({"ROLLCALL_FRAME_MAX_BYTES": "200000", "ROLLCALL_FRAME_RATE": "1000"})
    t = await connect(b, "t-1", "teacher")
    s = await connect(b, "s-1", "student")
    await t.call("SESSION_START", {})
    good = photo(LOOKING)

    # A PNG header claiming 30000 x 30000 pixels: refused from the header, never decoded.
    ihdr = b"IHDR" + (30000).to_bytes(4, "big") * 2 + bytes([8, 2, 0, 0, 0])
    import zlib
    bomb = (b"\x89PNG\r\n\x1a\n" + (13).to_bytes(4, "big") + ihdr +
            zlib.crc32(ihdr).to_bytes(4, "big") + bytes(64) +
            b"\x00\x00\x00\x00IEND\xaeB`\x82")
    cases = [
        ("truncated JPEG", good[: len(good) // 2], "BAD_FRAME"),
        ("random bytes", os.urandom(5000), "BAD_FRAME"),
        ("huge-dimension PNG", bomb, "FRAME_TOO_LARGE"),
        ("zero bytes", b"", "BAD_FRAME"),
        ("over the byte limit", good + bytes(200001 - len(good)), "FRAME_TOO_LARGE"),
    ]
    for what, payload, code in cases:
        # As a FRAME event with base64, and as a binary message.
        m = await s.request("FRAME", {"image": base64.b64encode(payload).decode()},
                            timeout=10) if payload else await s.request("FRAME", {"image": ""})
        if payload:
            check_error(m, code, what=f"FRAME with {what}")
        else:
            check_error(m, "INVALID_PAYLOAD", what="FRAME with an empty image string")
        await s.send_raw(payload)
        m = await s.recv_event("ERROR", timeout=10)
        check_error(m, code, what=f"binary {what}")
        eq(data_of(m).get("ref"), None, f"binary {what}: ERROR ref")
    for what, image in [("base64 with garbage", "/9j/4AAQ!!!$$$"),
                        ("a data: URL that is not base64", "data:image/jpeg,hello"),
                        ("a data: URL of text", "data:text/plain;base64,aGVsbG8=")]:
        m = await s.request("FRAME", {"image": image})
        check_error(m, "BAD_FRAME", what=f"FRAME with {what}")
    m = await s.request("FRAME", {})
    check_error(m, "INVALID_PAYLOAD", what="FRAME without image")

    # Frames from a teacher: FORBIDDEN, as event and as binary message.
    m = await t.request("FRAME", {"image": base64.b64encode(good).decode()})
    check_error(m, "FORBIDDEN", what="FRAME from a teacher")
    await t.send_raw(good)
    check_error(await t.recv_event("ERROR", timeout=5), "FORBIDDEN",
                what="binary frame from a teacher")

    # The connection and the broker are fine: a good frame is analyzed.
    r = await s.request("FRAME", {"image": data_url(good)}, timeout=120)
    eq(r.get("event"), "FRAME_RESULT", f"good frame after bad ones: {r}")
    await pong_ok(s)
    await pong_ok(t)
    check(b.alive(), "broker died")


async def test_rate_limit_and_multi_class_binary():
    b = frames_broker({"ROLLCALL_FRAME_RATE": "2"})
    s = await connect(b, "s-1", "student")
    good = photo(NOFACE)
    # Two frames pass the bucket (burst 2), the third within the same instant does not.
    codes = []
    for i in range(3):
        await s.send("FRAME", {"image": base64.b64encode(good).decode()}, id=f"r{i}")
    for i in range(3):
        m = await s.recv_event(None, id=f"r{i}", timeout=120)
        codes.append(m.get("event") if m.get("event") != "ERROR" else data_of(m)["code"])
    eq(codes[2], "RATE_LIMITED", f"third frame at once: {codes}")
    # A binary frame needs a token with exactly one class.
    tok = b.token(sub="s-2", role="student", classes=["c1", "c2"])
    s2 = await Client.open(b, tok, label="student:two-classes")
    await s2.send_raw(good)
    check_error(await s2.recv_event("ERROR", timeout=5), "CLASS_REQUIRED",
                what="binary frame with two classes")


async def test_rate_limit_is_per_student_not_per_tab():
    """The frame budget belongs to the student in the class: a second tab does not double
    it, while another student, and the same student in another class, have their own."""
    b = frames_broker({"ROLLCALL_FRAME_RATE": "2"})
    img = base64.b64encode(photo(NOFACE)).decode()
    tab1 = await connect(b, "s-1", "student")
    tab2 = await connect(b, "s-1", "student")
    other = await connect(b, "s-2", "student")
    elsewhere = await connect(b, "s-1", "student", cls="c2")
    # The burst is 2: one frame from each tab at once uses the student's whole burst.
    sends = [(tab1, "a"), (tab2, "b"), (tab2, "c"), (tab1, "d"), (other, "o1"), (other, "o2"),
             (elsewhere, "e1"), (elsewhere, "e2")]
    for c, rid in sends:
        await c.send("FRAME", {"image": img}, id=rid)
    codes = {}
    for c, rid in sends:
        m = await c.recv_event(None, id=rid, timeout=120)
        codes[rid] = data_of(m).get("code") if m.get("event") == "ERROR" else m.get("event")
    # The two tabs' frames reach the broker in any order: two of the four pass.
    eq(sum(1 for rid in "abcd" if codes[rid] == "RATE_LIMITED"), 2,
       f"frames refused of four sent at once over two tabs: {codes}")
    for rid in ("o1", "o2", "e1", "e2"):
        check(codes[rid] != "RATE_LIMITED", f"frame {rid} refused by another's budget: {codes}")


async def test_readyz_waits_for_preloaded_models():
    """With ROLLCALL_ANALYZER_PRELOAD (the production default) the workers load their models
    at start; /readyz says 200 only once they did, and then the first frame is fast."""
    b = Broker(env={"ROLLCALL_ANALYZER_PRELOAD": "1", "ROLLCALL_ANALYZER_THREADS": "2"})
    b.start(wait=False)
    b.wait_ready(timeout=120)
    m = b.metrics()
    eq(m.get("rollcall_ready"), 1, "rollcall_ready once /readyz is 200")
    t = await connect(b, "t-1", "teacher")
    s = await connect(b, "s-1", "student")
    await t.call("SESSION_START", {})
    t0 = time.monotonic()
    r = await s.request("FRAME", {"image": data_url(photo(LOOKING))}, timeout=60)
    eq(r.get("event"), "FRAME_RESULT", f"first frame: {r}")
    # No model loading on this path any more (loading takes seconds, analysis milliseconds).
    check(time.monotonic() - t0 < 5, f"first frame after ready took {time.monotonic() - t0:.1f} s")


if __name__ == "__main__":
    run_tests(globals())
