# SPDX-License-Identifier: MIT
"""Authentication on upgrade (PROTOCOL.md "Authentication"): every refused token gets HTTP
401 with WWW-Authenticate: Bearer and no upgrade; good tokens work by query and header."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (BAD_TOKEN_KINDS, Broker, Client, bad_token, check, data_of,  # noqa: E402
                     eq, fail, gen_ec, gen_rsa,
                     make_claims, now_s, random_secret, remember, run_tests, sign,
                     sign_hmac_raw, sign_none, ws_upgrade_raw)


def assert_refused(b, token, what, via="query", path="/ws"):
    r = ws_upgrade_raw(b.port, path=path, token=token, via=via)
    check(r.status is not None, f"{what} ({via}): connection closed without an HTTP answer")
    check(r.status != 101, f"{what} ({via}): upgrade accepted, want HTTP 401")
    eq(r.status, 401, f"{what} ({via}): HTTP status")
    auth = r.headers.get("www-authenticate", "")
    check(auth.lower().startswith("bearer"),
          f"{what} ({via}): WWW-Authenticate is {auth!r}, want Bearer")


def assert_accepted(b, token, what, via="query"):
    r = ws_upgrade_raw(b.port, token=token, via=via)
    eq(r.status, 101, f"{what} ({via}): HTTP status of the upgrade")


async def assert_welcome(b, token, what, via="query", sub=None):
    c = await Client.open(b, token, via=via, label=what)
    if sub is not None:
        eq(data_of(c.welcome).get("user_id"), sub, f"{what}: WELCOME user_id")
    await c.close()
    return c


def tamper(tok):
    h, p, s = tok.split(".")
    mid = len(s) // 2
    s = s[:mid] + ("A" if s[mid] != "A" else "B") + s[mid + 1:]
    return remember(f"{h}.{p}.{s}")


# --------------------------------------------------------------------------------------


async def test_valid_token_by_query_and_header():
    b = Broker().start()
    tok = b.token(sub="t-1", role="teacher")
    await assert_welcome(b, tok, "query token", via="query", sub="t-1")
    await assert_welcome(b, tok, "header token", via="header", sub="t-1")
    s = b.token(sub="s-1", role="student", name="Ann")
    c = await Client.open(b, s, via="header")
    eq(data_of(c.welcome).get("name"), "Ann", "WELCOME name from a header token")


async def test_refused_tokens_get_401_bearer():
    b = Broker().start()
    S = b.secret
    now = now_s()
    good = make_claims(sub="u-1", role="teacher", class_id="c1")
    rsa_priv, _ = gen_rsa()
    cases = {
        "malformed (not a JWT)": remember("not-a-jwt"),
        "malformed (three junk parts)": remember("abc.def.ghi"),
        "malformed (payload not JSON)": remember("eyJhbGciOiJIUzI1NiJ9.bm90IGpzb24." + "A" * 43),
        "bad signature": tamper(sign(good, S)),
        "forged with another secret": sign(good, random_secret()),
        "alg none": sign_none(good),
        "alg none, signature kept": sign_none(good) + sign(good, S).split(".")[2],
        "alg HS384 (same secret)": sign(good, S, alg="HS384"),
        "alg HS512 (same secret)": sign(good, S, alg="HS512"),
        "alg RS256 (HS256 configured)": sign(good, rsa_priv, alg="RS256"),
        "exp missing": sign(make_claims(exp=None), S),
        "exp past": sign(make_claims(exp=now - 300), S),
        "nbf in the future": sign(make_claims(nbf=now + 300), S),
        "iat in the future": sign(make_claims(iat=now + 300), S),
        "sub missing": sign(make_claims(omit=("sub",)), S),
        "sub empty": sign(make_claims(sub=""), S),
        "role missing": sign(make_claims(omit=("role",)), S),
        "role not allowed": sign(make_claims(role="superuser"), S),
        "role wrong case": sign(make_claims(role="Teacher"), S),
        "sub over 64 characters": sign(make_claims(sub="s" * 65), S),
        "sub not a string": sign(make_claims(sub=12345), S),
        "class_id over 64 characters": sign(make_claims(class_id="c" * 65), S),
        "classes not strings": sign(make_claims(class_id=None, classes=[1, 2]), S),
        "more than 64 classes": sign(make_claims(class_id=None,
                                                 classes=[f"k{i}" for i in range(65)]), S),
        "no class_id and no classes": sign(make_claims(class_id=None), S),
        "empty classes": sign(make_claims(class_id=None, classes=[]), S),
    }
    failures = []
    for what, tok in cases.items():
        for via in ("query", "header"):
            try:
                assert_refused(b, tok, what, via=via)
            except AssertionError as e:
                failures.append(str(e))
    # No token at all, an empty one, and a non-Bearer Authorization header.
    for what, kw in (("no token", {}),
                     ("empty query token", {"token": "", "via": "query"}),
                     ("Basic authorization", {"headers": {"Authorization": "Basic dTpw"}}),
                     ("empty Bearer", {"headers": {"Authorization": "Bearer "}})):
        r = ws_upgrade_raw(b.port, **kw)
        if r.status != 401 or not r.headers.get("www-authenticate", "").lower().startswith(
                "bearer"):
            failures.append(f"{what}: HTTP {r.status}, WWW-Authenticate "
                            f"{r.headers.get('www-authenticate')!r}; want 401 Bearer")
    if failures:
        fail(f"{len(failures)} refused-token case(s) wrong:\n    " + "\n    ".join(failures))
    # And the broker still takes a good token afterwards.
    await assert_welcome(b, b.token(sub="ok"), "good token after refusals", sub="ok")


async def test_bad_token_helpers_refused_by_query_and_header():
    b = Broker().start()
    for kind in BAD_TOKEN_KINDS:
        tok = bad_token(kind, b.secret, sub="u-2", role="student", class_id="c9")
        assert_refused(b, tok, kind, via="query")
        assert_refused(b, tok, kind, via="header")


async def test_clock_leeway_default_30s():
    b = Broker().start()
    S = b.secret
    now = now_s()
    await assert_welcome(b, sign(make_claims(sub="e10", exp=now - 10), S), "exp 10 s ago",
                         sub="e10")
    await assert_welcome(b, sign(make_claims(sub="n10", nbf=now + 10), S), "nbf in 10 s",
                         sub="n10")
    await assert_welcome(b, sign(make_claims(sub="i10", iat=now + 10), S), "iat in 10 s",
                         sub="i10")
    assert_refused(b, sign(make_claims(exp=now - 60), S), "exp 60 s ago")
    assert_refused(b, sign(make_claims(nbf=now + 60), S), "nbf in 60 s")
    assert_refused(b, sign(make_claims(iat=now + 60), S), "iat in 60 s")


async def test_clock_leeway_configured_zero():
    b = Broker(args=["--jwt-leeway", "0"]).start()
    now = now_s()
    assert_refused(b, sign(make_claims(exp=now - 10), b.secret), "exp 10 s ago, leeway 0")
    assert_refused(b, sign(make_claims(nbf=now + 10), b.secret), "nbf in 10 s, leeway 0")
    await assert_welcome(b, sign(make_claims(sub="fresh", exp=now + 60), b.secret),
                         "fresh token, leeway 0", sub="fresh")


def pem_file(b, name, pem):
    path = os.path.join(b.dir, name)
    with open(path, "wb") as f:
        f.write(pem)
    return path


async def test_rs256_public_key():
    priv, pub = gen_rsa()
    other_priv, _ = gen_rsa()
    b = Broker(secret=None)
    b.args += ["--jwt-public-key", pem_file(b, "rsa.pub.pem", pub)]
    b.start()
    good = make_claims(sub="r-1", role="teacher", class_id="c1")
    await assert_welcome(b, sign(good, priv, alg="RS256"), "RS256 token", sub="r-1")
    await assert_welcome(b, sign(good, priv, alg="RS256"), "RS256 header", via="header")
    # The classic confusion: HS256 keyed with the public key's PEM text.
    assert_refused(b, sign_hmac_raw(good, pub, "HS256"), "HS256 signed with the PEM text")
    assert_refused(b, sign_hmac_raw(good, pub.strip(), "HS256"),
                   "HS256 signed with the PEM text (stripped)")
    assert_refused(b, sign(good, other_priv, alg="RS256"), "RS256 from another key")
    assert_refused(b, sign_none(good), "alg none with RS256 configured")
    assert_refused(b, tamper(sign(good, priv, alg="RS256")), "RS256 bad signature")
    assert_refused(b, sign(make_claims(exp=now_s() - 300), priv, alg="RS256"), "RS256 expired")
    ec_priv, _ = gen_ec()
    assert_refused(b, sign(good, ec_priv, alg="ES256"), "ES256 with RS256 configured")


async def test_es256_public_key():
    priv, pub = gen_ec()
    other_priv, _ = gen_ec()
    b = Broker(secret=None)
    b.args += ["--jwt-public-key", pem_file(b, "ec.pub.pem", pub), "--jwt-alg", "ES256"]
    b.start()
    good = make_claims(sub="e-1", role="student", class_id="c1")
    await assert_welcome(b, sign(good, priv, alg="ES256"), "ES256 token", sub="e-1")
    assert_refused(b, sign_hmac_raw(good, pub, "HS256"), "HS256 signed with the EC PEM text")
    assert_refused(b, sign(good, other_priv, alg="ES256"), "ES256 from another key")
    assert_refused(b, sign_none(good), "alg none with ES256 configured")
    assert_refused(b, tamper(sign(good, priv, alg="ES256")), "ES256 bad signature")


async def test_es256_derived_from_key():
    priv, pub = gen_ec()
    b = Broker(secret=None)
    b.args += ["--jwt-public-key", pem_file(b, "ec.pub.pem", pub)]
    b.start()
    await assert_welcome(b, sign(make_claims(sub="d-1"), priv, alg="ES256"),
                         "ES256 token, alg derived from the key", sub="d-1")


async def test_issuer_and_audience():
    b = Broker(args=["--jwt-issuer", "https://auth.school.test", "--jwt-audience",
                     "rollcall"]).start()
    S = b.secret
    iss, aud = "https://auth.school.test", "rollcall"
    await assert_welcome(b, sign(make_claims(sub="m1", iss=iss, aud=aud), S), "matching iss/aud",
                         sub="m1")
    await assert_welcome(b, sign(make_claims(sub="m2", iss=iss, aud=["other", aud]), S),
                         "aud array containing the audience", sub="m2")
    for what, c in (("wrong issuer", make_claims(iss="https://evil.test", aud=aud)),
                    ("wrong audience", make_claims(iss=iss, aud="someone-else")),
                    ("audience array without ours", make_claims(iss=iss, aud=["a", "b"])),
                    ("issuer missing", make_claims(aud=aud)),
                    ("audience missing", make_claims(iss=iss)),
                    ("issuer prefix only", make_claims(iss="https://auth.school", aud=aud))):
        assert_refused(b, sign(c, S), what)


async def test_other_paths_refused():
    b = Broker().start()
    tok = b.token(sub="t-1")
    for path in ("/", "/other", "/ws2", "/wsx", "/api/ws"):
        r = ws_upgrade_raw(b.port, path=path, token=tok)
        check(r.status is not None and r.status != 101,
              f"upgrade on {path} with a valid token: HTTP {r.status}, want refused (404)")
        check(400 <= r.status < 500, f"upgrade on {path}: HTTP {r.status}, want 4xx (404)")


async def test_largest_token_accepted():
    b = Broker().start()
    classes = [f"{i:02d}" + "k" * 62 for i in range(64)]
    tok = b.token(sub="s" * 64, role="teacher", class_id=None, classes=classes, name="N" * 128)
    c = await Client.open(b, tok, via="header", snapshots=False)
    w = data_of(c.welcome)
    eq(w.get("user_id"), "s" * 64, "WELCOME user_id of a 64-character sub")
    eq(sorted(w.get("classes", [])), sorted(classes), "WELCOME classes of a 64-class token")


if __name__ == "__main__":
    run_tests(globals())
