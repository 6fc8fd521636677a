# SPDX-License-Identifier: MIT
"""Durability of finalized attendance: what DONE acknowledged survives kill -9, DONE is
idempotent across restarts and under concurrency, and the report never duplicates."""

import asyncio
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Broker, Client, check, data_of, eq, fail, http_get, record_key,  # noqa: E402
                     records_by_id, run_tests, today)

CLASS = "dur-1"
RECORD_FIELDS = ("student_id", "student_name", "class_id", "session_id", "started_at",
                 "ended_at", "total_class_duration_seconds", "engagement_duration_seconds",
                 "engagement_percentage", "frames_analyzed", "status", "source", "finalized_at")


async def connect(b, sub, role, name=None, cls=CLASS):
    return await Client.open(b, b.token(sub=sub, role=role, class_id=cls, name=name),
                             label=f"{role}:{sub}")


async def finalized_class(b):
    """Teacher, three connected students (one unmarked), one marked offline; DONE acked."""
    t = await connect(b, "t-1", "teacher")
    await connect(b, "s-a", "student", name="Ann")
    await connect(b, "s-b", "student", name="Ben")
    await connect(b, "s-c", "student", name="Cat")
    sid = data_of(await t.call("SESSION_START", {}))["session_id"]
    await t.call("ATTENDANCE_MARKED", {"student_id": "s-a", "status": "present"})
    await t.call("ATTENDANCE_MARKED", {"student_id": "s-b", "status": "late"})
    await t.call("ATTENDANCE_MARKED", {"student_id": "s-d", "status": "present", "name": "Dee"})
    fin = data_of(await t.call("DONE", {}))
    eq(fin.get("session_id"), sid, "ATTENDANCE_FINALIZED session_id")
    eq(len(fin.get("records", [])), 4, "records acknowledged by DONE")
    return t, fin


def report(b, sid, token, cls=CLASS):
    return http_get(b.port, f"/attendance/report/{cls}/{sid}",
                    headers={"Authorization": "Bearer " + token})


def check_report_matches(rep, fin, what):
    eq(rep.get("class_id"), CLASS, f"{what}: report class_id")
    eq(rep.get("session_id"), fin["session_id"], f"{what}: report session_id")
    eq(rep.get("date"), fin.get("date", today()), f"{what}: report date")
    recs = rep.get("records")
    check(isinstance(recs, list), f"{what}: report without records")
    ids = [r.get("student_id") for r in recs]
    eq(sorted(ids), sorted(set(ids)), f"{what}: report lists a student twice")
    got = records_by_id(rep)
    want = records_by_id(fin)
    eq(sorted(got), sorted(want), f"{what}: students in the report")
    for sid, w in want.items():
        g = got[sid]
        missing = [f for f in RECORD_FIELDS if f not in g]
        check(not missing, f"{what}: record of {sid} lacks {missing}")
        eq(record_key(g), record_key(w), f"{what}: record of {sid}")
        eq(g.get("class_id"), CLASS, f"{what}: record class_id")
        eq(g.get("session_id"), fin["session_id"], f"{what}: record session_id")
    summ = rep.get("summary") or {}
    for k in ("present", "absent", "late", "total"):
        eq(summ.get(k), fin["summary"][k], f"{what}: report summary.{k}")


async def test_acknowledged_records_survive_kill9():
    b = Broker().start()
    t, fin = await finalized_class(b)
    b.kill9()                      # right after the acknowledgement
    await t.close()
    b.start()
    tok = b.token(sub="t-1", role="teacher", class_id=CLASS)
    r = report(b, fin["session_id"], tok)
    eq(r.status, 200, f"report after kill -9 and restart ({r.body[:200]!r})")
    check_report_matches(r.json(), fin, "after kill -9")


async def test_done_after_restart_is_already_finalized():
    b = Broker().start()
    t, fin = await finalized_class(b)
    b.kill9()
    await t.close()
    b.start()
    t2 = await connect(b, "t-2", "teacher")
    await connect(b, "s-a", "student", name="Ann")   # somebody is seen today again
    again = data_of(await t2.call("DONE", {}, timeout=10))
    eq(again.get("already_finalized"), True, "DONE after restart: already_finalized")
    eq(again.get("session_id"), fin["session_id"], "DONE after restart: session_id")
    eq(sorted(map(record_key, again.get("records", []))),
       sorted(map(record_key, fin["records"])), "DONE after restart: records")
    r = report(b, fin["session_id"], b.token(sub="t-2", role="teacher", class_id=CLASS))
    eq(r.status, 200, "report after the repeated DONE")
    check_report_matches(r.json(), fin, "after a repeated DONE")
    m = b.metrics()
    eq(m.get("rollcall_journal_records_total"), 0.0,
       "records written by a DONE of an already finalized day")


async def test_finalized_day_stays_finalized_after_restart():
    b = Broker().start()
    t, fin = await finalized_class(b)
    b.kill9()
    await t.close()
    b.start()
    t2 = await connect(b, "t-1", "teacher")
    await t2.error("ATTENDANCE_MARKED", {"student_id": "s-c", "status": "present"},
                   "SESSION_FINALIZED", id="late-mark")
    await t2.error("SESSION_START", {}, "SESSION_FINALIZED", id="reopen")
    r = report(b, fin["session_id"], b.token(sub="t-1", role="teacher", class_id=CLASS))
    check_report_matches(r.json(), fin, "after marks refused post-restart")


async def test_concurrent_done_writes_once():
    b = Broker().start()
    t1 = await connect(b, "t-1", "teacher")
    t2 = await connect(b, "t-2", "teacher")
    for i in range(6):
        await connect(b, f"s-{i}", "student", name=f"S{i}")
    sid = data_of(await t1.call("SESSION_START", {}))["session_id"]
    for i in range(0, 6, 2):
        await t1.call("ATTENDANCE_MARKED", {"student_id": f"s-{i}", "status": "present"})
    await asyncio.gather(t1.send("DONE", {}, id="d1"), t2.send("DONE", {}, id="d2"))
    r1, r2 = await asyncio.gather(t1.recv_event(None, id="d1", timeout=10),
                                  t2.recv_event(None, id="d2", timeout=10))
    for r in (r1, r2):
        eq(r.get("event"), "ATTENDANCE_FINALIZED", f"reply to a concurrent DONE ({r})")
    d1, d2 = data_of(r1), data_of(r2)
    eq(d1.get("session_id"), sid, "first concurrent DONE session_id")
    eq(d2.get("session_id"), sid, "second concurrent DONE session_id")
    eq(sorted(map(record_key, d1.get("records", []))),
       sorted(map(record_key, d2.get("records", []))), "records of the two concurrent DONEs")
    eq(sorted([d1.get("already_finalized"), d2.get("already_finalized")]), [False, True],
       "already_finalized of two concurrent DONEs")
    eq(len(records_by_id(d1)), 6, "records of a concurrent DONE")
    r = report(b, sid, b.token(sub="t-1", role="teacher", class_id=CLASS))
    eq(r.status, 200, "report after concurrent DONEs")
    check_report_matches(r.json(), d1, "after concurrent DONEs")
    m = b.metrics()
    eq(m.get("rollcall_journal_records_total"), 6.0, "records written by two concurrent DONEs")
    eq(m.get("rollcall_journal_writes_total", result="ok"), 1.0,
       "journal finalize transactions committed for two concurrent DONEs")


async def test_many_rapid_dones_and_restart_keep_one_copy():
    b = Broker().start()
    ts = [await connect(b, f"t-{i}", "teacher") for i in range(3)]
    for i in range(3):
        await connect(b, f"s-{i}", "student")
    await ts[0].call("ATTENDANCE_MARKED", {"student_id": "s-0", "status": "late"})
    for round_ in range(3):
        for i, t in enumerate(ts):
            await t.send("DONE", {}, id=f"r{round_}-{i}")
    replies = []
    for round_ in range(3):
        for i, t in enumerate(ts):
            replies.append(data_of(await t.recv_event("ATTENDANCE_FINALIZED",
                                                      id=f"r{round_}-{i}", timeout=10)))
    flags = [r.get("already_finalized") for r in replies]
    eq(flags.count(False), 1, f"DONEs that wrote (already_finalized false): {flags}")
    sids = {r.get("session_id") for r in replies}
    eq(len(sids), 1, "session_id of all DONE replies")
    b.kill9()
    for t in ts:
        await t.close()
    b.start()
    r = report(b, sids.pop(), b.token(sub="t-0", role="teacher", class_id=CLASS))
    eq(r.status, 200, "report after many DONEs and a restart")
    recs = r.json().get("records", [])
    eq(sorted(x.get("student_id") for x in recs), ["s-0", "s-1", "s-2"],
       "each student once in the report")
    if not any(x.get("status") == "late" for x in recs):
        fail("the manual late mark is lost")


async def test_mark_racing_done_is_never_silently_lost():
    """A mark pipelined right behind DONE is either refused (SESSION_FINALIZED) or part of
    the finalized records: an acknowledged mark must never vanish."""
    b = Broker().start()
    t = await connect(b, "t-1", "teacher")
    for i in range(3):
        await connect(b, f"s-{i}", "student")
    await t.call("SESSION_START", {})
    await t.send("ATTENDANCE_MARKED", {"student_id": "s-0", "status": "late"}, id="before")
    await t.send("DONE", {}, id="done")
    await t.send("ATTENDANCE_MARKED", {"student_id": "s-1", "status": "present"}, id="after")
    await t.send("ATTENDANCE_MARKED", {"student_id": "s-new", "status": "late"}, id="after2")
    before = await t.recv_event(None, id="before", timeout=10)
    done = await t.recv_event(None, id="done", timeout=10)
    after = await t.recv_event(None, id="after", timeout=10)
    after2 = await t.recv_event(None, id="after2", timeout=10)
    eq(before.get("event"), "ATTENDANCE_MARKED", "mark sent before DONE")
    eq(done.get("event"), "ATTENDANCE_FINALIZED", "DONE reply")
    recs = records_by_id(data_of(done))
    eq(recs.get("s-0", {}).get("status"), "late", "a mark sent before DONE is in the records")
    rep = report(b, data_of(done)["session_id"], b.token(sub="t-1", role="teacher",
                                                         class_id=CLASS))
    eq(rep.status, 200, "report after the race")
    stored = records_by_id(rep.json())
    for m, st, status in ((after, "s-1", "present"), (after2, "s-new", "late")):
        if m.get("event") == "ERROR":
            eq(data_of(m).get("code"), "SESSION_FINALIZED", f"mark of {st} behind DONE")
        else:
            eq(m.get("event"), "ATTENDANCE_MARKED", f"mark of {st} behind DONE")
            eq(stored.get(st, {}).get("status"), status,
               f"acknowledged mark of {st} (sent behind DONE) in the durable records")


async def test_done_racing_sigterm_is_durable_when_acknowledged():
    b = Broker(drain_timeout=5).start()
    t = await connect(b, "t-1", "teacher")
    for i in range(4):
        await connect(b, f"s-{i}", "student")
    sid = data_of(await t.call("SESSION_START", {}))["session_id"]
    await t.call("ATTENDANCE_MARKED", {"student_id": "s-0", "status": "present"})
    await t.send("DONE", {}, id="done")
    b.expect_exit = True
    b.signal(signal.SIGTERM)
    ack = None
    try:
        ack = await t.recv_event(None, id="done", timeout=8)
    except AssertionError:
        pass   # closed before the reply: then nothing was promised
    rc = b.wait_exit(10)
    eq(rc, 0, "exit status of a drain with a DONE in flight")
    b.start()
    r = report(b, sid, b.token(sub="t-1", role="teacher", class_id=CLASS))
    if ack is not None and ack.get("event") == "ATTENDANCE_FINALIZED":
        eq(r.status, 200, "report of a DONE acknowledged during the drain")
        check_report_matches(r.json(), data_of(ack), "DONE acknowledged during the drain")
    else:
        check(r.status in (200, 404), f"report after an unacknowledged DONE: {r.status}")


if __name__ == "__main__":
    run_tests(globals())
