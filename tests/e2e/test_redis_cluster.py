# SPDX-License-Identifier: MIT
"""Many instances, one classroom: two brokers share one throwaway redis-server (the Redis
engine). Events cross instances exactly once, state written through one instance is read
through the other, concurrent DONEs on both finalize once, a Redis outage is survived
(/readyz 503 -> 200, UNAVAILABLE errors meanwhile, nothing acknowledged lost), and the
students of an instance killed with SIGKILL are shown leaving within a bounded time."""

import asyncio
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Broker, Client, RedisServer, check, data_of, eq, http_get,  # noqa: E402
                     random_secret, records_by_id, run_tests, timeout)

TTL = 2          # ROLLCALL_PRESENCE_TTL of these brokers, seconds
LEAVE_BOUND = TTL + TTL / 3 + 2.5   # heartbeat expiry + one sweep period + slack


def pair(redis=None):
    """Starts Redis (unless given) and two brokers A and B sharing it and one secret."""
    r = redis or RedisServer().start()
    secret = random_secret()
    env = {"ROLLCALL_REDIS_URL": r.url, "ROLLCALL_PRESENCE_TTL": str(TTL)}
    a = Broker(secret=secret, env=env).start()
    b = Broker(secret=secret, env=env).start()
    return r, a, b


async def join(broker, sub, role, cls="c1", name=None, label=None):
    c = await Client.open(broker, broker.token(sub=sub, role=role, class_id=cls, name=name),
                          label=label or f"{sub}@{broker.port}")
    return c


def report(broker, sid, cls="c1"):
    tok = broker.token(sub="t-report", role="teacher", class_id=cls)
    return http_get(broker.port, f"/attendance/report/{cls}/{sid}",
                    headers={"Authorization": "Bearer " + tok})


async def settle():
    # A room's first member subscribes its class channel; give the SUBSCRIBE a moment to be
    # confirmed before events are published from the other instance.
    await asyncio.sleep(0.3)


async def numsub(r, cls="c1"):
    rep = r.command("PUBSUB", "NUMSUB", "rc:{" + cls + "}:ch")
    return int(rep[1])


async def test_events_cross_instances_exactly_once():
    r, a, b = pair()
    ta = await join(a, "t1", "teacher", label="teacherA")
    tb = await join(b, "t2", "teacher", label="teacherB")
    sa = await join(a, "s-a", "student", name="Ann", label="studentA")
    sb = await join(b, "s-b", "student", name="Ben", label="studentB")
    await settle()
    start = await ta.call("SESSION_START", {"class_id": "c1"})
    sid = data_of(start)["session_id"]
    for c in (tb, sa, sb):
        m = await c.recv_event("SESSION_STARTED", timeout=5)
        eq(data_of(m)["session_id"], sid, f"{c.label} SESSION_STARTED session_id")
    await ta.call("ATTENDANCE_MARKED", {"student_id": "s-b", "status": "late"})
    # The staff and the marked student (on the other instance) see the mark, once.
    for c in (tb, sb):
        m = await c.recv_event("ATTENDANCE_MARKED", timeout=5)
        eq(data_of(m)["student_id"], "s-b", f"{c.label} mark student")
        eq(data_of(m)["status"], "late", f"{c.label} mark status")
    # A class-wide event reaches every student on both instances.
    await ta.call("ANNOUNCE", {"text": "hello"}, reply="ANNOUNCEMENT")
    for c in (tb, sa, sb):
        m = await c.recv_event("ANNOUNCEMENT", timeout=5)
        eq(data_of(m)["text"], "hello", f"{c.label} announcement")
    # Exactly once: no echo double anywhere, and the marker only got its reply; the
    # student not marked got nothing.
    for c in (ta, tb, sa, sb):
        await c.expect_no_message(0.0, event="ANNOUNCEMENT")
        await c.expect_no_message(0.6 if c is ta else 0.05,
                                  event="ATTENDANCE_MARKED")
        await c.expect_no_message(0.0, event="SESSION_STARTED")
    m = b.metrics()
    check(m.get("rollcall_redis_up") == 1, "B reports rollcall_redis_up 1")
    check(m.get("rollcall_redis_messages_in_total", 0) >= 2, "B received A's publications")
    # One subscription per instance with members; B drops it when its last member leaves.
    eq(await numsub(r), 2, "subscribers of the class channel")
    await tb.close()
    await sb.close()
    deadline = time.monotonic() + 5
    while await numsub(r) != 1 and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    eq(await numsub(r), 1, "subscribers once B has no member of the class")


async def test_presence_across_instances_and_two_tabs():
    _, a, b = pair()
    ta = await join(a, "t1", "teacher", label="teacherA")
    await settle()
    s1 = await join(b, "s-x", "student", name="Xi", label="tabB")
    m = await ta.recv_event("PRESENCE", timeout=5)
    eq((data_of(m)["student_id"], data_of(m)["status"], data_of(m)["online"]),
       ("s-x", "online", 1), "teacher on A sees the student join on B")
    # The same student in a second tab on A is still one student.
    s2 = await join(a, "s-x", "student", name="Xi", label="tabA")
    await ta.expect_no_message(0.6, event="PRESENCE")
    summ = data_of(await ta.call("TODAY_SUMMARY", {"class_id": "c1"}))
    eq(summ["counts"]["online"], 1, "one online student for two tabs")
    await s1.close()
    await ta.expect_no_message(0.6, event="PRESENCE")
    await s2.close()
    m = await ta.recv_event("PRESENCE", timeout=5)
    eq((data_of(m)["status"], data_of(m)["online"]), ("offline", 0),
       "offline once the last tab closed")
    snap_t = await join(b, "t9", "teacher", label="teacherB")
    eq(snap_t.snapshots and data_of(snap_t.snapshots[0])["students"], [],
       "a new teacher on B sees nobody online")


async def test_frames_on_b_reach_teacher_on_a():
    """A student streaming real frames to B: the teacher on A gets the ENGAGEMENT_UPDATEs and
    the VIOLATION, once each, and DONE on A counts the engagement accrued on B."""
    import base64
    faces = os.path.join(os.environ.get("ROLLCALL_SRC", "."), "..", "shared", "data", "faces")
    with open(os.path.join(faces, "aflw2000_image00050.jpg"), "rb") as f:
        looking = f.read()
    with open(os.path.join(faces, "dlib_ffmpeg_eagle.jpg"), "rb") as f:
        noface = f.read()
    r = RedisServer().start()
    secret = random_secret()
    env = {"ROLLCALL_REDIS_URL": r.url, "ROLLCALL_PRESENCE_TTL": str(TTL),
           "ROLLCALL_FRAME_INTERVAL": "0.3", "ROLLCALL_FRAME_RATE": "20",
           "ROLLCALL_VIOLATION_SECONDS": "0", "ROLLCALL_ENGAGEMENT_UPDATE_MS": "100",
           "ROLLCALL_ATTENDANCE_THRESHOLD": "1"}
    a = Broker(secret=secret, env=env).start()
    b = Broker(secret=secret, env=env).start()
    ta = await join(a, "t1", "teacher", label="teacherA")
    sb = await join(b, "s-b", "student", name="Ben", label="studentB")
    await settle()
    await ta.call("SESSION_START", {})
    await settle()
    n = 6
    for i in range(n):
        await sb.send("FRAME", {"image": base64.b64encode(looking).decode()}, id=f"f{i}")
        res = data_of(await sb.recv_event("FRAME_RESULT", id=f"f{i}", timeout=120))
        eq((res["faces"], res["engaged"]), (1, True), "Ben's frame on B")
        await asyncio.sleep(0.3)
    await sb.send("FRAME", {"image": base64.b64encode(noface).decode()}, id="nf")
    res = data_of(await sb.recv_event("FRAME_RESULT", id="nf", timeout=30))
    eq(res["violation"], "no_face", "a no-face frame with ROLLCALL_VIOLATION_SECONDS=0")
    v = data_of(await ta.recv_event("VIOLATION", timeout=5))
    eq((v["student_id"], v["kind"], v["count"]), ("s-b", "no_face", 1), "VIOLATION on A")
    await asyncio.sleep(0.5)
    rows = [row for m in ta.buf if m.get("event") == "ENGAGEMENT_UPDATE"
            for row in data_of(m)["students"]]
    check(rows, "no ENGAGEMENT_UPDATE crossed to A")
    eq(max(row["frames_analyzed"] for row in rows), n + 1, "frames seen by the teacher on A")
    check(len([m for m in ta.buf if m.get("event") == "VIOLATION"]) == 0,
          "the VIOLATION reached A twice")
    fin = data_of(await ta.call("DONE", {}))
    rec = records_by_id(fin)["s-b"]
    eq(rec["frames_analyzed"], n + 1, "DONE on A: frames analyzed on B")
    check(rec["engagement_duration_seconds"] > 0, f"DONE on A: engagement from B {rec}")
    eq(rec["trust_score"], 90, "one no-face violation: trust 90")


async def test_summary_and_done_read_marks_of_other_instance():
    _, a, b = pair()
    ta = await join(a, "t1", "teacher", label="teacherA")
    tb = await join(b, "t2", "teacher", label="teacherB")
    await join(a, "s-a", "student", name="Ann", label="studentA")
    await settle()
    await ta.call("SESSION_START", {"class_id": "c1"})
    await ta.call("ATTENDANCE_MARKED", {"student_id": "s-a", "status": "present"})
    await ta.call("ATTENDANCE_MARKED", {"student_id": "s-z", "status": "absent", "name": "Zed"})
    summ = data_of(await tb.call("TODAY_SUMMARY", {"class_id": "c1"}))
    got = {s["student_id"]: (s["status"], s["online"]) for s in summ["students"]}
    eq(got, {"s-a": ("present", True), "s-z": ("absent", False)}, "B's summary of A's marks")
    fin = data_of(await tb.call("DONE", {"class_id": "c1"}))
    recs = records_by_id(fin)
    eq({k: v["status"] for k, v in recs.items()}, {"s-a": "present", "s-z": "absent"},
       "records finalized on B")
    eq(fin["already_finalized"], False, "first DONE")
    # Stored in B's journal: its report endpoint serves them.
    r = report(b, fin["session_id"])
    eq(r.status, 200, "B's report status")
    rep = r.json()
    text = str(rep)
    check("s-a" in text and "s-z" in text, f"B's report holds both records: {text[:300]}")
    # A teacher on A gets the broadcast, and a DONE on A answers with the same records.
    m = await ta.recv_event("ATTENDANCE_FINALIZED", timeout=5)
    eq(data_of(m)["session_id"], fin["session_id"], "A's teacher got the broadcast")
    again = data_of(await ta.call("DONE", {"class_id": "c1"}))
    eq(again["already_finalized"], True, "DONE on A after B finalized")
    eq(sorted(map(str, again["records"])), sorted(map(str, fin["records"])), "same records")
    err = await ta.error("ATTENDANCE_MARKED", {"student_id": "s-a", "status": "late"},
                         code="SESSION_FINALIZED")
    check(err, "marks refused after the freeze")


@timeout(60)
async def test_concurrent_done_on_both_instances():
    _, a, b = pair()
    ta = await join(a, "t1", "teacher", label="teacherA")
    tb = await join(b, "t2", "teacher", label="teacherB")
    sa = await join(a, "s-a", "student", name="Ann", label="studentA")
    sb = await join(b, "s-b", "student", name="Ben", label="studentB")
    await settle()
    await ta.call("SESSION_START", {"class_id": "c1"})
    await ta.call("ATTENDANCE_MARKED", {"student_id": "s-a", "status": "present"})
    await tb.call("ATTENDANCE_MARKED", {"student_id": "s-b", "status": "late"})
    ra, rb = await asyncio.gather(ta.call("DONE", {"class_id": "c1"}),
                                  tb.call("DONE", {"class_id": "c1"}))
    da, db = data_of(ra), data_of(rb)
    eq(da["session_id"], db["session_id"], "one session")
    eq(sorted(map(str, da["records"])), sorted(map(str, db["records"])),
       "both DONEs answer with the same records")
    eq(da["summary"], db["summary"], "same summary")
    eq(sorted([da["already_finalized"], db["already_finalized"]]), [False, True],
       "exactly one DONE is the first")
    eq({k: v["status"] for k, v in records_by_id(da).items()},
       {"s-a": "present", "s-b": "late"}, "marks of both instances finalized")
    # Each student got the announcement exactly once.
    for s in (sa, sb):
        await s.recv_event("ATTENDANCE_FINALIZED", timeout=5)
        await s.expect_no_message(0.8, event="ATTENDANCE_FINALIZED")
    # Both journals hold the same records.
    for br in (a, b):
        r = report(br, da["session_id"])
        eq(r.status, 200, f"report on {br.port}")
        eq(sorted(x["student_id"] for x in r.json()["records"]), ["s-a", "s-b"],
           f"records in the journal of {br.port}")


async def wait_readyz(broker, want, limit):
    deadline = time.monotonic() + limit
    last = None
    while time.monotonic() < deadline:
        last = http_get(broker.port, "/readyz", timeout=2).status
        if last == want:
            return time.monotonic()
        await asyncio.sleep(0.05)
    check(False, f"/readyz of {broker.port} not {want} within {limit}s (last {last})")


@timeout(60)
async def test_redis_outage_and_recovery():
    r, a, b = pair()
    ta = await join(a, "t1", "teacher", label="teacherA")
    sb = await join(b, "s-b", "student", name="Ben", label="studentB")
    await settle()
    await ta.call("SESSION_START", {"class_id": "c1"})
    await ta.call("ATTENDANCE_MARKED", {"student_id": "s-b", "status": "present"})
    await sb.recv_event("ATTENDANCE_MARKED", timeout=5)

    r.stop(signal.SIGKILL)   # abrupt: the append-only file is all that survives
    await wait_readyz(a, 503, 10)
    await wait_readyz(b, 503, 10)
    await ta.error("ATTENDANCE_MARKED", {"student_id": "s-c", "status": "late"},
                   code="UNAVAILABLE")
    await ta.error("TODAY_SUMMARY", {"class_id": "c1"}, code="UNAVAILABLE")
    await sb.error("MY_ATTENDANCE", {"class_id": "c1"}, code="UNAVAILABLE")
    m = a.metrics()
    check(m.get("rollcall_redis_up") == 0, "rollcall_redis_up 0 during the outage")
    check(m.get("rollcall_errors_total", 0, code="UNAVAILABLE") >= 2,
          "UNAVAILABLE errors counted")
    check(m.get("rollcall_redis_outages_total", 0) >= 1, "outage counted")
    await ta.ping()
    await sb.ping()

    r.start()
    await wait_readyz(a, 200, 15)
    await wait_readyz(b, 200, 15)
    await asyncio.sleep(0.3)   # the pub/sub link re-subscribes with the command link
    summ = data_of(await ta.call("TODAY_SUMMARY", {"class_id": "c1"}))
    got = {s["student_id"]: s["status"] for s in summ["students"]}
    eq(got.get("s-b"), "present", "the mark acknowledged before the outage survived")
    sb.clear()
    await ta.call("ATTENDANCE_MARKED", {"student_id": "s-b", "status": "late"})
    m = await sb.recv_event("ATTENDANCE_MARKED", timeout=5)
    eq(data_of(m)["status"], "late", "fan-out resumed after the outage")
    my = data_of(await sb.call("MY_ATTENDANCE", {"class_id": "c1"}))
    eq(my["status"], "late", "B reads the new mark")
    check(a.alive() and b.alive(), "both brokers survived")


@timeout(60)
async def test_killed_instance_students_leave():
    _, a, b = pair()
    ta = await join(a, "t1", "teacher", label="teacherA")
    await settle()
    await join(b, "s-1", "student", name="One", label="s1B")
    await join(b, "s-2", "student", name="Two", label="s2B")
    await join(a, "s-3", "student", name="Three", label="s3A")
    # One student with a tab on each instance: it survives B's death.
    await join(a, "s-4", "student", name="Four", label="s4A")
    await join(b, "s-4", "student", name="Four", label="s4B")
    joined = await ta.recv_all("PRESENCE", 4, timeout=5)
    eq(sorted(data_of(m)["student_id"] for m in joined), ["s-1", "s-2", "s-3", "s-4"], "joins")
    b.kill9()
    t0 = time.monotonic()
    gone = await ta.recv_all("PRESENCE", 2, timeout=LEAVE_BOUND + 2)
    dt = time.monotonic() - t0
    eq(sorted((data_of(m)["student_id"], data_of(m)["status"]) for m in gone),
       [("s-1", "offline"), ("s-2", "offline")], "B's students left")
    check(dt <= LEAVE_BOUND, f"leaves took {dt:.1f}s, bound {LEAVE_BOUND:.1f}s")
    eq(data_of(gone[-1])["online"], 2, "online count after the sweep")
    await ta.expect_no_message(TTL, event="PRESENCE")   # reported once, not per sweep
    summ = data_of(await ta.call("TODAY_SUMMARY", {"class_id": "c1"}))
    eq(summ["counts"]["online"], 2, "only A's students are online")
    check(a.metrics().get("rollcall_presence_swept_total", 0) == 2, "sweeps counted")


@timeout(60)
async def test_stalled_instance_comes_back():
    _, a, b = pair()
    ta = await join(a, "t1", "teacher", label="teacherA")
    await settle()
    await join(b, "s-1", "student", name="One", label="s1B")
    m = await ta.recv_event("PRESENCE", timeout=5)
    eq(data_of(m)["status"], "online", "join")
    b.signal(signal.SIGSTOP)   # frozen longer than the TTL: A must take it for dead
    try:
        m = await ta.recv_event("PRESENCE", timeout=LEAVE_BOUND + 2)
        eq((data_of(m)["student_id"], data_of(m)["status"]), ("s-1", "offline"),
           "the frozen instance's student left")
    finally:
        b.signal(signal.SIGCONT)
    # Back: B learns from its heartbeat that it was swept and asserts its student again.
    m = await ta.recv_event("PRESENCE", timeout=TTL + 3)
    eq((data_of(m)["student_id"], data_of(m)["status"], data_of(m)["online"]),
       ("s-1", "online", 1), "the student is back once the instance runs again")


async def test_sigterm_during_outage_exits_cleanly():
    r, a, b = pair()
    ta = await join(a, "t1", "teacher", label="teacherA")
    await join(a, "s-1", "student", name="One", label="s1A")
    await settle()
    await ta.call("SESSION_START", {"class_id": "c1"})
    r.stop(signal.SIGKILL)
    await wait_readyz(a, 503, 10)
    # Requests in flight or queued when the Redis client closes still get an answer or
    # are dropped with their connection; the process drains and exits 0.
    await ta.send("TODAY_SUMMARY", {"class_id": "c1"}, id="late")
    eq(a.stop(), 0, "A's exit status after SIGTERM during the outage")
    eq(b.stop(), 0, "B's exit status after SIGTERM during the outage")


if __name__ == "__main__":
    run_tests(globals())
