# SPDX-License-Identifier: MIT
"""The write path and keepalive: messages queued for one connection go out together,
several frames per send; a socket that takes only part of a send keeps the rest for later
without losing or splitting a frame; control frames (PING/PONG, close) never land inside a
data frame; order per connection is kept; silent connections are pinged and dead ones
closed."""

import json
import os
import signal
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Broker, Client, RawClosed, RawWS, check, data_of, eq,  # noqa: E402
                     run_tests, timeout)

CLS = "wp"
# The broker's socket send buffer grows to 4 MiB on Linux (tcp_wmem): a backlog that must
# reach the partial-send path needs more than that, so the outbox limits are raised.
BIG_OUTBOX = ["--outbox-messages", "8000", "--outbox-bytes", str(32 * 1024 * 1024)]
# The same tests run over both write paths: io_uring batches (the default) and one send(2)
# per connection (E2E_IO_URING=0, also what a kernel without io_uring gets).
IO_URING = os.environ.get("E2E_IO_URING", "1")
PATH_ARGS = ["--io-uring=" + IO_URING]


def io_uring_expected():
    if IO_URING == "0":
        return 0.0
    try:
        with open("/proc/sys/kernel/io_uring_disabled") as f:
            return 0.0 if f.read().strip() == "2" else 1.0
    except OSError:
        return 1.0


def broker(args=()):
    b = Broker(args=list(args) + PATH_ARGS).start()
    eq(b.metrics().get("rollcall_ws_io_uring"), io_uring_expected(), "write path in use")
    return b


def notice(i, size):
    """A text unique to i, size characters long, so a frame cut or moved shows."""
    head = f"notice {i} "
    body = (f"{i:06d}-" * (size // 7 + 1))[: max(0, size - len(head))]
    return head + body


async def flood(t, n, size, prefix="m"):
    """The teacher sends n announcements of about size characters and waits for every
    reply (its own socket is read, so the teacher is never the slow one)."""
    for i in range(n):
        await t.send("ANNOUNCE", {"text": notice(i, size)}, id=f"{prefix}{i}")
    await t.recv_event(None, id=f"{prefix}{n - 1}", timeout=20)
    replies = [m for m in t.clear() if str(m.get("id", "")).startswith(prefix)]
    errors = [m for m in replies if m.get("event") == "ERROR"]
    check(not errors, f"an announcement was refused during the flood: {errors[:1]}")


def read_announcements(raw, n, timeout_s=20):
    """Reads until n ANNOUNCEMENTs arrived (PONGs to our pings are answered by recv_json);
    returns their texts in arrival order."""
    got = []
    deadline = time.monotonic() + timeout_s
    while len(got) < n:
        left = deadline - time.monotonic()
        check(left > 0, f"{raw.label}: {len(got)} of {n} announcements within {timeout_s}s")
        try:
            m = raw.recv_json(left)
        except socket.timeout:
            continue
        except RawClosed as e:
            check(False, f"{raw.label}: closed ({e.code}) after {len(got)} of {n}")
        if m.get("event") == "ANNOUNCEMENT":
            got.append(data_of(m).get("text"))
    return got


@timeout(60)
async def test_reader_that_pauses_loses_nothing_and_frames_stay_whole():
    """A student stops reading with a tiny receive buffer while 4000 announcements of 2 KB
    queue for it: the broker's sends to it are only partly taken (counted in /metrics),
    yet once it reads again it gets every one, whole, in order."""
    b = broker(BIG_OUTBOX)
    t = await Client.open(b, b.token(sub="t-1", role="teacher", class_id=CLS), label="teacher")
    slow = RawWS(b.port, b.token(sub="s-pause", role="student", class_id=CLS), rcvbuf=4096,
                 label="paused")
    slow.recv_event("WELCOME")
    m0 = b.metrics()
    n, size = 4000, 1900
    await flood(t, n, size)
    m1 = b.metrics()
    deferred = (m1.get("rollcall_ws_write_deferrals_total", 0.0) -
                m0.get("rollcall_ws_write_deferrals_total", 0.0))
    check(deferred >= 1, "no send was refused in part: the test did not reach the partial path")
    eq(m1.get("rollcall_slow_consumer_closes_total", 0.0), 0.0,
       "slow-consumer closes while under the outbox limits")
    texts = read_announcements(slow, n)
    for i, text in enumerate(texts):
        if text != notice(i, size):
            check(False, f"announcement {i} arrived as {text[:40]!r}... (expected notice {i})")
            break
    # Still a working connection: a request after the backlog is answered.
    slow.send_json({"event": "PING", "id": "after"})
    eq(slow.recv_event("PONG", id="after").get("id"), "after", "PONG after the backlog")


@timeout(60)
async def test_ping_during_a_backlog_gets_its_pong_between_whole_frames():
    """A PING control frame sent while the broker holds unsent data for the connection is
    answered with a PONG that arrives between frames, never inside one (a frame cut by a
    control frame would fail the frame parser or the text check)."""
    b = broker(BIG_OUTBOX)
    t = await Client.open(b, b.token(sub="t-1", role="teacher", class_id=CLS), label="teacher")
    raw = RawWS(b.port, b.token(sub="s-ping", role="student", class_id=CLS), rcvbuf=4096,
                label="pinger")
    raw.recv_event("WELCOME")
    n, size = 4000, 1900
    m0 = b.metrics()
    await flood(t, n, size)
    check(b.metrics().get("rollcall_ws_write_deferrals_total", 0.0) >
          m0.get("rollcall_ws_write_deferrals_total", 0.0),
          "no send was refused in part: the backlog is not where the test needs it")
    raw.send_frame(0x9, b"are-you-there")
    pong = None
    texts = []
    deadline = time.monotonic() + 20
    while len(texts) < n or pong is None:
        check(time.monotonic() < deadline,
              f"{len(texts)} of {n} announcements, pong={pong!r} within 20 s")
        op, data = raw.recv_frame(max(0.1, deadline - time.monotonic()))
        if op == 0xA:
            pong = data
        elif op == 0x1:
            m = json.loads(data)
            if m.get("event") == "ANNOUNCEMENT":
                texts.append(m["data"]["text"])
        else:
            check(False, f"unexpected opcode {op:#x}")
    eq(pong, b"are-you-there", "PONG payload")
    eq(texts, [notice(i, size) for i in range(n)], "announcements around the PONG")


@timeout(40)
async def test_messages_waiting_together_share_a_send():
    """A burst read in one turn reaches each recipient as several frames per send: 60
    announcements to a student and their 60 replies to the teacher take far fewer sends
    than the 120 messages, and arrive in order."""
    b = broker()
    s = await Client.open(b, b.token(sub="s-1", role="student", class_id=CLS), label="student")
    t = RawWS(b.port, b.token(sub="t-1", role="teacher", class_id=CLS), label="teacher")
    t.recv_event("WELCOME")
    t.recv_event("PRESENCE_SNAPSHOT")
    n = 60
    m0 = b.metrics()
    # One TCP write with every request, so the broker reads them together.
    t.send_json_batch([{"event": "ANNOUNCE", "id": f"b{i}", "data": {"text": f"burst {i}"}}
                       for i in range(n)])
    replies = [t.recv_event("ANNOUNCEMENT", id=f"b{i}")["id"] for i in range(n)]
    eq(replies, [f"b{i}" for i in range(n)], "the teacher's replies, in order")
    got = [data_of(m).get("text") for m in await s.recv_all("ANNOUNCEMENT", n, timeout=10)]
    eq(got, [f"burst {i}" for i in range(n)], "the student's announcements, in order")
    m1 = b.metrics()
    writes = m1.get("rollcall_ws_writes_total", 0.0) - m0.get("rollcall_ws_writes_total", 0.0)
    out = (m1.get("rollcall_messages_out_total", 0.0, event="ANNOUNCEMENT") -
           m0.get("rollcall_messages_out_total", 0.0, event="ANNOUNCEMENT"))
    eq(out, 2.0 * n, "announcements queued (student and teacher)")
    check(0 < writes <= out / 4,
          f"{writes:.0f} sends for {out:.0f} messages waiting together (expected at most "
          f"one send per 4)")


@timeout(40)
async def test_close_after_a_backlog_is_a_proper_close_frame():
    """A connection the broker closes (here by a drain) while data waits for it still ends
    with a well-formed close frame after whole data frames."""
    b = broker()
    t = await Client.open(b, b.token(sub="t-1", role="teacher", class_id=CLS), label="teacher")
    raw = RawWS(b.port, b.token(sub="s-close", role="student", class_id=CLS), rcvbuf=4096,
                label="closing")
    raw.recv_event("WELCOME")
    await flood(t, 300, 1900)
    await t.close()
    b.expect_exit = True
    b.signal(signal.SIGTERM)   # drain: every connection gets 1001
    code = None
    frames = 0
    deadline = time.monotonic() + 15
    while code is None and time.monotonic() < deadline:
        try:
            m = raw.recv_json(max(0.1, deadline - time.monotonic()))
            if m.get("event") == "ANNOUNCEMENT":
                frames += 1
        except RawClosed as e:
            code = e.code
        except socket.timeout:
            break
    eq(code, 1001, "close code at drain")
    check(frames <= 300, f"{frames} announcements for 300 sent")
    b.wait_exit(15)


@timeout(40)
async def test_keepalive_pings_silent_peers_and_closes_the_ones_that_never_answer():
    """With --ping-interval 1 --idle-timeout 3, the broker pings a silent connection (a PING
    with a payload, so the PONG that echoes it is seen), keeps one that answers past the idle
    timeout, and closes one that reads but never answers with 1001 "idle timeout"."""
    b = broker(["--ping-interval", "1", "--idle-timeout", "3"])
    answers = RawWS(b.port, b.token(sub="s-pong", role="student", class_id=CLS), label="ponger")
    mute = RawWS(b.port, b.token(sub="s-mute", role="student", class_id=CLS), label="mute")
    t0 = time.monotonic()
    pings = 0
    mute_end = None
    deadline = t0 + 7
    while time.monotonic() < deadline:
        try:
            op, data = answers.recv_frame(0.2)
            if op == 0x9:
                pings += 1
                check(len(data) > 0, "a keepalive PING without payload")
                answers.send_frame(0xA, data)
        except socket.timeout:
            pass
        if mute_end is None:
            try:
                op, data = mute.recv_frame(0.05)   # reads every frame, answers no PING
                if op == 0x8:
                    code = int.from_bytes(data[:2], "big") if len(data) >= 2 else 1005
                    mute_end = (code, data[2:].decode(), time.monotonic() - t0)
            except RawClosed as e:
                mute_end = (e.code, e.reason, time.monotonic() - t0)
            except socket.timeout:
                pass
    check(pings >= 3, f"{pings} PINGs in 7 s at a 1 s ping interval")
    check(mute_end is not None, "a connection that never answers was not closed")
    eq(mute_end[:2], (1001, "idle timeout"), "close of the connection that never answers")
    check(2.0 <= mute_end[2] <= 6.0, f"closed after {mute_end[2]:.1f}s, idle timeout 3 s")
    answers.send_json({"event": "PING", "id": "still"})
    eq(answers.recv_event("PONG", id="still").get("id"), "still",
       "the connection that answers is still served")
    eq(b.metrics().get("rollcall_idle_closes_total"), 1.0, "idle closes counted")


if __name__ == "__main__":
    run_tests(globals())
