# SPDX-License-Identifier: MIT
"""A check of the pages' own HTML (web/*.html), the part of issue 14 a browser does not
enforce by itself: well-formed (every element closed in order, void elements aside), a
language, a title and a viewport; nothing the Content-Security-Policy would refuse (no
inline script, no on* handler, no style attribute or element, no javascript: URL, nothing
from another origin); every form control labelled. The served pages are the files checked
here (test_web.py shows the broker serves the directory as it is)."""

import glob
import os
import sys
from html.parser import HTMLParser

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import SRC, check, run_tests  # noqa: E402

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr"}
CONTROLS = {"input", "textarea", "select"}


class Checker(HTMLParser):
    def __init__(self, name):
        super().__init__(convert_charrefs=True)
        self.name = name
        self.stack = []
        self.problems = []
        self.ids = set()
        self.label_for = set()
        self.controls = []
        self.seen = set()
        self.in_script_inline = False
        self.in_title = False
        self.title = ""
        self.html_lang = None

    def problem(self, msg):
        self.problems.append(f"{self.name}:{self.getpos()[0]}: {msg}")

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.seen.add(tag)
        if tag == "html":
            self.html_lang = a.get("lang")
        if tag == "meta" and a.get("name") == "viewport":
            self.seen.add("viewport")
        if "id" in a:
            if a["id"] in self.ids:
                self.problem(f"id {a['id']!r} twice")
            self.ids.add(a["id"])
        for k, v in attrs:
            if k.startswith("on"):
                self.problem(f"inline handler {k} (refused by the CSP)")
            if k == "style":
                self.problem("style attribute (refused by the CSP)")
            if k in ("href", "src", "action") and v:
                if v.strip().lower().startswith("javascript:"):
                    self.problem(f"{k}=javascript: (refused by the CSP)")
                if "//" in v and not v.startswith("/static/"):
                    self.problem(f"{k}={v!r}: another origin")
        if tag == "script" and not a.get("src"):
            self.in_script_inline = True
            self.problem("inline script (refused by the CSP)")
        if tag == "style":
            self.problem("style element (refused by the CSP)")
        if tag == "label" and a.get("for"):
            self.label_for.add(a["for"])
        if tag in CONTROLS and a.get("type") not in ("hidden", "submit", "button"):
            self.controls.append((a.get("id"), a.get("aria-label"), self.getpos()[0]))
        if tag == "title":
            self.in_title = True
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in VOID and self.stack and self.stack[-1] == tag:
            self.stack.pop()

    def handle_endtag(self, tag):
        if tag in VOID:
            self.problem(f"</{tag}> for a void element")
            return
        if not self.stack or self.stack[-1] != tag:
            self.problem(f"</{tag}> closes {self.stack[-1] if self.stack else 'nothing'}")
            if tag in self.stack:
                while self.stack and self.stack.pop() != tag:
                    pass
            return
        self.stack.pop()
        if tag == "script":
            self.in_script_inline = False
        if tag == "title":
            self.in_title = False

    def handle_data(self, data):
        if self.in_title:
            self.title += data

    def finish(self):
        self.close()
        if self.stack:
            self.problem(f"never closed: {self.stack}")
        if not self.html_lang:
            self.problem("<html> without lang")
        if not self.title.strip():
            self.problem("no <title>")
        if "viewport" not in self.seen:
            self.problem("no viewport meta (zoom and small screens)")
        for cid, aria, line in self.controls:
            if not aria and (not cid or cid not in self.label_for):
                self.problems.append(f"{self.name}:{line}: a control without a label")
        return self.problems


def check_html(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    check(text.lower().startswith("<!doctype html>"), f"{path}: no <!doctype html>")
    c = Checker(os.path.basename(path))
    c.feed(text)
    return c.finish()


def test_pages_are_well_formed_and_fit_the_csp():
    pages = sorted(glob.glob(os.path.join(SRC, "web", "*.html")))
    check(pages, "no pages in web/")
    problems = []
    for p in pages:
        problems += check_html(p)
    check(not problems, "\n".join(problems))


def test_the_checker_finds_what_it_looks_for():
    """The check itself: each fault it exists for is reported on a small page."""
    import tempfile
    bad = """<!doctype html><html><head><title>x</title></head><body>
<div><p onclick="go()" style="color:red">x</div>
<script>alert(1)</script><style>p{}</style>
<a href="javascript:alert(1)">a</a><img src="https://cdn.example/x.png">
<input id="q"><textarea></textarea>
</body></html>"""
    with tempfile.NamedTemporaryFile("w", suffix=".html", delete=False) as f:
        f.write(bad)
    try:
        found = "\n".join(check_html(f.name))
    finally:
        os.unlink(f.name)
    for words in ("inline handler onclick", "style attribute", "</div> closes p",
                  "inline script", "style element", "javascript:", "another origin",
                  "control without a label", "without lang", "no viewport"):
        check(words in found, f"the checker missed {words!r}:\n{found}")


if __name__ == "__main__":
    run_tests(globals())
