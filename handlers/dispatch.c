/* SPDX-License-Identifier: MIT */
/* The route table: event -> roles allowed, whether it acts on a class, handler. */
#include "hdl_int.h"

#include "brk.h"
#include "log.h"

#include <stdlib.h>
#include <string.h>

#define R_STUDENT (1u << ROLE_STUDENT)
#define R_TEACHER (1u << ROLE_TEACHER)
#define R_ADMIN (1u << ROLE_ADMIN)
#define R_STAFF (R_TEACHER | R_ADMIN)
#define R_ANY (R_STUDENT | R_STAFF)

typedef struct route {
    unsigned roles;
    int needs_class;
    hdl_fn fn;
} route_t;

static const route_t routes[EVT__COUNT] = {
    [EVT_SESSION_START] = {R_STAFF, 1, hdl_session_start},
    [EVT_ATTENDANCE_MARKED] = {R_STAFF, 1, hdl_attendance_marked},
    [EVT_TODAY_SUMMARY] = {R_STAFF, 1, hdl_today_summary},
    [EVT_DONE] = {R_STAFF, 1, hdl_done},
    [EVT_AUTH] = {R_ANY, 0, hdl_auth},
    [EVT_MY_ATTENDANCE] = {R_STUDENT, 1, hdl_my_attendance},
    [EVT_PING] = {R_ANY, 0, hdl_ping},
    [EVT_FRAME] = {R_STUDENT, 1, hdl_frame},
    [EVT_ANNOUNCE] = {R_STAFF, 1, hdl_announce},
    [EVT_ROSTER] = {R_STAFF, 1, hdl_roster},
    [EVT_CLASSES] = {R_ANY, 0, hdl_classes},
};

void hdl_dispatch(hdl_t *h, peer_t *c, const env_t *env)
{
    const route_t *r = &routes[env->type];
    BRK_ASSERT(r->fn);
    if (!(r->roles & (1u << c->role))) {
        char msg[96];
        snprintf(msg, sizeof msg, "a %s may not send %s", auth_role_name(c->role),
                 env_type_name(env->type));
        hx_error(h, c, ERR_FORBIDDEN, msg, env->id);
        return;
    }
    const char *class_id = NULL;
    if (r->needs_class) {
        class_id = hdl__resolve_class(h, c, env->data, env->id);
        if (!class_id)
            return;
    }
    r->fn(h, c, env, class_id);
}

const char *hdl__resolve_class(hdl_t *h, peer_t *p, const json_t *data, const json_t *id)
{
    const json_t *cls = data ? json_object_get(data, "class_id") : NULL;
    if (cls && json_is_string(cls)) {
        const char *want = json_string_value(cls);
        for (int i = 0; i < p->n_classes; i++)
            if (strcmp(p->classes[i], want) == 0)
                return p->classes[i];
        hx_error(h, p, ERR_CLASS_FORBIDDEN, "class_id is not in your token", id);
        return NULL;
    }
    if (p->n_classes == 1)
        return p->classes[0];
    hx_error(h, p, ERR_CLASS_REQUIRED, "your token allows several classes: set data.class_id",
             id);
    return NULL;
}

hdl_req_t *hdl__req_new(hdl_t *h, peer_t *c, const env_t *env, const char *class_id)
{
    hdl_req_t *r = brk_calloc(1, sizeof *r);
    r->h = h;
    r->conn_id = c->id;
    r->id = env && env->id ? json_incref(env->id) : NULL;
    if (class_id)
        snprintf(r->class_id, sizeof r->class_id, "%s", class_id);
    snprintf(r->sub, sizeof r->sub, "%s", c->sub);
    snprintf(r->name, sizeof r->name, "%s", c->name);
    return r;
}

void hdl__req_free(hdl_req_t *r)
{
    if (!r)
        return;
    json_decref(r->id);
    free(r);
}

peer_t *hdl__req_peer(const hdl_req_t *r)
{
    return hx_find(r->h, r->conn_id);
}

static void on_day_lookup(jr_result_t *res, void *ud)
{
    hdl_req_t *r = ud;
    int err = res->err;
    jr_result_free(res);
    if (err == BRK_ENOTFOUND) {
        r->then(r);
        return;
    }
    peer_t *c = hdl__req_peer(r);
    if (c && err == 0)
        hx_error(r->h, c, ERR_SESSION_FINALIZED, "today's session is already finalized", r->id);
    else if (c)
        hx_error(r->h, c, ERR_UNAVAILABLE, "the journal is unavailable", r->id);
    hdl__req_free(r);
}

void hdl__unless_finalized(hdl_req_t *r, const st_view_t *v, void (*then)(hdl_req_t *r))
{
    r->then = then;
    if (v && v->session.state == ST_SESSION_NONE)
        jr_report_day(r->h->jr, r->class_id, v->session.date, on_day_lookup, r);
    else
        then(r); /* an active or finalized live session answers for itself */
}

err_code_t hdl__state_error(int err)
{
    switch (err) {
    case BRK_ENOMEM:
    case BRK_ECLOSED:
    case BRK_EIO:
        return ERR_UNAVAILABLE;
    default:
        return ERR_INTERNAL;
    }
}

json_t *hdl__iso(int64_t ms)
{
    if (ms <= 0)
        return json_null();
    char buf[32];
    brk_iso8601(ms, buf, sizeof buf);
    return json_string(buf);
}

json_t *hdl__session_json(const st_session_t *s, int already_active)
{
    return json_pack("{s:s, s:s, s:s, s:o, s:s, s:b}", "class_id", s->class_id, "session_id",
                     s->session_id, "date", s->date, "started_at", hdl__iso(s->started_at_ms),
                     "teacher_id", s->teacher_id, "already_active", already_active);
}
