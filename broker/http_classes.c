/* SPDX-License-Identifier: MIT */
/* The classes endpoints:
 *   POST   /classes                         a teacher (or admin) creates a class
 *   GET    /classes                         the caller's classes
 *   GET    /classes/{id}                    one class; its teachers also get the roster
 *   PUT    /classes/{id}                    its teachers change name, description, schedule
 *   POST   /classes/{id}/join-code          its teachers get a new join code
 *   POST   /classes/join                    a student joins with a code
 *   POST   /classes/{id}/leave              a student leaves
 *   DELETE /classes/{id}/students/{sid}     its teachers remove a student
 * Who receives what: every answer goes to the caller only. A student never sees the join
 * code, the roster or another student's email; a class the caller is not in answers 404.
 * After a join, a leave or a removal the live roster changes at once, and a student no
 * longer on it is taken out of the class's channel (hdl_roster_changed). */
#include "http_acct.h"

#include "brk.h"
#include "cluster.h"
#include "hdl.h"
#include "log.h"
#include "roster.h"

#include <stdlib.h>
#include <string.h>

static json_t *class_json(const class_info_t *c, class_role_t role, int staff)
{
    char created[32], updated[32];
    brk_iso8601(c->created_at_ms, created, sizeof created);
    brk_iso8601(c->updated_at_ms, updated, sizeof updated);
    json_t *sched = NULL;
    if (c->has_schedule)
        sched = json_loads(c->schedule, JSON_DECODE_ANY, NULL);
    json_t *o = json_pack("{s:s, s:s, s:s, s:o, s:s, s:s, s:s}", "id", c->id, "name", c->name,
                          "description", c->description, "schedule",
                          sched ? sched : json_null(), "role", class_role_name(role),
                          "created_at", created, "updated_at", updated);
    if (staff)
        json_object_set_new(o, "join_code", json_string(c->join_code));
    return o;
}

static json_t *roster_json(const acct_req_t *r)
{
    json_t *a = json_array();
    for (size_t i = 0; i < r->n_roster; i++) {
        const class_member_t *m = &r->roster[i];
        char joined[32];
        brk_iso8601(m->joined_at_ms, joined, sizeof joined);
        json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:s, s:s}", "id", m->account_id,
                                           "name", m->name, "email", m->email, "role",
                                           class_role_name(m->role), "joined_at", joined));
    }
    return a;
}

/* {class, access_token, token_type, expires_in, user}: the class and the caller's new
 * token, which names it. */
static json_t *class_and_token(const acct_req_t *r)
{
    json_t *o = http_token_json(r);
    json_object_set_new(o, "class", class_json(&r->cls, r->class_role, r->is_staff));
    return o;
}

/* ---- the live registry and the other instances ---------------------------------------- */

static void apply(srv_t *s, const class_info_t *cls, const class_member_t *m, size_t n)
{
    roster_reg_set(s->rosters, cls->id, cls->name, m, n);
    hdl_roster_changed(s->hdl, cls->id);
}

static void on_roster_retry(uv_timer_t *t)
{
    srv_rosters_stale(t->data);
}

static void on_roster_read(acct_req_t *r, void *ud)
{
    srv_t *s = ud;
    if (r->err == 0 && s->rosters) {
        if (r->kind == ACCT_REQ_ROSTER_READ)
            apply(s, &r->cls, r->roster, r->n_roster);
        for (size_t i = 0; i < r->n_rosters; i++)
            apply(s, &r->rosters[i].cls, r->rosters[i].members, r->rosters[i].n);
        if (r->kind == ACCT_REQ_ROSTERS_READ && s->rosters_pending) {
            s->rosters_pending = 0;
            LOG(INFO, 0, "rosters loaded", "classes=%zu", r->n_rosters);
        }
        LOG(DEBUG, 0, "rosters read again", "class=%s classes=%zu",
            r->kind == ACCT_REQ_ROSTER_READ ? r->class_id : "*",
            r->kind == ACCT_REQ_ROSTER_READ ? (size_t)1 : r->n_rosters);
    } else if (r->err != BRK_ENOTFOUND && !s->draining) {
        /* A stale roster must not stay: read every roster again shortly. */
        LOG(WARN, 0, "roster read failed; retrying", "err=\"%s\"", r->errmsg);
        uv_timer_start(&s->roster_retry, on_roster_retry, 2000, 0);
    }
    acct_req_free(r);
}

void srv_roster_stale(srv_t *s, const char *class_id)
{
    if (!s->acct || s->draining)
        return;
    acct_req_t *r = acct_req_new(ACCT_REQ_ROSTER_READ);
    snprintf(r->class_id, sizeof r->class_id, "%s", class_id);
    acct_svc_submit(s->acct, r, on_roster_read, s);
}

void srv_rosters_stale(srv_t *s)
{
    if (!s->acct || s->draining)
        return;
    acct_svc_submit(s->acct, acct_req_new(ACCT_REQ_ROSTERS_READ), on_roster_read, s);
}

void http_classes_done(srv_t *s, http_tx_t *tx, acct_req_t *r)
{
    if (r->err == 0 && r->roster_valid && s->rosters) {
        roster_reg_set(s->rosters, r->class_id, r->cls.name[0] ? r->cls.name : NULL, r->roster,
                       r->n_roster);
        hdl_roster_changed(s->hdl, r->class_id);
        clu_roster_changed(s, r->class_id); /* the other instances read it again */
    }
    if (r->err == 0 && r->kind == ACCT_REQ_CLASS_UPDATE && s->rosters) {
        roster_reg_rename(s->rosters, r->class_id, r->cls.name);
        clu_roster_changed(s, r->class_id);
    }
    if (r->err == 0) {
        switch (r->kind) {
        case ACCT_REQ_CLASS_CREATE:
            LOG(INFO, 0, "class created", "class=%s by=%s", r->cls.id, r->acct.id);
            break;
        case ACCT_REQ_CLASS_JOIN:
            LOG(INFO, 0, "class joined", "class=%s sub=%s", r->class_id, r->acct.id);
            break;
        case ACCT_REQ_CLASS_LEAVE:
            LOG(INFO, 0, "class left", "class=%s sub=%s", r->class_id, r->acct.id);
            break;
        case ACCT_REQ_CLASS_REMOVE:
            LOG(INFO, 0, "student removed", "class=%s sub=%s by=%s", r->class_id, r->student_id,
                r->acct.id);
            break;
        default: break;
        }
    }
    if (!tx)
        return;
    if (r->err != 0) {
        http_acct_failure(tx, r);
        return;
    }
    switch (r->kind) {
    case ACCT_REQ_CLASS_CREATE: http_respond_json(tx, 201, class_and_token(r)); break;
    case ACCT_REQ_CLASS_JOIN: http_respond_json(tx, 200, class_and_token(r)); break;
    case ACCT_REQ_CLASS_LIST: {
        json_t *a = json_array();
        for (size_t i = 0; i < r->n_memberships; i++) {
            const class_membership_t *m = &r->memberships[i];
            json_t *c = class_json(&m->cls, m->role, m->role == CLASS_ROLE_TEACHER);
            char joined[32];
            brk_iso8601(m->joined_at_ms, joined, sizeof joined);
            json_object_set_new(c, "joined_at", json_string(joined));
            json_array_append_new(a, c);
        }
        http_respond_json(tx, 200, json_pack("{s:o}", "classes", a));
        break;
    }
    case ACCT_REQ_CLASS_GET: {
        json_t *c = class_json(&r->cls, r->class_role, r->is_staff);
        if (r->is_staff)
            json_object_set_new(c, "roster", roster_json(r));
        http_respond_json(tx, 200, c);
        break;
    }
    case ACCT_REQ_CLASS_UPDATE:
    case ACCT_REQ_CLASS_CODE:
        http_respond_json(tx, 200, class_json(&r->cls, r->class_role, r->is_staff));
        break;
    default: http_respond(tx, 204, "application/json", brk_strdup(""), 0); break;
    }
}

/* ---- requests --------------------------------------------------------------------------- */

static const char *str(json_t *o, const char *key, size_t *len)
{
    json_t *v = json_object_get(o, key);
    if (len)
        *len = json_is_string(v) ? json_string_length(v) : 0;
    return json_string_value(v);
}

/* Copies name, description and schedule of a create or update body into r. Returns 0, or
 * -1 after answering 400. */
static int class_fields(http_tx_t *tx, json_t *o, acct_req_t *r)
{
    size_t n;
    const char *v = str(o, "name", &n);
    if (v)
        acct_req_set_name(r, v, n);
    v = str(o, "description", &n);
    if (v)
        acct_req_set_description(r, v, n);
    json_t *sched = json_object_get(o, "schedule");
    if (json_is_null(sched)) {
        r->clear_schedule = 1;
    } else if (sched) {
        if (!json_is_object(sched) && !json_is_array(sched)) {
            http_respond_error(tx, 400, "schedule must be a JSON object, an array or null");
            return -1;
        }
        char *text = json_dumps(sched, JSON_COMPACT);
        if (!text || strlen(text) > CLASS_SCHEDULE_MAX) {
            free(text);
            http_respond_error(tx, 400, "schedule longer than 4096 bytes of JSON");
            return -1;
        }
        acct_req_set_schedule(r, text, strlen(text));
        free(text);
    }
    return 0;
}

static acct_req_t *new_req(acct_req_kind_t kind, const auth_identity_t *id, const char *class_id)
{
    acct_req_t *r = acct_req_new(kind);
    snprintf(r->id, sizeof r->id, "%s", id->sub);
    if (class_id)
        snprintf(r->class_id, sizeof r->class_id, "%s", class_id);
    return r;
}

static void create(http_tx_t *tx, const auth_identity_t *id, const char *body, size_t len)
{
    static const char *const allowed[] = {"name", "description", "schedule:any", NULL};
    static const char *const required[] = {"name", NULL};
    json_t *o = http_read_object(tx, body, len, allowed, required);
    if (!o)
        return;
    acct_req_t *r = new_req(ACCT_REQ_CLASS_CREATE, id, NULL);
    if (class_fields(tx, o, r) != 0) {
        acct_req_free(r);
    } else {
        r->clear_schedule = 0;
        http_acct_submit(tx, r, NULL);
    }
    json_decref(o);
}

static void update(http_tx_t *tx, const auth_identity_t *id, const char *class_id,
                   const char *body, size_t len)
{
    static const char *const allowed[] = {"name", "description", "schedule:any", NULL};
    static const char *const required[] = {NULL};
    json_t *o = http_read_object(tx, body, len, allowed, required);
    if (!o)
        return;
    if (json_object_size(o) == 0) {
        json_decref(o);
        http_respond_error(tx, 400, "nothing to change: give name, description or schedule");
        return;
    }
    acct_req_t *r = new_req(ACCT_REQ_CLASS_UPDATE, id, class_id);
    if (class_fields(tx, o, r) != 0)
        acct_req_free(r);
    else
        http_acct_submit(tx, r, NULL);
    json_decref(o);
}

static void join(http_tx_t *tx, const auth_identity_t *id, const char *body, size_t len)
{
    static const char *const fields[] = {"code", NULL};
    json_t *o = http_read_object(tx, body, len, fields, fields);
    if (!o)
        return;
    acct_req_t *r = new_req(ACCT_REQ_CLASS_JOIN, id, NULL);
    char code[CLASS_CODE_SIZE];
    if (class_code_normalize(str(o, "code", NULL), code, sizeof code) != 0) {
        acct_req_free(r);
        http_respond_error(tx, 404, "no class has this code");
    } else {
        snprintf(r->code, sizeof r->code, "%s", code);
        http_acct_submit(tx, r, NULL);
    }
    json_decref(o);
}

/* Splits "/classes/{id}[/rest]": 1 with the id and rest ("" when none), 0 when the id is not
 * one (it must be a token id). */
static int split(const char *path, char *id, size_t idlen, const char **rest)
{
    const char *p = path + strlen("/classes/");
    const char *slash = strchr(p, '/');
    size_t n = slash ? (size_t)(slash - p) : strlen(p);
    if (n == 0 || n >= idlen || !brk_id_ok(p, n, CLASS_TOKEN_ID_MAX))
        return 0;
    memcpy(id, p, n);
    id[n] = '\0';
    *rest = slash ? slash : "";
    return 1;
}

static void method_not_allowed(http_tx_t *tx, const char *allowed)
{
    char msg[64];
    snprintf(msg, sizeof msg, "use %s", allowed);
    http_respond_error(tx, 405, msg);
}

int http_classes_route(http_tx_t *tx, const char *body, size_t len)
{
    const char *path = tx->path;
    if (strcmp(path, "/classes") != 0 && strncmp(path, "/classes/", 9) != 0)
        return 0;
    srv_t *s = tx->srv;
    if (!s->acct) {
        http_respond_error(tx, 404, s->accounts_off ? s->accounts_off
                                                    : "accounts are not enabled here");
        return 1;
    }
    auth_identity_t id;
    if (http_account_token(tx, &id) != 0)
        return 1;
    if (strcmp(path, "/classes") == 0) {
        if (tx->method == HM_POST)
            create(tx, &id, body, len);
        else if (tx->method == HM_GET)
            http_acct_submit(tx, new_req(ACCT_REQ_CLASS_LIST, &id, NULL), NULL);
        else
            method_not_allowed(tx, "GET or POST");
        return 1;
    }
    if (strcmp(path, "/classes/join") == 0) {
        if (tx->method == HM_POST)
            join(tx, &id, body, len);
        else
            method_not_allowed(tx, "POST");
        return 1;
    }
    char class_id[CLASS_TOKEN_ID_MAX + 1];
    const char *rest;
    if (!split(path, class_id, sizeof class_id, &rest)) {
        http_respond_error(tx, 404, "no such class");
        return 1;
    }
    if (rest[0] == '\0') {
        if (tx->method == HM_GET)
            http_acct_submit(tx, new_req(ACCT_REQ_CLASS_GET, &id, class_id), NULL);
        else if (tx->method == HM_PUT)
            update(tx, &id, class_id, body, len);
        else
            method_not_allowed(tx, "GET or PUT");
    } else if (strcmp(rest, "/join-code") == 0) {
        if (tx->method == HM_POST)
            http_acct_submit(tx, new_req(ACCT_REQ_CLASS_CODE, &id, class_id), NULL);
        else
            method_not_allowed(tx, "POST");
    } else if (strcmp(rest, "/leave") == 0) {
        if (tx->method == HM_POST)
            http_acct_submit(tx, new_req(ACCT_REQ_CLASS_LEAVE, &id, class_id), NULL);
        else
            method_not_allowed(tx, "POST");
    } else if (strncmp(rest, "/students/", 10) == 0 &&
               brk_id_ok(rest + 10, strlen(rest + 10), CLASS_TOKEN_ID_MAX)) {
        if (tx->method == HM_DELETE) {
            acct_req_t *r = new_req(ACCT_REQ_CLASS_REMOVE, &id, class_id);
            snprintf(r->student_id, sizeof r->student_id, "%s", rest + 10);
            http_acct_submit(tx, r, NULL);
        } else {
            method_not_allowed(tx, "DELETE");
        }
    } else {
        http_respond_error(tx, 404, "not found");
    }
    return 1;
}
