# SPDX-License-Identifier: MIT
"""Finalized attendance reaches MongoDB exactly once (issue 5), against the project's
wire-protocol test server (tests/support/mongo_server.c, started as $ROLLCALL_MONGO_SERVER):
fields and BSON types, no duplicates from repeated DONEs or retried writes, an outage during
DONE, kill -9 with records unshipped, write errors retried and logged once per distinct
error, the report read from MongoDB, and clear start-up failures. Tags: needs:mongo."""

import atexit
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Broker, Client, check, data_of, eq, fail, http_get, records_by_id,  # noqa: E402
                     run_tests)

MONGO_BIN = os.environ.get("ROLLCALL_MONGO_SERVER", "")
CLASS = "mongo-1"
DB = "rollcall_e2e"
_servers = []


class FakeMongo:
    """One rc_mongo_server process; steered through its text control port."""

    def __init__(self):
        check(MONGO_BIN and os.access(MONGO_BIN, os.X_OK),
              f"ROLLCALL_MONGO_SERVER is not an executable: {MONGO_BIN!r}")
        self.dir = tempfile.mkdtemp(prefix="rollcall-mongo-")
        pf, cf = os.path.join(self.dir, "port"), os.path.join(self.dir, "control")
        self.proc = subprocess.Popen([MONGO_BIN, "--port-file", pf, "--control-port-file", cf],
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        _servers.append(self)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if os.path.exists(pf) and os.path.exists(cf):
                self.port = int(open(pf).read())
                self.control = int(open(cf).read())
                return
            check(self.proc.poll() is None, "rc_mongo_server exited during start-up")
            time.sleep(0.02)
        fail("rc_mongo_server wrote no port files within 10 s")

    def uri(self, db=DB, userinfo=""):
        return f"mongodb://{userinfo}127.0.0.1:{self.port}/{db}"

    def ctl(self, line):
        with socket.create_connection(("127.0.0.1", self.control), timeout=5) as s:
            s.sendall(line.encode() + b"\n")
            out = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    return out.decode()
                out += chunk

    def docs(self, coll, db=DB):
        out = []
        for line in self.ctl("dump").splitlines():
            d = json.loads(line)
            if d["db"] == db and d["coll"] == coll:
                out.append(d["doc"])
        return out

    def count(self, command):
        return int(self.ctl(f"count {command}").strip())

    def stop(self):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        shutil.rmtree(self.dir, ignore_errors=True)


@atexit.register
def _stop_servers():
    for s in _servers:
        s.stop()


def mongo_broker(m, **kw):
    env = {"ROLLCALL_MONGODB_URI": m.uri(), "ROLLCALL_MONGODB_TIMEOUT_MS": "500"}
    env.update(kw.pop("env", {}))
    return Broker(env=env, **kw)


async def connect(b, sub, role, name=None):
    return await Client.open(b, b.token(sub=sub, role=role, class_id=CLASS, name=name),
                             label=f"{role}:{sub}")


async def finalize(b):
    """Teacher, two connected students and one marked offline; DONE acknowledged."""
    t = await connect(b, "t-1", "teacher")
    await connect(b, "s-a", "student", name="Ann")
    await connect(b, "s-b", "student", name="Ben")
    sid = data_of(await t.call("SESSION_START", {}))["session_id"]
    await t.call("ATTENDANCE_MARKED", {"student_id": "s-a", "status": "present"})
    await t.call("ATTENDANCE_MARKED", {"student_id": "s-c", "status": "late", "name": "Cat"})
    fin = data_of(await t.call("DONE", {}, timeout=10))
    eq(fin.get("session_id"), sid, "ATTENDANCE_FINALIZED session_id")
    eq(len(fin.get("records", [])), 3, "records acknowledged by DONE")
    return t, fin


def wait_for(what, cond, timeout=15.0):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = cond()
        if last:
            return last
        time.sleep(0.1)
    fail(f"{what}: not within {timeout:.0f}s (last: {last!r})")


def shipped(m, n_records, n_days=1):
    def cond():
        a, d = m.docs("attendance"), m.docs("attendance_daily")
        return (a, d) if len(a) >= n_records and len(d) >= n_days else None
    return cond


def report(b, sid):
    tok = b.token(sub="t-1", role="teacher", class_id=CLASS)
    return http_get(b.port, f"/attendance/report/{CLASS}/{sid}",
                    headers={"Authorization": "Bearer " + tok})


def header(resp, name):
    return resp.headers.get(name)


def check_exactly_once(m, fin):
    att, daily = m.docs("attendance"), m.docs("attendance_daily")
    keys = sorted((d["session_id"], d["student_id"]) for d in att)
    eq(keys, sorted((fin["session_id"], r["student_id"]) for r in fin["records"]),
       "attendance documents, one per (session_id, student_id)")
    eq(len(daily), 1, "attendance_daily documents")


async def test_records_arrive_with_fields_and_bson_types():
    m = FakeMongo()
    b = mongo_broker(m).start()
    t, fin = await finalize(b)
    att, daily = wait_for("records in MongoDB", shipped(m, 3))
    check_exactly_once(m, fin)
    want = records_by_id(fin)
    for d in att:
        w = want[d["student_id"]]
        for f in ("student_id", "student_name", "status", "source"):
            eq(d.get(f), w[f], f"attendance.{f} of {d['student_id']}")
        eq(d.get("class_id"), CLASS, "attendance.class_id")
        eq(d.get("session_id"), fin["session_id"], "attendance.session_id")
        for f in ("started_at", "ended_at", "finalized_at"):
            check(isinstance(d.get(f), dict) and "$date" in d[f],
                  f"attendance.{f} is a BSON date: {d.get(f)!r}")
        for f in ("total_class_duration_seconds", "engagement_duration_seconds",
                  "engagement_percentage"):
            check(isinstance(d.get(f), dict) and "$numberDouble" in d[f],
                  f"attendance.{f} is a BSON double: {d.get(f)!r}")
            if f in w:
                eq(float(d[f]["$numberDouble"]), w[f], f"attendance.{f} value")
        check(isinstance(d.get("frames_analyzed"), dict) and
              "$numberLong" in d["frames_analyzed"], "attendance.frames_analyzed is an int64")
        check(isinstance(d.get("trust_score"), dict) and
              "$numberInt" in d["trust_score"] and
              0 <= int(d["trust_score"]["$numberInt"]) <= 100,
              f"attendance.trust_score is an int32 in 0..100: {d.get('trust_score')!r}")
    day = daily[0]
    eq(day.get("class_id"), CLASS, "attendance_daily.class_id")
    eq(day.get("teacher_id"), "t-1", "attendance_daily.teacher_id")
    eq(day.get("date"), fin.get("date"), "attendance_daily.date (YYYY-MM-DD)")
    summ = day.get("summary", {})
    for k in ("present", "absent", "late", "total"):
        eq(int(summ[k]["$numberInt"]), fin["summary"][k], f"attendance_daily.summary.{k}")
    check("$numberDouble" in summ.get("percentage", {}), "summary.percentage is a double")
    mt = b.metrics()
    wait_for("metrics show the day shipped",
             lambda: b.metrics().get("rollcall_mongodb_shipped_records_total") == 3.0)
    mt = b.metrics()
    eq(mt.get("rollcall_mongodb_backlog_records"), 0.0, "backlog after shipping")
    eq(mt.get("rollcall_mongodb_up"), 1.0, "rollcall_mongodb_up")


async def test_done_twice_and_restart_never_duplicate():
    m = FakeMongo()
    b = mongo_broker(m).start()
    t, fin = await finalize(b)
    again = data_of(await t.call("DONE", {}, timeout=10))
    eq(again.get("already_finalized"), True, "second DONE")
    wait_for("records in MongoDB", shipped(m, 3))
    b.restart()        # kill -9 and start on the same journal
    t2 = await connect(b, "t-1", "teacher")
    await connect(b, "s-a", "student", name="Ann")
    again = data_of(await t2.call("DONE", {}, timeout=10))
    eq(again.get("already_finalized"), True, "DONE after the restart")
    time.sleep(1.0)
    check_exactly_once(m, fin)


async def test_mongodb_down_during_done_then_back():
    m = FakeMongo()
    b = mongo_broker(m).start()
    eq(m.ctl("down").strip(), "ok", "control: down")
    t, fin = await finalize(b)       # acknowledged from the journal alone
    wait_for("backlog in /metrics",
             lambda: b.metrics().get("rollcall_mongodb_backlog_records") == 3.0)
    # The records reach the backlog before the shipper's first attempt has failed: wait for
    # that failure to be counted rather than assume it already was.
    wait_for("an unreachable failure counted",
             lambda: (b.metrics().get("rollcall_mongodb_ship_failures_total",
                                      kind="unreachable") or 0) >= 1)
    mt = b.metrics()
    eq(mt.get("rollcall_mongodb_backlog_days"), 1.0, "backlog days while down")
    r = http_get(b.port, "/readyz")
    eq(r.status, 200, "/readyz stays 200 while only the backlog grows")
    body = r.body.decode()
    check("mongodb_backlog_records=3" in body and "mongodb_shipping=failing" in body,
          f"/readyz body shows the backlog: {body!r}")
    rep = report(b, fin["session_id"])
    eq(rep.status, 200, "report while MongoDB is down")
    eq(header(rep, "x-rollcall-report-source"), "journal", "report source while down")
    eq(len(m.docs("attendance")), 0, "nothing in MongoDB while it is down")
    eq(m.ctl("up").strip(), "ok", "control: up")
    wait_for("records after MongoDB came back", shipped(m, 3), timeout=20)
    check_exactly_once(m, fin)
    wait_for("backlog drained",
             lambda: b.metrics().get("rollcall_mongodb_backlog_records") == 0.0)
    eq(b.metrics().get("rollcall_mongodb_backlog_oldest_age_seconds"), 0.0, "oldest age")


async def test_kill9_with_unshipped_records_ships_once_after_restart():
    m = FakeMongo()
    b = mongo_broker(m).start()
    m.ctl("down")
    t, fin = await finalize(b)
    b.kill9()
    await t.close()
    m.ctl("up")
    # The first write after the restart is applied but its reply is lost: the retry must
    # not duplicate anything.
    m.ctl("drop 1 update")
    b.start()
    wait_for("records after the restart", shipped(m, 3), timeout=20)
    wait_for("day marked shipped",
             lambda: b.metrics().get("rollcall_mongodb_backlog_days") == 0.0)
    check_exactly_once(m, fin)
    check(m.count("update") >= 3, "the dropped write was retried")
    b.restart()        # nothing is left to ship: a restart sends nothing again
    time.sleep(1.0)
    check_exactly_once(m, fin)


async def test_write_errors_retried_metered_and_logged_once():
    m = FakeMongo()
    b = mongo_broker(m).start()
    m.ctl("write-error 121 -1 Document failed validation")
    t, fin = await finalize(b)
    wait_for("several write failures",
             lambda: b.metrics().get("rollcall_mongodb_ship_failures_total", kind="write") >= 3)
    lines = [l for l in b.log().splitlines() if "mongodb shipping failed" in l]
    eq(len(lines), 1, f"log lines for one distinct error: {lines}")
    check("Document failed validation" in lines[0], f"the error is named: {lines[0]}")
    mt = b.metrics()
    eq(mt.get("rollcall_mongodb_up"), 0.0, "rollcall_mongodb_up while failing")
    text = http_get(b.port, "/metrics").body.decode()
    check('rollcall_mongodb_last_error_timestamp_seconds{error="' in text and
          "Document failed validation" in text, "the last error in /metrics")
    eq(mt.get("rollcall_mongodb_backlog_records"), 3.0, "backlog while failing")
    m.ctl("write-error 0 0 -")
    wait_for("records after the errors stop", shipped(m, 3), timeout=20)
    check_exactly_once(m, fin)
    check("mongodb shipping recovered" in b.log(), "recovery logged")


async def test_report_reads_from_mongodb():
    m = FakeMongo()
    b = mongo_broker(m).start()
    t, fin = await finalize(b)
    wait_for("records in MongoDB", shipped(m, 3))
    wait_for("day marked shipped",
             lambda: b.metrics().get("rollcall_mongodb_backlog_days") == 0.0)
    finds = m.count("find")
    r = report(b, fin["session_id"])
    eq(r.status, 200, "report")
    eq(header(r, "x-rollcall-report-source"), "mongodb", "report source")
    check(m.count("find") >= finds + 2, "the report queried MongoDB")
    rep = r.json()
    eq(sorted(records_by_id(rep)), sorted(records_by_id(fin)), "students in the report")
    for sid, w in records_by_id(fin).items():
        g = records_by_id(rep)[sid]
        for f in ("student_name", "status", "source", "engagement_percentage"):
            eq(g.get(f), w.get(f), f"report {sid}.{f} (from MongoDB)")
    for k in ("present", "absent", "late", "total"):
        eq(rep["summary"][k], fin["summary"][k], f"report summary.{k}")
    # The same JSON the journal gives: compare with a broker without MongoDB on that data.
    b.stop()
    j = Broker(data_dir=b.data_dir, secret=b.secret).start()
    r2 = report(j, fin["session_id"])
    eq(r2.status, 200, "journal report")
    eq(r2.json(), rep, "the report from MongoDB equals the report from the journal")


def test_bad_uri_and_bad_credentials_fail_at_start():
    m = FakeMongo()
    for uri, want in (("http://127.0.0.1/x", "ROLLCALL_MONGODB_URI"),
                      (f"mongodb://127.0.0.1:{m.port}/", "ROLLCALL_MONGODB_DATABASE")):
        b = Broker(env={"ROLLCALL_MONGODB_URI": uri})
        b.start(wait=False)
        b.expect_exit = True
        rc = b.wait_exit(10)
        check(rc not in (None, 0), f"start with {uri!r} fails (rc={rc})")
        check(want in b.log(), f"the message names {want}: {b.tail(5)}")
    m.ctl("auth 1")
    b = Broker(env={"ROLLCALL_MONGODB_URI": m.uri(userinfo="rollcall:wrong@")})
    b.start(wait=False)
    b.expect_exit = True
    rc = b.wait_exit(10)
    check(rc not in (None, 0), f"start with refused credentials fails (rc={rc})")
    log = b.log()
    check("ROLLCALL_MONGODB_URI" in log and "Authentication failed" in log,
          f"the message says the credentials were refused: {b.tail(5)}")
    check("wrong" not in log, "the password never appears in the log")


if __name__ == "__main__":
    run_tests(globals())
