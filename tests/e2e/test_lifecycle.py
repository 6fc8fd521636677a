# SPDX-License-Identifier: MIT
"""Process lifecycle: SIGTERM drain (1001 to every client, exit 0 within the drain timeout,
one close line per connection, no new connections), start-up errors that fail fast and
name the setting, --dev, --help, the token subcommand, and a port already in use."""

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import jwt as pyjwt  # noqa: E402

from harness import (BIN, SRC, Broker, Client, RawClosed, RawWS, check, data_of, eq, fail,  # noqa: E402
                     http_get, log_problems, now_s, random_secret, remember, run_tests,
                     ws_upgrade_raw)


def run_bin(args, env_extra=None, drop=(), timeout=10):
    """Runs the binary to completion (bounded). Returns (rc, stdout, stderr)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROLLCALL_")}
    env["ROLLCALL_ANALYZER_PRELOAD"] = "0"  # no model loading in start/stop tests
    env.update(env_extra or {})
    for k in drop:
        env.pop(k, None)
    try:
        p = subprocess.run([BIN] + args, env=env, stdin=subprocess.DEVNULL,
                           capture_output=True, timeout=timeout, start_new_session=True)
    except subprocess.TimeoutExpired:
        fail(f"`rollcall {' '.join(args)}` did not exit within {timeout}s")
    out, err = p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")
    problems = log_problems(out + err)
    check(not problems, f"`rollcall {' '.join(args)}`: {problems}")
    return p.returncode, out, err


def start_args(d):
    return ["--host", "127.0.0.1", "--port", "0", "--port-file", os.path.join(d, "port"),
            "--data-dir", os.path.join(d, "data")]


def assert_clean_failure(rc, out, err, name, what, d=None, t=None):
    check(rc != 0, f"{what}: exit status 0, want non-zero")
    check(rc > 0, f"{what}: killed by signal {-rc} (abort/crash), want a clean exit")
    check(rc < 128, f"{what}: exit status {rc} looks like a crash")
    text = out + err
    check(name in text, f"{what}: the message does not name {name}: {text.strip()[:300]!r}")
    check("core dumped" not in text.lower() and "AddressSanitizer" not in text,
          f"{what}: looks like a crash: {text.strip()[:300]!r}")
    if d is not None:
        check(not os.path.exists(os.path.join(d, "port")), f"{what}: wrote a port file")
    if t is not None:
        check(t < 5, f"{what}: took {t:.1f}s, want a fast failure")


# --------------------------------------------------------------------------------------


async def test_sigterm_drains_with_1001():
    b = Broker(drain_timeout=6).start()
    clients = [await Client.open(b, b.token(sub="t-1", role="teacher"), label="teacher"),
               await Client.open(b, b.token(sub="s-1", role="student"), label="s1"),
               await Client.open(b, b.token(sub="s-2", role="student"), label="s2")]
    for c in clients:
        await c.ping()
    mark = b.log_size()
    t0 = time.monotonic()
    b.expect_exit = True
    b.signal(signal.SIGTERM)
    codes = await asyncio.gather(*(c.wait_closed(8) for c in clients))
    eq(list(codes), [1001, 1001, 1001], "close codes on SIGTERM")
    rc = await asyncio.get_running_loop().run_in_executor(None, b.wait_exit, 6 + 3)
    elapsed = time.monotonic() - t0
    check(rc is not None, f"broker still running {elapsed:.1f}s after SIGTERM")
    eq(rc, 0, "exit status after a SIGTERM drain")
    check(elapsed <= 6 + 1, f"drain took {elapsed:.1f}s, drain timeout is 6 s")
    with open(b.log_path, "rb") as f:
        f.seek(mark)
        after = f.read().decode("utf-8", "replace")
    close_lines = [l for l in after.splitlines()
                   if re.search(r'msg="[^"]*clos', l) and re.search(r"\bconn=\d+", l)]
    per_conn = {}
    for l in close_lines:
        per_conn.setdefault(re.search(r"\bconn=(\d+)", l).group(1), []).append(l)
    eq(len(per_conn), 3, f"connections with a close line after SIGTERM ({close_lines})")
    for cid, lines in per_conn.items():
        eq(len(lines), 1, f"close lines of conn={cid}")
        check("reason=" in lines[0], f"close line without a reason: {lines[0]}")


async def test_no_new_connections_after_sigterm():
    b = Broker(drain_timeout=5).start()
    tok = b.token(sub="s-1", role="student")
    # A peer that does not read (so never answers the closing handshake) may keep the
    # drain going up to the drain timeout; during that window nothing new gets in.
    stubborn = RawWS(b.port, tok, label="stubborn")
    stubborn.recv_event("WELCOME")
    b.expect_exit = True
    b.signal(signal.SIGTERM)
    time.sleep(0.2)
    deadline = time.monotonic() + 2
    tries = 0
    while time.monotonic() < deadline and b.alive():
        tries += 1
        try:
            r = ws_upgrade_raw(b.port, token=tok, timeout=2)
            check(r.status != 101, "a new WebSocket connection was accepted after SIGTERM")
        except (ConnectionRefusedError, ConnectionResetError, BrokenPipeError):
            pass
        try:
            r = http_get(b.port, "/readyz", timeout=2)
            check(r.status == 503, f"GET /readyz after SIGTERM: {r.status}, want 503")
        except (ConnectionRefusedError, ConnectionResetError, BrokenPipeError):
            pass
        time.sleep(0.1)
    rc = b.wait_exit(5 + 3)
    check(rc is not None, "broker did not exit within the drain timeout with a stubborn peer")
    eq(rc, 0, "exit status after SIGTERM with a stubborn peer")
    # What the stubborn peer had been sent ends with a close frame saying 1001.
    code = None
    try:
        while True:
            stubborn.recv_json(3)
    except RawClosed as e:
        code = e.code
    except OSError as e:
        code = f"reset ({e!r})"
    eq(code, 1001, "close code the non-reading peer finds after SIGTERM")


async def test_silent_peer_closed_after_idle_timeout():
    b = Broker(args=["--idle-timeout", "2", "--ping-interval", "1"]).start()
    t = await Client.open(b, b.token(sub="t-1", role="teacher"), label="teacher")
    RawWS(b.port, b.token(sub="ghost", role="student"), label="ghost")
    await t.recv_event("PRESENCE", timeout=3)
    t0 = time.monotonic()
    # The ghost never reads and never answers pings; the teacher keeps talking.
    p = await t.recv_event("PRESENCE", timeout=8,
                           pred=lambda m: data_of(m).get("status") == "offline")
    elapsed = time.monotonic() - t0
    eq(data_of(p).get("student_id"), "ghost", "student that went offline")
    check(elapsed >= 1.0, f"silent peer dropped after {elapsed:.1f}s, before the idle timeout")
    check(not t.closed, "the teacher (answering pings) was dropped too")
    await t.ping()


def test_missing_secret_fails_fast():
    d = tempfile.mkdtemp(prefix="rollcall-e2e-")
    t0 = time.monotonic()
    rc, out, err = run_bin(start_args(d))
    assert_clean_failure(rc, out, err, "ROLLCALL_JWT_SECRET", "start without a secret", d,
                         time.monotonic() - t0)


def test_invalid_settings_fail_fast_naming_them():
    secret = random_secret()
    cases = [
        ("ROLLCALL_PORT", {"ROLLCALL_PORT": "abc"}, False),
        ("ROLLCALL_PORT", {"ROLLCALL_PORT": "70000"}, False),
        ("ROLLCALL_ATTENDANCE_THRESHOLD", {"ROLLCALL_ATTENDANCE_THRESHOLD": "101"}, True),
        ("ROLLCALL_ATTENDANCE_THRESHOLD", {"ROLLCALL_ATTENDANCE_THRESHOLD": "-1"}, True),
        ("ROLLCALL_LOG_LEVEL", {"ROLLCALL_LOG_LEVEL": "chatty"}, True),
        ("ROLLCALL_MAX_MESSAGE_BYTES", {"ROLLCALL_MAX_MESSAGE_BYTES": "12x"}, True),
    ]
    for name, env, port_flag in cases:
        d = tempfile.mkdtemp(prefix="rollcall-e2e-")
        args = start_args(d)
        if not port_flag:   # let the variable under test decide the port
            i = args.index("--port")
            del args[i:i + 2]
        env = dict(env, ROLLCALL_JWT_SECRET=secret)
        t0 = time.monotonic()
        rc, out, err = run_bin(args, env)
        assert_clean_failure(rc, out, err, name, f"{name}={list(env.values())[0]}", d,
                             time.monotonic() - t0)
    # The same through a flag names the flag or the variable.
    d = tempfile.mkdtemp(prefix="rollcall-e2e-")
    rc, out, err = run_bin(start_args(d) + ["--attendance-threshold", "101"],
                           {"ROLLCALL_JWT_SECRET": secret})
    check(rc > 0, f"--attendance-threshold 101: exit status {rc}")
    check("attendance-threshold" in out + err or "ROLLCALL_ATTENDANCE_THRESHOLD" in out + err,
          f"--attendance-threshold 101: message names neither: {(out + err)[:300]!r}")
    check(secret not in out + err, "the secret was printed in an error message")


def test_bad_keys_fail_fast():
    d = tempfile.mkdtemp(prefix="rollcall-e2e-")
    short = "tooShort" + random_secret(8)
    t0 = time.monotonic()
    rc, out, err = run_bin(start_args(d), {"ROLLCALL_JWT_SECRET": short})
    assert_clean_failure(rc, out, err, "ROLLCALL_JWT_SECRET",
                         "a 16-byte secret (at least 32 bytes required)", d,
                         time.monotonic() - t0)
    check(short not in out + err, "the short secret was printed")
    missing = os.path.join(d, "no-such-key.pem")
    rc, out, err = run_bin(start_args(d) + ["--jwt-public-key", missing])
    check(rc > 0 and rc < 128, f"missing public key file: exit status {rc}")
    check(missing in out + err or "ROLLCALL_JWT_PUBLIC_KEY" in out + err or
          "jwt-public-key" in out + err,
          f"missing public key file: message names neither the file nor the setting: "
          f"{(out + err).strip()[:300]!r}")
    garbage = os.path.join(d, "garbage.pem")
    with open(garbage, "w") as f:
        f.write("-----BEGIN PUBLIC KEY-----\nnot a key\n-----END PUBLIC KEY-----\n")
    rc, out, err = run_bin(start_args(d) + ["--jwt-public-key", garbage])
    check(rc > 0 and rc < 128, f"unparsable public key file: exit status {rc}")
    check(not os.path.exists(os.path.join(d, "port")), "started with a broken key")


async def test_dev_mode_without_secret():
    b = Broker(secret=None, args=["--dev"]).start()
    log = b.log()
    warn = [l for l in log.splitlines()
            if re.search(r"level=(warn|error)", l) and re.search(r"dev", l, re.I)]
    check(warn, "--dev without a secret logged no warning about development mode")
    eq(http_get(b.port, "/healthz").status, 200, "--dev broker /healthz")
    # It generated a secret: tokens signed with anything we know are refused.
    r = ws_upgrade_raw(b.port, token=remember(pyjwt.encode(
        {"sub": "x", "role": "teacher", "class_id": "c", "exp": now_s() + 60}, "",
        algorithm="HS256")))
    eq(r.status, 401, "--dev broker with a token signed by an empty secret")


def test_help_lists_every_variable():
    with open(os.path.join(SRC, "config", "config.h")) as f:
        names = sorted(set(re.findall(r"\bROLLCALL_[A-Z0-9_]+\b", f.read())))
    check(len(names) >= 15, f"found only {names} in config.h")
    rc, out, err = run_bin(["--help"])
    eq(rc, 0, "rollcall --help exit status")
    missing = [n for n in names if n not in out]
    check(not missing, f"--help (stdout) does not list {missing}")
    # Help works even with a bad value in the environment.
    rc, out, _ = run_bin(["--help"], {"ROLLCALL_PORT": "abc"})
    eq(rc, 0, "rollcall --help with ROLLCALL_PORT=abc")


async def test_token_subcommand_mints_an_accepted_token():
    b = Broker().start()
    rc, out, err = run_bin(["token", "--sub", "u1", "--role", "teacher", "--class", "c1",
                            "--ttl", "60"], {"ROLLCALL_JWT_SECRET": b.secret})
    eq(rc, 0, f"rollcall token exit status (stderr: {err.strip()[:200]!r})")
    lines = [l.strip() for l in out.splitlines() if l.strip()]
    eq(len(lines), 1, f"rollcall token prints one line: {out[:300]!r}")
    tok = remember(lines[0])
    check(b.secret not in out + err, "rollcall token printed the secret")
    claims = pyjwt.decode(tok, b.secret, algorithms=["HS256"])
    eq(claims.get("sub"), "u1", "minted sub")
    eq(claims.get("role"), "teacher", "minted role")
    check(claims.get("class_id") == "c1" or claims.get("classes") == ["c1"],
          f"minted class: {claims}")
    check(abs(claims.get("exp", 0) - (now_s() + 60)) <= 5, f"minted exp {claims.get('exp')}")
    c = await Client.open(b, tok)
    w = data_of(c.welcome)
    eq((w.get("user_id"), w.get("role"), w.get("classes")), ("u1", "teacher", ["c1"]),
       "WELCOME for the minted token")
    # Without a secret the subcommand fails cleanly.
    rc, out, err = run_bin(["token", "--sub", "u1", "--role", "teacher", "--class", "c1"])
    check(rc > 0, f"rollcall token without a secret: exit status {rc}")


def test_port_in_use_exits_cleanly():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    port = s.getsockname()[1]
    try:
        d = tempfile.mkdtemp(prefix="rollcall-e2e-")
        args = start_args(d)
        args[args.index("--port") + 1] = str(port)
        rc, out, err = run_bin(args, {"ROLLCALL_JWT_SECRET": random_secret()}, timeout=10)
        check(rc != 0, "broker started on a port that is in use")
        check(rc > 0 and rc < 128, f"port in use: exit status {rc} (crash/abort?)")
        text = (out + err).lower()
        check(str(port) in text or "in use" in text or "bind" in text or "listen" in text,
              f"port in use: no message about it: {(out + err).strip()[-300:]!r}")
        check("core dumped" not in text and "aborted" not in text, "port in use: aborted")
    finally:
        s.close()


if __name__ == "__main__":
    run_tests(globals())
