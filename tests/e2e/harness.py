# SPDX-License-Identifier: MIT
"""End-to-end harness for rollcall.

Drives the real broker binary ($ROLLCALL_BIN) over loopback and checks it against
docs/PROTOCOL.md. Run with Debian's interpreter (/usr/bin/python3): it needs the Debian
packages python3-websockets (10.4), python3-jsonschema, python3-jwt and
python3-cryptography.

What it gives a test file:
  * Broker: start the binary on a fresh temp dir (port 0 + --port-file, --data-dir),
    wait for GET /readyz, stop by PID (SIGTERM, then SIGKILL), restart on the same data.
  * Tokens: mint good and deliberately bad JWTs (every minted token is remembered so the
    runner can check that no token ever shows up in a broker log).
  * Client: an asyncio WebSocket client (websockets) with a background reader that
    validates EVERY message from the broker against schemas/out/<EVENT>.json.
  * RawWS: a hand-written WebSocket client on a plain socket (invalid UTF-8, slow
    consumers, stubborn peers).
  * http helpers, a Prometheus text parser.
  * RedisServer: a throwaway redis-server on a free loopback port in a temp dir (append-only
    file fsync'd on every write), stopped by PID. With E2E_ENGINE=redis every Broker of a
    test shares one such server through ROLLCALL_REDIS_URL (the Redis engine); without it
    the brokers use the memory engine.
  * run_tests(globals()): the runner; prints `ok name` / `FAIL name: reason`, then one
    line `N passed, N failed`, exit status 1 when anything failed or nothing ran.
"""

import asyncio
import base64
import datetime
import hashlib
import hmac
import http.client
import inspect
import json
import os
import re
import secrets
import shutil
import signal
import socket
import string
import struct
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.parse

import jsonschema
import jwt as pyjwt
import websockets
import websockets.exceptions

BIN = os.environ.get("ROLLCALL_BIN", "")
SRC = os.environ.get("ROLLCALL_SRC") or os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCHEMA_DIR = os.path.join(SRC, "schemas", "out")
HOST = "127.0.0.1"

# Every server event of PROTOCOL.md; each must have schemas/out/<EVENT>.json.
SERVER_EVENTS = ("WELCOME", "PRESENCE_SNAPSHOT", "PRESENCE", "SESSION_STARTED",
                 "TOKEN_EXPIRING", "AUTHENTICATED", "CLASS_REMOVED", "ROSTER", "CLASSES",
                 "ATTENDANCE_MARKED", "TODAY_SUMMARY", "ATTENDANCE_FINALIZED",
                 "MY_ATTENDANCE", "PONG", "ERROR", "FRAME_RESULT", "ENGAGEMENT_UPDATE",
                 "VIOLATION", "ANNOUNCEMENT")

ENGINE = os.environ.get("E2E_ENGINE", "memory")
REDIS_BIN = "/usr/bin/redis-server"

SUITE_BUDGET_S = 110.0   # every test file must finish well inside 120 s
DEFAULT_TEST_TIMEOUT_S = 40.0


# --------------------------------------------------------------------------------------
# Failures and the per-test context


class TestFailure(AssertionError):
    pass


def fail(msg):
    raise TestFailure(msg)


def check(cond, msg):
    if not cond:
        raise TestFailure(msg)


def eq(got, want, what):
    """Equality where JSON numbers compare by value (0 == 0.0) but never with booleans."""
    if not _eq_json(got, want):
        raise TestFailure(f"{what}: expected {want!r}, got {got!r}")


def _eq_json(a, b):
    num = (int, float)
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, num) and isinstance(b, num):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_eq_json(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_eq_json(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


def same(a, b):
    """Equality that does not confuse 1 with True or 1 with 1.0 ("id" echo checks)."""
    if type(a) is not type(b):
        return False
    return a == b


class _Ctx:
    def __init__(self, name):
        self.name = name
        self.brokers = []
        self.clients = []
        self.raws = []
        self.errors = []   # protocol violations seen by readers (strings)
        self.redises = []  # RedisServer instances of this test
        self.redis = None  # the one shared by brokers under E2E_ENGINE=redis


_ctx = _Ctx("(none)")
ALL_TOKENS = set()       # every token minted or obtained in this process


def ctx():
    return _ctx


def proto_error(msg):
    _ctx.errors.append(msg)


# --------------------------------------------------------------------------------------
# Schemas


_schema_cache = {}


def _load_validator(event):
    if event in _schema_cache:
        return _schema_cache[event]
    path = os.path.join(SCHEMA_DIR, event + ".json")
    result = None
    if not os.path.isfile(path):
        result = (None, f"no schema {os.path.relpath(path, SRC)} for server event {event}")
    else:
        try:
            with open(path, "rb") as f:
                schema = json.load(f)
            jsonschema.Draft202012Validator.check_schema(schema)
            resolver = jsonschema.RefResolver(base_uri="file://" + path, referrer=schema)
            v = jsonschema.Draft202012Validator(schema, resolver=resolver)
            props = schema.get("properties") if isinstance(schema, dict) else None
            # A schema of the whole envelope names "event" and "data"; otherwise it is the
            # schema of the data object (as the schemas/in/*.json of PROTOCOL.md are).
            whole = isinstance(props, dict) and "event" in props and "data" in props
            result = ((v, whole), None)
        except Exception as e:  # noqa: BLE001 - any broken schema is a failure
            result = (None, f"schema {path} unusable: {e}")
    _schema_cache[event] = result
    return result


def validate_message(msg):
    """Returns None when msg is a well-formed server message matching its schema."""
    if not isinstance(msg, dict):
        return f"server message is not a JSON object: {msg!r:.200}"
    extra = set(msg) - {"event", "data", "id"}
    if extra:
        return f"server message has unknown top-level keys {sorted(extra)}"
    ev = msg.get("event")
    if not isinstance(ev, str):
        return "server message without a string event"
    if "data" not in msg or not isinstance(msg["data"], dict):
        return f"{ev}: data missing or not an object"
    if "id" in msg and msg["id"] is not None:
        i = msg["id"]
        if not (isinstance(i, str) or (isinstance(i, int) and not isinstance(i, bool))):
            return f"{ev}: id of a wrong type: {i!r}"
    if ev not in SERVER_EVENTS:
        return f"unknown server event {ev!r}"
    loaded, err = _load_validator(ev)
    if err:
        return err
    v, whole = loaded
    inst = msg if whole else msg["data"]
    errs = sorted(v.iter_errors(inst), key=lambda e: list(e.path))
    if errs:
        e = errs[0]
        where = "/".join(str(p) for p in e.path) or "(root)"
        return f"{ev} does not match its schema at {where}: {e.message[:200]}"
    return None


# --------------------------------------------------------------------------------------
# Time, ids


def now_s():
    return int(time.time())


def today():
    return datetime.datetime.now(datetime.timezone.utc).date().isoformat()


def uid(prefix="x"):
    return f"{prefix}{secrets.token_hex(4)}"


def random_secret(n=48):
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(n))


# --------------------------------------------------------------------------------------
# Tokens


def b64url(b):
    if isinstance(b, str):
        b = b.encode()
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def remember(tok):
    if isinstance(tok, str) and tok:
        ALL_TOKENS.add(tok)
    return tok


_MISSING = object()


def make_claims(sub="u1", role="teacher", class_id=_MISSING, classes=None, name=None, ttl=300,
                exp=_MISSING, iat=_MISSING, nbf=None, iss=None, aud=None, omit=(), **extra):
    """Claims for a token; class_id defaults to "c1" unless classes is given."""
    t = now_s()
    c = {"sub": sub, "role": role}
    if classes is not None:
        c["classes"] = list(classes)
    if class_id is _MISSING:
        if classes is None:
            c["class_id"] = "c1"
    elif class_id is not None:
        c["class_id"] = class_id
    if name is not None:
        c["name"] = name
    c["iat"] = t if iat is _MISSING else iat
    if c["iat"] is None:
        del c["iat"]
    c["exp"] = t + ttl if exp is _MISSING else exp
    if c["exp"] is None:
        del c["exp"]
    if nbf is not None:
        c["nbf"] = nbf
    if iss is not None:
        c["iss"] = iss
    if aud is not None:
        c["aud"] = aud
    c.update(extra)
    for k in omit:
        c.pop(k, None)
    return c


def sign(claims, key, alg="HS256"):
    """A token signed with PyJWT (HS256/HS384/RS256/ES256; key: secret str or PEM/key)."""
    return remember(pyjwt.encode(claims, key, algorithm=alg))


def sign_hmac_raw(claims, key_bytes, alg="HS256", header=None):
    """Hand-built HMAC token: works with any key, e.g. a public key's PEM text (alg
    confusion), which PyJWT refuses to use."""
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[alg]
    h = header or {"alg": alg, "typ": "JWT"}
    signing_input = (b64url(json.dumps(h, separators=(",", ":"))) + "." +
                     b64url(json.dumps(claims, separators=(",", ":"))))
    sig = hmac.new(key_bytes, signing_input.encode(), digest).digest()
    return remember(signing_input + "." + b64url(sig))


def sign_none(claims):
    """alg none, hand-built: header.payload. with an empty signature."""
    h = {"alg": "none", "typ": "JWT"}
    return remember(b64url(json.dumps(h, separators=(",", ":"))) + "." +
                    b64url(json.dumps(claims, separators=(",", ":"))) + ".")


def bad_token(kind, secret, **claims_kw):
    """A token the broker must refuse (PROTOCOL.md "Authentication"), by kind."""
    now = now_s()
    good = make_claims(**claims_kw)
    if kind == "expired":
        return sign(make_claims(exp=now - 300, **claims_kw), secret)
    if kind == "nbf_future":
        return sign(make_claims(nbf=now + 300, **claims_kw), secret)
    if kind == "iat_future":
        return sign(make_claims(iat=now + 300, **claims_kw), secret)
    if kind == "no_exp":
        return sign(make_claims(exp=None, **claims_kw), secret)
    if kind == "alg_none":
        return sign_none(good)
    if kind == "hs384":
        return sign(good, secret, alg="HS384")
    if kind == "forged":
        return sign(good, random_secret())
    if kind == "rs256_confusion":
        priv, _ = gen_rsa()
        return sign(good, priv, alg="RS256")
    if kind == "no_sub":
        return sign(make_claims(omit=("sub",), **claims_kw), secret)
    if kind == "bad_role":
        kw = dict(claims_kw, role="superuser")
        return sign(make_claims(**kw), secret)
    if kind == "no_class":
        kw = {k: v for k, v in claims_kw.items() if k not in ("class_id", "classes")}
        return sign(make_claims(class_id=None, **kw), secret)
    if kind == "bad_signature":
        h, p, sgn = sign(good, secret).split(".")
        mid = len(sgn) // 2
        return remember(f"{h}.{p}.{sgn[:mid]}{'A' if sgn[mid] != 'A' else 'B'}{sgn[mid + 1:]}")
    raise ValueError(kind)


BAD_TOKEN_KINDS = ("expired", "nbf_future", "iat_future", "no_exp", "alg_none", "hs384",
                   "forged", "rs256_confusion", "no_sub", "bad_role", "no_class",
                   "bad_signature")


def gen_rsa():
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives import serialization
    k = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    priv = k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                           serialization.NoEncryption())
    pub = k.public_key().public_bytes(serialization.Encoding.PEM,
                                      serialization.PublicFormat.SubjectPublicKeyInfo)
    return priv, pub


def gen_ec():
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives import serialization
    k = ec.generate_private_key(ec.SECP256R1())
    priv = k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                           serialization.NoEncryption())
    pub = k.public_key().public_bytes(serialization.Encoding.PEM,
                                      serialization.PublicFormat.SubjectPublicKeyInfo)
    return priv, pub


# --------------------------------------------------------------------------------------
# Broker process


class Broker:
    """One rollcall process on a private temp dir. args: extra flags; env: extra env."""

    def __init__(self, args=(), env=None, secret=True, drain_timeout=5, log_level="debug",
                 data_dir=None, port=0, base_args=True):
        check(BIN and os.path.isfile(BIN) and os.access(BIN, os.X_OK),
              f"ROLLCALL_BIN is not an executable file: {BIN!r}")
        self.dir = tempfile.mkdtemp(prefix="rollcall-e2e-")
        self.data_dir = data_dir or os.path.join(self.dir, "data")
        self.port_file = os.path.join(self.dir, "port")
        self.log_path = os.path.join(self.dir, "broker.log")
        self.secret = random_secret() if secret is True else secret
        self.args = list(args)
        self.extra_env = dict(env or {})
        self.drain_timeout = drain_timeout
        self.log_level = log_level
        self.req_port = port
        self.base_args = base_args
        self.proc = None
        self.port = None
        if ENGINE == "redis" and "ROLLCALL_REDIS_URL" not in self.extra_env:
            if _ctx.redis is None:
                _ctx.redis = RedisServer().start()
            self.extra_env["ROLLCALL_REDIS_URL"] = _ctx.redis.url
            self.extra_env.setdefault("ROLLCALL_PRESENCE_TTL", "2")
        self.expect_exit = False    # set when the test itself ends the process
        self.exit_codes = []
        _ctx.brokers.append(self)

    # -- process ----------------------------------------------------------------------
    def command(self):
        cmd = [BIN]
        if self.base_args:
            cmd += ["--host", HOST, "--port", str(self.req_port), "--port-file",
                    self.port_file, "--data-dir", self.data_dir]
            if self.drain_timeout is not None:
                cmd += ["--drain-timeout", str(self.drain_timeout)]
        return cmd + self.args

    def environment(self):
        env = {k: v for k, v in os.environ.items() if not k.startswith("ROLLCALL_")}
        # One analyzer thread that loads its models on the first frame: tests that send no
        # frame do not pay for loading them.
        env["ROLLCALL_ANALYZER_THREADS"] = "1"
        env["ROLLCALL_ANALYZER_PRELOAD"] = "0"
        if self.log_level:
            env["ROLLCALL_LOG_LEVEL"] = self.log_level
        if self.secret:
            env["ROLLCALL_JWT_SECRET"] = self.secret
        env.update(self.extra_env)
        return env

    def start(self, wait=True, timeout=10.0):
        if os.path.exists(self.port_file):
            os.unlink(self.port_file)
        self.port = None
        self.expect_exit = False
        with open(self.log_path, "ab") as logf:
            self.proc = subprocess.Popen(self.command(), env=self.environment(),
                                         stdin=subprocess.DEVNULL, stdout=logf, stderr=logf,
                                         start_new_session=True)
        if wait:
            self.wait_ready(timeout)
        return self

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def wait_port(self, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                fail(f"broker exited during start-up (rc={self.proc.returncode})\n" +
                     self.tail())
            try:
                with open(self.port_file) as f:
                    txt = f.read().strip()
                if txt.isdigit() and int(txt) > 0:
                    self.port = int(txt)
                    return self.port
            except FileNotFoundError:
                pass
            time.sleep(0.02)
        fail(f"no port file {self.port_file} within {timeout}s\n" + self.tail())

    def wait_ready(self, timeout=10.0):
        deadline = time.monotonic() + timeout
        self.wait_port(timeout)
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                fail(f"broker exited during start-up (rc={self.proc.returncode})\n" +
                     self.tail())
            try:
                r = http_get(self.port, "/readyz", timeout=2)
                last = r.status
                if r.status == 200:
                    return
            except OSError as e:
                last = e
            time.sleep(0.05)
        fail(f"GET /readyz not 200 within {timeout}s (last: {last})\n" + self.tail())

    def signal(self, sig):
        if self.alive():
            os.kill(self.proc.pid, sig)

    def wait_exit(self, timeout):
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        self.exit_codes.append(rc)
        return rc

    def stop(self, timeout=None):
        """SIGTERM by PID, wait, then SIGKILL. Returns the exit status."""
        if self.proc is None:
            return None
        self.expect_exit = True
        if self.proc.poll() is not None:
            return self.proc.returncode
        if timeout is None:
            timeout = (self.drain_timeout or 10) + 5
        os.kill(self.proc.pid, signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            rc = self.proc.wait(10)
            self.killed_hard = True
        self.exit_codes.append(rc)
        return rc

    def kill9(self):
        self.expect_exit = True
        if self.alive():
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        return self.proc.returncode

    def restart(self, timeout=10.0):
        """kill -9, then start again on the same data dir."""
        self.kill9()
        return self.start(timeout=timeout)

    def rss_kb(self):
        try:
            with open(f"/proc/{self.proc.pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1])
        except OSError:
            return None
        return None

    # -- logs ------------------------------------------------------------------------
    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def log_size(self):
        try:
            return os.path.getsize(self.log_path)
        except OSError:
            return 0

    def tail(self, n=30):
        lines = self.log().splitlines()[-n:]
        return "\n".join("    | " + l for l in lines)

    # -- tokens and urls ---------------------------------------------------------------
    def token(self, sub="u1", role="teacher", class_id=_MISSING, **kw):
        check(self.secret, "this broker has no HS256 secret")
        return sign(make_claims(sub=sub, role=role, class_id=class_id, **kw), self.secret)

    def ws_url(self, token=None, path="/ws"):
        u = f"ws://{HOST}:{self.port}{path}"
        if token is not None:
            u += "?token=" + urllib.parse.quote(token, safe="")
        return u

    def metrics(self):
        r = http_get(self.port, "/metrics")
        eq(r.status, 200, "GET /metrics status")
        return Metrics(r.body.decode("utf-8", "replace"))

    async def client(self, token, **kw):
        return await Client.open(self, token, **kw)


class RedisServer:
    """A redis-server on a free loopback port, in its own temp dir, with the append-only
    file fsync'd at every write (what an operator needs so that nothing acknowledged is
    lost). Stopped by PID at the end of the test."""

    def __init__(self):
        check(os.access(REDIS_BIN, os.X_OK), f"{REDIS_BIN} is not installed")
        self.dir = tempfile.mkdtemp(prefix="rollcall-redis-")
        self.port = _free_port()
        self.proc = None
        self.log_path = os.path.join(self.dir, "redis.log")
        _ctx.redises.append(self)

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}"

    def start(self, timeout=10.0):
        cmd = [REDIS_BIN, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", self.dir,
               "--save", "", "--appendonly", "yes", "--appendfsync", "always",
               "--daemonize", "no", "--protected-mode", "yes", "--logfile", self.log_path]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                fail(f"redis-server exited during start-up (rc={self.proc.returncode})")
            try:
                if self.command("PING") == "PONG":
                    return self
            except OSError:
                pass
            time.sleep(0.03)
        fail(f"redis-server not answering on port {self.port} within {timeout}s")

    def command(self, *args, timeout=2.0):
        """One command over a plain socket; returns the decoded reply (simple types)."""
        payload = f"*{len(args)}\r\n".encode()
        for a in args:
            b = a if isinstance(a, bytes) else str(a).encode()
            payload += f"${len(b)}\r\n".encode() + b + b"\r\n"
        with socket.create_connection((HOST, self.port), timeout=timeout) as s:
            s.sendall(payload)
            f = s.makefile("rb")
            return _resp_read(f)

    def stop(self, sig=signal.SIGTERM, timeout=10.0):
        if self.proc is None or self.proc.poll() is not None:
            return
        os.kill(self.proc.pid, sig)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def cleanup(self):
        self.stop(signal.SIGKILL)
        shutil.rmtree(self.dir, ignore_errors=True)


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _resp_read(f):
    line = f.readline()
    if not line:
        raise OSError("redis closed the connection")
    kind, rest = line[:1], line[1:].rstrip(b"\r\n")
    if kind == b"+":
        return rest.decode()
    if kind == b"-":
        return RuntimeError(rest.decode())
    if kind == b":":
        return int(rest)
    if kind == b"$":
        n = int(rest)
        if n < 0:
            return None
        data = f.read(n + 2)[:n]
        return data.decode("utf-8", "replace")
    if kind == b"*":
        n = int(rest)
        return None if n < 0 else [_resp_read(f) for _ in range(n)]
    raise OSError(f"unexpected redis reply {line[:40]!r}")


def log_problems(text):
    """Sanitizer reports in a broker log, and any token that leaked into it."""
    out = []
    for line in text.splitlines():
        if ("runtime error" in line or "ERROR: AddressSanitizer" in line or
                "LeakSanitizer" in line):
            out.append("sanitizer: " + line.strip()[:300])
    for tok in ALL_TOKENS:
        parts = tok.split(".")
        if tok in text:
            out.append(f"a token appears in the broker log: {tok[:24]}...")
        elif len(parts) == 3 and len(parts[2]) >= 16 and parts[2] in text:
            out.append(f"a token's signature appears in the broker log: {parts[2][:12]}...")
    return out


# --------------------------------------------------------------------------------------
# HTTP


class Resp:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        try:
            return json.loads(self.body)
        except ValueError:
            fail(f"HTTP body is not JSON: {self.body[:200]!r}")

    def __repr__(self):
        return f"<HTTP {self.status} {self.body[:120]!r}>"


def http_get(port, path, headers=None, timeout=5.0, method="GET", body=None):
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        data = r.read()
        hdrs = {}
        for k, v in r.getheaders():
            k = k.lower()
            hdrs[k] = hdrs[k] + ", " + v if k in hdrs else v
        return Resp(r.status, hdrs, data)
    finally:
        conn.close()


def ws_upgrade_raw(port, path="/ws", token=None, via="query", headers=None, timeout=5.0):
    """Sends a WebSocket upgrade request by hand and returns the HTTP response (the status,
    lower-cased headers, and what followed). status is None when the server closed the
    connection without any answer. The socket is closed afterwards."""
    if token is not None and via == "query":
        sep = "&" if "?" in path else "?"
        path = path + sep + "token=" + urllib.parse.quote(token, safe="")
    hdrs = {
        "Host": f"{HOST}:{port}",
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Key": base64.b64encode(os.urandom(16)).decode(),
        "Sec-WebSocket-Version": "13",
    }
    if token is not None and via == "header":
        hdrs["Authorization"] = "Bearer " + token
    hdrs.update(headers or {})
    req = f"GET {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hdrs.items())
    req += "\r\n"
    s = socket.create_connection((HOST, port), timeout=timeout)
    try:
        s.sendall(req.encode())
        buf = b""
        deadline = time.monotonic() + timeout
        while b"\r\n\r\n" not in buf and time.monotonic() < deadline:
            try:
                chunk = s.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not chunk:
                break
            buf += chunk
        if not buf:
            return Resp(None, {}, b"")
        head, _, rest = buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        m = re.match(r"HTTP/1\.[01] (\d{3})", lines[0])
        if not m:
            fail(f"not an HTTP response: {lines[0]!r}")
        out = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            k = k.strip().lower()
            v = v.strip()
            out[k] = out[k] + ", " + v if k in out else v
        return Resp(int(m.group(1)), out, rest)
    finally:
        s.close()


# --------------------------------------------------------------------------------------
# Prometheus text exposition


class Metrics:
    """Parses the Prometheus text format (version 0.0.4) by hand."""

    _name = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")

    def __init__(self, text):
        self.text = text
        self.samples = {}   # (name, frozenset(labels)) -> float
        self.types = {}
        for ln, line in enumerate(text.split("\n"), 1):
            if not line.strip():
                continue
            if line.startswith("#"):
                parts = line.split(None, 3)
                if len(parts) >= 4 and parts[1] == "TYPE":
                    check(parts[3].strip() in ("counter", "gauge", "histogram", "summary",
                                               "untyped"),
                          f"/metrics line {ln}: bad TYPE {line!r}")
                    self.types[parts[2]] = parts[3].strip()
                continue
            name, labels, value = self._parse_sample(line, ln)
            key = (name, frozenset(labels.items()))
            check(key not in self.samples, f"/metrics line {ln}: duplicate sample {line!r}")
            self.samples[key] = value

    def _parse_sample(self, line, ln):
        m = self._name.match(line)
        check(m, f"/metrics line {ln}: no metric name: {line!r}")
        name = m.group(0)
        i = m.end()
        labels = {}
        if i < len(line) and line[i] == "{":
            i += 1
            while True:
                while i < len(line) and line[i] == " ":
                    i += 1
                if i < len(line) and line[i] == "}":
                    i += 1
                    break
                lm = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*").match(line, i)
                check(lm, f"/metrics line {ln}: bad label name: {line!r}")
                lname = lm.group(0)
                i = lm.end()
                check(line[i:i + 2] == '="', f"/metrics line {ln}: bad label: {line!r}")
                i += 2
                val = []
                while True:
                    check(i < len(line), f"/metrics line {ln}: unterminated label: {line!r}")
                    c = line[i]
                    if c == "\\":
                        nxt = line[i + 1:i + 2]
                        check(nxt in ('"', "\\", "n"), f"/metrics line {ln}: bad escape")
                        val.append("\n" if nxt == "n" else nxt)
                        i += 2
                    elif c == '"':
                        i += 1
                        break
                    else:
                        val.append(c)
                        i += 1
                labels[lname] = "".join(val)
                if i < len(line) and line[i] == ",":
                    i += 1
                    continue
                check(i < len(line) and line[i] == "}", f"/metrics line {ln}: bad labels")
                i += 1
                break
        rest = line[i:].split()
        check(1 <= len(rest) <= 2, f"/metrics line {ln}: bad sample: {line!r}")
        try:
            value = float(rest[0])
        except ValueError:
            fail(f"/metrics line {ln}: bad value: {line!r}")
        return name, labels, value

    def get(self, name, default=None, **labels):
        key = (name, frozenset(labels.items()))
        if key in self.samples:
            return self.samples[key]
        if default is not None:
            return default
        fail(f"/metrics has no sample {name}{labels or ''}")

    def has(self, name, **labels):
        return (name, frozenset(labels.items())) in self.samples

    def names(self):
        return {n for n, _ in self.samples}

    def family(self, name):
        return {frozenset(l): v for (n, l), v in self.samples.items() if n == name}


# --------------------------------------------------------------------------------------
# WebSocket client (asyncio, websockets 10.4)


def _summ(msgs, n=8):
    out = []
    for m in msgs[:n]:
        d = m.get("data") if isinstance(m, dict) else None
        code = d.get("code") if isinstance(d, dict) else None
        out.append(f"{m.get('event')}{'(' + str(code) + ')' if code else ''}"
                   f"{' id=' + repr(m.get('id')) if 'id' in m else ''}")
    return "[" + ", ".join(out) + (" ..." if len(msgs) > n else "") + "]"


class Client:
    _seq = 0

    def __init__(self, broker, token, via="query", path="/ws", label=None):
        self.broker = broker
        self.token = token
        self.via = via
        self.path = path
        Client._seq += 1
        self.label = label or f"client{Client._seq}"
        self.ws = None
        self.buf = []        # received, not yet consumed
        self.all = []        # everything received
        self.closed = False
        self.welcome = None
        self.snapshots = []
        self._cond = None
        self._task = None
        self._rid = 0

    @classmethod
    async def open(cls, broker, token, via="query", path="/ws", label=None, timeout=5.0,
                   snapshots=True):
        c = cls(broker, token, via=via, path=path, label=label)
        await c.connect(timeout=timeout, snapshots=snapshots)
        return c

    async def connect(self, timeout=5.0, snapshots=True):
        uri = f"ws://{HOST}:{self.broker.port}{self.path}"
        headers = {}
        if self.via == "query":
            uri += "?token=" + urllib.parse.quote(self.token, safe="")
        elif self.via == "header":
            headers["Authorization"] = "Bearer " + self.token
        self._cond = asyncio.Condition()
        try:
            self.ws = await asyncio.wait_for(
                websockets.connect(uri, extra_headers=headers, open_timeout=timeout,
                                   close_timeout=2, ping_interval=None, compression=None,
                                   max_size=32 * 1024 * 1024, max_queue=None),
                timeout + 1)
        except websockets.exceptions.InvalidStatusCode as e:
            fail(f"{self.label}: upgrade refused with HTTP {e.status_code}")
        except (OSError, asyncio.TimeoutError, websockets.exceptions.WebSocketException) as e:
            fail(f"{self.label}: connect failed: {e!r}")
        _ctx.clients.append(self)
        self._task = asyncio.get_running_loop().create_task(self._reader())
        self.welcome = await self.recv_event("WELCOME", timeout=timeout)
        role = self.welcome["data"].get("role")
        if snapshots and role in ("teacher", "admin"):
            # One PRESENCE_SNAPSHOT per class follows; tests that assert it use
            # self.snapshots. Waiting is bounded so one missing snapshot cannot stall
            # every later test.
            classes = self.welcome["data"].get("classes") or []
            deadline = time.monotonic() + 1.5
            while len(self.snapshots) < len(classes) and time.monotonic() < deadline:
                try:
                    m = await self.recv_event("PRESENCE_SNAPSHOT",
                                              timeout=max(0.05, deadline - time.monotonic()))
                    self.snapshots.append(m)
                except TestFailure:
                    break
        return self

    async def _reader(self):
        try:
            async for raw in self.ws:
                if isinstance(raw, bytes):
                    proto_error(f"{self.label}: binary message from the broker ({len(raw)} B)")
                    continue
                try:
                    msg = json.loads(raw)
                except ValueError:
                    proto_error(f"{self.label}: non-JSON text from the broker: {raw[:200]!r}")
                    continue
                err = validate_message(msg)
                if err:
                    proto_error(f"{self.label}: {err} -- message: {raw[:300]}")
                async with self._cond:
                    self.buf.append(msg)
                    self.all.append(msg)
                    self._cond.notify_all()
        except websockets.exceptions.ConnectionClosed:
            pass
        except Exception as e:  # noqa: BLE001
            proto_error(f"{self.label}: reader crashed: {e!r}")
        finally:
            self.closed = True
            async with self._cond:
                self._cond.notify_all()

    # -- sending -------------------------------------------------------------------------
    def next_id(self):
        self._rid += 1
        return f"{self.label}-r{self._rid}"

    async def send(self, event, data=None, id=None, **extra):
        env = {"event": event}
        if data is not None:
            env["data"] = data
        if id is not None:
            env["id"] = id
        env.update(extra)
        await self.send_raw(json.dumps(env))

    async def send_raw(self, payload):
        try:
            await self.ws.send(payload)
        except websockets.exceptions.ConnectionClosed as e:
            fail(f"{self.label}: send on a closed connection ({e})")

    # -- receiving -----------------------------------------------------------------------
    @staticmethod
    def _match(m, event, pred, id):
        if event is not None and m.get("event") != event:
            return False
        if id is not _MISSING and not ("id" in m and same(m["id"], id)):
            return False
        if pred is not None and not pred(m):
            return False
        return True

    async def recv_event(self, event=None, timeout=5.0, pred=None, id=_MISSING):
        """First buffered or incoming message with that event (and id/pred); others stay
        buffered."""
        deadline = time.monotonic() + timeout
        async with self._cond:
            while True:
                for i, m in enumerate(self.buf):
                    if self._match(m, event, pred, id):
                        del self.buf[i]
                        return m
                if self.closed:
                    fail(f"{self.label}: connection closed (code {self.close_code}) while "
                         f"waiting for {event or 'a message'}; buffered: {_summ(self.buf)}")
                left = deadline - time.monotonic()
                if left <= 0:
                    fail(f"{self.label}: no {event or 'message'}"
                         f"{'' if id is _MISSING else ' id=' + repr(id)} within {timeout}s; "
                         f"buffered: {_summ(self.buf)}")
                try:
                    await asyncio.wait_for(self._cond.wait(), left)
                except asyncio.TimeoutError:
                    pass

    async def recv_all(self, event, count, timeout=5.0, pred=None):
        return [await self.recv_event(event, timeout=timeout, pred=pred) for _ in range(count)]

    async def expect_no_message(self, timeout=0.5, event=None, ignore=(), pred=None):
        """Fails when a (matching, not ignored) message is buffered or arrives in time."""
        await asyncio.sleep(timeout)
        bad = [m for m in self.buf
               if m.get("event") not in ignore and self._match(m, event, pred, _MISSING)]
        if bad:
            fail(f"{self.label}: unexpected message(s) {_summ(bad)}: "
                 f"{json.dumps(bad[0])[:300]}")

    def clear(self):
        dropped = self.buf[:]
        self.buf.clear()
        return dropped

    async def request(self, event, data=None, id=_MISSING, timeout=5.0, **extra):
        """Sends a request with an id (generated unless given) and returns the reply that
        carries the same id."""
        if id is _MISSING:
            id = self.next_id()
        await self.send(event, data, id=id, **extra)
        return await self.recv_event(None, timeout=timeout, id=id)

    async def call(self, event, data=None, reply=None, id=_MISSING, timeout=5.0):
        """request() that must succeed with the reply event `reply` (default: same name);
        returns the whole reply message."""
        want = reply or {"SESSION_START": "SESSION_STARTED", "DONE": "ATTENDANCE_FINALIZED",
                         "PING": "PONG"}.get(event, event)
        m = await self.request(event, data, id=id, timeout=timeout)
        if m.get("event") != want:
            fail(f"{self.label}: {event} {json.dumps(data)[:200]} -> expected {want}, got "
                 f"{json.dumps(m)[:300]}")
        return m

    async def error(self, event, data=None, code=None, id=_MISSING, timeout=5.0, **extra):
        """request() that must fail with ERROR `code`; checks id and data.ref echo."""
        if id is _MISSING:
            id = self.next_id()
        m = await self.request(event, data, id=id, timeout=timeout, **extra)
        check_error(m, code, id, what=f"{self.label}: {event} {json.dumps(data)[:120]}")
        return m

    async def ping(self, timeout=5.0):
        """PING with a fresh id; the reply must be PONG (the connection is usable)."""
        ts = time.time()
        m = await self.call("PING", {"ts": ts}, timeout=timeout)
        return m

    @property
    def close_code(self):
        return self.ws.close_code if self.ws is not None else None

    @property
    def close_reason(self):
        return self.ws.close_reason if self.ws is not None else None

    async def wait_closed(self, timeout=5.0):
        """Waits for the server to close; returns the close code (1006: no close frame)."""
        try:
            await asyncio.wait_for(asyncio.shield(self._task), timeout)
        except asyncio.TimeoutError:
            fail(f"{self.label}: still open after {timeout}s")
        return self.ws.close_code

    async def close(self):
        if self.ws is not None and not self.closed:
            try:
                await asyncio.wait_for(self.ws.close(), 3)
            except Exception:  # noqa: BLE001
                pass
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), 3)
            except Exception:  # noqa: BLE001
                self._task.cancel()

    async def abort(self):
        """Drops the TCP connection without a closing handshake."""
        if self.ws is not None and self.ws.transport is not None:
            self.ws.transport.abort()
        await self.close()


def check_error(m, code, id=_MISSING, what="request"):
    if m.get("event") != "ERROR":
        fail(f"{what}: expected ERROR {code}, got {json.dumps(m)[:300]}")
    d = m.get("data") or {}
    if code is not None and d.get("code") != code:
        fail(f"{what}: expected ERROR {code}, got ERROR {d.get('code')} "
             f"({d.get('message')!r})")
    check(isinstance(d.get("message"), str) and d["message"],
          f"{what}: ERROR without a message")
    if id is not _MISSING:
        check("id" in m and same(m["id"], id), f"{what}: ERROR id {m.get('id')!r} != {id!r}")
        check("ref" in d and same(d["ref"], id),
              f"{what}: ERROR data.ref {d.get('ref')!r} != {id!r}")


# --------------------------------------------------------------------------------------
# Raw WebSocket client on a plain socket


class RawClosed(Exception):
    def __init__(self, code, reason=""):
        super().__init__(f"closed code={code} reason={reason!r}")
        self.code = code
        self.reason = reason


class RawWS:
    """Minimal RFC 6455 client: handshake, masked frames of any content, frame reader."""

    def __init__(self, port, token, path="/ws", rcvbuf=None, timeout=5.0, label="raw"):
        self.label = label
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect((HOST, port))
        _ctx.raws.append(self)
        self.rbuf = b""
        self.msgs = []
        self.closed_code = None
        key = base64.b64encode(os.urandom(16)).decode()
        p = path + "?token=" + urllib.parse.quote(token, safe="")
        req = (f"GET {p} HTTP/1.1\r\nHost: {HOST}:{port}\r\nUpgrade: websocket\r\n"
               f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
               f"Sec-WebSocket-Version: 13\r\n\r\n")
        self.sock.sendall(req.encode())
        while b"\r\n\r\n" not in self.rbuf:
            chunk = self.sock.recv(4096)
            if not chunk:
                fail(f"{label}: connection closed during the handshake")
            self.rbuf += chunk
        head, _, self.rbuf = self.rbuf.partition(b"\r\n\r\n")
        status = head.split(b"\r\n", 1)[0]
        check(b" 101 " in status + b" ", f"{label}: handshake refused: {status!r}")
        accept = base64.b64encode(hashlib.sha1(
            (key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
        check(accept.encode() in head, f"{label}: bad Sec-WebSocket-Accept")

    @staticmethod
    def _frame(opcode, payload, fin=True):
        b0 = (0x80 if fin else 0) | opcode
        n = len(payload)
        if n < 126:
            hdr = struct.pack("!BB", b0, 0x80 | n)
        elif n < 65536:
            hdr = struct.pack("!BBH", b0, 0x80 | 126, n)
        else:
            hdr = struct.pack("!BBQ", b0, 0x80 | 127, n)
        mask = os.urandom(4)
        body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        return hdr + mask + body

    def send_frame(self, opcode, payload, fin=True):
        self.sock.sendall(self._frame(opcode, payload, fin))

    def send_json_batch(self, objs):
        """Sends several text messages in one write, so the broker reads them together."""
        self.sock.sendall(b"".join(self._frame(0x1, json.dumps(o).encode()) for o in objs))

    def send_text_bytes(self, payload):
        self.send_frame(0x1, payload)

    def send_json(self, obj):
        self.send_frame(0x1, json.dumps(obj).encode())

    def _read(self, n, deadline):
        while len(self.rbuf) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout("raw recv timeout")
            self.sock.settimeout(left)
            chunk = self.sock.recv(65536)
            if not chunk:
                raise RawClosed(1006, "EOF")
            self.rbuf += chunk
        out, self.rbuf = self.rbuf[:n], self.rbuf[n:]
        return out

    def recv_frame(self, timeout=5.0):
        """Returns (opcode, payload) of one whole message (continuations joined)."""
        deadline = time.monotonic() + timeout
        parts = []
        first_op = None
        while True:
            b0, b1 = self._read(2, deadline)
            op = b0 & 0x0F
            # RFC 6455 5.1-5.2: a server never masks, and without extensions sets no RSV bit.
            if b1 & 0x80:
                proto_error(f"{self.label}: masked frame from the server")
            if b0 & 0x70:
                proto_error(f"{self.label}: RSV bits set in a frame from the server: {b0:#x}")
            if op not in (0x0, 0x1, 0x2, 0x8, 0x9, 0xA):
                proto_error(f"{self.label}: reserved opcode {op:#x} from the server")
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack("!H", self._read(2, deadline))[0]
            elif n == 127:
                n = struct.unpack("!Q", self._read(8, deadline))[0]
            mask = self._read(4, deadline) if b1 & 0x80 else None
            data = self._read(n, deadline)
            if mask:
                data = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
            if op >= 0x8:
                return op, data
            if op != 0:
                first_op = op
            parts.append(data)
            if b0 & 0x80:
                return first_op, b"".join(parts)

    def recv_json(self, timeout=5.0):
        deadline = time.monotonic() + timeout
        while True:
            op, data = self.recv_frame(max(0.01, deadline - time.monotonic()))
            if op == 0x9:
                self.send_frame(0xA, data)
                continue
            if op == 0xA:
                continue
            if op == 0x8:
                code = struct.unpack("!H", data[:2])[0] if len(data) >= 2 else 1005
                self.closed_code = code
                raise RawClosed(code, data[2:].decode("utf-8", "replace"))
            if op != 0x1:
                proto_error(f"{self.label}: non-text message opcode {op}")
                continue
            try:
                msg = json.loads(data.decode("utf-8"))
            except ValueError:
                proto_error(f"{self.label}: non-JSON text from the broker: {data[:200]!r}")
                continue
            err = validate_message(msg)
            if err:
                proto_error(f"{self.label}: {err} -- message: {data[:300]!r}")
            return msg

    def recv_event(self, event, timeout=5.0, id=_MISSING):
        deadline = time.monotonic() + timeout
        for i, m in enumerate(self.msgs):
            if m.get("event") == event and (id is _MISSING or same(m.get("id"), id)):
                return self.msgs.pop(i)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                fail(f"{self.label}: no {event} within {timeout}s")
            try:
                m = self.recv_json(left)
            except socket.timeout:
                fail(f"{self.label}: no {event} within {timeout}s")
            except RawClosed as e:
                fail(f"{self.label}: closed ({e.code}) while waiting for {event}")
            if m.get("event") == event and (id is _MISSING or same(m.get("id"), id)):
                return m
            self.msgs.append(m)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


# --------------------------------------------------------------------------------------
# Small protocol helpers shared by the test files


def data_of(m):
    return m.get("data") or {}


def students_by_id(summary_data):
    return {s["student_id"]: s for s in summary_data.get("students", [])}


def records_by_id(fin_data):
    recs = fin_data.get("records", [])
    ids = [r.get("student_id") for r in recs]
    check(len(ids) == len(set(ids)), f"duplicate student_id in records: {ids}")
    return {r["student_id"]: r for r in recs}


def record_key(r):
    return (r.get("student_id"), r.get("student_name"), r.get("status"), r.get("source"),
            r.get("engagement_percentage"))


async def pong_ok(client, what="connection"):
    """The connection is still usable: PING gets PONG."""
    try:
        await client.ping()
    except TestFailure as e:
        fail(f"{what} not usable afterwards: {e}")


async def sleep(s):
    await asyncio.sleep(s)


# --------------------------------------------------------------------------------------
# Runner


def timeout(seconds):
    """Decorator: a test's own time limit (default DEFAULT_TEST_TIMEOUT_S)."""
    def deco(fn):
        fn.timeout = seconds
        return fn
    return deco


async def _run_async(fn, limit):
    try:
        await asyncio.wait_for(fn(), limit)
    except asyncio.TimeoutError:
        raise TestFailure(f"timed out after {limit:.0f}s")
    finally:
        for c in list(_ctx.clients):
            try:
                await asyncio.wait_for(c.close(), 4)
            except Exception:  # noqa: BLE001
                pass


def _teardown(problems):
    for r in _ctx.raws:
        r.close()
    for b in _ctx.brokers:
        if b.proc is None:
            continue
        if b.proc.poll() is not None and not b.expect_exit:
            problems.append(f"broker (pid {b.pid}) died during the test "
                            f"(rc={b.proc.returncode})")
        try:
            b.stop()
        except Exception as e:  # noqa: BLE001
            problems.append(f"stopping the broker failed: {e!r}")
    for b in _ctx.brokers:
        problems.extend(log_problems(b.log()))
    for r in _ctx.redises:
        r.cleanup()


# Open defects, listed by test name with the reason. Such a test still runs and prints its
# outcome as KNOWN-DEFECT (or FIXED when it passes, so the entry can be removed); it does
# not fail the suite. Every entry is reported in the issue it belongs to.
KNOWN_DEFECTS = {
}


def run_tests(g):
    tests = [(n, f) for n, f in g.items() if n.startswith("test_") and callable(f)]
    only = os.environ.get("E2E_ONLY")
    if only:
        tests = [(n, f) for n, f in tests if re.search(only, n)]
    passed = failed = 0
    t0 = time.monotonic()
    global _ctx
    for name, fn in tests:
        _ctx = _Ctx(name)
        err = None
        left = SUITE_BUDGET_S - (time.monotonic() - t0)
        limit = min(getattr(fn, "timeout", DEFAULT_TEST_TIMEOUT_S), left)
        started = time.monotonic()
        if limit < 3:
            err = "not run: the file's time budget is spent"
        else:
            try:
                if inspect.iscoroutinefunction(fn):
                    asyncio.run(_run_async(fn, limit))
                else:
                    fn()
            except AssertionError as e:
                err = str(e) or "assertion failed:\n" + traceback.format_exc(limit=4)
            except Exception:  # noqa: BLE001
                err = "exception:\n" + traceback.format_exc(limit=6)
        problems = []
        try:
            _teardown(problems)
        except Exception:  # noqa: BLE001
            problems.append("teardown: " + traceback.format_exc(limit=3))
        if _ctx.errors:
            problems.append("protocol violations: " + " | ".join(_ctx.errors[:6]) +
                            (f" (+{len(_ctx.errors) - 6} more)" if len(_ctx.errors) > 6 else ""))
        if problems:
            err = (err + "\n  also: " if err else "") + "\n  also: ".join(problems)
        dt = time.monotonic() - started
        if name in KNOWN_DEFECTS:
            print(f"{'FIXED' if err is None else 'KNOWN-DEFECT'} {name}: "
                  f"{KNOWN_DEFECTS[name]}" + (f" ({err.splitlines()[0]})" if err else ""),
                  flush=True)
            continue
        if err is None:
            passed += 1
            print(f"ok {name} ({dt:.1f}s)", flush=True)
        else:
            failed += 1
            print(f"FAIL {name}: {err}", flush=True)
            for b in _ctx.brokers:
                print(f"  last broker log lines ({b.log_path}):\n{b.tail(30)}", flush=True)
        if err is None and not os.environ.get("E2E_KEEP"):
            for b in _ctx.brokers:
                shutil.rmtree(b.dir, ignore_errors=True)
    print(f"{passed} passed, {failed} failed", flush=True)
    sys.exit(1 if failed or passed == 0 else 0)
