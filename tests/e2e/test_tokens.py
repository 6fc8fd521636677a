# SPDX-License-Identifier: MIT
"""A token is honoured for its lifetime, no longer (PROTOCOL.md "Token lifetime"): one
TOKEN_EXPIRING ROLLCALL_TOKEN_WARNING seconds before the end (exp plus ROLLCALL_JWT_LEEWAY),
then close 4003 "token expired"; AUTH renews the token in place (same sub and role; classes
may change, and presence and rooms follow); a refused AUTH leaves the old token in force."""

import datetime
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Broker, Client, check, data_of, eq, fail, make_claims,  # noqa: E402
                     now_s, random_secret, remember, run_tests, sign, sign_hmac_raw, sleep,
                     timeout)


def iso_of(t):
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%S.000Z")


def events(c):
    return [m.get("event") for m in c.all]


def presence_of(sub, status, class_id=None):
    def pred(m):
        d = data_of(m)
        return (d.get("student_id") == sub and d.get("status") == status and
                (class_id is None or d.get("class_id") == class_id))
    return pred


async def wait_until(t):
    left = t - time.time()
    if left > 0:
        await sleep(left)


# --------------------------------------------------------------------------------------


@timeout(30)
async def test_expired_token_warned_then_closed_with_4003():
    b = Broker(args=["--jwt-leeway", "1", "--token-warning", "2"]).start()
    t = await Client.open(b, b.token(sub="t-1", role="teacher", ttl=600), label="teacher")
    exp = now_s() + 3
    s = await Client.open(b, b.token(sub="s-1", role="student", exp=exp), label="student")
    await t.recv_event("PRESENCE", pred=presence_of("s-1", "online"), timeout=3)
    # The end is exp + 1 s of leeway; the warning comes 2 s before it, not at connect.
    check("TOKEN_EXPIRING" not in events(s),
          f"TOKEN_EXPIRING at connect with {exp + 1 - time.time():.1f}s left: {events(s)}")
    w = data_of(await s.recv_event("TOKEN_EXPIRING", timeout=4))
    got = time.time()
    check(got >= exp + 1 - 2 - 0.05, f"TOKEN_EXPIRING {exp + 1 - got:.2f}s before the end")
    eq(w.get("expires_at"), iso_of(exp + 1), "TOKEN_EXPIRING expires_at (exp + leeway)")
    check(w.get("expires_in") in (0, 1, 2), f"TOKEN_EXPIRING expires_in {w.get('expires_in')}")
    await s.ping()  # still served until the end
    code = await s.wait_closed(5)
    closed = time.time()
    eq(code, 4003, "close code of an expired token")
    eq(s.close_reason, "token expired", "close reason")
    check(closed >= exp + 1 - 0.05, f"closed {exp + 1 - closed:.2f}s before exp + leeway")
    check(closed <= exp + 1 + 1.5, f"closed {closed - exp - 1:.2f}s after exp + leeway")
    eq(events(s).count("TOKEN_EXPIRING"), 1, "TOKEN_EXPIRING messages")
    # The student's presence follows the close; the teacher's connection is untouched.
    await t.recv_event("PRESENCE", pred=presence_of("s-1", "offline"), timeout=3)
    await t.ping()
    eq(b.metrics().get("rollcall_token_expired_closes_total"), 1,
       "rollcall_token_expired_closes_total")
    check('msg="token expired"' in b.log() and 'code=4003 reason="token expired"' in b.log(),
          "the close is logged")


@timeout(30)
async def test_warned_at_once_inside_the_window():
    b = Broker(args=["--jwt-leeway", "0"]).start()  # ROLLCALL_TOKEN_WARNING: 60 by default
    exp = now_s() + 30
    t = await Client.open(b, b.token(sub="t-1", role="teacher", exp=exp), label="teacher")
    eq(events(t)[:3], ["WELCOME", "TOKEN_EXPIRING", "PRESENCE_SNAPSHOT"],
       "a teacher's first messages, the token 30 s from its end")
    d = data_of(t.all[1])
    eq(d.get("expires_at"), iso_of(exp), "expires_at with leeway 0")
    check(27 <= d.get("expires_in", -1) <= 30, f"expires_in {d.get('expires_in')}")
    s = await Client.open(b, b.token(sub="s-1", role="student", exp=exp), label="student")
    await s.recv_event("TOKEN_EXPIRING", timeout=2)
    eq(events(s)[:2], ["WELCOME", "TOKEN_EXPIRING"], "a student's first messages")
    await s.expect_no_message(0.7, event="TOKEN_EXPIRING")  # once per token

    # A renewal that is itself inside the window: warned again, once, after AUTHENTICATED.
    exp2 = now_s() + 40
    s.clear()
    r = await s.call("AUTH", {"token": b.token(sub="s-1", role="student", exp=exp2)},
                     reply="AUTHENTICATED")
    eq(data_of(r).get("expires_at"), iso_of(exp2), "AUTHENTICATED expires_at")
    w = await s.recv_event("TOKEN_EXPIRING", timeout=2)
    eq(data_of(w).get("expires_at"), iso_of(exp2), "the new token's warning")
    i = s.all.index(r)
    eq(s.all[i + 1].get("event"), "TOKEN_EXPIRING", "the message after AUTHENTICATED")
    # A renewal far from its end: no warning.
    s.clear()
    await s.call("AUTH", {"token": b.token(sub="s-1", role="student", ttl=3600)},
                 reply="AUTHENTICATED")
    await s.expect_no_message(0.7, event="TOKEN_EXPIRING")
    eq(events(s).count("TOKEN_EXPIRING"), 2, "TOKEN_EXPIRING messages in all")

    # --token-warning 0: no warning at all, the close still comes.
    b2 = Broker(args=["--jwt-leeway", "0", "--token-warning", "0"]).start()
    c = await Client.open(b2, b2.token(sub="s-2", role="student", exp=now_s() + 2))
    eq(await c.wait_closed(4), 4003, "close code without warnings")
    eq(events(c).count("TOKEN_EXPIRING"), 0, "TOKEN_EXPIRING with --token-warning 0")


@timeout(30)
async def test_auth_renewal_outlives_the_old_token():
    b = Broker(args=["--jwt-leeway", "0", "--token-warning", "1"]).start()
    exp = now_s() + 3
    s = await Client.open(b, b.token(sub="s-1", role="student", exp=exp), label="student")
    t = await Client.open(b, b.token(sub="t-1", role="teacher", exp=exp), label="teacher")
    exp_s = now_s() + 600
    r = await s.call("AUTH", {"token": b.token(sub="s-1", role="student", exp=exp_s)},
                     reply="AUTHENTICATED")
    eq(data_of(r), {"user_id": "s-1", "role": "student", "classes": ["c1"],
                    "expires_at": iso_of(exp_s)}, "AUTHENTICATED data")
    # Any role renews; an integer id is echoed.
    r = await t.call("AUTH", {"token": b.token(sub="t-1", role="teacher", ttl=600)},
                     reply="AUTHENTICATED", id=7)
    eq(r.get("id"), 7, "AUTHENTICATED id")
    await wait_until(exp + 1.5)
    await s.ping()
    await t.ping()
    check(not s.closed and not t.closed, "a renewed connection was closed at the old expiry")
    check("TOKEN_EXPIRING" not in events(s)[events(s).index("AUTHENTICATED"):],
          f"a warning after the renewal: {events(s)}")
    m = b.metrics()
    eq(m.get("rollcall_token_renewals_total", result="ok"), 2, "renewals ok")
    eq(m.get("rollcall_token_expired_closes_total"), 0, "expired closes")
    check('msg="token renewed"' in b.log(), "the renewal is logged")


@timeout(30)
async def test_auth_refused_keeps_the_old_token():
    b = Broker(args=["--jwt-leeway", "0", "--token-warning", "1"]).start()
    exp = now_s() + 4
    s = await Client.open(b, b.token(sub="s-1", role="student", exp=exp), label="student")
    good = make_claims(sub="s-1", role="student", ttl=600)
    cases = (
        ("another sub", b.token(sub="s-2", role="student", ttl=600), "TOKEN_MISMATCH", "user"),
        ("another role", b.token(sub="s-1", role="teacher", ttl=600), "TOKEN_MISMATCH",
         "role"),
        ("expired", b.token(sub="s-1", role="student", exp=now_s() - 100), "TOKEN_INVALID",
         "expired"),
        ("forged", sign(good, random_secret()), "TOKEN_INVALID", "bad signature"),
        ("not a JWT", "not-a-jwt", "TOKEN_INVALID", "malformed"),
        ("crit", sign_hmac_raw(good, b.secret.encode(), "HS256",
                               header={"alg": "HS256", "typ": "JWT", "crit": ["exp"]}),
         "TOKEN_INVALID", "unsupported crit"),
    )
    for what, tok, code, words in cases:
        m = await s.error("AUTH", {"token": tok}, code)
        check(words in data_of(m).get("message", ""),
              f"{what}: ERROR message {data_of(m).get('message')!r} does not say {words!r}")
    for what, data in (("no token", {}), ("token not a string", {"token": 5}),
                       ("empty token", {"token": ""}),
                       ("extra field", {"token": b.token(sub="s-1", role="student"), "x": 1})):
        await s.error("AUTH", data, "INVALID_PAYLOAD")
    await s.ping()
    # Still on the old token: closed at its end.
    eq(await s.wait_closed(exp + 2 - time.time()), 4003, "close code after refused renewals")
    m = b.metrics()
    eq(m.get("rollcall_token_renewals_total", result="refused"), 6, "refused renewals")
    eq(m.get("rollcall_errors_total", code="TOKEN_MISMATCH"), 2, "TOKEN_MISMATCH errors")
    eq(m.get("rollcall_errors_total", code="TOKEN_INVALID"), 4, "TOKEN_INVALID errors")
    check('msg="token renewal refused" conn=' in b.log(), "the refusals are logged")


@timeout(40)
async def test_auth_changes_classes():
    b = Broker().start()
    ta = await Client.open(b, b.token(sub="t-a", role="teacher", class_id="A"), label="tA")
    tb = await Client.open(b, b.token(sub="t-b", role="teacher", class_id="B"), label="tB")
    tc = await Client.open(b, b.token(sub="t-c", role="teacher", class_id="C"), label="tC")
    s = await Client.open(b, b.token(sub="s-1", role="student", class_id=None,
                                     classes=["A", "B"], name="Ann"), label="student")
    await ta.recv_event("PRESENCE", pred=presence_of("s-1", "online", "A"), timeout=3)
    await tb.recv_event("PRESENCE", pred=presence_of("s-1", "online", "B"), timeout=3)

    r = await s.call("AUTH", {"token": b.token(sub="s-1", role="student", class_id=None,
                                               classes=["A", "C"], name="Ann")},
                     reply="AUTHENTICATED")
    eq(sorted(data_of(r).get("classes", [])), ["A", "C"], "AUTHENTICATED classes")
    off = data_of(await tb.recv_event("PRESENCE", pred=presence_of("s-1", "offline", "B"),
                                      timeout=3))
    eq(off.get("online"), 0, "students online in B after the student left it")
    on = data_of(await tc.recv_event("PRESENCE", pred=presence_of("s-1", "online", "C"),
                                     timeout=3))
    eq((on.get("name"), on.get("online")), ("Ann", 1), "PRESENCE in C")
    await ta.expect_no_message(0.5, event="PRESENCE")  # still in A: no flapping

    # B's events no longer reach the student; C's do.
    await tb.call("SESSION_START", {"class_id": "B"})
    await tc.call("SESSION_START", {"class_id": "C"})
    got = await s.recv_event("SESSION_STARTED", timeout=3)
    eq(data_of(got).get("class_id"), "C", "the session the student hears of")
    await s.expect_no_message(0.5, pred=lambda m: data_of(m).get("class_id") == "B")
    await s.error("MY_ATTENDANCE", {"class_id": "B"}, "CLASS_FORBIDDEN")
    my = await s.call("MY_ATTENDANCE", {"class_id": "C"})
    eq(data_of(my).get("class_id"), "C", "MY_ATTENDANCE in the new class")
    summary = data_of(await tb.call("TODAY_SUMMARY", {"class_id": "B"}))
    check(all(not st.get("online") for st in summary.get("students", [])
              if st.get("student_id") == "s-1"), f"s-1 still online in B: {summary}")

    # A teacher's renewal: the new class comes with its PRESENCE_SNAPSHOT, the dropped one
    # goes quiet.
    ta.clear()
    r = await ta.call("AUTH", {"token": b.token(sub="t-a", role="teacher", class_id="C")},
                      reply="AUTHENTICATED")
    eq(data_of(r).get("classes"), ["C"], "teacher's classes after the renewal")
    snap = data_of(await ta.recv_event("PRESENCE_SNAPSHOT", timeout=3))
    eq(snap.get("class_id"), "C", "PRESENCE_SNAPSHOT class")
    eq([x.get("student_id") for x in snap.get("students", [])], ["s-1"],
       "students online in C")
    s2 = await Client.open(b, b.token(sub="s-2", role="student", class_id="A"), label="s2")
    await s2.ping()
    await ta.expect_no_message(0.5, pred=lambda m: data_of(m).get("class_id") == "A")
    # The student's connection closes: offline in C, and nothing about B (left already).
    await s.close()
    await tc.recv_event("PRESENCE", pred=presence_of("s-1", "offline", "C"), timeout=3)
    await tb.expect_no_message(0.5, event="PRESENCE", pred=presence_of("s-1", "offline"))


async def test_token_never_logged():
    # Every token of this file is remembered by the harness, which fails a test whose broker
    # log holds one; this test makes sure the AUTH path runs at debug level with an error.
    b = Broker(log_level="debug").start()
    s = await Client.open(b, b.token(sub="s-1", role="student"))
    await s.call("AUTH", {"token": b.token(sub="s-1", role="student", ttl=900)},
                 reply="AUTHENTICATED")
    await s.error("AUTH", {"token": b.token(sub="s-9", role="student")}, "TOKEN_MISMATCH")
    bad = remember(b.token(sub="s-1", role="student")[:-4] + "AAAA")
    await s.error("AUTH", {"token": bad}, "TOKEN_INVALID")
    await s.error("AUTH", {"token": bad, "extra": True}, "INVALID_PAYLOAD")
    if any(tok in b.log() for tok in (bad,)):
        fail("a token appears in the broker log")


if __name__ == "__main__":
    run_tests(globals())
