# SPDX-License-Identifier: MIT
"""A token is honoured for its lifetime, no longer (PROTOCOL.md "Token lifetime"): one
TOKEN_EXPIRING ROLLCALL_TOKEN_WARNING seconds before the end (exp plus ROLLCALL_JWT_LEEWAY),
then close 4003 "token expired"."""

import datetime
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Broker, Client, check, data_of, eq, now_s, run_tests,  # noqa: E402
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

    # --token-warning 0: no warning at all, the close still comes.
    b2 = Broker(args=["--jwt-leeway", "0", "--token-warning", "0"]).start()
    c = await Client.open(b2, b2.token(sub="s-2", role="student", exp=now_s() + 2))
    eq(await c.wait_closed(4), 4003, "close code without warnings")
    eq(events(c).count("TOKEN_EXPIRING"), 0, "TOKEN_EXPIRING with --token-warning 0")


if __name__ == "__main__":
    run_tests(globals())
