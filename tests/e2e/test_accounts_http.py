# SPDX-License-Identifier: MIT
"""The accounts endpoints over HTTP (docs/PROTOCOL.md "Accounts"): register, login, me,
profile, change-password and refresh against the real broker; the tokens they issue are the
broker's own and verify with its key; bad input gets a clear 4xx; wrong passwords and unknown
emails are answered alike; login is rate-limited per account and per client address;
registration follows ROLLCALL_REGISTRATION; passwords and tokens never reach the log; old
hashes are brought up to the configured cost at the next login. With Redis, accounts are off
and say why."""

import json
import os
import socket
import sqlite3
import subprocess
import sys
import time

import jwt as pyjwt

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Broker, RedisServer, check, eq, gen_ec, gen_rsa,  # noqa: E402
                     http_get, make_claims, run_tests, sign)

PW = "correct horse battery"


def call(b, method, path, body=None, token=None, ctype="application/json", raw=None):
    headers = {}
    if token:
        headers["Authorization"] = "Bearer " + token
    data = raw
    if body is not None:
        data = json.dumps(body).encode()
    if data is not None:
        headers["Content-Type"] = ctype
    r = http_get(b.port, path, headers=headers, method=method, body=data)
    doc = None
    if r.body and r.headers.get("content-type", "").startswith("application/json"):
        doc = json.loads(r.body)
    return r, doc


def register(b, email, name="Ada Lovelace", role="teacher", password=PW, status=201):
    r, doc = call(b, "POST", "/auth/register",
                  {"name": name, "email": email, "password": password, "role": role})
    eq(r.status, status, f"register {email}: {doc}")
    return doc


def login(b, email, password=PW, status=200):
    r, doc = call(b, "POST", "/auth/login", {"email": email, "password": password})
    eq(r.status, status, f"login {email}: {doc}")
    return r, doc


def claims_of(b, tok, alg="HS256", key=None):
    return pyjwt.decode(tok, key or b.secret, algorithms=[alg],
                        options={"verify_aud": False})


def broker(**env):
    return Broker(env={k: str(v) for k, v in env.items()}).start()


def no_secrets_logged(b, *secrets):
    text = b.log()
    for s in secrets:
        check(s not in text, f"the log holds a secret ({s[:6]}...)")


def test_register_login_me_profile_password_refresh():
    b = broker()
    doc = register(b, "  Ada.Lovelace@School.EXAMPLE ")
    user = doc["user"]
    eq((user["email"], user["name"], user["role"]),
       ("ada.lovelace@school.example", "Ada Lovelace", "teacher"), "registered user")
    eq((doc["token_type"], doc["expires_in"]), ("bearer", 3600), "token type and lifetime")
    c = claims_of(b, doc["access_token"])
    eq((c["sub"], c["role"], c["name"]), (user["id"], "teacher", "Ada Lovelace"), "claims")
    eq(c["exp"] - c["iat"], 3600, "token lifetime in the token")
    check(abs(c["iat"] - time.time()) < 30, "iat is now")

    # Login, with the address written another way.
    _, doc = login(b, "ADA.lovelace@school.example")
    tok = doc["access_token"]
    eq(doc["user"]["id"], user["id"], "login finds the account")
    eq(claims_of(b, tok)["sub"], user["id"], "login token's sub")

    r, me = call(b, "GET", "/auth/me", token=tok)
    eq(r.status, 200, "me")
    eq((me["id"], me["email"], me["name"]), (user["id"], user["email"], user["name"]), "me")
    eq(r.headers.get("cache-control"), "no-store", "answers are not cached")

    r, prof = call(b, "PUT", "/auth/profile", {"name": "Augusta Ada King"}, token=tok)
    eq((r.status, prof["name"]), (200, "Augusta Ada King"), "profile")
    _, me = call(b, "GET", "/auth/me", token=tok)
    eq(me["name"], "Augusta Ada King", "the new name is stored")

    r, doc = call(b, "POST", "/auth/change-password",
                  {"current_password": "not it at all", "new_password": "a new phrase"},
                  token=tok)
    eq(r.status, 401, f"a wrong current password: {doc}")
    r, _ = call(b, "POST", "/auth/change-password",
                {"current_password": PW, "new_password": "a new phrase"}, token=tok)
    eq(r.status, 204, "password changed")
    login(b, user["email"], PW, status=401)
    login(b, user["email"], "a new phrase")

    # Refresh: a new token for the same account, carrying the new name.
    time.sleep(1.1)
    r, doc = call(b, "POST", "/auth/refresh", token=tok)
    eq(r.status, 200, f"refresh: {doc}")
    c2 = claims_of(b, doc["access_token"])
    eq((c2["sub"], c2["name"]), (user["id"], "Augusta Ada King"), "refreshed claims")
    check(c2["iat"] > c["iat"], "the refreshed token is newer")

    # The account's token without a class cannot open the WebSocket (no class to act in).
    r = http_get(b.port, "/ws", headers={"Authorization": "Bearer " + tok,
                                          "Connection": "Upgrade", "Upgrade": "websocket",
                                          "Sec-WebSocket-Version": "13",
                                          "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="})
    eq(r.status, 401, "a token without classes on the WebSocket")
    no_secrets_logged(b, PW, "a new phrase", tok, doc["access_token"])


def test_bad_input_is_refused_clearly():
    b = broker()
    ok = {"name": "Bo", "email": "bo@school.example", "password": PW, "role": "student"}
    cases = [
        ({**ok, "password": "short"}, 400, "at least 8"),
        ({**ok, "password": "x" * 512}, 400, "511"),
        ({**ok, "email": "not-an-email"}, 400, "email"),
        ({**ok, "name": ""}, 400, "name"),
        ({**ok, "name": "tab\there"}, 400, "name"),
        ({**ok, "role": "admin"}, 400, "teacher or student"),
        ({**ok, "role": "janitor"}, 400, "teacher or student"),
        ({**ok, "extra": "x"}, 400, "unknown field"),
        ({"name": "Bo", "email": "bo@school.example", "role": "student"}, 400, "password"),
        ({**ok, "name": 5}, 400, "must be a string"),
    ]
    for body, status, words in cases:
        r, doc = call(b, "POST", "/auth/register", body)
        eq(r.status, status, f"register {body}")
        check(words in doc["error"], f"error {doc['error']!r} should say {words!r}")
    r, doc = call(b, "POST", "/auth/register", raw=b"{not json")
    eq(r.status, 400, "not JSON")
    r, doc = call(b, "POST", "/auth/register", raw=b"[1,2]")
    eq(r.status, 400, "not an object")
    r, doc = call(b, "POST", "/auth/register", raw=json.dumps(ok).encode(), ctype="text/plain")
    eq(r.status, 415, "wrong content type")
    r, doc = call(b, "POST", "/auth/register", raw=b'{"name": "' + b"x" * 20000 + b'"}')
    eq(r.status, 413, "a body over 16 KiB")
    # A POST without Content-Length (its body could not be told from the next request).
    with socket.create_connection(("127.0.0.1", b.port), timeout=5) as sk:
        sk.sendall(b"POST /auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                   b"\r\n\r\n")
        head = sk.recv(4096)
    check(head.startswith(b"HTTP/1.1 411"), f"no Content-Length: {head[:40]!r}")
    r, doc = call(b, "GET", "/auth/login")
    eq(r.status, 405, "GET on a POST endpoint")
    r, doc = call(b, "DELETE", "/auth/me")
    eq(r.status, 405, "DELETE on /auth/me")
    r, doc = call(b, "GET", "/auth/nothing-here")
    eq(r.status, 404, "unknown /auth path")
    # Nothing of the above made an account; the good one still can.
    register(b, ok["email"], name="Bo", role="student")
    register(b, "BO@school.example", name="Bo again", role="student", status=409)
    r, doc = call(b, "PUT", "/auth/profile", {"name": "a\nb"},
                  token=login(b, ok["email"])[1]["access_token"])
    eq(r.status, 400, "a name with a newline")
    with sqlite3.connect(os.path.join(b.data_dir, "journal.db")) as db:
        eq(db.execute("SELECT count(*) FROM accounts").fetchone()[0], 1, "accounts stored")


def test_tokens_the_account_endpoints_refuse():
    b = broker()
    register(b, "cy@school.example")
    tok = login(b, "cy@school.example")[1]["access_token"]
    sub = claims_of(b, tok)["sub"]
    other = "k" * 40
    bad = {
        "none": None,
        "garbage": "abc.def.ghi",
        "other key": sign(make_claims(sub=sub, class_id="c1"), other),
        "expired": sign(make_claims(sub=sub, class_id="c1", ttl=-120), b.secret),
        # a valid token of the broker's key whose sub is no account (an outside identity)
        "not an account": sign(make_claims(sub="someone-else", class_id="c1"), b.secret),
        # an account's id with more after it is another sub, not that account
        "longer sub": sign(make_claims(sub=sub + "x", class_id="c1"), b.secret),
    }
    for what, t in bad.items():
        for method, path, body in (("GET", "/auth/me", None), ("POST", "/auth/refresh", None),
                                   ("PUT", "/auth/profile", {"name": "X"})):
            r, doc = call(b, method, path, body, token=t)
            eq(r.status, 401, f"{method} {path} with {what}")
            check(r.headers.get("www-authenticate", "").startswith("Bearer"),
                  f"{path}: a 401 names the scheme")


def test_wrong_password_and_unknown_email_answer_alike():
    b = broker()
    register(b, "dee@school.example")
    r1, d1 = login(b, "dee@school.example", "wrong password!", status=401)
    r2, d2 = login(b, "nobody@school.example", "wrong password!", status=401)
    eq(d1, d2, "the two refusals")
    eq(r1.body, r2.body, "the two refusals' bytes")
    check("www-authenticate" in r1.headers, "401 names the scheme")


def test_login_rate_limit_per_account():
    b = broker(ROLLCALL_LOGIN_LIMIT=3)
    register(b, "eve@school.example")
    register(b, "fay@school.example")
    for i in range(3):
        login(b, "eve@school.example", f"wrong password {i}", status=401)
    r, doc = login(b, "eve@school.example", PW, status=429)  # even the right one, for now
    check(int(r.headers.get("retry-after", "0")) >= 60, f"Retry-After: {r.headers}")
    # The limit is the account's (also when written another way), not everyone's.
    login(b, "EVE@school.example", PW, status=429)
    login(b, "fay@school.example")
    # An email that does not exist is limited just the same (nothing tells them apart).
    for i in range(3):
        login(b, "ghost@school.example", f"wrong password {i}", status=401)
    login(b, "ghost@school.example", "wrong password 9", status=429)
    # A success clears the failures.
    login(b, "fay@school.example", "wrong password", status=401)
    login(b, "fay@school.example", "wrong password", status=401)
    login(b, "fay@school.example")
    login(b, "fay@school.example", "wrong password", status=401)
    login(b, "fay@school.example", "wrong password", status=401)
    login(b, "fay@school.example")
    r = http_get(b.port, "/metrics")
    text = r.body.decode()
    check('rollcall_logins_total{result="failed"} 10' in text, "failed logins counted")
    check("rollcall_auth_rate_limited_total 3" in text, "refusals counted")


def test_login_rate_limit_per_address():
    b = broker(ROLLCALL_LOGIN_ADDRESS_LIMIT=4)
    for i in range(4):
        login(b, f"user{i}@school.example", "wrong password", status=401)
    r, _ = login(b, "user9@school.example", "wrong password", status=429)
    check(int(r.headers.get("retry-after", "0")) >= 1, "Retry-After")
    register(b, "new@school.example", status=429)  # registration shares the budget


def test_registration_modes():
    b = broker(ROLLCALL_REGISTRATION="off")
    r, doc = call(b, "POST", "/auth/register",
                  {"name": "T", "email": "t@school.example", "password": PW, "role": "teacher"})
    eq(r.status, 403, "registration off")
    check("closed" in doc["error"], doc["error"])
    b.stop()
    b = broker(ROLLCALL_REGISTRATION="teachers")
    register(b, "s@school.example", role="student", status=403)
    register(b, "t@school.example", role="teacher")


def test_rs256_and_es256_signing_keys():
    for alg, gen in (("RS256", gen_rsa), ("ES256", gen_ec)):
        priv, pub = gen()
        d = Broker(secret=False)
        ppath, upath = os.path.join(d.dir, "priv.pem"), os.path.join(d.dir, "pub.pem")
        with open(ppath, "wb") as f:
            f.write(priv)
        with open(upath, "wb") as f:
            f.write(pub)
        d.extra_env.update({"ROLLCALL_JWT_PRIVATE_KEY": ppath, "ROLLCALL_JWT_PUBLIC_KEY": upath,
                            "ROLLCALL_TOKEN_TTL": "120"})
        d.start()
        doc = register(d, f"{alg.lower()}@school.example")
        eq(doc["expires_in"], 120, "ROLLCALL_TOKEN_TTL")
        c = pyjwt.decode(doc["access_token"], pub, algorithms=[alg])
        eq(c["exp"] - c["iat"], 120, f"{alg} token lifetime")
        eq(pyjwt.get_unverified_header(doc["access_token"])["alg"], alg, "header alg")
        r, _ = call(d, "GET", "/auth/me", token=doc["access_token"])
        eq(r.status, 200, f"the broker accepts its own {alg} token")
        d.stop()

    # A private key whose public half the verifier does not have stops the start.
    priv, _ = gen_rsa()
    _, other_pub = gen_rsa()
    d = Broker(secret=False)
    ppath, upath = os.path.join(d.dir, "priv.pem"), os.path.join(d.dir, "pub.pem")
    with open(ppath, "wb") as f:
        f.write(priv)
    with open(upath, "wb") as f:
        f.write(other_pub)
    env = d.environment()
    env.update({"ROLLCALL_JWT_PRIVATE_KEY": ppath, "ROLLCALL_JWT_PUBLIC_KEY": upath})
    p = subprocess.run(d.command(), env=env, capture_output=True, timeout=30)
    check(p.returncode != 0, "a mismatched signing key must stop the start")
    check(b"do not verify" in p.stderr, f"the reason is printed: {p.stderr[-300:]!r}")


def test_accounts_off_without_a_signing_key():
    _, pub = gen_rsa()
    b = Broker(secret=False)
    path = os.path.join(b.dir, "pub.pem")
    with open(path, "wb") as f:
        f.write(pub)
    b.extra_env["ROLLCALL_JWT_PUBLIC_KEY"] = path
    b.start()
    r, doc = call(b, "POST", "/auth/login", {"email": "a@b.example", "password": PW})
    eq(r.status, 404, "accounts off")
    check("no key to sign" in doc["error"], doc["error"])


def test_old_hash_cost_is_raised_at_login():
    b = broker(ROLLCALL_PASSWORD_COST=4)
    register(b, "hal@school.example")
    db_path = os.path.join(b.data_dir, "journal.db")

    def stored():
        with sqlite3.connect(db_path) as db:
            return db.execute("SELECT password_hash FROM accounts").fetchone()[0]

    old = stored()
    b.stop()
    b.extra_env["ROLLCALL_PASSWORD_COST"] = "5"
    b.start()
    login(b, "hal@school.example")
    new = stored()
    check(new != old and new.split("$")[2] != old.split("$")[2],
          f"the hash's parameters did not change: {old[:12]} -> {new[:12]}")
    login(b, "hal@school.example")  # and the new hash verifies


def test_accounts_off_with_redis():
    redis = RedisServer().start()
    b = Broker(env={"ROLLCALL_REDIS_URL": redis.url}).start()
    r, doc = call(b, "POST", "/auth/register",
                  {"name": "T", "email": "t@school.example", "password": PW, "role": "teacher"})
    eq(r.status, 404, "accounts with Redis")
    check("ROLLCALL_REDIS_URL" in doc["error"], doc["error"])


if __name__ == "__main__":
    run_tests(globals())
