# SPDX-License-Identifier: MIT
"""docs/openapi.json against the running broker: the document is OpenAPI 3.1 whose every
reference resolves; then one scenario calls every documented operation, with good input and
with the bad input each operation documents, and every answer must have a documented
status and a body that validates against the documented schema. An operation the scenario
did not reach fails the test, so a documented endpoint cannot go untested; paths the
document does not have answer 404."""

import json
import os
import sys
import warnings

import jsonschema

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import SRC, Broker, Client, check, data_of, eq, fail, http_get, run_tests  # noqa: E402

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from jsonschema import RefResolver

DOC_PATH = os.path.join(SRC, "docs", "openapi.json")
PW = "correct horse battery"


def load_doc():
    with open(DOC_PATH) as f:
        return json.load(f)


def walk_refs(v):
    if isinstance(v, dict):
        for k, x in v.items():
            if k == "$ref":
                yield x
            else:
                yield from walk_refs(x)
    elif isinstance(v, list):
        for x in v:
            yield from walk_refs(x)


def test_document_is_openapi_3_1():
    doc = load_doc()
    eq(doc.get("openapi"), "3.1.0", "openapi version")
    check(doc["info"].get("title") and doc["info"].get("version"), "info")
    schemas = doc["components"]["schemas"]
    for r in walk_refs(doc):
        check(r.startswith("#/components/schemas/") and r.rsplit("/", 1)[1] in schemas,
              f"unresolved $ref {r}")
    ids = set()
    for path, item in doc["paths"].items():
        check(path.startswith("/"), f"path {path}")
        for method, op in item.items():
            if method == "parameters":
                continue
            check(method in ("get", "put", "post", "delete", "patch"), f"{path}: {method}")
            check(op.get("operationId") and op["operationId"] not in ids,
                  f"{method} {path}: operationId missing or repeated")
            ids.add(op["operationId"])
            check(op.get("responses"), f"{method} {path}: no responses")
            for params in (item.get("parameters", []), op.get("parameters", [])):
                for p in params:
                    check(p["in"] != "path" or "{" + p["name"] + "}" in path,
                          f"{path}: parameter {p['name']} not in the path")
        # Every {name} of the path is a declared parameter.
        declared = {p["name"] for p in item.get("parameters", [])}
        for method, op in item.items():
            if method != "parameters":
                declared |= {p["name"] for p in op.get("parameters", [])}
        for seg in path.split("/"):
            if seg.startswith("{"):
                check(seg[1:-1] in declared, f"{path}: {seg} is not declared")
    # Each schema is itself valid JSON Schema 2020-12.
    for name, s in schemas.items():
        jsonschema.Draft202012Validator.check_schema(s)


class Checker:
    """Calls the broker and checks each answer against the document."""

    def __init__(self, b, doc):
        self.b = b
        self.doc = doc
        self.resolver = RefResolver.from_schema(doc)
        self.seen = set()
        self.ops = {}
        for path, item in doc["paths"].items():
            for method, op in item.items():
                if method != "parameters":
                    self.ops[(method.upper(), path)] = op

    def template(self, method, path):
        parts = path.split("?")[0].strip("/").split("/")
        best = None
        for (m, tpl), op in self.ops.items():
            if m != method:
                continue
            tp = tpl.strip("/").split("/")
            if len(tp) != len(parts):
                continue
            if all(a == b or (a.startswith("{") and a.endswith("}")) for a, b in zip(tp, parts)):
                literal = sum(1 for a in tp if not a.startswith("{"))
                if best is None or literal > best[0]:
                    best = (literal, tpl, op)
        if not best:
            fail(f"{method} {path}: not in docs/openapi.json")
        return best[1], best[2]

    def call(self, method, path, body=None, token=None, status=None, raw=None):
        tpl, op = self.template(method, path)
        headers = {}
        if token:
            headers["Authorization"] = "Bearer " + token
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        if data is not None:
            headers["Content-Type"] = "application/json"
        r = http_get(self.b.port, path, headers=headers, method=method, body=data)
        what = f"{method} {path}"
        if status is not None:
            eq(r.status, status, f"{what}: {r.body[:200]!r}")
        resp = op["responses"].get(str(r.status))
        check(resp is not None, f"{what}: status {r.status} is not documented for {tpl}")
        self.seen.add((method, tpl, r.status))
        content = resp.get("content")
        if not content:
            eq(r.body, b"", f"{what}: {r.status} documents no body")
            return r, None
        ctype = r.headers.get("content-type", "").split(";")[0].strip()
        check(ctype in content, f"{what}: content type {ctype!r} not documented ({list(content)})")
        if ctype == "application/json":
            doc = json.loads(r.body)
            try:
                jsonschema.Draft202012Validator(content[ctype]["schema"],
                                                resolver=self.resolver).validate(doc)
            except jsonschema.ValidationError as e:
                fail(f"{what}: the {r.status} body does not match docs/openapi.json: "
                     f"{e.message} at {list(e.absolute_path)}")
            return r, doc
        return r, r.body

    def all_reached(self):
        missing = []
        for (m, tpl), op in self.ops.items():
            for st in op["responses"]:
                if (m, tpl, int(st)) not in self.seen and st not in ("429", "503", "415"):
                    missing.append(f"{m} {tpl} {st}")
        check(not missing, "documented answers the scenario never saw: " + ", ".join(missing))


async def test_every_documented_operation_against_the_broker():
    b = Broker(env={"ROLLCALL_REDIS_URL": "", "ROLLCALL_REGISTRATION": "open"}).start()
    c = Checker(b, load_doc())
    c.call("GET", "/healthz", status=200)
    c.call("GET", "/readyz", status=200)
    c.call("GET", "/metrics", status=200)

    # Accounts.
    _, t = c.call("POST", "/auth/register", {"name": "Tess", "email": "tess@school.example",
                                             "password": PW, "role": "teacher"}, status=201)
    _, s = c.call("POST", "/auth/register", {"name": "Sam", "email": "sam@school.example",
                                             "password": PW, "role": "student"}, status=201)
    c.call("POST", "/auth/register", {"name": "Sam", "email": "SAM@school.example",
                                      "password": PW, "role": "student"}, status=409)
    c.call("POST", "/auth/register", {"name": "X", "email": "x@school.example",
                                      "password": "short", "role": "student"}, status=400)
    c.call("POST", "/auth/register", {"name": "A", "email": "a@school.example",
                                      "password": PW, "role": "admin"}, status=400)
    _, login = c.call("POST", "/auth/login", {"email": "tess@school.example", "password": PW},
                      status=200)
    c.call("POST", "/auth/login", {"email": "tess@school.example", "password": "nope nope"},
           status=401)
    c.call("POST", "/auth/login", {"email": "tess@school.example"}, status=400)
    tt, st = login["access_token"], s["access_token"]
    c.call("GET", "/auth/me", token=tt, status=200)
    c.call("GET", "/auth/me", status=401)
    c.call("PUT", "/auth/profile", {"name": "Tess T"}, token=tt, status=200)
    c.call("PUT", "/auth/profile", {"name": ""}, token=tt, status=400)
    c.call("PUT", "/auth/profile", {"name": "Z"}, status=401)
    c.call("POST", "/auth/change-password", {"current_password": PW, "new_password": PW + "!"},
           token=st, status=204)
    c.call("POST", "/auth/change-password", {"current_password": "wrong one",
                                             "new_password": PW}, token=st, status=401)
    c.call("POST", "/auth/change-password", {"current_password": PW}, token=st, status=400)
    c.call("POST", "/auth/refresh", token=st, status=200)
    c.call("POST", "/auth/refresh", status=401)

    # Classes.
    _, made = c.call("POST", "/classes", {"name": "Art", "schedule": {"fri": "10:00"}},
                     token=tt, status=201)
    cid, code, tt = made["class"]["id"], made["class"]["join_code"], made["access_token"]
    c.call("POST", "/classes", {"name": ""}, token=tt, status=400)
    c.call("POST", "/classes", {"name": "Nope"}, token=st, status=403)
    c.call("POST", "/classes", {"name": "Nope"}, status=401)
    c.call("GET", "/classes", token=tt, status=200)
    c.call("GET", "/classes", status=401)
    _, joined = c.call("POST", "/classes/join", {"code": code}, token=st, status=200)
    st = joined["access_token"]
    c.call("POST", "/classes/join", {"code": code}, token=tt, status=403)
    c.call("POST", "/classes/join", {"code": "ZZZZZZ"}, token=st, status=404)
    c.call("POST", "/classes/join", {}, token=st, status=400)
    c.call("POST", "/classes/join", {"code": code}, status=401)
    _, one = c.call("GET", f"/classes/{cid}", token=tt, status=200)
    check("roster" in one, "the teacher's class has its roster")
    c.call("GET", f"/classes/{cid}", token=st, status=200)
    c.call("GET", "/classes/c00000000000000000000", token=tt, status=404)
    c.call("GET", f"/classes/{cid}", status=401)
    c.call("PUT", f"/classes/{cid}", {"description": "Fridays"}, token=tt, status=200)
    c.call("PUT", f"/classes/{cid}", {}, token=tt, status=400)
    c.call("PUT", f"/classes/{cid}", {"name": "Mine"}, token=st, status=403)
    c.call("PUT", "/classes/c00000000000000000000", {"name": "X"}, token=tt, status=404)
    c.call("PUT", f"/classes/{cid}", {"name": "X"}, status=401)
    c.call("POST", f"/classes/{cid}/join-code", token=tt, status=200)
    c.call("POST", f"/classes/{cid}/join-code", token=st, status=403)
    c.call("POST", "/classes/c00000000000000000000/join-code", token=tt, status=404)
    c.call("POST", f"/classes/{cid}/join-code", status=401)

    # A finalized session, for the report.
    teacher = await Client.open(b, tt, label="teacher")
    await teacher.call("SESSION_START", {"class_id": cid})
    sam_id = joined["user"]["id"]
    await teacher.call("ATTENDANCE_MARKED", {"class_id": cid, "studentId": sam_id,
                                             "status": "late"})
    fin = await teacher.call("DONE", {"class_id": cid}, timeout=15)
    sess = data_of(fin)["session_id"]
    await teacher.close()
    _, rep = c.call("GET", f"/attendance/report/{cid}/{sess}", token=tt, status=200)
    eq([(r["student_id"], r["status"]) for r in rep["records"]], [(sam_id, "late")], "report")
    c.call("GET", f"/attendance/report/{cid}/{sess}", token=st, status=403)
    c.call("GET", f"/attendance/report/{cid}/no-such-session", token=tt, status=404)
    c.call("GET", f"/attendance/report/{cid}/{sess}", status=401)

    # History and analytics over the finalized session.
    _, hist = c.call("GET", f"/history/students/{sam_id}?class_id={cid}", token=tt, status=200)
    eq([r["status"] for r in hist["records"]], ["late"], "history")
    c.call("GET", f"/history/students/{sam_id}", token=st, status=200)
    c.call("GET", f"/history/students/{login['user']['id']}", token=st, status=403)
    c.call("GET", f"/history/students/{sam_id}?limit=0", token=st, status=400)
    c.call("GET", f"/history/students/{sam_id}", status=401)
    for sub, params in (("sessions", "from=2020-01-01&to=2099-12-31"),
                        ("monthly", "from=2026-01&to=2027-12"),
                        ("monthly/students", "from=2026-01&to=2027-12"),
                        ("records", "from=2026-01-01&to=2026-12-31")):
        path = f"/classes/{cid}/{sub}"
        c.call("GET", path, token=tt, status=200)
        c.call("GET", path, token=st, status=403)
        c.call("GET", path + "?from=2025-02-30", token=tt, status=400)
        c.call("GET", path, status=401)
    _, csv = c.call("GET", f"/classes/{cid}/records?format=csv", token=tt, status=200)
    check(csv.startswith(b"date,") and sam_id.encode() in csv, f"CSV export: {csv[:80]!r}")
    c.call("GET", "/analytics/at-risk?threshold=100", token=tt, status=200)
    c.call("GET", "/analytics/at-risk", token=st, status=403)
    c.call("GET", "/analytics/at-risk?threshold=101", token=tt, status=400)
    c.call("GET", "/analytics/at-risk", status=401)

    # Leave and remove.
    _, other = c.call("POST", "/auth/register", {"name": "Ola", "email": "ola@school.example",
                                                 "password": PW, "role": "student"}, status=201)
    ot = other["access_token"]
    new_code = c.call("GET", f"/classes/{cid}", token=tt)[1]["join_code"]
    ot = c.call("POST", "/classes/join", {"code": new_code}, token=ot, status=200)[1]["access_token"]
    c.call("POST", f"/classes/{cid}/leave", token=tt, status=403)
    c.call("POST", f"/classes/{cid}/leave", token=ot, status=204)
    c.call("POST", f"/classes/{cid}/leave", token=ot, status=404)
    c.call("POST", f"/classes/{cid}/leave", status=401)
    c.call("DELETE", f"/classes/{cid}/students/{sam_id}", token=st, status=403)
    c.call("DELETE", f"/classes/{cid}/students/{sam_id}", token=tt, status=204)
    c.call("DELETE", f"/classes/{cid}/students/{sam_id}", token=tt, status=404)
    c.call("DELETE", f"/classes/{cid}/students/{sam_id}", status=401)

    # 64 classes is what a token carries: the 65th is refused, made or joined.
    codes = []
    for i in range(63):
        codes.append(c.call("POST", "/classes", {"name": f"Class {i}"}, token=tt,
                            status=201)[1]["class"]["join_code"])
    c.call("POST", "/classes", {"name": "One too many"}, token=tt, status=409)
    _, many = c.call("POST", "/auth/register", {"name": "Max", "email": "max@school.example",
                                                "password": PW, "role": "student"}, status=201)
    mt = many["access_token"]
    for code in codes + [new_code]:
        mt = c.call("POST", "/classes/join", {"code": code}, token=mt,
                    status=200)[1]["access_token"]
    _, t2 = c.call("POST", "/auth/register", {"name": "Tom", "email": "tom@school.example",
                                              "password": PW, "role": "teacher"}, status=201)
    extra = c.call("POST", "/classes", {"name": "Extra"}, token=t2["access_token"],
                   status=201)[1]["class"]["join_code"]
    c.call("POST", "/classes/join", {"code": extra}, token=mt, status=409)

    # Registration for teachers only; accounts off (no signing key).
    b2 = Broker(env={"ROLLCALL_REDIS_URL": "", "ROLLCALL_REGISTRATION": "teachers"}).start()
    c.b = b2
    c.call("POST", "/auth/register", {"name": "S", "email": "s@school.example", "password": PW,
                                      "role": "student"}, status=403)
    b2.stop()
    b3 = Broker(env={"ROLLCALL_REDIS_URL": "redis://127.0.0.1:1"}).start(wait=False)
    b3.wait_port()
    c.b = b3
    c.call("GET", "/classes", token=tt, status=404)
    b3.stop()
    c.b = b
    c.all_reached()

    # What the document does not have is not there.
    for method, path in (("GET", "/nope"), ("GET", "/auth/nothing"), ("POST", "/admin")):
        r = http_get(b.port, path, method=method, body=b"{}" if method == "POST" else None,
                     headers={"Content-Type": "application/json"})
        eq(r.status, 404, f"{method} {path}")


if __name__ == "__main__":
    run_tests(globals())
