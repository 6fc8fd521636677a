# SPDX-License-Identifier: MIT
"""Bad input (PROTOCOL.md "Errors" and "Close codes"): every bad message gets an ERROR
with its stable code and the request id where it could be read, and the connection stays
usable; abusive peers are closed with 1008/1009 and the broker keeps serving."""

import asyncio
import json
import os
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import websockets.exceptions  # noqa: E402

from harness import (Broker, Client, RawClosed, RawWS, check, check_error, data_of,  # noqa: E402
                     eq, fail, http_get, pong_ok, run_tests)

U = object()   # "id not readable": ref must be null (or the id, if the broker could read it)


async def expect_error_then_usable(b, client, raw, code, id, what, field=None):
    await client.send_raw(raw)
    if id is U or id is None:
        m = await client.recv_event("ERROR", timeout=5)
        check_error(m, code, what=what)
        ref = data_of(m).get("ref")
        check(ref is None or id is U, f"{what}: ERROR ref {ref!r}, want null")
    else:
        m = await client.recv_event(None, id=id, timeout=5)
        check_error(m, code, id, what=what)
    if field:
        msg = data_of(m).get("message", "")
        check(field.lower() in msg.lower(),
              f"{what}: ERROR message {msg!r} does not name the field {field!r}")
    await client.expect_no_message(0.05, event="ERROR")
    await pong_ok(client, f"connection after {what}")
    return m


def deep(total, kind="object", id="deep"):
    """A PING envelope whose nesting depth (the envelope itself is level 1) is total."""
    k = total - 1   # depth of the data value
    if kind == "object":
        inner = '{"x":' * (k - 1) + "{}" + "}" * (k - 1)
    else:
        inner = '{"x":' + "[" * (k - 1) + "1" + "]" * (k - 1) + "}"
    return '{"event":"PING","id":"%s","data":%s}' % (id, inner)


def depth_of(text):
    d = m = 0
    in_str = esc = False
    for ch in text:
        if in_str:
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch in "[{":
            d += 1
            m = max(m, d)
        elif ch in "]}":
            d -= 1
    return m


# --------------------------------------------------------------------------------------


async def test_malformed_json_and_non_objects():
    b = Broker().start()
    tok = b.token(sub="s-1", role="student")
    cases = [
        ("not json", "not json"),
        ("truncated object", '{"event":"PING",'),
        ("trailing garbage", '{"event":"PING","id":"tg"} x'),
        ("two objects", '{"event":"PING"}{"event":"PING"}'),
        ("array", '[{"event":"PING","id":"arr"}]'),
        ("string", '"PING"'),
        ("number", "42"),
        ("null", "null"),
        ("empty message", ""),
        ("single quotes", "{'event':'PING'}"),
    ]
    for what, raw in cases:
        c = await Client.open(b, tok, label=what)
        await expect_error_then_usable(b, c, raw, "BAD_JSON", U, what)
        await c.close()


async def test_bad_envelopes():
    b = Broker().start()
    tok = b.token(sub="s-1", role="student")
    cases = [
        ("missing event", '{"data":{},"id":"m1"}', "m1"),
        ("event not a string", '{"event":5,"id":"m2"}', "m2"),
        ("event null", '{"event":null,"id":"m3"}', "m3"),
        ("data an array", '{"event":"PING","data":[1],"id":"m4"}', "m4"),
        ("data a string", '{"event":"PING","data":"x","id":"m5"}', "m5"),
        ("data a number", '{"event":"PING","data":3,"id":6}', 6),
        ("unknown top-level key", '{"event":"PING","id":"k1","extra":1}', "k1"),
        ("id a float", '{"event":"PING","id":1.5}', U),
        ("id a boolean", '{"event":"PING","id":true}', U),
        ("id an object", '{"event":"PING","id":{"a":1}}', U),
        ("id empty", '{"event":"PING","id":""}', U),
        ("id over 64 characters", '{"event":"PING","id":"%s"}' % ("i" * 65), U),
    ]
    for what, raw, id in cases:
        c = await Client.open(b, tok, label=what)
        await expect_error_then_usable(b, c, raw, "BAD_ENVELOPE", id, what)
        await c.close()


async def test_unknown_events():
    b = Broker().start()
    tok = b.token(sub="t-1", role="teacher")
    c = await Client.open(b, tok)
    for i, ev in enumerate(("NOPE", "ping", "PONG", "WELCOME", "ERROR", "", "SESSION_START ")):
        await expect_error_then_usable(b, c, json.dumps({"event": ev, "id": f"u{i}"}),
                                       "UNKNOWN_EVENT", f"u{i}", f"unknown event {ev!r}")


async def test_invalid_payloads_name_the_field():
    b = Broker().start()
    t = await Client.open(b, b.token(sub="t-1", role="teacher"))
    s = await Client.open(b, b.token(sub="s-1", role="student"))
    am = "ATTENDANCE_MARKED"
    cases = [
        (s, "PING", {"ts": "abc"}, "ts", "wrong-typed ts"),
        (t, am, {"studentId": 123, "status": "present"}, "studentId", "numeric studentId"),
        (t, am, {"student_id": "s-1", "status": 1}, "status", "numeric status"),
        (t, am, {"status": "present"}, "student", "no student id"),
        (t, am, {"studentId": "s-1"}, "status", "no status"),
        (t, am, {"studentId": "s-1", "status": "maybe"}, "status", "status not in the enum"),
        (t, am, {"studentId": "s-1", "status": "PRESENT"}, "status", "status in upper case"),
        (t, am, {"studentId": "s-1", "status": "present", "bogus": 1}, "bogus",
         "unknown field"),
        (t, am, {"studentId": "x" * 65, "status": "present"}, "studentId", "studentId too long"),
        (t, am, {"studentId": "", "status": "present"}, "studentId", "empty studentId"),
        (t, "SESSION_START", {"class_id": 5}, "class_id", "numeric class_id"),
        (t, "TODAY_SUMMARY", {"verbose": True}, "verbose", "unknown TODAY_SUMMARY field"),
        (t, "DONE", {"force": True}, "force", "unknown DONE field"),
        (s, "MY_ATTENDANCE", {"class_id": ["c1"]}, "class_id", "class_id an array"),
    ]
    for c, ev, data, field, what in cases:
        rid = "p-" + what.replace(" ", "-")
        await expect_error_then_usable(b, c, json.dumps({"event": ev, "data": data, "id": rid}),
                                       "INVALID_PAYLOAD", rid, what, field=field)
    # None of these changed anything.
    summ = data_of(await t.call("TODAY_SUMMARY", {}))
    eq(summ.get("state"), "none", "state after refused payloads")
    eq([x["student_id"] for x in summ.get("students", [])], ["s-1"],
       "students after refused payloads")


async def test_nesting_depth_limit():
    b = Broker().start()
    tok = b.token(sub="s-1", role="student")
    for kind in ("object", "array"):
        raw33 = deep(33, kind, id="d33")
        eq(depth_of(raw33), 33, "self-check of the 33-deep builder")
        c = await Client.open(b, tok, label=f"deep33-{kind}")
        await expect_error_then_usable(b, c, raw33, "TOO_DEEP", U, f"33 levels ({kind})")
        raw32 = deep(32, kind, id="d32")
        eq(depth_of(raw32), 32, "self-check of the 32-deep builder")
        await c.send_raw(raw32)
        m = await c.recv_event(None, id="d32", timeout=5)
        if m.get("event") == "ERROR":
            check(data_of(m).get("code") != "TOO_DEEP",
                  f"32 levels ({kind}) refused as TOO_DEEP; the limit is deeper than 32")
        await pong_ok(c, f"connection after 32 levels ({kind})")
        await c.close()
    # Far deeper than the limit (a recursive parser would blow its stack), still one ERROR.
    c = await Client.open(b, tok, label="deep-5000")
    await expect_error_then_usable(b, c, '{"event":"PING","data":{"x":' + "[" * 5000 +
                                   "]" * 5000 + "}}", "TOO_DEEP", U, "5000 levels")
    # Brackets inside strings do not count.
    bid = "[" * 40 + "{" * 20
    m = await c.call("PING", {}, id=bid)
    eq(m.get("id"), bid, "PONG id made of brackets")


async def test_invalid_utf8_in_a_text_frame():
    b = Broker().start()
    tok = b.token(sub="s-1", role="student")
    r = RawWS(b.port, tok)
    r.recv_event("WELCOME")
    bad = [
        ("lone continuation byte", b'{"event":"PING","id":"u8a","data":{"ts":1}}\x80'),
        ("invalid byte 0xff", b'{"event":"PING","id":"u8\xff"}'),
        ("truncated sequence", b'{"event":"PING","id":"u8\xc3("}'),
        ("overlong encoding", b'{"event":"PING","id":"u8\xc0\xaf"}'),
        ("UTF-16 surrogate", b'{"event":"PING","id":"u8\xed\xa0\x80"}'),
        ("above U+10FFFF", b'{"event":"PING","id":"u8\xf4\x90\x80\x80"}'),
    ]
    for what, payload in bad:
        r.send_text_bytes(payload)
        try:
            m = r.recv_event("ERROR", timeout=5)
        except AssertionError as e:
            fail(f"{what}: {e} (close code {r.closed_code})")
        check_error(m, "INVALID_UTF8", what=what)
        r.send_json({"event": "PING", "id": "after-" + what})
        eq(r.recv_event("PONG", timeout=5).get("id"), "after-" + what,
           f"PONG after {what}")
    # Valid multi-byte text is of course fine.
    r.send_text_bytes('{"event":"PING","id":"Zoë 🙂"}'.encode())
    eq(r.recv_event("PONG", timeout=5).get("id"), "Zoë 🙂", "PONG id with multi-byte text")


async def test_message_size_limit():
    b = Broker(args=["--max-message-bytes", "1024"]).start()
    tok = b.token(sub="s-1", role="student")
    c = await Client.open(b, tok)

    def padded(n, id):
        head = '{"event":"PING","id":"%s"' % id
        return head + " " * (n - len(head) - 1) + "}"
    exact = padded(1024, "exact")
    eq(len(exact), 1024, "self-check")
    await c.call("PING", None, id="warm")
    await c.send_raw(exact)
    eq((await c.recv_event(None, id="exact", timeout=5)).get("event"), "PONG",
       "a message of exactly the limit")
    await expect_error_then_usable(b, c, padded(1025, "over"), "MESSAGE_TOO_LARGE", U,
                                   "a message one byte over the limit")
    # Fragments are counted together: 4 x 400 bytes is over 1024 in total.
    r = RawWS(b.port, tok, label="fragments")
    r.recv_event("WELCOME")
    big = padded(1600, "frag").encode()
    parts = [big[i:i + 400] for i in range(0, len(big), 400)]
    for i, p in enumerate(parts):
        r.send_frame(0x1 if i == 0 else 0x0, p, fin=(i == len(parts) - 1))
    check_error(r.recv_event("ERROR", timeout=5), "MESSAGE_TOO_LARGE",
                what="a fragmented message over the limit")
    # A fragmented message under the limit is reassembled.
    small = b'{"event":"PING","id":"reassembled","data":{"ts":7}}'
    r.send_frame(0x1, small[:10], fin=False)
    r.send_frame(0x0, small[10:30], fin=False)
    r.send_frame(0x0, small[30:], fin=True)
    m = r.recv_event("PONG", timeout=5)
    eq((m.get("id"), data_of(m).get("ts")), ("reassembled", 7), "PONG of a fragmented PING")


async def send_tolerant(c, payload):
    try:
        await c.ws.send(payload)
    except websockets.exceptions.ConnectionClosed:
        pass


async def broker_still_serves(b, what):
    r = http_get(b.port, "/healthz")
    eq(r.status, 200, f"/healthz after {what}")
    c = await Client.open(b, b.token(sub="fresh", role="student"), label="fresh")
    await pong_ok(c, f"a new connection after {what}")
    await c.close()


async def test_error_flood_closes_1008():
    b = Broker(args=["--error-limit", "5"]).start()
    tok = b.token(sub="s-1", role="student")
    c = await Client.open(b, tok, label="flooder")
    for i in range(5):
        await c.error("NOPE", {}, "UNKNOWN_EVENT", id=f"e{i}")
    await pong_ok(c, "connection at exactly the error limit")
    await send_tolerant(c, json.dumps({"event": "NOPE", "id": "e5"}))
    code = await c.wait_closed(5)
    eq(code, 1008, "close code after more than error_limit errors in 10 s")
    # A burst of garbage without waiting for replies ends the same way. (Raw socket: an
    # asyncio client that keeps writing after the close loses the close frame itself.)
    r = RawWS(b.port, tok, label="burst")
    r.recv_event("WELCOME")
    for i in range(30):
        try:
            r.send_frame(0x1, b"garbage %d" % i)
        except OSError:
            break
    code = None
    try:
        while True:
            m = r.recv_json(5)
            check(m.get("event") == "ERROR", f"burst: unexpected {m.get('event')}")
    except RawClosed as e:
        code = e.code
    except socket.timeout:
        code = "still open after 5 s"
    except OSError as e:
        code = f"reset ({e!r})"
    eq(code, 1008, "close code after a burst of bad JSON")
    await broker_still_serves(b, "1008 closes")


async def test_abusive_student_goes_offline_for_the_teacher():
    b = Broker(args=["--error-limit", "3"]).start()
    t = await Client.open(b, b.token(sub="t-1", role="teacher"), label="teacher")
    s = await Client.open(b, b.token(sub="s-bad", role="student"), label="abuser")
    await t.recv_event("PRESENCE", timeout=3)
    for i in range(4):
        await send_tolerant(s, json.dumps({"event": "NOPE", "id": i}))
        await asyncio.sleep(0.05)
    eq(await s.wait_closed(5), 1008, "abuser close code")
    p = data_of(await t.recv_event("PRESENCE", timeout=5))
    eq((p.get("student_id"), p.get("status"), p.get("online")), ("s-bad", "offline", 0),
       "PRESENCE after the broker closed a student")
    await pong_ok(t, "teacher connection after a student was closed")
    errs = [m for m in t.all if m.get("event") == "ERROR"]
    check(not errs, f"the teacher got the abuser's errors: {errs[:1]}")


async def test_repeated_oversized_messages_close_1009():
    b = Broker(args=["--max-message-bytes", "1024"]).start()
    tok = b.token(sub="s-1", role="student")
    c = await Client.open(b, tok, label="oversize")
    big = json.dumps({"event": "PING", "data": {"ts": 1}, "id": "big"}) + " " * 1500
    for i in range(2):
        await c.send_raw(big)
        check_error(await c.recv_event("ERROR", timeout=5), "MESSAGE_TOO_LARGE",
                    what=f"oversized message {i + 1}")
        await pong_ok(c, f"connection after {i + 1} oversized message(s)")
    await send_tolerant(c, big)
    eq(await c.wait_closed(5), 1009, "close code after the third oversized message")
    await broker_still_serves(b, "a 1009 close")


async def test_huge_message_closes_1009_at_once():
    b = Broker(args=["--max-message-bytes", "1024"]).start()
    tok = b.token(sub="s-1", role="student")
    c = await Client.open(b, tok, label="huge")
    huge = '{"event":"PING","id":"huge","data":{"ts":1}}' + " " * (16 * 1024 + 100)
    await send_tolerant(c, huge)
    eq(await c.wait_closed(5), 1009, "close code after one message over 16x the limit")
    # A frame announcing 1 GiB: the broker must not wait for (or buffer) all of it; once
    # more than 16x the limit has arrived the connection is closed with 1009.
    r = RawWS(b.port, tok, label="raw-huge")
    r.recv_event("WELCOME")
    r.sock.sendall(bytes([0x81, 0xFF]) + (1 << 30).to_bytes(8, "big") + os.urandom(4) +
                   b" " * (16 * 1024 + 2048))
    code = None
    try:
        while True:
            r.recv_json(5)
    except RawClosed as e:
        code = e.code
    except socket.timeout:
        code = "still open after 5 s"
    except OSError as e:
        code = f"reset ({e!r})"
    eq(code, 1009, "a frame header announcing 1 GiB: close code")
    await broker_still_serves(b, "1009 closes")


if __name__ == "__main__":
    run_tests(globals())
