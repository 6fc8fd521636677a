# SPDX-License-Identifier: MIT
"""The broker serves the pages and their assets from ROLLCALL_WEB_DIR (issue 14, point 1):
/, /teacher, /student and /static/..., with the right content types, caching, and a
Content-Security-Policy on pages that allows only the page's own origin (its WebSocket
included) and no inline script; nothing outside the directory can be named; ROLLCALL_WEB=off
serves none; a missing file is 404, and the API paths are unaffected. An installed broker
(`cmake --install`) serves the pages installed beside it."""

import os
import shutil
import socket
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Broker, check, eq, http_get, run_tests  # noqa: E402


def web_dir():
    d = tempfile.mkdtemp(prefix="rollcall-web-")
    os.makedirs(os.path.join(d, "img"))
    files = {
        "index.html": "<!doctype html><title>home</title>",
        "teacher.html": "<!doctype html><title>teacher</title>",
        "student.html": "<!doctype html><title>student</title>",
        "app.js": "export const x = 1;\n",
        "style.css": "body { margin: 0 }\n",
        "img/logo.svg": "<svg xmlns='http://www.w3.org/2000/svg'/>",
        ".hidden.js": "secret",
        "notes.bin": "x",
    }
    for name, text in files.items():
        with open(os.path.join(d, name), "w") as f:
            f.write(text)
    # Outside the directory, for traversal attempts.
    with open(os.path.join(os.path.dirname(d), os.path.basename(d) + "-secret.txt"), "w") as f:
        f.write("outside")
    os.symlink("/etc/hostname", os.path.join(d, "link.txt"))
    return d


def raw_get(port, target):
    """GET with the target sent exactly as given (no client-side normalization)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        out = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
    return int(out.split(b" ", 2)[1]), out


def test_pages_assets_and_headers():
    d = web_dir()
    b = Broker(env={"ROLLCALL_WEB_DIR": d}).start()
    for path, title in (("/", "home"), ("/teacher", "teacher"), ("/student", "student")):
        r = http_get(b.port, path)
        eq(r.status, 200, f"GET {path}")
        eq(r.headers["content-type"], "text/html; charset=utf-8", f"{path} type")
        check(f"<title>{title}</title>".encode() in r.body, f"{path} body")
        eq(r.headers.get("cache-control"), "no-cache", f"{path} caching")
        csp = r.headers.get("content-security-policy", "")
        for part in ("default-src 'none'", "script-src 'self'", "connect-src 'self'",
                     "frame-ancestors 'none'", "object-src 'none'", "base-uri 'none'"):
            check(part in csp, f"{path}: CSP lacks {part!r}: {csp!r}")
        check("unsafe-inline" not in csp and "unsafe-eval" not in csp and "http" not in csp,
              f"{path}: CSP allows too much: {csp!r}")
        eq(r.headers.get("x-content-type-options"), "nosniff", f"{path} nosniff")
    for path, ctype in (("/static/app.js", "text/javascript; charset=utf-8"),
                        ("/static/style.css", "text/css; charset=utf-8"),
                        ("/static/img/logo.svg", "image/svg+xml")):
        r = http_get(b.port, path)
        eq((r.status, r.headers["content-type"]), (200, ctype), f"GET {path}")
        eq(r.headers.get("cache-control"), "public, max-age=3600", f"{path} caching")
        check("content-security-policy" not in r.headers, f"{path}: CSP on an asset")
    eq(http_get(b.port, "/static/app.js").body, b"export const x = 1;\n", "asset bytes")
    # The repository's own client is served from the default directory the same way.
    r = http_get(b.port, "/static/rollcall.js")
    eq(r.status, 404, "not in this test's directory")
    own = Broker().start()
    r = http_get(own.port, "/static/rollcall.js")
    eq((r.status, r.headers["content-type"]), (200, "text/javascript; charset=utf-8"),
       "web/rollcall.js at /static/rollcall.js")
    check(b"export class Rollcall" in r.body, "the client's source")

    # Nothing else: missing files, hidden files, unknown types, symlinks, traversal.
    for path in ("/static/missing.js", "/static/.hidden.js", "/static/notes.bin",
                 "/static/link.txt", "/static/", "/nope.html"):
        eq(http_get(b.port, path).status, 404, f"GET {path}")
    secret = "/" + os.path.basename(d) + "-secret.txt"
    for target in ("/static/../../" + secret, "/static/%2e%2e/%2e%2e" + secret,
                   "/static/..%2f..%2f" + secret.lstrip("/"), "/static/img/../app.js"):
        status, out = raw_get(b.port, target)
        check(b"outside" not in out, f"{target} reached a file outside the directory")
        check(status in (400, 403, 404) or (status == 200 and b"export const" in out),
              f"{target}: {status}")
    r = http_get(b.port, "/teacher", method="POST", body=b"{}",
                 headers={"Content-Type": "application/json"})
    eq(r.status, 405, "POST to a page")
    # The API is untouched.
    eq(http_get(b.port, "/healthz").status, 200, "/healthz")
    eq(http_get(b.port, "/metrics").status, 200, "/metrics")
    eq(http_get(b.port, "/attendance/report/c1/s1").status, 401, "the report wants a token")


def test_web_off():
    d = web_dir()
    b = Broker(env={"ROLLCALL_WEB_DIR": d, "ROLLCALL_WEB": "off"}).start()
    for path in ("/", "/teacher", "/student", "/static/app.js"):
        eq(http_get(b.port, path).status, 404, f"GET {path} with the pages off")


def test_installed_pages():
    """`cmake --install` puts the broker in bin/ and the pages in share/rollcall/web/; the
    installed broker serves those (not the source tree's) unless ROLLCALL_WEB_DIR says
    otherwise."""
    prefix = tempfile.mkdtemp(prefix="rollcall-install-")
    try:
        build = os.path.dirname(os.path.abspath(harness.BIN))
        r = subprocess.run(["cmake", "--install", build, "--prefix", prefix],
                           capture_output=True, text=True, timeout=120)
        eq(r.returncode, 0, f"cmake --install: {r.stderr}")
        installed = os.path.join(prefix, "bin", "rollcall")
        pages = os.path.join(prefix, "share", "rollcall", "web")
        for name in ("index.html", "teacher.html", "student.html", "rollcall.js", "app.css"):
            check(os.path.isfile(os.path.join(pages, name)), f"{name} installed")
        with open(os.path.join(pages, "index.html"), "a") as f:
            f.write("<!-- the installed copy -->\n")

        class Installed(Broker):
            def command(self):
                return [installed] + super().command()[1:]

        b = Installed().start()
        r = http_get(b.port, "/")
        eq(r.status, 200, "GET / from the installed broker")
        check(b"the installed copy" in r.body, "the pages beside the installed binary are served")
        eq(http_get(b.port, "/static/teacher.js").status, 200, "its assets too")
        b.stop()
        d = web_dir()
        b = Installed(env={"ROLLCALL_WEB_DIR": d}).start()
        check(b"<title>home</title>" in http_get(b.port, "/").body, "ROLLCALL_WEB_DIR wins")
    finally:
        shutil.rmtree(prefix, ignore_errors=True)


if __name__ == "__main__":
    run_tests(globals())
