# SPDX-License-Identifier: MIT
"""History and analytics over HTTP (PROTOCOL.md "History and analytics"): a student's
history, a class's sessions, monthly figures per class and per student, the classes at
risk and a class's records as JSON and CSV. Today's figures come from sessions finalized
through the WebSocket protocol; figures over past months come from rows written into
journal.db with sqlite3 while the broker is stopped (the protocol can only finalize today).
Every figure is checked against numbers worked out by hand below."""

import csv
import datetime
import io
import os
import sqlite3
import sys
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Broker, Client, check, data_of, eq, gen_rsa, http_get,  # noqa: E402
                     make_claims, run_tests, sign, today)

CSV_HEADER = ("date,session_id,class_id,student_id,student_name,status,source,"
              "engagement_percentage,engagement_duration_seconds,"
              "total_class_duration_seconds,frames_analyzed,trust_score,started_at,ended_at,"
              "finalized_at")

COMMA_NAME = 'Doe, "Jo"'
FORMULA_NAME = '=HYPERLINK("x")'


def get(b, path, token=None, headers=None, method="GET"):
    hdrs = dict(headers or {})
    if token is not None:
        hdrs["Authorization"] = "Bearer " + token
    return http_get(b.port, path, headers=hdrs, method=method)


def ok_json(r, what):
    eq(r.status, 200, f"{what}: HTTP status ({r.body[:300]!r})")
    check(r.headers.get("content-type", "").startswith("application/json"),
          f"{what}: Content-Type {r.headers.get('content-type')!r}")
    eq(r.headers.get("cache-control"), "no-store", f"{what}: Cache-Control")
    return r.json()


def refused(r, status, what, word=None):
    eq(r.status, status, f"{what}: HTTP status ({r.body[:300]!r})")
    doc = r.json()
    eq(doc.get("status"), status, f"{what}: status in the error body")
    if word is not None:
        check(word in doc.get("error", ""), f"{what}: error {doc.get('error')!r} does not name "
                                            f"{word!r}")
    return doc


def days_ago(n):
    d = datetime.datetime.now(datetime.timezone.utc).date() - datetime.timedelta(days=n)
    return d.isoformat()


# --------------------------------------------------------------------------------------
# Today, through the protocol


async def finalize_today(b, cls="c1"):
    """One session in cls, today: s-1 present (Ann), s-2 late (a name with a comma and
    quotes), s-3 absent (a name a spreadsheet would take for a formula). Nobody sends
    frames, so every engagement figure is 0."""
    t = await Client.open(b, b.token(sub="t-1", role="teacher", class_id=cls))
    sid = data_of(await t.call("SESSION_START", {}))["session_id"]
    await t.call("ATTENDANCE_MARKED", {"student_id": "s-1", "status": "present", "name": "Ann"})
    await t.call("ATTENDANCE_MARKED", {"student_id": "s-2", "status": "late",
                                       "name": COMMA_NAME})
    await t.call("ATTENDANCE_MARKED", {"student_id": "s-3", "status": "absent",
                                       "name": FORMULA_NAME})
    fin = data_of(await t.call("DONE", {}))
    eq(len(fin.get("records", [])), 3, "records finalized by DONE")
    await t.close()
    return sid


async def test_today_sessions_monthly_and_history():
    b = Broker().start()
    sid = await finalize_today(b)
    teacher = b.token(sub="t-1", role="teacher", class_id="c1")
    admin = b.token(sub="a-1", role="admin", classes=["c0", "c1"])

    # Default range: the 30 days up to today (UTC).
    for who, tok in (("teacher", teacher), ("admin", admin)):
        doc = ok_json(get(b, "/classes/c1/sessions", tok), f"sessions for the {who}")
        eq((doc.get("class_id"), doc.get("from"), doc.get("to")), ("c1", days_ago(29), today()),
           "sessions: the query echo (default range)")
        # present 1, late 1, absent 1 of 3: (1 + 1) / 3 * 100 = 66.666... -> 66.67; no frames,
        # so the mean engagement is (0 + 0 + 0) / 3 = 0.
        eq(doc.get("sessions"), [{"date": today(), "session_id": sid, "present": 1, "late": 1,
                                  "absent": 1, "total": 3, "attendance_percentage": 66.67,
                                  "average_engagement": 0}], "sessions: today's session")

    # Monthly by default: the 12 months up to this month, one row each, zeros included.
    doc = ok_json(get(b, "/classes/c1/monthly", teacher), "monthly")
    months = doc.get("months")
    eq(len(months), 12, "monthly: one row per month of the default range")
    this_month = today()[:7]
    eq((doc.get("from"), doc.get("to")), (months[0]["month"], this_month), "monthly: echo")
    eq(months[-1], {"month": this_month, "sessions": 1, "present": 1, "late": 1, "absent": 1,
                    "records": 3, "attendance_percentage": 66.67, "average_engagement": 0},
       "monthly: this month")
    for m in months[:-1]:
        eq((m["sessions"], m["records"], m["attendance_percentage"]), (0, 0, 0),
           f"monthly: empty month {m['month']}")

    doc = ok_json(get(b, "/classes/c1/monthly/students", teacher), "monthly per student")
    # One row each; attended = present + late; attendance = attended / sessions * 100.
    eq([(r["student_id"], r["student_name"], r["month"], r["sessions"], r["attended"],
         r["late"], r["absent"], r["attendance_percentage"]) for r in doc["students"]],
       [("s-1", "Ann", this_month, 1, 1, 0, 0, 100),
        ("s-2", COMMA_NAME, this_month, 1, 1, 1, 0, 100),
        ("s-3", FORMULA_NAME, this_month, 1, 0, 0, 1, 0)], "monthly per student")

    # The student reads their own history, in every class or in one of theirs.
    s2 = b.token(sub="s-2", role="student", class_id="c1")
    for path in ("/history/students/s-2", "/history/students/s-2?class_id=c1"):
        doc = ok_json(get(b, path, s2), f"history {path}")
        recs = doc.get("records")
        eq(len(recs), 1, f"{path}: records")
        r = recs[0]
        eq((r["date"], r["session_id"], r["class_id"], r["student_id"], r["student_name"],
            r["status"], r["source"]), (today(), sid, "c1", "s-2", COMMA_NAME, "late", "manual"),
           f"{path}: the record")
    eq(doc.get("limit"), 100, "history: default limit echoed")
    eq(doc.get("class_id"), "c1", "history: class_id echoed")
    # The teacher of the class reads it too, naming the class.
    doc = ok_json(get(b, "/history/students/s-3?class_id=c1", teacher), "history for staff")
    eq([(r["student_id"], r["status"]) for r in doc["records"]], [("s-3", "absent")],
       "history of s-3 for the teacher")


async def test_records_json_and_csv():
    b = Broker().start()
    sid = await finalize_today(b)
    teacher = b.token(sub="t-1", role="teacher", class_id="c1")
    frm, to = days_ago(29), today()

    doc = ok_json(get(b, "/classes/c1/records", teacher), "records as JSON")
    eq((doc.get("class_id"), doc.get("from"), doc.get("to")), ("c1", frm, to), "records echo")
    recs = doc["records"]
    # Ordered by date, session, student.
    eq([(r["student_id"], r["status"], r["student_name"]) for r in recs],
       [("s-1", "present", "Ann"), ("s-2", "late", COMMA_NAME), ("s-3", "absent", FORMULA_NAME)],
       "records: rows")
    for r in recs:
        eq((r["date"], r["session_id"], r["class_id"]), (today(), sid, "c1"), "records: keys")

    variants = (("Accept: text/csv", "/classes/c1/records", {"Accept": "text/csv"}),
                ("Accept list", "/classes/c1/records",
                 {"Accept": "application/json;q=0.5, text/csv"}),
                ("format=csv", "/classes/c1/records?format=csv", {}))
    bodies = []
    for what, path, hdrs in variants:
        r = get(b, path, teacher, headers=hdrs)
        eq(r.status, 200, f"{what}: HTTP status")
        eq(r.headers.get("content-type"), "text/csv; charset=utf-8", f"{what}: Content-Type")
        eq(r.headers.get("content-disposition"), f'attachment; filename="c1-{frm}-{to}.csv"',
           f"{what}: Content-Disposition")
        bodies.append(r.body)
    eq(bodies[1], bodies[0], "CSV by an Accept list")
    eq(bodies[2], bodies[0], "CSV by format=csv")
    # format=json wins over Accept; text/csv with q=0 is not asked for.
    for what, path, hdrs in (("format=json", "/classes/c1/records?format=json",
                              {"Accept": "text/csv"}),
                             ("q=0", "/classes/c1/records", {"Accept": "text/csv;q=0"})):
        eq(ok_json(get(b, path, teacher, headers=hdrs), what), doc, f"{what}: the JSON answer")

    body = bodies[0]
    text = body.decode("utf-8")
    check(text.endswith("\r\n"), "CSV: the last line ends with CRLF")
    check("\n" not in text.replace("\r\n", ""), "CSV: a line ends without CR")
    lines = text.split("\r\n")[:-1]
    eq(len(lines), 4, "CSV: a header and three rows")
    eq(lines[0], CSV_HEADER, "CSV: header line")
    # A comma and quotes: the field is quoted and its quotes doubled.
    check(',"Doe, ""Jo""",late,' in lines[2], f"CSV: quoted name in {lines[2]!r}")
    # A formula: a leading ' defuses it; its quotes then need the field quoted too.
    check(',"\'=HYPERLINK(""x"")",absent,' in lines[3], f"CSV: defused name in {lines[3]!r}")

    # JSON and CSV give the same rows, field by field.
    rows = list(csv.reader(io.StringIO(text, newline="")))
    eq(",".join(rows[0]), CSV_HEADER, "CSV parsed header")
    names = rows[0]
    eq(len(rows) - 1, len(recs), "CSV and JSON: number of rows")
    for row, rec in zip(rows[1:], recs):
        got = dict(zip(names, row))
        name = got["student_name"]
        if name.startswith("'="):
            name = name[1:]
        want = {
            "date": rec["date"], "session_id": rec["session_id"], "class_id": rec["class_id"],
            "student_id": rec["student_id"], "student_name": rec["student_name"],
            "status": rec["status"], "source": rec["source"],
            "engagement_percentage": f"{rec['engagement_percentage']:.2f}",
            "engagement_duration_seconds": f"{rec['engagement_duration_seconds']:.3f}",
            "total_class_duration_seconds": f"{rec['total_class_duration_seconds']:.3f}",
            "frames_analyzed": str(rec["frames_analyzed"]),
            "trust_score": str(rec["trust_score"]),
            "started_at": rec["started_at"], "ended_at": rec["ended_at"],
            "finalized_at": rec["finalized_at"],
        }
        got["student_name"] = name
        eq(got, want, f"CSV row of {rec['student_id']} against the JSON record")

    # A range without sessions: JSON gives no rows, CSV the header alone.
    empty = "/classes/c1/records?from=2020-01-01&to=2020-01-31"
    eq(ok_json(get(b, empty, teacher), "empty records")["records"], [], "empty range: JSON")
    r = get(b, empty + "&format=csv", teacher)
    eq(r.body, (CSV_HEADER + "\r\n").encode(), "empty range: CSV")
    eq(r.headers.get("content-disposition"),
       'attachment; filename="c1-2020-01-01-2020-01-31.csv"', "empty range: file name")


async def test_access_rules():
    b = Broker().start()
    await finalize_today(b)
    teacher = b.token(sub="t-1", role="teacher", class_id="c1")
    other_teacher = b.token(sub="t-9", role="teacher", class_id="c2")
    other_admin = b.token(sub="a-9", role="admin", class_id="c2")
    s1 = b.token(sub="s-1", role="student", class_id="c1")
    s2 = b.token(sub="s-2", role="student", class_id="c1")
    s_no_class = b.token(sub="s-2", role="student", class_id=None)
    class_paths = ("/classes/c1/sessions", "/classes/c1/monthly", "/classes/c1/monthly/students",
                   "/classes/c1/records", "/classes/c1/records?format=csv")
    every = class_paths + ("/history/students/s-1?class_id=c1", "/analytics/at-risk")

    for path in every:
        for what, tok in (("no token", None), ("a garbage token", "not.a.jwt"),
                          ("a token of another key",
                           sign(make_claims(sub="t-1", role="teacher"), "x" * 40))):
            r = get(b, path, tok)
            refused(r, 401, f"{path} with {what}")
            check(r.headers.get("www-authenticate", "").startswith("Bearer"),
                  f"{path} with {what}: WWW-Authenticate {r.headers.get('www-authenticate')!r}")
    for path in class_paths:
        refused(get(b, path, s1), 403, f"{path} for a student of the class")
        refused(get(b, path, other_teacher), 403, f"{path} for a teacher of another class")
        refused(get(b, path, other_admin), 403, f"{path} for an admin of another class")
    refused(get(b, "/analytics/at-risk", s1), 403, "at-risk for a student")

    # History: a student never reads another student's, whatever the class.
    for path in ("/history/students/s-1", "/history/students/s-1?class_id=c1"):
        refused(get(b, path, s2), 403, f"{path} for student s-2")
    refused(get(b, "/history/students/s-2?class_id=c2", s2), 403,
            "own history in a class the token does not name")
    doc = ok_json(get(b, "/history/students/s-2", s_no_class), "own history, token without class")
    eq([r["status"] for r in doc["records"]], ["late"], "own history without a class")
    refused(get(b, "/history/students/s-1", teacher), 400, "staff history without class_id",
            "class_id")
    refused(get(b, "/history/students/s-1?class_id=c1", other_teacher), 403,
            "history for a teacher of another class")
    doc = ok_json(get(b, "/history/students/s-1?class_id=c2", other_teacher),
                  "history in the teacher's own class")
    eq(doc["records"], [], "s-1 has no records in c2")
    ok_json(get(b, "/history/students/s-1?class_id=c1", teacher), "history for the teacher")

    # Only GET; unknown sub-paths stay with the classes endpoints; odd ids are not found.
    for path in class_paths[:4] + ("/history/students/s-1", "/analytics/at-risk"):
        eq(get(b, path, teacher, method="POST").status, 405, f"POST {path}")
    for path in ("/history/students/", "/history/students/a%20b", "/history/students/s-1/x"):
        eq(get(b, path, s1).status, 404, f"GET {path}")
    eq(get(b, "/classes/c1/sessions/x", teacher).status, 404, "GET /classes/c1/sessions/x")


async def test_bad_parameters():
    b = Broker().start()
    teacher = b.token(sub="t-1", role="teacher", class_id="c1")
    s1 = b.token(sub="s-1", role="student", class_id="c1")
    cases = (
        ("/classes/c1/sessions?from=2025-02-30", "from"),
        ("/classes/c1/sessions?to=2025-13-01", "to"),
        ("/classes/c1/sessions?from=2025-1-01", "from"),
        ("/classes/c1/sessions?from=2025-03", "from"),
        ("/classes/c1/sessions?from=2025-03-10&to=2025-03-09", "from"),
        ("/classes/c1/sessions?from=2024-01-01&to=2025-01-01", "366"),
        ("/classes/c1/sessions?form=2025-01-01", "form"),
        ("/classes/c1/sessions?from=2025-01-01&from=2025-01-02", "from"),
        ("/classes/c1/sessions?format=csv", "format"),
        ("/classes/c1/records?format=xml", "format"),
        ("/classes/c1/monthly?from=2025-03-01", "from"),
        ("/classes/c1/monthly?to=2025-00", "to"),
        ("/classes/c1/monthly?from=2025-04&to=2025-03", "from"),
        ("/classes/c1/monthly/students?from=2023-01&to=2025-01", "24"),
        ("/analytics/at-risk?threshold=101", "threshold"),
        ("/analytics/at-risk?threshold=-1", "threshold"),
        ("/analytics/at-risk?threshold=nan", "threshold"),
        ("/analytics/at-risk?threshold=1e2", "threshold"),
        ("/analytics/at-risk?from=2025-02-29", "from"),
        ("/history/students/s-1?class_id=c1&limit=0", "limit"),
        ("/history/students/s-1?class_id=c1&limit=1001", "limit"),
        ("/history/students/s-1?class_id=c1&limit=ten", "limit"),
        ("/history/students/s-1?class_id=a%20b", "class_id"),
        ("/history/students/s-1?class_id=c1&from=2025-03-02&to=2025-03-01", "from"),
    )
    for path, word in cases:
        refused(get(b, path, teacher), 400, path, word)
    refused(get(b, "/history/students/s-1?limit=5000", s1), 400, "student history limit", "limit")
    # The bounds themselves are fine.
    for path in ("/classes/c1/sessions?from=2024-02-29&to=2025-02-28",   # 366 days
                 "/classes/c1/monthly?from=2024-01&to=2025-12",           # 24 months
                 "/analytics/at-risk?threshold=0", "/analytics/at-risk?threshold=100.0",
                 "/history/students/s-1?class_id=c1&limit=1000",
                 "/history/students/s-1?class_id=c1&limit=1&from=2025-01-01&to=2025-01-01"):
        ok_json(get(b, path, teacher), path)
    # Empty arguments and bare words other than the endpoint's names are skipped; values
    # arrive URL-decoded; a name of the endpoint without a value is refused.
    doc = ok_json(get(b, "/classes/c1/sessions?&from=2025-03-01&&to=2025%2D03%2D31&", teacher),
                  "empty arguments")
    eq((doc["from"], doc["to"]), ("2025-03-01", "2025-03-31"), "range read past empty arguments")
    doc = ok_json(get(b, "/classes/c1/sessions?nocache&to=2025-03-31", teacher), "a bare word")
    eq(doc["to"], "2025-03-31", "range read past a bare word")
    refused(get(b, "/classes/c1/sessions?from", teacher), 400, "from without a value", "from")
    refused(get(b, "/classes/c1/sessions?from=2025-03-01%26to%3D2025-03-02", teacher), 400,
            "an encoded & stays inside its value", "from")
    refused(get(b, "/classes/c1/sessions?" + "&".join(["x"] * 17), teacher), 400,
            "17 arguments", "too many")
    refused(get(b, "/classes/c1/sessions?from=" + "9" * 200, teacher), 400, "a long argument",
            "too long")


# --------------------------------------------------------------------------------------
# Past months, written into journal.db


def ms(date, hour):
    d = datetime.datetime.fromisoformat(date).replace(hour=hour,
                                                       tzinfo=datetime.timezone.utc)
    return int(d.timestamp() * 1000)


# (class, date, session_id, [(student, name, status, engagement_percentage)])
PAST = (
    ("m1", "2025-03-03", "m1-a", [("s-1", "Ann Old", "present", 80.0),
                                  ("s-2", "Bo", "late", 40.0),
                                  ("s-3", "Cy", "absent", 0.0)]),
    ("m1", "2025-03-10", "m1-b", [("s-1", "Ann", "present", 90.0),
                                  ("s-2", "Bo", "absent", 10.0),
                                  ("s-3", "Cy", "absent", 5.0)]),
    ("m1", "2025-04-07", "m1-c", [("s-1", "Ann", "late", 70.0),
                                  ("s-2", "Bo", "present", 60.0)]),
    ("m1", "2025-04-14", "m1-d", []),  # a session without records
    ("m2", "2025-03-05", "m2-a", [("s-1", "Ann", "present", 50.0),
                                  ("s-4", "Di", "present", 100.0)]),
    ("m3", "2025-03-06", "m3-a", [("s-5", "Ed", "late", 20.0),
                                  ("s-6", "Flo", "absent", 0.0),
                                  ("s-7", "Gus", "absent", 0.0)]),
)


def write_past(path):
    db = sqlite3.connect(path)
    try:
        for cls, date, sid, recs in PAST:
            start, end = ms(date, 9), ms(date, 10)
            counts = {s: sum(1 for r in recs if r[2] == s) for s in ("present", "absent", "late")}
            total = len(recs)
            pct = round((counts["present"] + counts["late"]) / total * 100, 2) if total else 0
            db.execute("INSERT INTO attendance_daily (class_id, date, teacher_id, session_id,"
                       " present, absent, late, total, percentage, finalized_at)"
                       " VALUES (?, ?, 't-m', ?, ?, ?, ?, ?, ?, ?)",
                       (cls, date, sid, counts["present"], counts["absent"], counts["late"],
                        total, pct, end))
            for student, name, status, eng in recs:
                db.execute("INSERT INTO attendance (session_id, student_id, student_name,"
                           " class_id, started_at, ended_at, total_class_duration_seconds,"
                           " engagement_duration_seconds, engagement_percentage,"
                           " frames_analyzed, status, source, finalized_at, trust_score)"
                           " VALUES (?, ?, ?, ?, ?, ?, 3600, ?, ?, 12, ?, 'manual', ?, 95)",
                           (sid, student, name, cls, start, end, eng * 36, eng, status, end))
        db.commit()
    finally:
        db.close()


def past_broker(**kw):
    """A broker whose journal holds PAST: started once to create the schema, stopped, the
    rows written, started again."""
    b = Broker(**kw).start()
    b.stop()
    write_past(os.path.join(b.data_dir, "journal.db"))
    return b.start()


def test_past_sessions_and_months():
    b = past_broker()
    t = b.token(sub="t-m", role="teacher", classes=["m1", "m2", "m3", "m4"])
    doc = ok_json(get(b, "/classes/m1/sessions?from=2025-03-01&to=2025-04-30", t), "sessions")
    eq((doc["class_id"], doc["from"], doc["to"]), ("m1", "2025-03-01", "2025-04-30"), "echo")
    eq(doc["sessions"], [
        # m1-a: present 1, late 1, absent 1: (1 + 1) / 3 = 66.67 %; (80 + 40 + 0) / 3 = 40
        {"date": "2025-03-03", "session_id": "m1-a", "present": 1, "late": 1, "absent": 1,
         "total": 3, "attendance_percentage": 66.67, "average_engagement": 40},
        # m1-b: present 1, absent 2: 1 / 3 = 33.33 %; (90 + 10 + 5) / 3 = 35
        {"date": "2025-03-10", "session_id": "m1-b", "present": 1, "late": 0, "absent": 2,
         "total": 3, "attendance_percentage": 33.33, "average_engagement": 35},
        # m1-c: late 1, present 1: 2 / 2 = 100 %; (70 + 60) / 2 = 65
        {"date": "2025-04-07", "session_id": "m1-c", "present": 1, "late": 1, "absent": 0,
         "total": 2, "attendance_percentage": 100, "average_engagement": 65},
        # m1-d: no records: zeros
        {"date": "2025-04-14", "session_id": "m1-d", "present": 0, "late": 0, "absent": 0,
         "total": 0, "attendance_percentage": 0, "average_engagement": 0},
    ], "m1 sessions, March and April")
    doc = ok_json(get(b, "/classes/m1/sessions?from=2025-03-04&to=2025-04-07", t), "sessions")
    eq([s["session_id"] for s in doc["sessions"]], ["m1-b", "m1-c"], "an inclusive range")

    doc = ok_json(get(b, "/classes/m1/monthly?from=2025-02&to=2025-05", t), "monthly")
    eq((doc["from"], doc["to"]), ("2025-02", "2025-05"), "monthly echo")
    zero = {"sessions": 0, "present": 0, "late": 0, "absent": 0, "records": 0,
            "attendance_percentage": 0, "average_engagement": 0}
    eq(doc["months"], [
        dict(zero, month="2025-02"),
        # March: m1-a + m1-b: present 2, late 1, absent 3 of 6 records: 3 / 6 = 50 %;
        # (80 + 40 + 0 + 90 + 10 + 5) / 6 = 225 / 6 = 37.5
        {"month": "2025-03", "sessions": 2, "present": 2, "late": 1, "absent": 3, "records": 6,
         "attendance_percentage": 50, "average_engagement": 37.5},
        # April: m1-c and m1-d (2 sessions), present 1, late 1 of 2: 100 %; (70 + 60) / 2 = 65
        {"month": "2025-04", "sessions": 2, "present": 1, "late": 1, "absent": 0, "records": 2,
         "attendance_percentage": 100, "average_engagement": 65},
        dict(zero, month="2025-05"),
    ], "m1 monthly")

    doc = ok_json(get(b, "/classes/m1/monthly/students?from=2025-03&to=2025-04", t),
                  "monthly per student")
    eq(doc["students"], [
        # s-1 March: present twice: 2 / 2 = 100 %; (80 + 90) / 2 = 85; the name of the latest
        # record of the month (m1-b: "Ann", not m1-a's "Ann Old")
        {"student_id": "s-1", "student_name": "Ann", "month": "2025-03", "sessions": 2,
         "attended": 2, "late": 0, "absent": 0, "attendance_percentage": 100,
         "average_engagement": 85},
        # s-1 April: late once: 1 / 1 = 100 %; 70
        {"student_id": "s-1", "student_name": "Ann", "month": "2025-04", "sessions": 1,
         "attended": 1, "late": 1, "absent": 0, "attendance_percentage": 100,
         "average_engagement": 70},
        # s-2 March: late, absent: 1 / 2 = 50 %; (40 + 10) / 2 = 25
        {"student_id": "s-2", "student_name": "Bo", "month": "2025-03", "sessions": 2,
         "attended": 1, "late": 1, "absent": 1, "attendance_percentage": 50,
         "average_engagement": 25},
        # s-2 April: present: 100 %; 60
        {"student_id": "s-2", "student_name": "Bo", "month": "2025-04", "sessions": 1,
         "attended": 1, "late": 0, "absent": 0, "attendance_percentage": 100,
         "average_engagement": 60},
        # s-3 March: absent twice: 0 %; (0 + 5) / 2 = 2.5; no April record, no April row
        {"student_id": "s-3", "student_name": "Cy", "month": "2025-03", "sessions": 2,
         "attended": 0, "late": 0, "absent": 2, "attendance_percentage": 0,
         "average_engagement": 2.5},
    ], "m1 per student and month")


def test_past_at_risk():
    b = past_broker()
    t = b.token(sub="t-m", role="teacher", classes=["m1", "m2", "m3", "m4"])
    base = "/analytics/at-risk?from=2025-03-01&to=2025-04-30"
    # m1: records of m1-a, m1-b, m1-c: present 3, late 2, absent 3 of 8: 5 / 8 = 62.5 %;
    #     engagement (80 + 40 + 0 + 90 + 10 + 5 + 70 + 60) / 8 = 355 / 8 = 44.375 -> 44.38;
    #     4 sessions (m1-d without records counts as a session).
    m1 = {"class_id": "m1", "sessions": 4, "present": 3, "late": 2, "absent": 3, "total": 8,
          "attendance_percentage": 62.5, "average_engagement": 44.38}
    # m2: 2 of 2 present: 100 %, never at risk. m4: no records, never listed.
    # m3: late 1, absent 2: 1 / 3 = 33.33 %; (20 + 0 + 0) / 3 = 6.666... -> 6.67
    m3 = {"class_id": "m3", "sessions": 1, "present": 0, "late": 1, "absent": 2, "total": 3,
          "attendance_percentage": 33.33, "average_engagement": 6.67}
    doc = ok_json(get(b, base, t), "at-risk, default threshold")
    eq((doc["from"], doc["to"], doc["threshold"]), ("2025-03-01", "2025-04-30", 75),
       "at-risk echo: the default threshold is 75")
    eq(doc["classes"], [m3, m1], "below 75 %, lowest first")
    for thr, want in (("62.5", [m3]),         # 62.5 is not below 62.5
                      ("62.51", [m3, m1]),
                      ("30", []),
                      ("100", [m3, m1]),        # m2's 100 % is not below 100
                      ("0", [])):
        doc = ok_json(get(b, base + "&threshold=" + thr, t), f"at-risk threshold {thr}")
        eq(doc["classes"], want, f"at-risk below {thr} %")
        eq(doc["threshold"], float(thr), f"threshold {thr} echoed")
    # Only the caller's token's classes count.
    t13 = b.token(sub="t-x", role="admin", classes=["m2", "m3"])
    eq(ok_json(get(b, base, t13), "at-risk m2, m3")["classes"], [m3], "at-risk of m2, m3 only")
    # A staff token without classes has none at risk.
    t0 = b.token(sub="t-y", role="teacher", class_id=None)
    eq(ok_json(get(b, base, t0), "at-risk without classes")["classes"], [], "no classes")
    # March only: m1 has m1-a, m1-b: 3 / 6 = 50 %; engagement 225 / 6 = 37.5.
    doc = ok_json(get(b, "/analytics/at-risk?from=2025-03-01&to=2025-03-31", t), "March")
    eq(doc["classes"], [m3, {"class_id": "m1", "sessions": 2, "present": 2, "late": 1,
                             "absent": 3, "total": 6, "attendance_percentage": 50,
                             "average_engagement": 37.5}], "at-risk in March")


def test_past_history_and_export():
    b = past_broker()
    s1 = b.token(sub="s-1", role="student", classes=["m1", "m2"])
    # Newest first, every class: m1-c (04-07), m1-b (03-10), m2-a (03-05), m1-a (03-03).
    doc = ok_json(get(b, "/history/students/s-1", s1), "s-1 history")
    eq((doc["student_id"], doc["class_id"], doc["from"], doc["to"], doc["limit"]),
       ("s-1", None, None, None, 100), "history echo")
    eq([(r["date"], r["session_id"], r["class_id"], r["status"], r["engagement_percentage"])
        for r in doc["records"]],
       [("2025-04-07", "m1-c", "m1", "late", 70), ("2025-03-10", "m1-b", "m1", "present", 90),
        ("2025-03-05", "m2-a", "m2", "present", 50), ("2025-03-03", "m1-a", "m1", "present", 80)],
       "s-1 history, newest first")
    r = doc["records"][0]
    eq((r["student_name"], r["source"], r["frames_analyzed"], r["trust_score"],
        r["total_class_duration_seconds"], r["engagement_duration_seconds"], r["started_at"],
        r["ended_at"]),
       ("Ann", "manual", 12, 95, 3600, 2520, "2025-04-07T09:00:00.000Z",
        "2025-04-07T10:00:00.000Z"), "a history record's fields (70 % of 3600 s = 2520 s)")
    for query, want in (("?class_id=m1", ["m1-c", "m1-b", "m1-a"]),
                        ("?limit=2", ["m1-c", "m1-b"]),
                        ("?from=2025-03-04&to=2025-03-31", ["m1-b", "m2-a"]),
                        ("?from=2025-03-05", ["m1-c", "m1-b", "m2-a"]),
                        ("?to=2025-03-05", ["m2-a", "m1-a"]),
                        ("?class_id=m2&to=2025-03-04", [])):
        doc = ok_json(get(b, "/history/students/s-1" + query, s1), f"history {query}")
        eq([r["session_id"] for r in doc["records"]], want, f"s-1 history {query}")
    # The teacher of m1 sees s-1's m1 records only.
    t = b.token(sub="t-m", role="teacher", class_id="m1")
    doc = ok_json(get(b, "/history/students/s-1?class_id=m1", t), "s-1 history for staff")
    eq([r["session_id"] for r in doc["records"]], ["m1-c", "m1-b", "m1-a"], "staff view")
    refused(get(b, "/history/students/s-1?class_id=m2", t), 403, "staff of m1 reading m2")

    # The export, by date, session, student; JSON and CSV hold the same rows.
    path = "/classes/m1/records?from=2025-03-01&to=2025-04-30"
    recs = ok_json(get(b, path, t), "export JSON")["records"]
    eq([(r["date"], r["session_id"], r["student_id"], r["status"]) for r in recs],
       [("2025-03-03", "m1-a", "s-1", "present"), ("2025-03-03", "m1-a", "s-2", "late"),
        ("2025-03-03", "m1-a", "s-3", "absent"), ("2025-03-10", "m1-b", "s-1", "present"),
        ("2025-03-10", "m1-b", "s-2", "absent"), ("2025-03-10", "m1-b", "s-3", "absent"),
        ("2025-04-07", "m1-c", "s-1", "late"), ("2025-04-07", "m1-c", "s-2", "present")],
       "export rows")
    r = get(b, path, t, headers={"Accept": "text/csv"})
    eq(r.status, 200, "export CSV")
    eq(r.headers.get("content-disposition"),
       'attachment; filename="m1-2025-03-01-2025-04-30.csv"', "export file name")
    rows = list(csv.reader(io.StringIO(r.body.decode(), newline="")))
    eq(",".join(rows[0]), CSV_HEADER, "export CSV header")
    eq([(x[0], x[1], x[3], x[4], x[5], x[7], x[8], x[10], x[11]) for x in rows[1:]],
       [(j["date"], j["session_id"], j["student_id"], j["student_name"], j["status"],
         f"{j['engagement_percentage']:.2f}", f"{j['engagement_duration_seconds']:.3f}",
         str(j["frames_analyzed"]), str(j["trust_score"])) for j in recs],
       "export: CSV rows against JSON rows")
    eq(rows[1][7:9], ["80.00", "2880.000"], "CSV figures: 80 %, 80 % of 3600 s")


async def test_accounts_off():
    """With accounts off (no key to sign with: an RS256 public key only) the class
    management endpoints answer 404, and the reports still answer from tokens alone."""
    priv, pub = gen_rsa()
    b = Broker(secret=None)
    key = os.path.join(b.dir, "rsa.pub.pem")
    with open(key, "wb") as f:
        f.write(pub)
    b.args += ["--jwt-public-key", key]
    b.start()
    t = sign(make_claims(sub="t-1", role="teacher", class_id="c1"), priv, alg="RS256")
    eq(get(b, "/classes/c1", t).status, 404, "class management with accounts off")
    doc = ok_json(get(b, "/classes/c1/sessions", t), "sessions with accounts off")
    eq(doc["sessions"], [], "no sessions yet")
    ok_json(get(b, "/classes/c1/monthly/students", t), "monthly students with accounts off")
    s = sign(make_claims(sub="s-1", role="student", class_id="c1"), priv, alg="RS256")
    refused(get(b, "/classes/c1/records", s), 403, "records for a student, accounts off")
    ok_json(get(b, "/history/students/s-1?" + urllib.parse.urlencode({"class_id": "c1"}), s),
            "own history with accounts off")


if __name__ == "__main__":
    run_tests(globals())
