# SPDX-License-Identifier: MIT
"""History and analytics across instances (PROTOCOL.md "History and analytics"): two brokers
on one Redis ship their finalized days to one MongoDB (the project's wire-protocol test
server, tests/support/mongo_server.c). Each journal holds only the sessions its own broker
finalized; MongoDB holds both. While MongoDB answers, the analytics of either broker count
the other's sessions too (x-rollcall-report-source: mongodb); with MongoDB down they come
from the local journal alone (x-rollcall-report-source: journal). Tags: needs:mongo,
needs:redis."""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Broker, Client, RedisServer, check, data_of, eq, fail,  # noqa: E402
                     http_get, random_secret, run_tests)
from test_mongo import FakeMongo  # noqa: E402

CLASS_A, CLASS_B = "rs-a", "rs-b"


def pair():
    redis = RedisServer().start()
    mongo = FakeMongo()
    secret = random_secret()
    env = {"ROLLCALL_REDIS_URL": redis.url, "ROLLCALL_MONGODB_URI": mongo.uri(),
           "ROLLCALL_MONGODB_TIMEOUT_MS": "500"}
    a = Broker(secret=secret, env=env).start()
    b = Broker(secret=secret, env=env).start()
    return a, b, mongo


async def finalize(b, cls, late):
    """One session of cls on broker b: s-1 present, s-2 late or absent."""
    t = await Client.open(b, b.token(sub="t-1", role="teacher", class_id=cls),
                          label=f"teacher:{cls}")
    sid = data_of(await t.call("SESSION_START", {}))["session_id"]
    await t.call("ATTENDANCE_MARKED", {"student_id": "s-1", "status": "present", "name": "Ann"})
    await t.call("ATTENDANCE_MARKED", {"student_id": "s-2", "status": "late" if late else "absent",
                                       "name": "Ben"})
    fin = data_of(await t.call("DONE", {}, timeout=10))
    eq(len(fin.get("records", [])), 2, f"records finalized in {cls}")
    await t.close()
    return sid


def wait_shipped(mongo, days, timeout=20.0):
    deadline = time.monotonic() + timeout
    n = 0
    while time.monotonic() < deadline:
        n = len(mongo.docs("attendance_daily"))
        if n >= days and len(mongo.docs("attendance")) >= 2 * days:
            return
        time.sleep(0.1)
    fail(f"{days} days in MongoDB: only {n} within {timeout:.0f}s")


def get(b, path, token):
    r = http_get(b.port, path, headers={"Authorization": "Bearer " + token})
    eq(r.status, 200, f"GET {path} on :{b.port} ({r.body[:300]!r})")
    return r, r.json()


def source(r):
    return r.headers.get("x-rollcall-report-source")


async def test_analytics_count_every_instance_while_mongodb_answers():
    a, b, mongo = pair()
    sid_a = await finalize(a, CLASS_A, late=False)  # 1 of 2 attended: 50 %
    sid_b = await finalize(b, CLASS_B, late=True)   # 2 of 2 attended: 100 %
    wait_shipped(mongo, 2)

    staff = a.token(sub="t-1", role="teacher", classes=[CLASS_A, CLASS_B])
    student = a.token(sub="s-1", role="student", classes=[CLASS_A, CLASS_B])

    # At risk below 100 %: A's class only; at 101 % would be refused, so ask the figures of
    # both through the threshold 100 and the sessions of B's class instead.
    r, doc = get(a, "/analytics/at-risk?threshold=100", staff)
    eq(source(r), "mongodb", "at-risk source on A")
    eq([c["class_id"] for c in doc["classes"]], [CLASS_A], "classes at risk")
    eq(doc["classes"][0]["attendance_percentage"], 50.0, "A's class figure")

    # B's session, finalized on B only, is read through A.
    r, doc = get(a, f"/classes/{CLASS_B}/sessions", staff)
    eq(source(r), "mongodb", "sessions source on A")
    eq([s["session_id"] for s in doc["sessions"]], [sid_b], "B's session read through A")
    eq(doc["sessions"][0]["attendance_percentage"], 100.0, "B's session figure")

    # The student's history across classes holds both sessions, from either broker.
    for br in (a, b):
        r, doc = get(br, "/history/students/s-1", student)
        eq(source(r), "mongodb", f"history source on :{br.port}")
        eq(sorted(x["session_id"] for x in doc["records"]), sorted([sid_a, sid_b]),
           f"history on :{br.port}")
        check(all(x["status"] == "present" for x in doc["records"]), "s-1 was present")

    # MongoDB down: each broker answers from its own journal, with its own session only.
    eq(mongo.ctl("down").strip(), "ok", "control: down")
    r, doc = get(a, "/history/students/s-1", student)
    eq(source(r), "journal", "history source on A with MongoDB down")
    eq([x["session_id"] for x in doc["records"]], [sid_a], "A's journal alone")
    r, doc = get(b, "/history/students/s-1", student)
    eq(source(r), "journal", "history source on B with MongoDB down")
    eq([x["session_id"] for x in doc["records"]], [sid_b], "B's journal alone")
    r, doc = get(a, f"/classes/{CLASS_B}/sessions", staff)
    eq(source(r), "journal", "sessions source on A with MongoDB down")
    eq(doc["sessions"], [], "A never finalized B's class")
    r, doc = get(a, "/analytics/at-risk?threshold=100", staff)
    eq(source(r), "journal", "at-risk source on A with MongoDB down")
    eq([c["class_id"] for c in doc["classes"]], [CLASS_A], "classes at risk from the journal")
    check("mongodb analytics failed; reading the journal" in a.log(),
          "the fallback is logged")

    # Back up: MongoDB answers again.
    eq(mongo.ctl("up").strip(), "ok", "control: up")
    deadline = time.monotonic() + 10
    while True:
        r, doc = get(a, "/history/students/s-1", student)
        if source(r) == "mongodb" or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    eq(source(r), "mongodb", "history source on A once MongoDB is back")
    eq(len(doc["records"]), 2, "both sessions again")


if __name__ == "__main__":
    run_tests(globals())
