# SPDX-License-Identifier: MIT
"""Client events of PROTOCOL.md end to end: WELCOME, sessions, marks, summaries, DONE,
MY_ATTENDANCE, PING, presence, roles and id echo (FRAME: test_frames.py)."""

import datetime
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Broker, Client, check, check_error, data_of, eq, fail, pong_ok,  # noqa: E402
                     records_by_id, record_key, run_tests, same, students_by_id,
                     today)


def start(args=()):
    return Broker(args=args).start()


async def connect(b, sub, role, cls="c1", name=None, **kw):
    return await Client.open(b, b.token(sub=sub, role=role, class_id=cls, name=name),
                             label=f"{role}:{sub}", **kw)


def iso_close_to_now(s, what, slack=120):
    check(isinstance(s, str), f"{what}: not a string: {s!r}")
    try:
        t = datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
            tzinfo=datetime.timezone.utc).timestamp()
    except ValueError:
        fail(f"{what}: not an ISO-8601 UTC time: {s!r}")
    check(abs(t - time.time()) < slack, f"{what}: {s} is not close to now")


# --------------------------------------------------------------------------------------


async def test_welcome_on_connect():
    b = start(("--frame-interval", "4.5", "--frame-rate", "3", "--frame-max-bytes", "500000",
               "--token-warning", "45"))
    t = await connect(b, "t-1", "teacher", name="Ms Teach")
    w = data_of(t.welcome)
    eq(w.get("user_id"), "t-1", "WELCOME user_id")
    eq(w.get("role"), "teacher", "WELCOME role")
    eq(w.get("name"), "Ms Teach", "WELCOME name")
    eq(w.get("classes"), ["c1"], "WELCOME classes")
    eq(w.get("protocol"), 1, "WELCOME protocol")
    eq(w.get("settings"), {"frame_interval": 4.5, "frame_rate": 3, "frame_max_bytes": 500000,
                           "token_warning": 45}, "WELCOME settings (the configured ones)")
    iso_close_to_now(w.get("server_time"), "WELCOME server_time")
    check(t.welcome.get("id") is None, "WELCOME must not carry a request id")
    s = await connect(b, "s-1", "student")
    w = data_of(s.welcome)
    eq(w.get("user_id"), "s-1", "student WELCOME user_id")
    eq(w.get("role"), "student", "student WELCOME role")
    eq(w.get("classes"), ["c1"], "student WELCOME classes")
    # WELCOME is the first message on every connection.
    eq(s.all[0].get("event"), "WELCOME", "first message to a student")
    eq(t.all[0].get("event"), "WELCOME", "first message to a teacher")
    a = await connect(b, "a-1", "admin")
    eq(data_of(a.welcome).get("role"), "admin", "admin WELCOME role")
    # schemas/out/WELCOME.json: "Display name from the token, null when it has none".
    eq(w.get("name"), None, "WELCOME name of a token without one")


async def test_unicast_replies_and_broadcasts_without_ids():
    b = start()
    t1 = await connect(b, "t-1", "teacher")
    t2 = await connect(b, "t-2", "teacher")
    s1 = await connect(b, "s-1", "student")
    s2 = await connect(b, "s-2", "student")
    await t1.recv_all("PRESENCE", 2, timeout=3)
    await t2.recv_all("PRESENCE", 2, timeout=3)
    await t1.call("TODAY_SUMMARY", {}, id="sum")
    await s1.call("MY_ATTENDANCE", {}, id="mine")
    await s1.call("PING", {}, id="ping")
    await t2.expect_no_message(0.5)
    await s2.expect_no_message(0.05)
    await t1.expect_no_message(0.05)
    # Broadcasts are not replies: the others get them without the requester's id.
    await t1.call("SESSION_START", {}, id="start-1")
    await t1.call("ATTENDANCE_MARKED", {"student_id": "s-1", "status": "present"}, id="m-1")
    await t1.call("DONE", {}, id="d-1")
    # s-2 is not the marked student: no ATTENDANCE_MARKED for it.
    for c, events in ((t2, ("SESSION_STARTED", "ATTENDANCE_MARKED", "ATTENDANCE_FINALIZED")),
                      (s1, ("SESSION_STARTED", "ATTENDANCE_MARKED", "ATTENDANCE_FINALIZED")),
                      (s2, ("SESSION_STARTED", "ATTENDANCE_FINALIZED"))):
        for ev in events:
            m = await c.recv_event(ev, timeout=3)
            check(m.get("id") is None, f"{c.label}: broadcast {ev} carries id {m.get('id')!r}")
    await s2.expect_no_message(0.3, event="ATTENDANCE_MARKED")


async def test_session_start_reply_and_broadcast():
    b = start()
    t1 = await connect(b, "t-1", "teacher")
    t2 = await connect(b, "t-2", "teacher")
    s = await connect(b, "s-1", "student")
    t1.clear(), t2.clear()
    r = await t1.call("SESSION_START", {}, id="ss-1")
    d = data_of(r)
    eq(r.get("id"), "ss-1", "SESSION_STARTED reply id")
    eq(d.get("class_id"), "c1", "SESSION_STARTED class_id")
    check(isinstance(d.get("session_id"), str) and d["session_id"], "session_id missing")
    eq(d.get("date"), today(), "SESSION_STARTED date (UTC today)")
    eq(d.get("teacher_id"), "t-1", "SESSION_STARTED teacher_id")
    eq(d.get("already_active"), False, "first SESSION_START already_active")
    iso_close_to_now(d.get("started_at"), "started_at")
    for other in (t2, s):
        m = await other.recv_event("SESSION_STARTED", timeout=3)
        eq(data_of(m).get("session_id"), d["session_id"], f"{other.label} broadcast session_id")
        eq(data_of(m).get("class_id"), "c1", f"{other.label} broadcast class_id")
        eq(data_of(m).get("teacher_id"), "t-1", f"{other.label} broadcast teacher_id")
    # Exactly one reply to the requester: the broadcast goes to the others.
    await t1.expect_no_message(0.6, event="SESSION_STARTED")


async def test_session_start_twice_is_already_active():
    b = start()
    t1 = await connect(b, "t-1", "teacher")
    t2 = await connect(b, "t-2", "teacher")
    first = data_of(await t1.call("SESSION_START", {}))
    again = data_of(await t1.call("SESSION_START", {}))
    eq(again.get("already_active"), True, "second SESSION_START already_active")
    eq(again.get("session_id"), first["session_id"], "second SESSION_START session_id")
    eq(again.get("started_at"), first["started_at"], "second SESSION_START started_at")
    other = data_of(await t2.call("SESSION_START", {"class_id": "c1"}))
    eq(other.get("already_active"), True, "SESSION_START by another teacher")
    eq(other.get("session_id"), first["session_id"], "session_id for another teacher")


async def test_legacy_mark_auto_opens_session_and_broadcasts():
    b = start()
    t1 = await connect(b, "t-1", "teacher")
    t2 = await connect(b, "t-2", "teacher")
    s123 = await connect(b, "123", "student")
    s2 = await connect(b, "s-2", "student")
    t1.clear(), t2.clear(), s123.clear(), s2.clear()
    # Exactly what a legacy client sends: no SESSION_START, studentId spelling.
    await t1.send_raw('{"event":"ATTENDANCE_MARKED","data":{"studentId":"123",'
                      '"status":"present"},"id":"legacy-1"}')
    r = await t1.recv_event(None, id="legacy-1", timeout=5)
    eq(r.get("event"), "ATTENDANCE_MARKED", f"reply to a legacy mark ({json.dumps(r)[:200]})")
    d = data_of(r)
    eq(d.get("studentId"), "123", "ATTENDANCE_MARKED studentId")
    eq(d.get("student_id"), "123", "ATTENDANCE_MARKED student_id")
    eq(d.get("status"), "present", "ATTENDANCE_MARKED status")
    eq(d.get("class_id"), "c1", "ATTENDANCE_MARKED class_id")
    eq(d.get("marked_by"), "t-1", "ATTENDANCE_MARKED marked_by")
    iso_close_to_now(d.get("marked_at"), "marked_at")
    sid = d.get("session_id")
    check(isinstance(sid, str) and sid, "the mark opened no session")
    # The class's staff and the marked student see the mark; no other student does.
    for other in (t2, s123):
        m = await other.recv_event("ATTENDANCE_MARKED", timeout=3)
        od = data_of(m)
        eq(od.get("student_id"), "123", f"{other.label} broadcast student_id")
        eq(od.get("status"), "present", f"{other.label} broadcast status")
        eq(od.get("session_id"), sid, f"{other.label} broadcast session_id")
    await t1.expect_no_message(0.5, event="ATTENDANCE_MARKED")
    await s2.expect_no_message(0.05, event="ATTENDANCE_MARKED")
    summ = data_of(await t1.call("TODAY_SUMMARY", {}))
    eq(summ.get("state"), "active", "state after an auto-opened session")
    eq(summ.get("session_id"), sid, "TODAY_SUMMARY session_id")
    again = data_of(await t1.call("SESSION_START", {}))
    eq(again.get("already_active"), True, "SESSION_START after the auto-open")
    eq(again.get("session_id"), sid, "SESSION_START after the auto-open: session_id")
    # The other spelling works as well, within the same session.
    m = data_of(await t1.call("ATTENDANCE_MARKED", {"student_id": "s-2", "status": "late"}))
    eq(m.get("session_id"), sid, "second mark session_id")
    eq(m.get("studentId"), "s-2", "student_id spelling echoes studentId too")


async def test_today_summary_counts_and_students():
    b = start()
    t = await connect(b, "t-1", "teacher")
    empty = data_of(await t.call("TODAY_SUMMARY", {}, id="sum-0"))
    eq(empty.get("state"), "none", "state before any session")
    eq(empty.get("session_id"), None, "session_id before any session")
    eq(empty.get("started_at"), None, "started_at before any session")
    eq(empty.get("class_id"), "c1", "TODAY_SUMMARY class_id")
    eq(empty.get("date"), today(), "TODAY_SUMMARY date")
    eq(empty.get("counts", {}).get("total"), 0, "total with nobody seen")
    eq(empty.get("students"), [], "students with nobody seen")

    await connect(b, "s-1", "student", name="Ann")
    await connect(b, "s-2", "student", name="Bob")
    await t.call("ATTENDANCE_MARKED", {"student_id": "s-1", "status": "present"})
    await t.call("ATTENDANCE_MARKED", {"student_id": "s-3", "status": "late", "name": "Cy"})
    await t.call("ATTENDANCE_MARKED", {"studentId": "s-4", "status": "absent"})
    summ = data_of(await t.call("TODAY_SUMMARY", {}))
    eq(summ.get("state"), "active", "state after marks")
    check(summ.get("session_id"), "session_id after marks")
    check(summ.get("started_at"), "started_at after marks")
    eq(summ.get("counts"), {"present": 1, "absent": 1, "late": 1, "unmarked": 1, "online": 2,
                            "total": 4}, "TODAY_SUMMARY counts")
    st = students_by_id(summ)
    eq(sorted(st), ["s-1", "s-2", "s-3", "s-4"], "TODAY_SUMMARY students")
    want = {"s-1": ("present", "manual", True, "Ann"), "s-2": ("unmarked", None, True, "Bob"),
            "s-3": ("late", "manual", False, "Cy"), "s-4": ("absent", "manual", False, None)}
    for sid, (status, source, online, name) in want.items():
        e = st[sid]
        eq(e.get("status"), status, f"{sid} status")
        eq(e.get("source"), source, f"{sid} source")
        eq(e.get("online"), online, f"{sid} online")
        if name is not None:
            eq(e.get("name"), name, f"{sid} name")


async def test_my_attendance_pending_then_final():
    b = start()
    t = await connect(b, "t-1", "teacher")
    s1 = await connect(b, "s-1", "student")
    s2 = await connect(b, "s-2", "student")
    m = data_of(await s1.call("MY_ATTENDANCE", {}, id="me-0"))
    eq(m.get("status"), "pending", "MY_ATTENDANCE before any session")
    eq(m.get("finalized"), False, "finalized before any session")
    eq(m.get("session_id"), None, "session_id before any session")
    eq(m.get("class_id"), "c1", "MY_ATTENDANCE class_id")
    eq(m.get("date"), today(), "MY_ATTENDANCE date")
    sid = data_of(await t.call("SESSION_START", {}))["session_id"]
    m = data_of(await s1.call("MY_ATTENDANCE", {}))
    eq(m.get("status"), "pending", "MY_ATTENDANCE during the session")
    eq(m.get("finalized"), False, "finalized during the session")
    eq(m.get("session_id"), sid, "session_id during the session")
    await t.call("ATTENDANCE_MARKED", {"student_id": "s-2", "status": "present"})
    await t.call("DONE", {})
    m = data_of(await s1.call("MY_ATTENDANCE", {}))
    eq(m.get("status"), "absent", "unmarked student after DONE")
    eq(m.get("source"), "engagement", "unmarked student's source after DONE")
    eq(m.get("engagement_percentage"), 0, "engagement_percentage without frames")
    eq(m.get("finalized"), True, "finalized after DONE")
    eq(m.get("session_id"), sid, "session_id after DONE")
    m = data_of(await s2.call("MY_ATTENDANCE", {}))
    eq(m.get("status"), "present", "marked student after DONE")
    eq(m.get("source"), "manual", "marked student's source after DONE")
    eq(m.get("finalized"), True, "finalized after DONE (marked)")


async def finalize_class(b):
    """A class with every kind of student, finalized. Returns (teachers, students, reply)."""
    t1 = await connect(b, "t-1", "teacher")
    t2 = await connect(b, "t-2", "teacher")
    sa = await connect(b, "s-a", "student", name="Ann")      # connected, marked present
    sb = await connect(b, "s-b", "student", name="Ben")      # connected, marked late
    sc = await connect(b, "s-c", "student", name="Cat")      # connected, unmarked
    sid = data_of(await t1.call("SESSION_START", {}))["session_id"]
    await t1.call("ATTENDANCE_MARKED", {"student_id": "s-a", "status": "absent"})
    await t1.call("ATTENDANCE_MARKED", {"student_id": "s-a", "status": "present"})  # last wins
    await t1.call("ATTENDANCE_MARKED", {"studentId": "s-b", "status": "late"})
    await t1.call("ATTENDANCE_MARKED", {"student_id": "s-d", "status": "absent", "name": "Dan"})
    for c in (t1, t2, sa, sb, sc):
        c.clear()
    r = await t1.call("DONE", {}, id="done-1")
    eq(r.get("id"), "done-1", "ATTENDANCE_FINALIZED reply id")
    eq(data_of(r).get("session_id"), sid, "ATTENDANCE_FINALIZED session_id")
    return (t1, t2), (sa, sb, sc), r


async def test_done_finalizes_and_broadcasts():
    b = start()
    (t1, t2), studs, r = await finalize_class(b)
    d = data_of(r)
    eq(d.get("class_id"), "c1", "ATTENDANCE_FINALIZED class_id")
    eq(d.get("date"), today(), "ATTENDANCE_FINALIZED date")
    eq(d.get("already_finalized"), False, "first DONE already_finalized")
    recs = records_by_id(d)
    eq(sorted(recs), ["s-a", "s-b", "s-c", "s-d"], "finalized students")
    want = {"s-a": ("present", "manual", "Ann"), "s-b": ("late", "manual", "Ben"),
            "s-c": ("absent", "engagement", "Cat"), "s-d": ("absent", "manual", "Dan")}
    for sid, (status, source, name) in want.items():
        eq(recs[sid].get("status"), status, f"{sid} final status")
        eq(recs[sid].get("source"), source, f"{sid} final source")
        eq(recs[sid].get("student_name"), name, f"{sid} student_name")
    eq(recs["s-c"].get("engagement_percentage"), 0, "unmarked student's engagement_percentage")
    summ = d.get("summary", {})
    eq((summ.get("present"), summ.get("absent"), summ.get("late"), summ.get("total")),
       (1, 2, 1, 4), "summary present/absent/late/total")
    check(abs(summ.get("percentage", -1) - 50.0) < 0.01,
          f"summary percentage (present+late)/total: expected 50, got {summ.get('percentage')}")
    m = await t2.recv_event("ATTENDANCE_FINALIZED", timeout=5)
    od = data_of(m)
    eq(od.get("session_id"), d["session_id"], "t2 broadcast session_id")
    eq(sorted(map(record_key, od.get("records", []))),
       sorted(map(record_key, d["records"])), "t2 broadcast records")
    eq(od.get("summary"), d.get("summary"), "t2 broadcast summary")
    # Each student gets their own record and nothing of the class's.
    for st in studs:
        m = await st.recv_event("ATTENDANCE_FINALIZED", timeout=5)
        od = data_of(m)
        eq(od.get("session_id"), d["session_id"], f"{st.label} session_id")
        eq(od.get("already_finalized"), False, f"{st.label} already_finalized")
        check("records" not in od and "summary" not in od,
              f"{st.label} received the class's records or counts: {sorted(od)}")
        mine = od.get("record") or {}
        eq(record_key(mine), record_key(recs[mine.get("student_id")]),
           f"{st.label} own record")
        eq(mine.get("student_id"), data_of(st.welcome)["user_id"], f"{st.label} record is its own")
        await st.expect_no_message(0.2, event="ATTENDANCE_FINALIZED")
    await t1.expect_no_message(0.5, event="ATTENDANCE_FINALIZED")


async def test_done_twice_is_already_finalized():
    b = start()
    (t1, t2), _, r = await finalize_class(b)
    first = data_of(r)
    again = data_of(await t1.call("DONE", {}, id=7))
    eq(again.get("already_finalized"), True, "second DONE already_finalized")
    eq(again.get("session_id"), first["session_id"], "second DONE session_id")
    eq(sorted(map(record_key, again.get("records", []))),
       sorted(map(record_key, first["records"])), "second DONE records")
    eq(again.get("summary"), first.get("summary"), "second DONE summary")
    other = data_of(await t2.call("DONE", {"class_id": "c1"}))
    eq(other.get("already_finalized"), True, "DONE by another teacher after DONE")
    eq(len(other.get("records", [])), 4, "records of a repeated DONE")


async def test_after_done_marks_and_start_are_refused():
    b = start()
    (t1, _), (sa, _, _), r = await finalize_class(b)
    await t1.error("ATTENDANCE_MARKED", {"student_id": "s-c", "status": "present"},
                   "SESSION_FINALIZED", id="late-mark")
    await t1.error("ATTENDANCE_MARKED", {"studentId": "s-new", "status": "late"},
                   "SESSION_FINALIZED", id=11)
    await t1.error("SESSION_START", {}, "SESSION_FINALIZED", id="restart")
    summ = data_of(await t1.call("TODAY_SUMMARY", {}))
    eq(summ.get("state"), "finalized", "TODAY_SUMMARY state after DONE")
    eq(summ.get("session_id"), data_of(r)["session_id"], "session_id after DONE")
    st = students_by_id(summ)
    eq(st.get("s-c", {}).get("status"), "absent", "refused mark must change nothing")
    check("s-new" not in st, "a refused mark added a student")
    await sa.expect_no_message(0.4, event="ATTENDANCE_MARKED")


async def test_done_without_session_or_students():
    b = start()
    t = await connect(b, "t-1", "teacher")
    await t.error("DONE", {}, "NO_SESSION", id="nothing")
    summ = data_of(await t.call("TODAY_SUMMARY", {}))
    eq(summ.get("state"), "none", "NO_SESSION must not open a session")


async def test_ping_pong_echoes_ts():
    b = start()
    s = await connect(b, "s-1", "student")
    r = await s.call("PING", {"ts": 1234.5}, id="p1")
    eq(data_of(r).get("ts"), 1234.5, "PONG ts (float)")
    iso_close_to_now(data_of(r).get("server_time"), "PONG server_time")
    r = await s.call("PING", {"ts": 42}, id=5)
    eq(data_of(r).get("ts"), 42, "PONG ts (integer)")
    eq(r.get("id"), 5, "PONG integer id")
    r = await s.call("PING", None, id="p3")
    check("ts" not in data_of(r) or data_of(r)["ts"] is None, "PONG ts of a PING without ts")
    check(data_of(r).get("server_time"), "PONG without server_time")
    t = await connect(b, "t-1", "teacher")
    await t.call("PING", {"ts": 1})


async def test_presence_online_offline():
    b = start()
    t = await connect(b, "t-1", "teacher")
    s1 = await connect(b, "s-1", "student", name="Ann")
    p = data_of(await t.recv_event("PRESENCE", timeout=3))
    eq((p.get("class_id"), p.get("student_id"), p.get("status"), p.get("online")),
       ("c1", "s-1", "online", 1), "PRESENCE for the first student")
    eq(p.get("name"), "Ann", "PRESENCE name")
    s2 = await connect(b, "s-2", "student", name="Bob")
    p = data_of(await t.recv_event("PRESENCE", timeout=3))
    eq((p.get("student_id"), p.get("status"), p.get("online")), ("s-2", "online", 2),
       "PRESENCE for the second student")
    await s2.close()
    p = data_of(await t.recv_event("PRESENCE", timeout=3))
    eq((p.get("student_id"), p.get("status"), p.get("online")), ("s-2", "offline", 1),
       "PRESENCE when the second student leaves")
    await s1.abort()   # a dropped TCP connection counts as leaving too
    p = data_of(await t.recv_event("PRESENCE", timeout=5))
    eq((p.get("student_id"), p.get("status"), p.get("online")), ("s-1", "offline", 0),
       "PRESENCE when a student's connection drops")


async def test_presence_two_tabs_one_student():
    b = start()
    t = await connect(b, "t-1", "teacher")
    tok = b.token(sub="s-1", role="student", class_id="c1", name="Ann")
    tab1 = await Client.open(b, tok, label="tab1")
    p = data_of(await t.recv_event("PRESENCE", timeout=3))
    eq((p.get("status"), p.get("online")), ("online", 1), "PRESENCE for the first tab")
    tab2 = await Client.open(b, tok, label="tab2")
    await t.expect_no_message(0.7, event="PRESENCE")
    summ = data_of(await t.call("TODAY_SUMMARY", {}))
    eq(summ.get("counts", {}).get("online"), 1, "two tabs are one online student")
    eq(summ.get("counts", {}).get("total"), 1, "two tabs are one student")
    await tab1.close()
    await t.expect_no_message(0.7, event="PRESENCE")
    summ = data_of(await t.call("TODAY_SUMMARY", {}))
    eq(students_by_id(summ).get("s-1", {}).get("online"), True,
       "student with one tab left is still online")
    await tab2.close()
    p = data_of(await t.recv_event("PRESENCE", timeout=3))
    eq((p.get("student_id"), p.get("status"), p.get("online")), ("s-1", "offline", 0),
       "PRESENCE after the last tab closed")


async def test_presence_snapshot_on_teacher_connect():
    b = start()
    t0 = await connect(b, "t-0", "teacher")
    check(len(t0.snapshots) == 1, f"teacher got {len(t0.snapshots)} PRESENCE_SNAPSHOT, want 1")
    snap = data_of(t0.snapshots[0])
    eq(snap.get("class_id"), "c1", "PRESENCE_SNAPSHOT class_id")
    eq(snap.get("students"), [], "PRESENCE_SNAPSHOT with nobody online")
    await connect(b, "s-1", "student", name="Ann")
    await connect(b, "s-2", "student", name="Bob")
    gone = await connect(b, "s-3", "student", name="Cy")
    await gone.close()
    await t0.recv_event("PRESENCE", pred=lambda m: data_of(m).get("status") == "offline",
                        timeout=3)
    for role in ("teacher", "admin"):
        t = await connect(b, "x-" + role, role)
        check(len(t.snapshots) == 1, f"{role} got {len(t.snapshots)} PRESENCE_SNAPSHOT")
        snap = data_of(t.snapshots[0])
        got = {s["student_id"]: s.get("name") for s in snap.get("students", [])}
        eq(got, {"s-1": "Ann", "s-2": "Bob"}, f"{role} PRESENCE_SNAPSHOT students")
    s = await connect(b, "s-4", "student")
    await s.expect_no_message(0.5, event="PRESENCE_SNAPSHOT")


async def test_students_get_no_presence():
    b = start()
    s1 = await connect(b, "s-1", "student")
    t = await connect(b, "t-1", "teacher")
    await connect(b, "s-2", "student")
    await t.recv_event("PRESENCE", timeout=3)
    await s1.expect_no_message(0.6, event="PRESENCE")


async def test_student_may_not_send_teacher_events():
    b = start()
    t = await connect(b, "t-1", "teacher")
    s = await connect(b, "s-1", "student")
    await t.recv_event("PRESENCE", timeout=3)
    s.clear()
    await s.error("SESSION_START", {}, "FORBIDDEN", id="x1")
    await s.error("ATTENDANCE_MARKED", {"student_id": "s-1", "status": "present"}, "FORBIDDEN",
                  id="x2")
    await s.error("ATTENDANCE_MARKED", {"studentId": "s-9", "status": "late"}, "FORBIDDEN",
                  id=3)
    await s.error("TODAY_SUMMARY", {}, "FORBIDDEN", id="x4")
    await s.error("DONE", {}, "FORBIDDEN", id="x5")
    await t.expect_no_message(0.5)
    await s.expect_no_message(0.1)
    summ = data_of(await t.call("TODAY_SUMMARY", {}))
    eq(summ.get("state"), "none", "a student's SESSION_START/DONE changed the session")
    eq(summ.get("session_id"), None, "a student's request opened a session")
    st = students_by_id(summ)
    check("s-9" not in st, "a student's mark added a student")
    eq(st.get("s-1", {}).get("status"), "unmarked", "a student's mark changed a status")
    eq(summ.get("counts", {}).get("present"), 0, "present count after forbidden marks")
    await pong_ok(s, "student connection after FORBIDDEN")


async def test_teacher_may_not_send_my_attendance():
    b = start()
    t = await connect(b, "t-1", "teacher")
    await t.error("MY_ATTENDANCE", {}, "FORBIDDEN", id="mine")
    await t.error("MY_ATTENDANCE", {}, "FORBIDDEN", id=12)
    await pong_ok(t, "teacher connection after FORBIDDEN")


async def test_admin_acts_like_a_teacher():
    b = start()
    a = await connect(b, "a-1", "admin")
    s = await connect(b, "s-1", "student")
    sid = data_of(await a.call("SESSION_START", {}))["session_id"]
    eq(data_of(await s.recv_event("SESSION_STARTED", timeout=3)).get("session_id"), sid,
       "student sees the admin's session")
    await a.call("ATTENDANCE_MARKED", {"student_id": "s-1", "status": "late"})
    summ = data_of(await a.call("TODAY_SUMMARY", {}))
    eq(students_by_id(summ).get("s-1", {}).get("status"), "late", "admin's mark")
    fin = data_of(await a.call("DONE", {}))
    eq(records_by_id(fin).get("s-1", {}).get("status"), "late", "admin's DONE")


async def test_ids_echoed_string_and_integer():
    b = start()
    t = await connect(b, "t-1", "teacher")
    s = await connect(b, "s-1", "student")
    long_id = "i" * 64
    for i in ("a", "req-42", long_id, 0, 1, 987654321, -5):
        r = await t.call("PING", {}, id=i)
        check("id" in r and same(r["id"], i), f"PONG id {r.get('id')!r} != {i!r}")
    for ev, reply in (("SESSION_START", "SESSION_STARTED"), ("TODAY_SUMMARY", "TODAY_SUMMARY"),
                      ("ATTENDANCE_MARKED", "ATTENDANCE_MARKED")):
        data = {"student_id": "s-1", "status": "present"} if ev == "ATTENDANCE_MARKED" else {}
        for i in ("sid-" + ev, 77):
            r = await t.call(ev, data, reply=reply, id=i)
            check(same(r.get("id"), i), f"{reply} id {r.get('id')!r} != {i!r}")
    r = await s.call("MY_ATTENDANCE", {}, id=31)
    check(same(r.get("id"), 31), f"MY_ATTENDANCE id {r.get('id')!r} != 31")
    # ERROR: id and data.ref both echo the id, keeping its type.
    await s.error("DONE", {}, "FORBIDDEN", id=99)
    await s.error("DONE", {}, "FORBIDDEN", id="99")
    await t.error("NO_SUCH_EVENT", {}, "UNKNOWN_EVENT", id="unk")
    # Without an id: a reply without id, and an ERROR with ref null.
    await s.send("PING", {"ts": 5})
    m = await s.recv_event("PONG", timeout=3)
    check(m.get("id") is None, f"PONG to a PING without id carries id {m.get('id')!r}")
    await s.send("DONE", {})
    m = await s.recv_event("ERROR", timeout=3)
    eq(data_of(m).get("ref"), None, "ERROR ref of a request without id")
    check(m.get("id") is None, "ERROR id of a request without id")


async def test_text_round_trips_exactly():
    b = start()
    t = await connect(b, "t-1", "teacher")
    name = 'Zoë "Z" \\ 🙂 <b>'
    s = await connect(b, "s-u", "student", name=name)
    eq(data_of(s.welcome).get("name"), name, "WELCOME name with quotes, backslash, emoji")
    eq(data_of(s.welcome).get("user_id"), "s-u", "WELCOME user_id")
    p = data_of(await t.recv_event("PRESENCE", timeout=3))
    eq((p.get("student_id"), p.get("name")), ("s-u", name), "PRESENCE id and name")
    for rid in ('a"b', "back\\slash", "new\nline", "tab\t", "é🙂", "</script>", "\u0001"):
        r = await t.call("PING", {}, id=rid)
        check(same(r.get("id"), rid), f"PONG id {r.get('id')!r} != {rid!r}")
    m = data_of(await t.call("ATTENDANCE_MARKED", {"student_id": "s-u", "status": "present"}))
    eq(m.get("student_id"), "s-u", "mark student_id")
    summ = data_of(await t.call("TODAY_SUMMARY", {}))
    eq(students_by_id(summ).get("s-u", {}).get("name"), name, "TODAY_SUMMARY name")


if __name__ == "__main__":
    run_tests(globals())
