# SPDX-License-Identifier: MIT
"""Class isolation: a connection never receives another class's events; multi-class
tokens must name the class (CLASS_REQUIRED / CLASS_FORBIDDEN)."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Broker, Client, check, data_of, eq, records_by_id, run_tests,  # noqa: E402
                     students_by_id)


async def conn(b, sub, role, cls=None, classes=None, name=None):
    if classes is not None:
        tok = b.token(sub=sub, role=role, class_id=None, classes=classes, name=name)
    else:
        tok = b.token(sub=sub, role=role, class_id=cls, name=name)
    return await Client.open(b, tok, label=f"{role}:{sub}")


def class_ids_seen(client):
    out = set()
    for m in client.all:
        cid = data_of(m).get("class_id")
        if cid is not None:
            out.add(cid)
    return out


async def run_class_activity(b, teacher, cls, student_subs):
    """Everything that produces traffic in a class: presence, session, marks, summary, DONE."""
    studs = [await conn(b, s, "student", cls=cls, name=s.upper()) for s in student_subs]
    sid = data_of(await teacher.call("SESSION_START", {}))["session_id"]
    await teacher.call("ATTENDANCE_MARKED", {"student_id": student_subs[0], "status": "present"})
    await teacher.call("ATTENDANCE_MARKED", {"studentId": student_subs[1], "status": "late"})
    await teacher.call("TODAY_SUMMARY", {})
    for s in studs:
        await s.call("MY_ATTENDANCE", {})
    fin = data_of(await teacher.call("DONE", {}))
    eq(fin.get("class_id"), cls, f"DONE class_id in {cls}")
    for s in studs:
        await s.recv_event("ATTENDANCE_FINALIZED", timeout=5)
    await studs[-1].close()
    await teacher.recv_event("PRESENCE", timeout=3, pred=lambda m: data_of(m).get(
        "status") == "offline" and data_of(m).get("student_id") == student_subs[-1])
    return sid, studs


async def test_two_classes_never_see_each_other():
    b = Broker().start()
    ta = await conn(b, "ta", "teacher", cls="A")
    tb = await conn(b, "tb", "teacher", cls="B")
    sa = await conn(b, "sa-watch", "student", cls="A")
    sb = await conn(b, "sb-watch", "student", cls="B")
    await ta.recv_event("PRESENCE", timeout=3)
    await tb.recv_event("PRESENCE", timeout=3)
    for c in (ta, tb, sa, sb):
        c.clear()
    # Same student id in both classes: still two separate worlds.
    sid_a, _ = await run_class_activity(b, ta, "A", ["sa1", "sa2", "both"])
    await sa.recv_event("ATTENDANCE_FINALIZED", timeout=3)
    await tb.expect_no_message(0.8)
    await sb.expect_no_message(0.1)
    ta.clear(), sa.clear()
    sid_b, _ = await run_class_activity(b, tb, "B", ["sb1", "sb2", "both"])
    check(sid_a != sid_b, "two classes share a session_id")
    await sb.recv_event("ATTENDANCE_FINALIZED", timeout=3)
    await ta.expect_no_message(0.8)
    await sa.expect_no_message(0.1)
    for c, cls in ((ta, "A"), (sa, "A"), (tb, "B"), (sb, "B")):
        eq(class_ids_seen(c), {cls}, f"{c.label}: classes of the events it received")
    # Summaries are per class.
    sum_a = students_by_id(data_of(await ta.call("TODAY_SUMMARY", {})))
    sum_b = students_by_id(data_of(await tb.call("TODAY_SUMMARY", {})))
    check(not {"sb1", "sb2", "sb-watch"} & set(sum_a),
          f"class A summary lists B's students: {sorted(sum_a)}")
    check(not {"sa1", "sa2", "sa-watch"} & set(sum_b),
          f"class B summary lists A's students: {sorted(sum_b)}")
    check("both" in sum_a and "both" in sum_b, "a student id used in both classes")


async def test_presence_stays_in_its_class():
    b = Broker().start()
    ta = await conn(b, "ta", "teacher", cls="A")
    tb = await conn(b, "tb", "teacher", cls="B")
    s = await conn(b, "s1", "student", cls="A")
    await ta.recv_event("PRESENCE", timeout=3)
    await s.close()
    await ta.recv_event("PRESENCE", timeout=3)
    await tb.expect_no_message(0.6)
    tb2 = await conn(b, "tb2", "teacher", cls="B")
    eq(data_of(tb2.snapshots[0]).get("students") if tb2.snapshots else None, [],
       "class B snapshot while only A had students")


async def test_multi_class_student_presence_per_class():
    b = Broker().start()
    ta = await conn(b, "ta", "teacher", cls="A")
    tb = await conn(b, "tb", "teacher", cls="B")
    tc = await conn(b, "tc", "teacher", cls="C")
    await conn(b, "only-a", "student", cls="A")
    await ta.recv_event("PRESENCE", timeout=3)
    s = await conn(b, "ab", "student", classes=["A", "B"], name="Abby")
    pa = data_of(await ta.recv_event("PRESENCE", timeout=3))
    pb = data_of(await tb.recv_event("PRESENCE", timeout=3))
    eq((pa.get("class_id"), pa.get("student_id"), pa.get("status"), pa.get("online")),
       ("A", "ab", "online", 2), "PRESENCE in A for a student of A and B")
    eq((pb.get("class_id"), pb.get("student_id"), pb.get("status"), pb.get("online")),
       ("B", "ab", "online", 1), "PRESENCE in B for a student of A and B")
    await tc.expect_no_message(0.5)
    await s.close()
    pa = data_of(await ta.recv_event("PRESENCE", timeout=3))
    pb = data_of(await tb.recv_event("PRESENCE", timeout=3))
    eq((pa.get("status"), pa.get("online")), ("offline", 1), "offline in A")
    eq((pb.get("status"), pb.get("online")), ("offline", 0), "offline in B")
    await tc.expect_no_message(0.3)


async def test_multi_class_token_must_name_the_class():
    b = Broker().start()
    m = await conn(b, "multi", "teacher", classes=["A", "B"])
    eq(sorted(data_of(m.welcome).get("classes", [])), ["A", "B"], "WELCOME classes")
    eq(sorted(data_of(s).get("class_id") for s in m.snapshots), ["A", "B"],
       "one PRESENCE_SNAPSHOT per class")
    await m.error("SESSION_START", {}, "CLASS_REQUIRED", id="cr1")
    await m.error("ATTENDANCE_MARKED", {"student_id": "x", "status": "present"},
                  "CLASS_REQUIRED", id="cr2")
    await m.error("TODAY_SUMMARY", {}, "CLASS_REQUIRED", id="cr3")
    await m.error("DONE", None, "CLASS_REQUIRED", id="cr4")
    await m.error("SESSION_START", {"class_id": "C"}, "CLASS_FORBIDDEN", id="cf1")
    await m.error("ATTENDANCE_MARKED", {"student_id": "x", "status": "present",
                                        "class_id": "C"}, "CLASS_FORBIDDEN", id="cf2")
    await m.error("DONE", {"class_id": "a"}, "CLASS_FORBIDDEN", id="cf3")  # case matters
    stud = await conn(b, "st", "student", classes=["A", "B"])
    await stud.error("MY_ATTENDANCE", {}, "CLASS_REQUIRED", id="cr5")
    await stud.error("MY_ATTENDANCE", {"class_id": "Z"}, "CLASS_FORBIDDEN", id="cf4")
    r = data_of(await stud.call("MY_ATTENDANCE", {"class_id": "B"}))
    eq(r.get("class_id"), "B", "MY_ATTENDANCE for the chosen class")
    # Nothing happened anywhere.
    ta = await conn(b, "ta", "teacher", cls="A")
    eq(data_of(await ta.call("TODAY_SUMMARY", {})).get("state"), "none", "class A untouched")


async def test_single_class_token_cannot_reach_another_class():
    b = Broker().start()
    ta = await conn(b, "ta", "teacher", cls="A")
    tb = await conn(b, "tb", "teacher", cls="B")
    await ta.error("SESSION_START", {"class_id": "B"}, "CLASS_FORBIDDEN", id=1)
    await ta.error("ATTENDANCE_MARKED", {"student_id": "x", "status": "late", "class_id": "B"},
                   "CLASS_FORBIDDEN", id=2)
    await ta.error("TODAY_SUMMARY", {"class_id": "B"}, "CLASS_FORBIDDEN", id=3)
    await ta.error("DONE", {"class_id": "B"}, "CLASS_FORBIDDEN", id=4)
    sa = await conn(b, "sa", "student", cls="A")
    await sa.error("MY_ATTENDANCE", {"class_id": "B"}, "CLASS_FORBIDDEN", id=5)
    await tb.expect_no_message(0.5)
    eq(data_of(await tb.call("TODAY_SUMMARY", {})).get("state"), "none", "class B untouched")
    r = data_of(await ta.call("SESSION_START", {"class_id": "A"}))
    eq(r.get("class_id"), "A", "explicit own class_id")


async def test_multi_class_token_acts_in_the_chosen_class_only():
    b = Broker().start()
    m = await conn(b, "multi", "teacher", classes=["A", "B"])
    ta = await conn(b, "ta", "teacher", cls="A")
    tb = await conn(b, "tb", "teacher", cls="B")
    sa = await conn(b, "sa", "student", cls="A")
    sb = await conn(b, "sb", "student", cls="B")
    await m.recv_all("PRESENCE", 2, timeout=3)
    await ta.recv_event("PRESENCE", timeout=3)
    await tb.recv_event("PRESENCE", timeout=3)
    for c in (m, ta, tb):
        c.clear()
    r = data_of(await m.call("SESSION_START", {"class_id": "A"}))
    eq(r.get("class_id"), "A", "SESSION_STARTED class_id")
    await ta.recv_event("SESSION_STARTED", timeout=3)
    await sa.recv_event("SESSION_STARTED", timeout=3)
    await tb.expect_no_message(0.5)
    await sb.expect_no_message(0.1)
    mk = data_of(await m.call("ATTENDANCE_MARKED", {"class_id": "B", "student_id": "sb",
                                                    "status": "late"}))
    eq(mk.get("class_id"), "B", "mark in B: class_id")
    await tb.recv_event("ATTENDANCE_MARKED", timeout=3)
    await sb.recv_event("ATTENDANCE_MARKED", timeout=3)
    await ta.expect_no_message(0.5, ignore=())
    await sa.expect_no_message(0.1)
    # The multi-class connection receives both classes' events.
    await tb.call("ATTENDANCE_MARKED", {"student_id": "sb", "status": "present"})
    got = await m.recv_event("ATTENDANCE_MARKED", timeout=3)
    eq(data_of(got).get("class_id"), "B", "multi-class teacher sees B's marks")
    await ta.call("ATTENDANCE_MARKED", {"student_id": "sa", "status": "absent"})
    got = await m.recv_event("ATTENDANCE_MARKED", timeout=3)
    eq(data_of(got).get("class_id"), "A", "multi-class teacher sees A's marks")
    sum_a = data_of(await m.call("TODAY_SUMMARY", {"class_id": "A"}))
    sum_b = data_of(await m.call("TODAY_SUMMARY", {"class_id": "B"}))
    eq(sorted(students_by_id(sum_a)), ["sa"], "class A students")
    eq(sorted(students_by_id(sum_b)), ["sb"], "class B students")
    eq(students_by_id(sum_b)["sb"].get("status"), "present", "class B mark")
    fin = data_of(await m.call("DONE", {"class_id": "B"}))
    eq(sorted(records_by_id(fin)), ["sb"], "DONE in B finalizes B only")
    eq(data_of(await m.call("TODAY_SUMMARY", {"class_id": "A"})).get("state"), "active",
       "class A still active after DONE in B")
    await sb.recv_event("ATTENDANCE_FINALIZED", timeout=3)
    await sa.expect_no_message(0.5, event="ATTENDANCE_FINALIZED")


if __name__ == "__main__":
    run_tests(globals())
