# SPDX-License-Identifier: MIT
"""Classes and rosters (docs/PROTOCOL.md "Classes"): a teacher creates a class and gets a
join code, a student joins with it and gets a token naming the class, teachers see the
roster and students do not, another teacher's class does not exist for you, codes can be
regenerated, students leave and are removed. The roster is authoritative in the live
channel: a student not on it is refused even with a token naming the class, a mark for them
is refused, TODAY_SUMMARY and DONE list every rostered student (absent ones too), and a
removed student is taken out of the channel at once, told so with CLASS_REMOVED (which no
one else receives)."""

import asyncio
import json
import os
import re
import sys

import jwt as pyjwt
import websockets

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (HOST, Broker, Client, check, data_of, eq, fail,  # noqa: E402
                     http_get, records_by_id, run_tests, students_by_id)

PW = "correct horse battery"
CODE_RE = re.compile(r"^[ABCDEFGHJKMNPQRSTUVWXYZ23456789]{6}$")


def call(b, method, path, body=None, token=None, raw=None):
    headers = {}
    if token:
        headers["Authorization"] = "Bearer " + token
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    if data is not None:
        headers["Content-Type"] = "application/json"
    r = http_get(b.port, path, headers=headers, method=method, body=data)
    doc = json.loads(r.body) if r.body else None
    return r.status, doc


def ok(b, method, path, body=None, token=None, status=200):
    st, doc = call(b, method, path, body, token)
    eq(st, status, f"{method} {path} {body}: {doc}")
    return doc


def account(b, email, role, name=None):
    doc = ok(b, "POST", "/auth/register", {"name": name or email.split("@")[0], "email": email,
                                            "password": PW, "role": role}, status=201)
    return doc["user"]["id"], doc["access_token"]


def claims(b, tok):
    return pyjwt.decode(tok, b.secret, algorithms=["HS256"])


def token_classes(b, tok):
    c = claims(b, tok)
    return sorted(c.get("classes") or ([c["class_id"]] if "class_id" in c else []))


def broker(**env):
    # Accounts are per instance: they are off with Redis, so these brokers run without it.
    env = {"ROLLCALL_REDIS_URL": "", **{k: str(v) for k, v in env.items()}}
    return Broker(env=env).start()


def test_class_lifecycle_over_http():
    b = broker()
    t_id, t_tok = account(b, "teach@school.example", "teacher", "Ms Teach")
    o_id, o_tok = account(b, "other@school.example", "teacher", "Mr Other")
    s_id, s_tok = account(b, "stu@school.example", "student", "Stu Dent")

    # Create: the class, its code, and a token that names it.
    doc = ok(b, "POST", "/classes", {"name": "Algebra 1", "description": "Period 3",
                                      "schedule": {"days": ["mon", "wed"], "start": "09:00"}},
             t_tok, status=201)
    cls = doc["class"]
    cid = cls["id"]
    check(CODE_RE.match(cls["join_code"]), f"join code {cls['join_code']!r}")
    eq((cls["name"], cls["description"], cls["role"]), ("Algebra 1", "Period 3", "teacher"),
       "created class")
    eq(cls["schedule"], {"days": ["mon", "wed"], "start": "09:00"}, "schedule")
    eq(token_classes(b, doc["access_token"]), [cid], "the creator's new token names the class")
    t_tok = doc["access_token"]

    # Join with the code as a person types it; the token names the class.
    code = cls["join_code"]
    doc = ok(b, "POST", "/classes/join", {"code": f"  {code.lower()} "}, s_tok)
    eq(doc["class"]["id"], cid, "joined class")
    check("join_code" not in doc["class"], "a student is not given the join code")
    eq(token_classes(b, doc["access_token"]), [cid], "the student's token names the class")
    s_tok = doc["access_token"]
    ok(b, "POST", "/classes/join", {"code": code}, s_tok)  # twice is not an error

    # Lists: each sees their own, a student without the code.
    mine = ok(b, "GET", "/classes", token=t_tok)["classes"]
    eq([(c["id"], c["role"], c["join_code"]) for c in mine], [(cid, "teacher", code)],
       "teacher's classes")
    theirs = ok(b, "GET", "/classes", token=s_tok)["classes"]
    eq([(c["id"], c["role"]) for c in theirs], [(cid, "student")], "student's classes")
    check("join_code" not in theirs[0], "no code in a student's list")
    eq(ok(b, "GET", "/classes", token=o_tok)["classes"], [], "another teacher's list")

    # One class: the roster for its teachers only.
    one = ok(b, "GET", f"/classes/{cid}", token=t_tok)
    roster = {m["id"]: m for m in one["roster"]}
    eq(set(roster), {t_id, s_id}, "roster members")
    eq((roster[s_id]["role"], roster[s_id]["email"], roster[s_id]["name"]),
       ("student", "stu@school.example", "Stu Dent"), "roster entry")
    eq(one["roster"][0]["id"], t_id, "teachers first")
    seen = ok(b, "GET", f"/classes/{cid}", token=s_tok)
    check("roster" not in seen and "join_code" not in seen, f"a student sees {seen}")

    # Another teacher: the class does not exist for them.
    for method, path, body in (("GET", f"/classes/{cid}", None),
                               ("PUT", f"/classes/{cid}", {"name": "Mine now"}),
                               ("POST", f"/classes/{cid}/join-code", None),
                               ("DELETE", f"/classes/{cid}/students/{s_id}", None)):
        st, d = call(b, method, path, body, o_tok)
        eq(st, 404, f"{method} {path} by another teacher: {d}")
    # A student of the class may read it, not change it.
    for method, path, body in (("PUT", f"/classes/{cid}", {"name": "Mine now"}),
                               ("POST", f"/classes/{cid}/join-code", None),
                               ("DELETE", f"/classes/{cid}/students/{t_id}", None)):
        st, d = call(b, method, path, body, s_tok)
        eq(st, 403, f"{method} {path} by a student: {d}")

    # Update, clear the schedule.
    upd = ok(b, "PUT", f"/classes/{cid}", {"name": "Algebra I", "schedule": None}, t_tok)
    eq((upd["name"], upd["description"], upd["schedule"]), ("Algebra I", "Period 3", None),
       "updated class")

    # A new code: the old one no longer finds the class.
    new = ok(b, "POST", f"/classes/{cid}/join-code", token=t_tok)["join_code"]
    check(CODE_RE.match(new) and new != code, f"new code {new!r}")
    x_id, x_tok = account(b, "late@school.example", "student")
    st, d = call(b, "POST", "/classes/join", {"code": code}, x_tok)
    eq(st, 404, f"the old code: {d}")
    ok(b, "POST", "/classes/join", {"code": new}, x_tok)

    # Roles: a student creates nothing, a teacher joins nothing by code.
    st, d = call(b, "POST", "/classes", {"name": "Nope"}, s_tok)
    eq(st, 403, f"a student creating a class: {d}")
    st, d = call(b, "POST", "/classes/join", {"code": new}, o_tok)
    eq(st, 403, f"a teacher joining by code: {d}")

    # Leave and remove.
    st, _ = call(b, "POST", f"/classes/{cid}/leave", token=x_tok)
    eq(st, 204, "leave")
    st, d = call(b, "GET", f"/classes/{cid}", token=x_tok)
    eq(st, 404, f"a class one left: {d}")
    st, _ = call(b, "DELETE", f"/classes/{cid}/students/{s_id}", token=t_tok)
    eq(st, 204, "remove")
    st, d = call(b, "DELETE", f"/classes/{cid}/students/{s_id}", token=t_tok)
    eq(st, 404, f"remove twice: {d}")
    st, d = call(b, "DELETE", f"/classes/{cid}/students/{t_id}", token=t_tok)
    eq(st, 403, f"removing a teacher: {d}")
    refreshed = ok(b, "POST", "/auth/refresh", token=s_tok)["access_token"]
    eq(token_classes(b, refreshed), [], "a removed student's refreshed token")
    roster = ok(b, "GET", f"/classes/{cid}", token=t_tok)["roster"]
    eq([m["id"] for m in roster], [t_id], "roster after leave and remove")


def test_bad_class_input():
    b = broker()
    _, t_tok = account(b, "t@school.example", "teacher")
    for body, words in (({}, "name"), ({"name": ""}, "invalid"), ({"name": "x" * 129}, "long"),
                        ({"name": "a\u0007b"}, "invalid"), ({"name": "A", "schedule": "mon"},
                                                            "schedule"),
                        ({"name": "A", "schedule": {"x": "y" * 5000}}, "4096"),
                        ({"name": "A", "extra": 1}, "unknown field"),
                        ({"name": "A", "description": "d" * 2001}, "long")):
        st, d = call(b, "POST", "/classes", body, t_tok)
        eq(st, 400, f"create {str(body)[:60]}: {d}")
        check(words in d["error"], f"{d['error']!r} should say {words!r}")
    st, d = call(b, "POST", "/classes", {"name": "A"})
    eq(st, 401, "no token")
    cid = ok(b, "POST", "/classes", {"name": "A"}, t_tok, status=201)["class"]["id"]
    st, d = call(b, "PUT", f"/classes/{cid}", {}, t_tok)
    eq(st, 400, f"an empty update: {d}")
    for code in ("", "ABC", "ABCDEFG", "O0I1L5", 5):
        st, d = call(b, "POST", "/classes/join", {"code": code}, t_tok)
        check(st in (400, 404), f"join code {code!r}: {st} {d}")
    st, d = call(b, "GET", "/classes/not%20an%20id", token=t_tok)
    eq(st, 404, "a class id outside the id alphabet")
    st, d = call(b, "PATCH", "/classes", raw=b"{}", token=t_tok)
    eq(st, 405, "PATCH /classes")
    st, d = call(b, "GET", f"/classes/{cid}/nothing", token=t_tok)
    eq(st, 404, "unknown sub-path")


async def closed_with(b, token, code):
    """Opens the WebSocket and expects the broker to close it with `code` before WELCOME."""
    url = f"ws://{HOST}:{b.port}/ws?token={token}"
    async with websockets.connect(url, ping_interval=None, close_timeout=2) as ws:
        try:
            while True:
                m = json.loads(await asyncio.wait_for(ws.recv(), 5))
                check(m.get("event") != "WELCOME", f"WELCOME sent to a refused student: {m}")
        except websockets.exceptions.ConnectionClosed as e:
            eq(e.code, code, f"close code ({e.reason!r})")


async def test_roster_rules_the_live_channel():
    b = broker(ROLLCALL_ATTENDANCE_THRESHOLD=10)
    t_id, t_tok = account(b, "teach@school.example", "teacher", "Ms Teach")
    doc = ok(b, "POST", "/classes", {"name": "Biology"}, t_tok, status=201)
    cid, code, t_tok = doc["class"]["id"], doc["class"]["join_code"], doc["access_token"]
    joined = {}
    for who in ("ann", "ben", "cat"):
        sid, tok = account(b, f"{who}@school.example", "student", who.title())
        joined[who] = (sid, ok(b, "POST", "/classes/join", {"code": code}, tok)["access_token"])
    out_id, _ = account(b, "out@school.example", "student", "Outsider")

    # A token naming the class (signed with the broker's key) does not let a student in
    # whom the roster does not have.
    await closed_with(b, b.token(sub=out_id, role="student", class_id=cid), 4004)
    # With another class beside it, only the rostered one is open to them.
    c = await Client.open(b, b.token(sub=out_id, role="student", classes=[cid, "free-class"]))
    eq(c.welcome["data"]["classes"], ["free-class"], "classes open to a student off the roster")
    await c.error("MY_ATTENDANCE", {"class_id": cid}, code="CLASS_FORBIDDEN")
    await c.close()

    teacher = await Client.open(b, t_tok, label="teacher")
    ann = await Client.open(b, joined["ann"][1], label="ann")
    ben = await Client.open(b, joined["ben"][1], label="ben")
    eq(ann.welcome["data"]["classes"], [cid], "a rostered student's classes")
    await teacher.call("SESSION_START", {"class_id": cid})

    # Marks: only for students on the roster.
    await teacher.error("ATTENDANCE_MARKED", {"class_id": cid, "studentId": out_id,
                                              "status": "present"}, code="NOT_ON_ROSTER")
    await teacher.call("ATTENDANCE_MARKED", {"class_id": cid, "studentId": joined["ann"][0],
                                             "status": "present"})

    # TODAY_SUMMARY lists the whole roster: cat never connected.
    summ = await teacher.call("TODAY_SUMMARY", {"class_id": cid})
    by = students_by_id(data_of(summ))
    eq(set(by), {joined[w][0] for w in ("ann", "ben", "cat")}, "students in the summary")
    eq((by[joined["cat"][0]]["status"], by[joined["cat"][0]]["online"]), ("unmarked", False),
       "a rostered student who never came")
    eq(by[joined["cat"][0]]["name"], "Cat", "their name comes from the roster")
    eq(data_of(summ)["counts"]["total"], 3, "summary total")

    # Removing ben takes him out of the channel at once; nobody else hears of it.
    ann.clear()
    teacher.clear()
    st, _ = call(b, "DELETE", f"/classes/{cid}/students/{joined['ben'][0]}", token=t_tok)
    eq(st, 204, "remove ben")
    m = await ben.recv_event("CLASS_REMOVED")
    eq(data_of(m)["class_id"], cid, "CLASS_REMOVED names the class")
    eq(await ben.wait_closed(), 4004, "ben's only class is gone: closed")
    await ann.expect_no_message(0.5, event="CLASS_REMOVED")
    await teacher.expect_no_message(0.3, event="CLASS_REMOVED")
    # ...and he cannot come back with the token that still names the class.
    await closed_with(b, joined["ben"][1], 4004)

    # DONE: every rostered student has a record; cat, who never came, is absent.
    fin = await teacher.call("DONE", {"class_id": cid}, timeout=15)
    recs = records_by_id(data_of(fin))
    eq(recs[joined["cat"][0]]["status"], "absent", "cat's record")
    eq(recs[joined["ann"][0]]["status"], "present", "ann's record")
    check(out_id not in recs, "the outsider has no record")
    eq(data_of(fin)["summary"]["total"], len(recs), "DONE total")
    await teacher.close()
    await ann.close()


async def test_leaving_drops_the_live_connection_and_auth_cannot_bring_it_back():
    b = broker()
    _, t_tok = account(b, "teach@school.example", "teacher")
    doc = ok(b, "POST", "/classes", {"name": "Chemistry"}, t_tok, status=201)
    cid, code = doc["class"]["id"], doc["class"]["join_code"]
    doc2 = ok(b, "POST", "/classes", {"name": "Physics"}, doc["access_token"], status=201)
    cid2, code2 = doc2["class"]["id"], doc2["class"]["join_code"]
    sid, s_tok = account(b, "dan@school.example", "student", "Dan")
    ok(b, "POST", "/classes/join", {"code": code}, s_tok)
    s_tok = ok(b, "POST", "/classes/join", {"code": code2}, s_tok)["access_token"]
    eq(token_classes(b, s_tok), sorted([cid, cid2]), "two classes in the token")
    dan = await Client.open(b, s_tok, label="dan")
    eq(sorted(dan.welcome["data"]["classes"]), sorted([cid, cid2]), "dan's classes")
    st, _ = call(b, "POST", f"/classes/{cid}/leave", token=s_tok)
    eq(st, 204, "leave")
    m = await dan.recv_event("CLASS_REMOVED")
    eq(data_of(m)["class_id"], cid, "the class left")
    # Still connected to the other class.
    await dan.call("MY_ATTENDANCE", {"class_id": cid2})
    await dan.error("MY_ATTENDANCE", {"class_id": cid}, code="CLASS_FORBIDDEN")
    # AUTH with the old token (naming both classes) does not bring the left class back.
    m = await dan.call("AUTH", {"token": s_tok}, reply="AUTHENTICATED")
    eq(data_of(m)["classes"], [cid2], "classes after AUTH")
    await dan.close()


async def test_roster_and_classes_on_the_socket():
    b = broker()
    _, t_tok = account(b, "teach@school.example", "teacher", "Ms Teach")
    doc = ok(b, "POST", "/classes", {"name": "Geography"}, t_tok, status=201)
    cid, code, t_tok = doc["class"]["id"], doc["class"]["join_code"], doc["access_token"]
    eve_id, eve_tok = account(b, "eve@school.example", "student", "Eve")
    eve_tok = ok(b, "POST", "/classes/join", {"code": code}, eve_tok)["access_token"]

    # A class with a roster beside one without (a token from elsewhere names it too).
    teacher = await Client.open(b, b.token(sub=claims(b, t_tok)["sub"], role="teacher",
                                           classes=[cid, "outside-class"]), label="teacher")
    m = await teacher.call("CLASSES", {})
    eq(sorted((c["class_id"], c["name"], c["rostered"]) for c in data_of(m)["classes"]),
       sorted([(cid, "Geography", True), ("outside-class", None, False)]), "CLASSES")
    m = await teacher.call("ROSTER", {"class_id": cid})
    eq(data_of(m), {"class_id": cid, "name": "Geography", "rostered": True,
                    "students": [{"student_id": eve_id, "name": "Eve", "online": False}]},
       "ROSTER before Eve connects")
    m = await teacher.call("ROSTER", {"class_id": "outside-class"})
    eq((data_of(m)["rostered"], data_of(m)["students"]), (False, []), "a class without roster")

    eve = await Client.open(b, eve_tok, label="eve")
    m = await teacher.call("ROSTER", {"class_id": cid})
    eq(data_of(m)["students"][0]["online"], True, "Eve online")
    await eve.error("ROSTER", {"class_id": cid}, code="FORBIDDEN")
    m = await eve.call("CLASSES", {})
    eq(data_of(m)["classes"], [{"class_id": cid, "name": "Geography", "rostered": True}],
       "a student's CLASSES")

    # A join pushes the new roster to the staff, and to no student.
    teacher.clear()
    eve.clear()
    fay_id, fay_tok = account(b, "fay@school.example", "student", "Fay")
    ok(b, "POST", "/classes/join", {"code": code}, fay_tok)
    m = await teacher.recv_event("ROSTER")
    eq(sorted(s["student_id"] for s in data_of(m)["students"]), sorted([eve_id, fay_id]),
       "pushed roster")
    check("id" not in m, "a pushed ROSTER answers no request")
    await eve.expect_no_message(0.5, event="ROSTER")
    # A rename shows in CLASSES.
    ok(b, "PUT", f"/classes/{cid}", {"name": "World Geography"}, t_tok)
    m = await eve.call("CLASSES", {})
    eq(data_of(m)["classes"][0]["name"], "World Geography", "renamed class")
    await teacher.close()
    await eve.close()

    # After a restart the rosters come back from the store.
    b.stop()
    b.start()
    eve = await Client.open(b, eve_tok, label="eve again")
    teacher = await Client.open(b, t_tok, label="teacher again")
    m = await teacher.call("ROSTER", {"class_id": cid})
    eq((data_of(m)["name"], sorted(s["student_id"] for s in data_of(m)["students"])),
       ("World Geography", sorted([eve_id, fay_id])), "roster after a restart")
    out_id, _ = account(b, "gus@school.example", "student")
    await closed_with(b, b.token(sub=out_id, role="student", class_id=cid), 4004)
    await teacher.close()
    await eve.close()


if __name__ == "__main__":
    run_tests(globals())
