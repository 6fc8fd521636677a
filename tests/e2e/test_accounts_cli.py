# SPDX-License-Identifier: MIT
"""`rollcall user add`: an account made from the command line, with the password read from
standard input and stored only as a yescrypt hash that verifies; a normalized, unique email;
clear refusals for bad input; and a data directory the broker then starts on."""

import os
import sqlite3
import subprocess
import sys
import tempfile
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BIN, Broker, check, eq, http_get, run_tests  # noqa: E402

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import crypt  # the system's crypt(3): libxcrypt, which knows yescrypt

PASSWORD = "correct horse battery staple"


def user_add(data_dir, *args, password=PASSWORD):
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROLLCALL_")}
    p = subprocess.run([BIN, "--data-dir", data_dir, "user", "add", *args],
                       input=(password + "\n").encode(), capture_output=True, env=env,
                       timeout=30)
    out, err = p.stdout.decode(), p.stderr.decode()
    check(password not in out and password not in err, "the password was printed")
    return p.returncode, out, err


def accounts(data_dir):
    with sqlite3.connect(os.path.join(data_dir, "journal.db")) as db:
        return db.execute("SELECT id, email, name, role, password_hash FROM accounts "
                          "ORDER BY created_at_ms").fetchall()


def test_admin_made_from_the_command_line():
    d = tempfile.mkdtemp(prefix="rollcall-e2e-")
    rc, out, err = user_add(d, "--email", "  Ada.Lovelace@School.EXAMPLE ", "--name",
                            "Ada Lovelace", "--role", "admin")
    eq(rc, 0, f"exit status ({err.strip()})")
    check("email=ada.lovelace@school.example" in out and "role=admin" in out,
          f"the created account is not reported: {out!r}")
    rows = accounts(d)
    eq(len(rows), 1, "accounts stored")
    acc_id, email, name, role, pw_hash = rows[0]
    eq((email, name, role), ("ada.lovelace@school.example", "Ada Lovelace", "admin"),
       "stored account")
    check(f"id={acc_id}" in out, "the reported id is the stored one")
    check(pw_hash.startswith("$y$") and PASSWORD not in pw_hash,
          f"the password is not stored as a yescrypt hash: {pw_hash[:12]!r}")
    eq(crypt.crypt(PASSWORD, pw_hash), pw_hash, "the stored hash verifies the password")
    check(crypt.crypt("wrong " + PASSWORD, pw_hash) != pw_hash, "a wrong password verifies")

    # The same address written differently is the same account.
    rc, out, err = user_add(d, "--email", "ADA.LOVELACE@school.example", "--name", "Ada",
                            "--role", "teacher")
    eq(rc, 1, "exit status for an email in use")
    check("exists" in err, f"no reason given: {err!r}")
    eq(len(accounts(d)), 1, "accounts after the duplicate")

    # The broker starts on the data directory the command created and migrated.
    b = Broker(data_dir=d).start()
    eq(http_get(b.port, "/readyz").status, 200, "/readyz on that data directory")


def test_bad_input_is_refused_and_nothing_stored():
    d = tempfile.mkdtemp(prefix="rollcall-e2e-")
    cases = [
        (("--email", "b@x.org", "--name", "B", "--role", "student"), "short",
         2, "at least 8 bytes"),
        (("--email", "not-an-email", "--name", "B", "--role", "student"), PASSWORD,
         2, "not a valid email"),
        (("--email", "b@x.org", "--name", "B", "--role", "principal"), PASSWORD,
         2, "--role"),
        (("--email", "b@x.org", "--role", "student"), PASSWORD, 2, "--name"),
        (("--email", "b@x.org", "--name", "B\x01", "--role", "student"), PASSWORD,
         2, "control characters"),
        (("--email", "b@x.org", "--name", "B", "--role", "student"), "x" * 600,
         2, "longer than"),
    ]
    for args, pw, want_rc, want_msg in cases:
        rc, out, err = user_add(d, *args, password=pw)
        eq(rc, want_rc, f"exit status for {args} / {len(pw)}-byte password")
        check(want_msg in err, f"{args}: reason {want_msg!r} missing from {err!r}")
        eq(out, "", f"{args}: output on a refusal")
    path = os.path.join(d, "journal.db")
    check(not os.path.exists(path) or accounts(d) == [], "an account was stored anyway")


if __name__ == "__main__":
    run_tests(globals())
