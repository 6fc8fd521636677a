# SPDX-License-Identifier: MIT
"""Privacy by default: a student's connection receives only what is about that student;
the class's staff receive the class. One whole session with several students (an
announcement, marks, frames with a violation, presence changes, TODAY_SUMMARY,
MY_ATTENDANCE, DONE), after which every message each student received is checked: none
names another student or carries another student's figures. With E2E_ENGINE=redis the
students are split over two brokers sharing one Redis, so what crosses instances is
checked too."""

import asyncio
import base64
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (ENGINE, Broker, Client, check, data_of, eq, fail,  # noqa: E402
                     random_secret, records_by_id, run_tests, students_by_id)

FACES = os.path.join(os.environ.get("ROLLCALL_SRC", os.path.join(os.path.dirname(__file__),
                                                                   "..", "..")),
                     "..", "shared", "data", "faces")
LOOKING = "aflw2000_image00050.jpg"  # one face, looking at the camera
AWAY = "aflw2000_image00108.jpg"     # one face, turned away (yaw 82)
NOFACE = "dlib_ffmpeg_eagle.jpg"     # no face

# Distinctive ids and names, so that a substring search of a message finds them only where
# they are really named.
STUDENTS = {"pupil-amber-31": "Amberly Quist", "pupil-basil-47": "Basilio Vantongeren",
            "pupil-cedar-58": "Cedarine Okonkwo-Lund"}
A, B, C = sorted(STUDENTS)
STAFF_EVENTS = ("PRESENCE", "PRESENCE_SNAPSHOT", "ENGAGEMENT_UPDATE", "VIOLATION",
                "TODAY_SUMMARY")


def photo(name):
    with open(os.path.join(FACES, name), "rb") as f:
        return f.read()


def data_url(b):
    return "data:image/jpeg;base64," + base64.b64encode(b).decode()


def brokers():
    """Two instances sharing one Redis with E2E_ENGINE=redis; one broker otherwise."""
    # A long frame interval: frames of three students queued behind one another on a
    # sanitizer build must not be skipped as stale.
    env = {"ROLLCALL_FRAME_INTERVAL": "5", "ROLLCALL_FRAME_RATE": "20",
           "ROLLCALL_VIOLATION_SECONDS": "0.5", "ROLLCALL_ENGAGEMENT_UPDATE_MS": "200",
           "ROLLCALL_ATTENDANCE_THRESHOLD": "10"}
    secret = random_secret()
    a = Broker(secret=secret, env=env).start()
    b = Broker(secret=secret, env=env).start() if ENGINE == "redis" else a
    return a, b


async def join(broker, sub, role, name=None, cls="c1"):
    return await Client.open(broker, broker.token(sub=sub, role=role, class_id=cls, name=name),
                             label=f"{role}:{sub}@{broker.port}")


def walk(v, path=""):
    """Yields (path, key, value) for every value of a JSON document."""
    if isinstance(v, dict):
        for k, x in v.items():
            yield path, k, x
            yield from walk(x, f"{path}.{k}")
    elif isinstance(v, list):
        for i, x in enumerate(v):
            yield from walk(x, f"{path}[{i}]")


def assert_private(client, me):
    """Every message client received is about `me` or about nobody in particular."""
    others = [s for s in STUDENTS if s != me]
    other_names = [STUDENTS[s] for s in others]
    for m in client.all:
        text = json.dumps(m)
        ev = m.get("event")
        for o in others + other_names:
            check(o not in text, f"{client.label} received {ev} naming {o!r}: {text[:300]}")
        check(ev not in STAFF_EVENTS, f"{client.label} received staff-only {ev}: {text[:300]}")
        for path, k, x in walk(m):
            if k in ("student_id", "studentId", "user_id"):
                eq(x, me, f"{client.label}: {ev}{path}.{k}")
            check(k not in ("records", "students", "summary", "counts"),
                  f"{client.label}: {ev}{path} carries the class's {k!r}: {text[:300]}")


async def stream(client, img, n, tag, binary=False):
    """Sends n frames one by one (each answered) and returns the FRAME_RESULTs."""
    out = []
    for i in range(n):
        if binary:
            await client.send_raw(img)
            out.append(data_of(await client.recv_event("FRAME_RESULT", timeout=60)))
        else:
            await client.send("FRAME", {"image": data_url(img)}, id=f"{tag}{i}")
            out.append(data_of(await client.recv_event("FRAME_RESULT", id=f"{tag}{i}",
                                                        timeout=60)))
        await asyncio.sleep(0.25)
    return out


async def test_students_receive_only_their_own_data():
    a, b = brokers()
    t = await join(a, "t-priv", "teacher", name="Ms Teach")
    t2 = await join(b, "t-priv-2", "teacher")
    sa = await join(a, A, "student", name=STUDENTS[A])
    sb = await join(b, B, "student", name=STUDENTS[B])
    sc = await join(b, C, "student", name=STUDENTS[C])
    # Each analyzer loads its models on its first frame: one frame before the session
    # (refused with NO_SESSION once analyzed) warms both instances.
    for s in (sa, sb):
        await s.send("FRAME", {"image": data_url(photo(LOOKING))}, id="warm")
        m = await s.recv_event(None, id="warm", timeout=120)
        eq(data_of(m).get("code"), "NO_SESSION", f"{s.label} frame before the session")
    await asyncio.sleep(0.3)  # the other instance's SUBSCRIBE (Redis)

    await t.call("SESSION_START", {})
    ann = data_of(await t.call("ANNOUNCE", {"text": "Quiz at the end."}, reply="ANNOUNCEMENT"))
    eq(ann.get("from"), "t-priv", "ANNOUNCEMENT from")
    for s in (sa, sb, sc, t2):
        got = data_of(await s.recv_event("ANNOUNCEMENT", timeout=5))
        eq(got.get("text"), "Quiz at the end.", f"{s.label} ANNOUNCEMENT text")
        await s.recv_event("SESSION_STARTED", timeout=5)

    # Marks: the marked student and the staff see each; nobody else does.
    await t.call("ATTENDANCE_MARKED", {"student_id": A, "status": "late"})
    await t.call("ATTENDANCE_MARKED", {"student_id": B, "status": "absent"})
    await t.call("ATTENDANCE_MARKED", {"student_id": "pupil-never-here", "status": "absent"})
    for s, who, status in ((sa, A, "late"), (sb, B, "absent")):
        got = data_of(await s.recv_event("ATTENDANCE_MARKED", timeout=5))
        eq((got.get("student_id"), got.get("status")), (who, status), f"{s.label} own mark")
    marks = [data_of(await t2.recv_event("ATTENDANCE_MARKED", timeout=5)) for _ in range(3)]
    eq(sorted(m["student_id"] for m in marks), sorted([A, B, "pupil-never-here"]),
       "marks seen by the other teacher")

    # Frames: A looks, B turns away long enough for a violation, C shows no face.
    ra, rb, rc = await asyncio.gather(stream(sa, photo(LOOKING), 4, "a", binary=True),
                                      stream(sb, photo(AWAY), 4, "b"),
                                      stream(sc, photo(NOFACE), 4, "c"))
    check(all(r["engaged"] for r in ra[1:]), f"A's frames: {ra}")
    check(any(r["violation"] == "looking_away" for r in rb), f"B's violation: {rb}")
    check(any(r["violation"] == "no_face" for r in rc), f"C's violation: {rc}")
    viol = data_of(await t.recv_event("VIOLATION", timeout=5,
                                      pred=lambda m: data_of(m).get("student_id") == B))
    eq(viol.get("kind"), "looking_away", "B's violation reached the teacher")
    upd = data_of(await t.recv_event(
        "ENGAGEMENT_UPDATE", timeout=5,
        pred=lambda m: any(r["student_id"] == A for r in data_of(m)["students"])))
    check(upd["students"], "ENGAGEMENT_UPDATE for the teacher")

    # Presence: C leaves and comes back; the staff see it, the other students do not.
    await sc.close()
    off = data_of(await t.recv_event("PRESENCE", timeout=5,
                                     pred=lambda m: data_of(m).get("status") == "offline"))
    eq(off.get("student_id"), C, "PRESENCE offline")
    sc = await join(b, C, "student", name=STUDENTS[C])
    on = data_of(await t.recv_event("PRESENCE", timeout=5,
                                    pred=lambda m: data_of(m).get("student_id") == C and
                                    data_of(m).get("status") == "online"))
    eq(on.get("student_id"), C, "PRESENCE online")

    # Summaries: the teacher sees the class; each student only itself.
    summ = students_by_id(data_of(await t.call("TODAY_SUMMARY", {})))
    check({A, B, C} <= set(summ), f"TODAY_SUMMARY students {sorted(summ)}")
    for s, who in ((sa, A), (sb, B), (sc, C)):
        mine = data_of(await s.call("MY_ATTENDANCE", {}))
        eq(mine.get("frames_analyzed"), summ[who]["frames_analyzed"], f"{who} frames_analyzed")
    await sa.error("TODAY_SUMMARY", {}, "FORBIDDEN")

    # DONE: the staff get every record; each student its own.
    fin = data_of(await t.call("DONE", {}))
    recs = records_by_id(fin)
    check({A, B, C, "pupil-never-here"} <= set(recs), f"records {sorted(recs)}")
    staff_fin = data_of(await t2.recv_event("ATTENDANCE_FINALIZED", timeout=5))
    eq(sorted(records_by_id(staff_fin)), sorted(recs), "the other teacher's records")
    for s, who in ((sa, A), (sb, B), (sc, C)):
        got = data_of(await s.recv_event("ATTENDANCE_FINALIZED", timeout=5))
        rec = got.get("record") or fail(f"{s.label}: ATTENDANCE_FINALIZED without record")
        eq(rec.get("student_id"), who, f"{s.label} record's student")
        eq(rec.get("status"), recs[who]["status"], f"{s.label} record's status")
        eq(rec.get("frames_analyzed"), recs[who]["frames_analyzed"], f"{s.label} frames")
    await asyncio.sleep(0.5)  # anything late would land now

    for s, who in ((sa, A), (sb, B), (sc, C)):
        assert_private(s, who)
    # Each student saw exactly one mark, its own (C was not marked).
    for s, n in ((sa, 1), (sb, 1), (sc, 0)):
        eq(sum(1 for m in s.all if m.get("event") == "ATTENDANCE_MARKED"), n,
           f"{s.label} ATTENDANCE_MARKED count")
        eq(sum(1 for m in s.all if m.get("event") == "ATTENDANCE_FINALIZED"), 1,
           f"{s.label} ATTENDANCE_FINALIZED count")


async def test_a_student_in_two_tabs_gets_its_events_on_both():
    a, b = brokers()
    t = await join(a, "t-tabs", "teacher")
    tab1 = await join(a, A, "student")
    tab2 = await join(b, A, "student")
    other = await join(b, B, "student")
    await asyncio.sleep(0.3)
    await t.call("ATTENDANCE_MARKED", {"student_id": A, "status": "present"})
    for tab in (tab1, tab2):
        got = data_of(await tab.recv_event("ATTENDANCE_MARKED", timeout=5))
        eq(got.get("student_id"), A, f"{tab.label} mark")
    fin = data_of(await t.call("DONE", {}))
    for tab in (tab1, tab2):
        rec = data_of(await tab.recv_event("ATTENDANCE_FINALIZED", timeout=5)).get("record")
        eq(rec, records_by_id(fin)[A], f"{tab.label} own record")
    rec = data_of(await other.recv_event("ATTENDANCE_FINALIZED", timeout=5)).get("record")
    eq(rec, records_by_id(fin)[B], "the other student's own record")
    await asyncio.sleep(0.3)
    for c, who in ((tab1, A), (tab2, A), (other, B)):
        assert_private(c, who)


async def test_announcements_stay_in_their_class():
    a, b = brokers()
    s = await join(a, A, "student")
    await s.error("ANNOUNCE", {"text": "hi all"}, "FORBIDDEN")
    t = await join(a, "t-ann", "teacher")
    await t.error("ANNOUNCE", {"text": ""}, "INVALID_PAYLOAD")
    await t.error("ANNOUNCE", {"text": "x" * 2001}, "INVALID_PAYLOAD")
    await s.expect_no_message(0.3, event="ANNOUNCEMENT")
    # Another class, on either instance, hears nothing of it.
    away = [await join(a, B, "student", cls="c2"), await join(b, C, "student", cls="c2"),
            await join(b, "t-c2", "teacher", cls="c2")]
    await asyncio.sleep(0.3)
    await t.call("ANNOUNCE", {"text": "c1 only"}, reply="ANNOUNCEMENT")
    eq(data_of(await s.recv_event("ANNOUNCEMENT", timeout=5)).get("text"), "c1 only",
       "the class's student")
    for c in away:
        await c.expect_no_message(0.2, event="ANNOUNCEMENT")


if __name__ == "__main__":
    run_tests(globals())
