# SPDX-License-Identifier: MIT
"""Keys from a JSON Web Key Set and key rotation (PROTOCOL.md "Authentication"): a token's
kid picks its key, a token without a known kid or with a crit header is refused, and SIGHUP
reads the key files again without dropping connections; a bad file keeps the old keys."""

import json
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Broker, Client, b64url, check, data_of, eq, fail, gen_ec,  # noqa: E402
                     make_claims, remember, run_tests, sign, sign_hmac_raw, sleep,
                     ws_upgrade_raw)

from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec, rsa  # noqa: E402
import jwt as pyjwt  # noqa: E402


def rsa_key(bits=2048):
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def ec_key():
    return ec.generate_private_key(ec.SECP256R1())


def _uint(n, size=None):
    size = size or (n.bit_length() + 7) // 8
    return b64url(n.to_bytes(size, "big"))


def jwk(key, kid, **extra):
    """The public JWK of a cryptography private key, with extra members (alg, use...)."""
    pub = key.public_key().public_numbers()
    if isinstance(key, rsa.RSAPrivateKey):
        d = {"kty": "RSA", "kid": kid, "n": _uint(pub.n), "e": _uint(pub.e)}
    else:
        d = {"kty": "EC", "kid": kid, "crv": "P-256", "x": _uint(pub.x, 32),
             "y": _uint(pub.y, 32)}
    d.update(extra)
    return d


def write_atomically(path, data):
    """Writes a key file as a deployment would: a new file renamed over the old one."""
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())
    os.replace(tmp, path)


def write_jwks(path, keys):
    write_atomically(path, json.dumps({"keys": keys}, indent=1))


def pem_public(key):
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)


def token(key, kid=None, alg=None, headers=None, **claims):
    alg = alg or ("RS256" if isinstance(key, rsa.RSAPrivateKey) else "ES256")
    h = dict(headers or {})
    if kid is not None:
        h["kid"] = kid
    return remember(pyjwt.encode(make_claims(**claims), key, algorithm=alg, headers=h or None))


def jwks_broker(keys, args=(), start=True):
    b = Broker(secret=None)
    path = os.path.join(b.dir, "jwks.json")
    write_jwks(path, keys)
    b.args += ["--jwt-jwks", path] + list(args)
    b.jwks_path = path
    if start:
        b.start()
    return b


def upgrade_status(b, tok):
    return ws_upgrade_raw(b.port, token=tok).status


def refused(b, tok, what):
    status = upgrade_status(b, tok)
    check(status is not None and status != 101, f"{what}: upgrade accepted, want HTTP 401")
    eq(status, 401, f"{what}: HTTP status")


async def accepted(b, tok, what, sub=None):
    c = await Client.open(b, tok, label=what)
    if sub is not None:
        eq(data_of(c.welcome).get("user_id"), sub, f"{what}: WELCOME user_id")
    return c


async def wait_metric(b, name, want, timeout=5.0, **labels):
    deadline = time.monotonic() + timeout
    got = None
    while time.monotonic() < deadline:
        got = b.metrics().get(name, 0, **labels)
        if got == want:
            return
        await sleep(0.05)
    fail(f"{name}{labels} is {got}, want {want} within {timeout}s")


def log_has(b, text, what):
    check(text in b.log(), f"{what}: the broker log has no {text!r}\n{b.tail(15)}")


# --------------------------------------------------------------------------------------


async def test_jwks_kid_picks_the_key():
    k_rsa, k_ec, k_enc, other = rsa_key(), ec_key(), ec_key(), rsa_key()
    b = jwks_broker([jwk(k_rsa, "rsa-1", alg="RS256", use="sig"), jwk(k_ec, "ec-1"),
                     jwk(k_enc, "enc-1", use="enc")])
    log_has(b, "source=jwks keys=2 skipped=1", "start-up")
    c1 = await accepted(b, token(k_rsa, "rsa-1", sub="r-1"), "RS256 token, kid rsa-1", sub="r-1")
    c2 = await accepted(b, token(k_ec, "ec-1", sub="e-1", role="student"),
                        "ES256 token, kid ec-1", sub="e-1")
    refused(b, token(k_rsa, sub="x"), "no kid")
    refused(b, token(k_rsa, "rsa-2"), "unknown kid")
    refused(b, token(k_enc, "enc-1"), "kid of an encryption key")
    refused(b, token(k_rsa, "ec-1"), "RS256 token naming the EC key")
    refused(b, token(other, "rsa-1"), "kid rsa-1, signed by another RSA key")
    refused(b, sign_hmac_raw(make_claims(), pem_public(k_rsa), "HS256",
                             header={"alg": "HS256", "typ": "JWT", "kid": "rsa-1"}),
            "HS256 keyed with the PEM text, kid rsa-1")
    refused(b, token(k_rsa, "rsa-1", headers={"crit": ["exp"], "exp": 1}), "crit header")
    log_has(b, 'reason="unknown kid"', "refusals")
    log_has(b, 'reason="unsupported crit"', "refusals")
    log_has(b, 'reason="wrong algorithm"', "refusals")
    await c1.ping()
    await c2.ping()


async def test_sighup_rotates_jwks_and_keeps_connections():
    k1, k2 = rsa_key(), ec_key()
    b = jwks_broker([jwk(k1, "2024-1")])
    teacher = await accepted(b, token(k1, "2024-1", sub="t-1"), "teacher on the old key")
    student = await accepted(b, token(k1, "2024-1", sub="s-1", role="student"),
                             "student on the old key")
    # The provider publishes the next key next to the old one, then drops the old one.
    write_jwks(b.jwks_path, [jwk(k1, "2024-1"), jwk(k2, "2024-2")])
    b.signal(signal.SIGHUP)
    await wait_metric(b, "rollcall_jwt_key_reloads_total", 1, result="ok")
    (await accepted(b, token(k2, "2024-2", sub="t-2"), "new key after the first reload"))
    (await accepted(b, token(k1, "2024-1", sub="t-3"), "old key still published"))
    write_jwks(b.jwks_path, [jwk(k2, "2024-2")])
    b.signal(signal.SIGHUP)
    await wait_metric(b, "rollcall_jwt_key_reloads_total", 2, result="ok")
    log_has(b, "source=jwks keys=1 skipped=0", "second reload")
    refused(b, token(k1, "2024-1", sub="t-4"), "old key after it was dropped")
    await accepted(b, token(k2, "2024-2", sub="t-5"), "new key")
    # Connections opened on the old key are kept, and renew onto the new one.
    await teacher.ping()
    await student.ping()
    check(not teacher.closed and not student.closed, "a reload closed a connection")
    m = await student.error("AUTH", {"token": token(k1, "2024-1", sub="s-1", role="student")},
                            "TOKEN_INVALID")
    check("unknown kid" in data_of(m).get("message", ""), f"AUTH on the dropped key: {m}")
    await student.call("AUTH", {"token": token(k2, "2024-2", sub="s-1", role="student")},
                       reply="AUTHENTICATED")

    # Broken files: each reload fails, says why, and the current keys stay.
    for what, data, why in (
            ("not JSON", '{"keys": [', "not JSON"),
            ("no keys array", '{"key": []}', "no keys array"),
            ("a 1024-bit RSA key", json.dumps({"keys": [jwk(rsa_key(1024), "weak")]}),
             "1024 bits"),
            ("no usable key", json.dumps({"keys": [jwk(k2, "2024-2", use="enc")]}),
             "no usable key")):
        failed = b.metrics().get("rollcall_jwt_key_reloads_total", 0, result="failed")
        write_atomically(b.jwks_path, data)
        b.signal(signal.SIGHUP)
        await wait_metric(b, "rollcall_jwt_key_reloads_total", failed + 1, result="failed")
        log_has(b, "jwt key reload failed; keeping the current keys", what)
        log_has(b, why, what)
        await accepted(b, token(k2, "2024-2", sub="t-6"), f"current key after {what}")
    os.unlink(b.jwks_path)
    b.signal(signal.SIGHUP)
    await wait_metric(b, "rollcall_jwt_key_reloads_total", 5, result="failed")
    await accepted(b, token(k2, "2024-2", sub="t-7"), "current key after the file vanished")
    await teacher.ping()
    eq(b.metrics().get("rollcall_jwt_key_reloads_total", 0, result="ok"), 2,
       "successful reloads")


async def test_sighup_reloads_the_public_key_file():
    k1, k2 = gen_ec(), gen_ec()
    b = Broker(secret=None)
    path = os.path.join(b.dir, "key.pem")
    write_atomically(path, k1[1])
    b.args += ["--jwt-public-key", path]
    b.start()
    c = await accepted(b, sign(make_claims(sub="p-1"), k1[0], alg="ES256"), "old key")
    write_atomically(path, k2[1])
    b.signal(signal.SIGHUP)
    await wait_metric(b, "rollcall_jwt_key_reloads_total", 1, result="ok")
    await accepted(b, sign(make_claims(sub="p-2"), k2[0], alg="ES256"), "new key")
    refused(b, sign(make_claims(sub="p-3"), k1[0], alg="ES256"), "old key after the reload")
    write_atomically(path, b"not a key\n")
    b.signal(signal.SIGHUP)
    await wait_metric(b, "rollcall_jwt_key_reloads_total", 1, result="failed")
    await accepted(b, sign(make_claims(sub="p-4"), k2[0], alg="ES256"), "key after a bad file")
    await c.ping()


async def test_sighup_with_a_secret_changes_nothing():
    b = Broker().start()
    c = await accepted(b, b.token(sub="h-1"), "HS256")
    b.signal(signal.SIGHUP)
    await wait_metric(b, "rollcall_jwt_key_reloads_total", 1, result="ok")
    await accepted(b, b.token(sub="h-2"), "HS256 after SIGHUP")
    await c.ping()


async def test_crit_refused_with_a_secret():
    b = Broker().start()
    refused(b, sign_hmac_raw(make_claims(), b.secret.encode(), "HS256",
                             header={"alg": "HS256", "typ": "JWT", "crit": ["b64"],
                                     "b64": False}),
            "crit b64")
    refused(b, sign_hmac_raw(make_claims(), b.secret.encode(), "HS256",
                             header={"alg": "HS256", "typ": "JWT", "crit": []}), "empty crit")
    log_has(b, 'reason="unsupported crit"', "crit")
    # A kid means nothing without a key set.
    await accepted(b, sign_hmac_raw(make_claims(sub="k-1"), b.secret.encode(), "HS256",
                                    header={"alg": "HS256", "typ": "JWT", "kid": "x"}),
                   "HS256 with a kid", sub="k-1")


async def test_bad_jwks_stops_the_start():
    cases = (
        ("not JSON", "not json", [], "ROLLCALL_JWT_JWKS"),
        ("a 1024-bit key", json.dumps({"keys": [jwk(rsa_key(1024), "weak")]}), [],
         "1024 bits"),
        ("with a secret too", json.dumps({"keys": [jwk(ec_key(), "k")]}), ["secret"],
         "cannot be combined"),
    )
    for what, text, extra, why in cases:
        b = Broker(secret=("s" * 40) if extra else None)
        path = os.path.join(b.dir, "jwks.json")
        write_atomically(path, text)
        b.args += ["--jwt-jwks", path]
        b.expect_exit = True
        b.start(wait=False)
        rc = b.wait_exit(10)
        b.expect_exit = True
        check(rc is not None and rc != 0, f"{what}: broker did not refuse to start (rc={rc})")
        log_has(b, why, what)


if __name__ == "__main__":
    run_tests(globals())
