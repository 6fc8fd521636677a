# SPDX-License-Identifier: MIT
"""Accounts and classes shared by several instances: two brokers on one Redis keep their
accounts and classes in one MongoDB (the project's wire-protocol test server,
tests/support/mongo_server.c). An account registered through one logs in through the other;
a class made on one is joined through the other and both list one roster; a roster change
made through either instance reaches the other's live channel at once (its teacher gets the
new ROSTER, a removed student connected there is taken out). Without MongoDB, instances on
Redis keep accounts off and say so at start."""

import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Broker, Client, RedisServer, check, data_of, eq,  # noqa: E402
                     http_get, random_secret, run_tests)
from test_mongo import FakeMongo  # noqa: E402

PW = "correct horse battery"


def call(b, method, path, body=None, token=None, status=None):
    headers = {}
    if token:
        headers["Authorization"] = "Bearer " + token
    data = json.dumps(body).encode() if body is not None else None
    if data is not None:
        headers["Content-Type"] = "application/json"
    r = http_get(b.port, path, headers=headers, method=method, body=data)
    doc = json.loads(r.body) if r.body else None
    if status is not None:
        eq(r.status, status, f"{method} {path} on :{b.port}: {doc}")
    return doc


def pair():
    redis = RedisServer().start()
    mongo = FakeMongo()
    secret = random_secret()
    env = {"ROLLCALL_REDIS_URL": redis.url, "ROLLCALL_MONGODB_URI": mongo.uri(),
           "ROLLCALL_PRESENCE_TTL": "2"}
    a = Broker(secret=secret, env=env).start()
    b = Broker(secret=secret, env=env).start()
    return a, b, mongo


async def test_two_instances_one_store():
    a, b, mongo = pair()
    t = call(a, "POST", "/auth/register", {"name": "Tina", "email": "tina@school.example",
                                          "password": PW, "role": "teacher"}, status=201)
    # The account exists for the other instance: login there.
    t = call(b, "POST", "/auth/login", {"email": "TINA@school.example", "password": PW},
             status=200)
    call(b, "POST", "/auth/register", {"name": "Tina", "email": "tina@school.example",
                                       "password": PW, "role": "teacher"}, status=409)
    made = call(a, "POST", "/classes", {"name": "Music"}, t["access_token"], status=201)
    cid, code, tt = made["class"]["id"], made["class"]["join_code"], made["access_token"]
    check(any(d.get("email") == "tina@school.example" for d in mongo.docs("accounts")),
          "the account is in MongoDB")

    # The teacher watches on A; students join and connect through B.
    teacher = await Client.open(a, tt, label="teacher@A")
    eq(data_of(await teacher.call("ROSTER", {"class_id": cid}))["students"], [],
       "empty roster")
    teacher.clear()
    joined = {}
    for who in ("uma", "vic"):
        s = call(b, "POST", "/auth/register", {"name": who.title(),
                                               "email": f"{who}@school.example",
                                               "password": PW, "role": "student"}, status=201)
        j = call(b, "POST", "/classes/join", {"code": code}, s["access_token"], status=200)
        joined[who] = (s["user"]["id"], j["access_token"])
        # The roster change made on B reaches the teacher connected to A.
        m = await teacher.recv_event("ROSTER", timeout=5,
                                     pred=lambda m, i=s["user"]["id"]: any(
                                         x["student_id"] == i for x in data_of(m)["students"]))
    eq(sorted(x["student_id"] for x in data_of(m)["students"]),
       sorted(v[0] for v in joined.values()), "roster pushed across instances")
    # Both instances read one roster.
    ra = call(a, "GET", f"/classes/{cid}", token=tt, status=200)["roster"]
    rb = call(b, "GET", f"/classes/{cid}", token=tt, status=200)["roster"]
    eq(ra, rb, "one roster from both instances")

    # uma connects to A (where the roster change came from B); an outsider is refused on A.
    uma = await Client.open(a, joined["uma"][1], label="uma@A")
    eq(uma.welcome["data"]["classes"], [cid], "uma's classes on A")
    out = call(a, "POST", "/auth/register", {"name": "Out", "email": "out@school.example",
                                             "password": PW, "role": "student"}, status=201)
    c = await Client.open(a, a.token(sub=out["user"]["id"], role="student",
                                     classes=[cid, "other"]), label="outsider@A")
    eq(c.welcome["data"]["classes"], ["other"], "the outsider's classes on A")
    await c.close()

    # Removed through B: uma, connected to A, leaves A's channel at once.
    call(b, "DELETE", f"/classes/{cid}/students/{joined['uma'][0]}", token=tt, status=None)
    m = await uma.recv_event("CLASS_REMOVED", timeout=5)
    eq(data_of(m)["class_id"], cid, "removed across instances")
    eq(await uma.wait_closed(), 4004, "uma closed")
    await teacher.close()


async def test_mongodb_down_at_start():
    """The broker starts with MongoDB down (records still go to the journal); accounts
    answer 503 until MongoDB is back, then work, and the rosters are read then."""
    mongo = FakeMongo()
    seed = Broker(env={"ROLLCALL_MONGODB_URI": mongo.uri(), "ROLLCALL_REDIS_URL": ""}).start()
    t = call(seed, "POST", "/auth/register", {"name": "Tom", "email": "tom@school.example",
                                             "password": PW, "role": "teacher"}, status=201)
    made = call(seed, "POST", "/classes", {"name": "Drama"}, t["access_token"], status=201)
    cid, tt = made["class"]["id"], made["access_token"]
    out = call(seed, "POST", "/auth/register", {"name": "Out", "email": "out@school.example",
                                                "password": PW, "role": "student"}, status=201)
    seed.stop()
    eq(mongo.ctl("down").strip(), "ok", "mongo down")
    b = Broker(secret=seed.secret, env={"ROLLCALL_MONGODB_URI": mongo.uri(),
                                        "ROLLCALL_REDIS_URL": "",
                                        "ROLLCALL_MONGODB_TIMEOUT_MS": "300"}).start()
    r = http_get(b.port, "/auth/login", method="POST",
                 body=json.dumps({"email": "tom@school.example", "password": PW}).encode(),
                 headers={"Content-Type": "application/json"})
    eq(r.status, 503, f"login while MongoDB is down: {r.body!r}")
    check("retry-after" in r.headers, "503 says when to retry")
    # The live channel still works for tokens (the teacher's, signed by the broker).
    teacher = await Client.open(b, tt, label="teacher")
    await teacher.call("PING", {})
    eq(mongo.ctl("up").strip(), "ok", "mongo up")
    deadline = time.monotonic() + 15
    while True:
        r = http_get(b.port, "/auth/login", method="POST",
                     body=json.dumps({"email": "tom@school.example", "password": PW}).encode(),
                     headers={"Content-Type": "application/json"})
        if r.status == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    eq(r.status, 200, "login once MongoDB is back")
    # The rosters were read: the outsider is refused the class's channel again.
    deadline = time.monotonic() + 10
    while "rosters loaded" not in b.log() and time.monotonic() < deadline:
        time.sleep(0.2)
    check("rosters loaded" in b.log(), "the rosters were not read after MongoDB came back")
    c = await Client.open(b, b.token(sub=out["user"]["id"], role="student",
                                     classes=[cid, "other"]), label="outsider")
    eq(c.welcome["data"]["classes"], ["other"], "the roster rules again")
    await c.close()
    await teacher.close()


def test_redis_without_mongodb_says_so():
    redis = RedisServer().start()
    b = Broker(env={"ROLLCALL_REDIS_URL": redis.url}).start()
    text = b.log()
    check("rollcall: accounts are off: instances sharing ROLLCALL_REDIS_URL need one account "
          "store, ROLLCALL_MONGODB_URI" in text, "the start does not say accounts need MongoDB")
    check("level=warn" in text and 'msg="accounts off"' in text, "no warning in the log")
    r = http_get(b.port, "/auth/login", method="POST", body=b"{}",
                 headers={"Content-Type": "application/json"})
    eq(r.status, 404, "accounts off")


if __name__ == "__main__":
    run_tests(globals())
