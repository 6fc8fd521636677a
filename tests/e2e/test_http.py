# SPDX-License-Identifier: MIT
"""Plain HTTP endpoints: /healthz, /readyz, /metrics (Prometheus text, counters that move
with activity) and the attendance report with its 200/401/403/404 rules."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Broker, Client, Metrics, check, data_of, eq, http_get,  # noqa: E402
                     make_claims, random_secret, records_by_id, run_tests, sign, today)

RECORD_FIELDS = ("student_id", "student_name", "class_id", "session_id", "started_at",
                 "ended_at", "total_class_duration_seconds", "engagement_duration_seconds",
                 "engagement_percentage", "frames_analyzed", "status", "source", "finalized_at")


async def test_healthz_and_readyz():
    b = Broker().start()
    r = http_get(b.port, "/healthz")
    eq(r.status, 200, "GET /healthz")
    eq(r.body.strip(), b"ok", "GET /healthz body")
    r = http_get(b.port, "/readyz")
    eq(r.status, 200, "GET /readyz")
    # Both keep answering after WebSocket traffic.
    c = await Client.open(b, b.token(sub="t-1"))
    await c.ping()
    eq(http_get(b.port, "/healthz").status, 200, "GET /healthz with a client connected")
    eq(http_get(b.port, "/readyz").status, 200, "GET /readyz with a client connected")


async def test_metrics_exposition_format():
    b = Broker().start()
    r = http_get(b.port, "/metrics")
    eq(r.status, 200, "GET /metrics")
    ctype = r.headers.get("content-type", "")
    check(ctype.startswith("text/plain"), f"/metrics Content-Type {ctype!r}, want text/plain")
    m = Metrics(r.body.decode())
    check(m.samples, "/metrics has no samples")
    # Every sample belongs to a family declared with # TYPE; counters end in _total.
    for (name, _), v in m.samples.items():
        base = name
        for suf in ("_bucket", "_sum", "_count"):
            if name.endswith(suf) and name[:-len(suf)] in m.types:
                base = name[:-len(suf)]
        check(base in m.types, f"/metrics sample {name} has no # TYPE line")
        if m.types[base] == "counter":
            check(name.endswith("_total"), f"counter {name} does not end in _total")
            check(v >= 0, f"counter {name} is negative")
    for fam, label in (("rollcall_connections_total", "role"),
                       ("rollcall_messages_in_total", "event"),
                       ("rollcall_messages_out_total", "event"),
                       ("rollcall_errors_total", "code")):
        eq(m.types.get(fam), "counter", f"TYPE of {fam}")
        check(all(label in dict(k) for k in m.family(fam)), f"{fam} without a {label} label")
    for fam in ("rollcall_queue_drops_total", "rollcall_journal_writes_total"):
        eq(m.types.get(fam), "counter", f"TYPE of {fam}")


async def test_metrics_move_with_activity():
    b = Broker().start()
    m0 = b.metrics()
    t = await Client.open(b, b.token(sub="t-1", role="teacher"))
    s = await Client.open(b, b.token(sub="s-1", role="student"))
    a = await Client.open(b, b.token(sub="a-1", role="admin"))
    await s.ping()
    await s.ping()
    await t.error("NOPE", {}, "UNKNOWN_EVENT")
    await s.error("DONE", {}, "FORBIDDEN")
    await t.call("ATTENDANCE_MARKED", {"student_id": "s-1", "status": "present"})
    await t.call("DONE", {})
    await s.recv_event("ATTENDANCE_FINALIZED", timeout=5)
    await a.recv_event("ATTENDANCE_FINALIZED", timeout=5)
    m1 = b.metrics()

    def delta(name, **labels):
        return m1.get(name, 0.0, **labels) - m0.get(name, 0.0, **labels)

    def moved(name, want, **labels):
        got = delta(name, **labels)
        eq(got, float(want), f"change of {name}{labels or ''}")

    moved("rollcall_connections_total", 1, role="teacher")
    moved("rollcall_connections_total", 1, role="student")
    moved("rollcall_connections_total", 1, role="admin")
    eq(m1.get("rollcall_connections", role="student"), 1.0, "open student connections")
    moved("rollcall_messages_in_total", 2, event="PING")
    moved("rollcall_messages_in_total", 2, event="DONE")
    moved("rollcall_messages_in_total", 1, event="ATTENDANCE_MARKED")
    moved("rollcall_messages_out_total", 2, event="PONG")
    moved("rollcall_messages_out_total", 3, event="WELCOME")
    moved("rollcall_messages_out_total", 3, event="ATTENDANCE_FINALIZED")   # reply + 2 others
    moved("rollcall_messages_out_total", 3, event="ATTENDANCE_MARKED")
    moved("rollcall_errors_total", 1, code="UNKNOWN_EVENT")
    moved("rollcall_errors_total", 1, code="FORBIDDEN")
    moved("rollcall_journal_writes_total", 1, result="ok")
    check(m1.has("rollcall_queue_drops_total"), "/metrics has no queue drop counter")
    eq(m1.get("rollcall_queue_drops_total"), 0.0, "queue drops without a slow consumer")
    # Refused upgrades are counted too.
    from harness import ws_upgrade_raw
    ws_upgrade_raw(b.port, token="garbage")
    m2 = b.metrics()
    eq(m2.get("rollcall_upgrades_refused_total", reason="auth") -
       m1.get("rollcall_upgrades_refused_total", reason="auth"), 1.0,
       "change of rollcall_upgrades_refused_total{reason=auth}")
    await s.close()
    await t.recv_event("PRESENCE", timeout=3,
                       pred=lambda x: data_of(x).get("status") == "offline")
    eq(b.metrics().get("rollcall_connections", role="student"), 0.0,
       "open student connections after the student left")


async def finalize(b, cls="c1"):
    t = await Client.open(b, b.token(sub="t-1", role="teacher", class_id=cls))
    await Client.open(b, b.token(sub="s-1", role="student", class_id=cls, name="Ann"))
    await t.call("ATTENDANCE_MARKED", {"student_id": "s-2", "status": "late", "name": "Bo"})
    return data_of(await t.call("DONE", {}))


def get_report(b, cls, sid, token=None, header=None):
    hdrs = {}
    if token is not None:
        hdrs["Authorization"] = "Bearer " + token
    if header is not None:
        hdrs["Authorization"] = header
    return http_get(b.port, f"/attendance/report/{cls}/{sid}", headers=hdrs)


async def test_report_for_teacher_and_admin():
    b = Broker().start()
    fin = await finalize(b)
    sid = fin["session_id"]
    for role, sub in (("teacher", "t-1"), ("teacher", "t-other"), ("admin", "adm")):
        r = get_report(b, "c1", sid, b.token(sub=sub, role=role, class_id="c1"))
        eq(r.status, 200, f"report for a {role} of the class ({r.body[:200]!r})")
        check(r.headers.get("content-type", "").startswith("application/json"),
              f"report Content-Type {r.headers.get('content-type')!r}")
        rep = r.json()
        eq(rep.get("class_id"), "c1", "report class_id")
        eq(rep.get("session_id"), sid, "report session_id")
        eq(rep.get("date"), today(), "report date")
        summ = rep.get("summary") or {}
        for k in ("present", "absent", "late", "total", "percentage"):
            check(k in summ, f"report summary lacks {k}")
        eq((summ.get("present"), summ.get("absent"), summ.get("late"), summ.get("total")),
           (0, 1, 1, 2), "report summary counts")
        recs = records_by_id(rep)
        eq(sorted(recs), ["s-1", "s-2"], "report students")
        for st, rec in recs.items():
            missing = [f for f in RECORD_FIELDS if f not in rec]
            check(not missing, f"report record of {st} lacks {missing}")
            eq(rec.get("class_id"), "c1", "record class_id")
            eq(rec.get("session_id"), sid, "record session_id")
            check(isinstance(rec.get("total_class_duration_seconds"), (int, float)) and
                  rec["total_class_duration_seconds"] >= 0, "total_class_duration_seconds")
            check(isinstance(rec.get("frames_analyzed"), int), "frames_analyzed")
        eq((recs["s-1"].get("status"), recs["s-1"].get("source"),
            recs["s-1"].get("student_name")), ("absent", "engagement", "Ann"), "record of s-1")
        eq((recs["s-2"].get("status"), recs["s-2"].get("source"),
            recs["s-2"].get("student_name")), ("late", "manual", "Bo"), "record of s-2")
    # A multi-class admin whose classes include this one.
    tok = b.token(sub="adm2", role="admin", class_id=None, classes=["x", "c1"])
    eq(get_report(b, "c1", sid, tok).status, 200, "report for a multi-class admin")


async def test_report_refusals():
    b = Broker().start()
    fin = await finalize(b)
    sid = fin["session_id"]
    teacher = b.token(sub="t-1", role="teacher", class_id="c1")
    cases401 = [
        ("no Authorization", None, None),
        ("garbage token", "garbage", None),
        ("forged token", sign(make_claims(sub="t-1"), random_secret()), None),
        ("expired token", sign(make_claims(sub="t-1", exp=1000), b.secret), None),
        ("Basic scheme", None, "Basic dTpw"),
    ]
    for what, tok, header in cases401:
        r = get_report(b, "c1", sid, tok, header)
        eq(r.status, 401, f"report with {what}")
        check("records" not in r.body.decode("utf-8", "replace"),
              f"report with {what} leaks records")
    for what, tok in (("a student of the class", b.token(sub="s-1", role="student")),
                      ("a teacher of another class",
                       b.token(sub="t-9", role="teacher", class_id="c2")),
                      ("an admin of another class",
                       b.token(sub="a-9", role="admin", class_id="c2"))):
        r = get_report(b, "c1", sid, tok)
        eq(r.status, 403, f"report for {what}")
        check(b"s-1" not in r.body, f"report for {what} leaks records")
    eq(get_report(b, "c1", "no-such-session", teacher).status, 404, "unknown session")
    eq(get_report(b, "c1", sid + "x", teacher).status, 404, "unknown session (near miss)")
    for weird in ("%27%20OR%201%3D1%20--", "..%2F..%2Fetc%2Fpasswd", "a" * 300, "%00",
                  "*", "%25"):
        r = get_report(b, "c1", weird, teacher)
        check(r.status in (400, 404), f"report of session {weird[:40]!r}: HTTP {r.status}, "
                                      "want 404 (or 400)")
    for path in ("/attendance/report/c1", f"/attendance/report/c1/{sid}/extra",
                 "/attendance/report//" + sid):
        r = http_get(b.port, path, headers={"Authorization": "Bearer " + teacher})
        check(r.status in (400, 404), f"GET {path}: HTTP {r.status}, want 404")
    eq(http_get(b.port, "/no-such-page").status, 404, "GET of an unknown path")
    # The session exists, but in class c1 only.
    other = b.token(sub="t-2", role="teacher", class_id="c2")
    eq(get_report(b, "c2", sid, other).status, 404, "a session of another class")
    eq(get_report(b, "c1", sid, teacher).status, 200, "the good request still works")


if __name__ == "__main__":
    run_tests(globals())
