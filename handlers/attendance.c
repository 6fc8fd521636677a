/* SPDX-License-Identifier: MIT */
/* ATTENDANCE_MARKED, TODAY_SUMMARY and MY_ATTENDANCE. */
#include "hdl_int.h"

#include "scoring.h"

#include "brk.h"
#include "log.h"

#include <stdlib.h>
#include <string.h>

/* --- ATTENDANCE_MARKED --------------------------------------------------------------- */

static void on_marked(int err, const st_session_t *sess, int created, void *ud)
{
    hdl_req_t *r = ud;
    hdl_t *h = r->h;
    peer_t *c = hdl__req_peer(r);
    if (err == BRK_ESTATE) {
        if (c)
            hx_error(h, c, ERR_SESSION_FINALIZED, "today's session is already finalized", r->id);
        hdl__req_free(r);
        return;
    }
    if (err) {
        if (c)
            hx_error(h, c, hdl__state_error(err), "the mark could not be stored", r->id);
        hdl__req_free(r);
        return;
    }
    if (created) {
        /* A legacy client marked without SESSION_START: tell everyone, the marker too. */
        hdl_session_began(h, r->class_id);
        hx_publish(h, r->class_id, HOST_TO_ALL, NULL, OUT_SESSION_STARTED,
                   hdl__session_json(sess, 0));
    }
    json_t *data = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:o}", "class_id", r->class_id,
                             "session_id", sess->session_id, "studentId", r->student_id,
                             "student_id", r->student_id, "status", st_mark_name(r->mark),
                             "marked_by", r->sub, "marked_at", hdl__iso(brk_now_ms()));
    /* A mark is about one student: the class's staff and that student see it, no other
     * student does. */
    hx_publish_about(h, r->class_id, r->student_id, HOST_TO_STAFF | HOST_TO_SUBJECT, c,
                     OUT_ATTENDANCE_MARKED, json_incref(data));
    if (c)
        hx_reply(h, c, OUT_ATTENDANCE_MARKED, data, r->id);
    else
        json_decref(data);
    hdl__req_free(r);
}

static void do_mark(hdl_req_t *r)
{
    st_mark(r->h->st, r->class_id, r->student_id, r->name, r->mark, r->sub, brk_now_ms(),
            on_marked, r);
}

static void on_mark_session(int err, const st_session_t *sess, int created, void *ud)
{
    hdl_req_t *r = ud;
    st_view_t v;
    memset(&v, 0, sizeof v);
    if (sess)
        v.session = *sess;
    hdl__unless_finalized(r, err || !sess ? NULL : &v, do_mark);
}

void hdl_attendance_marked(hdl_t *h, peer_t *c, const env_t *env, const char *class_id)
{
    const json_t *sid = json_object_get(env->data, "studentId");
    if (!sid)
        sid = json_object_get(env->data, "student_id");
    const char *status = json_string_value(json_object_get(env->data, "status"));
    const char *name = json_string_value(json_object_get(env->data, "name"));
    st_mark_t mark;
    /* The schema guarantees both; this guards against a schema edit that drops them. */
    if (!json_is_string(sid) || !status || st_parse_mark(status, &mark) != 0) {
        hx_error(h, c, ERR_INVALID_PAYLOAD, "data.studentId and data.status are required",
                   env->id);
        return;
    }
    if (!hdl__roster_has(h, class_id, json_string_value(sid))) {
        hx_error(h, c, ERR_NOT_ON_ROSTER, "the class's roster has no such student", env->id);
        return;
    }
    hdl_req_t *r = hdl__req_new(h, c, env, class_id);
    snprintf(r->student_id, sizeof r->student_id, "%s", json_string_value(sid));
    snprintf(r->name, sizeof r->name, "%s", name ? name : "");
    r->mark = mark;
    st_session_get(h->st, class_id, brk_now_ms(), on_mark_session, r);
}

/* --- TODAY_SUMMARY ------------------------------------------------------------------- */

static const char *session_state_name(st_session_state_t s)
{
    switch (s) {
    case ST_SESSION_ACTIVE: return "active";
    case ST_SESSION_FINALIZED: return "finalized";
    default: return "none";
    }
}

/* Status and source of one student: a manual mark, else the engagement verdict once the
 * session is finalized, else unmarked. */
static void student_status(const st_view_t *v, const st_student_t *st, int threshold,
                           const char **status, const char **source)
{
    if (st->mark != ST_MARK_NONE) {
        *status = st_mark_name(st->mark);
        *source = "manual";
    } else if (v->session.state == ST_SESSION_FINALIZED &&
               st->first_seen_ms <= v->session.ended_at_ms) {
        *status = sc_session_pct(&v->session, st, 0) >= threshold ? "present" : "absent";
        *source = "engagement";
    } else {
        *status = NULL;
        *source = NULL;
    }
}

static void summarize(hdl_req_t *r, peer_t *c, const st_view_t *v);

static void on_summary_view(int err, const st_view_t *view, void *ud)
{
    hdl_req_t *r = ud;
    peer_t *c = hdl__req_peer(r);
    if (c && !err) {
        /* Every rostered student is listed, those who never appeared too. */
        st_student_t *owned;
        st_view_t v = hdl__roster_view(r->h, r->class_id, view, &owned);
        summarize(r, c, &v);
        free(owned);
        return;
    }
    summarize(r, c, err ? NULL : view);
}

static void summarize(hdl_req_t *r, peer_t *c, const st_view_t *v)
{
    if (!c) {
        hdl__req_free(r);
        return;
    }
    if (!v) {
        hx_error(r->h, c, ERR_UNAVAILABLE, "live state unavailable", r->id);
        hdl__req_free(r);
        return;
    }
    int present = 0, absent = 0, late = 0, unmarked = 0, online = 0;
    json_t *students = json_array();
    int64_t now = brk_now_ms();
    for (size_t i = 0; i < v->n; i++) {
        const st_student_t *st = &v->students[i];
        const char *status, *source;
        student_status(v, st, r->h->cfg->attendance_threshold, &status, &source);
        if (!status)
            unmarked++;
        else if (strcmp(status, "present") == 0)
            present++;
        else if (strcmp(status, "absent") == 0)
            absent++;
        else
            late++;
        if (st->online > 0)
            online++;
        json_array_append_new(
            students,
            json_pack("{s:s, s:s, s:s, s:o, s:b, s:f, s:f, s:I, s:i}", "student_id",
                      st->student_id, "name", st->name, "status", status ? status : "unmarked",
                      "source", source ? json_string(source) : json_null(), "online",
                      st->online > 0, "engagement_percentage",
                      sc_session_pct(&v->session, st, now), "engaged_seconds",
                      sc_round2(st->engaged_seconds), "frames_analyzed",
                      (json_int_t)st->frames_analyzed, "trust_score", sc_trust_score(st)));
    }
    const st_session_t *s = &v->session;
    json_t *data = json_pack(
        "{s:s, s:s, s:o, s:s, s:o, s:{s:i, s:i, s:i, s:i, s:i, s:i}, s:o}", "class_id",
        r->class_id, "date", s->date,
        "session_id", s->state == ST_SESSION_NONE ? json_null() : json_string(s->session_id),
        "state", session_state_name(s->state), "started_at", hdl__iso(s->started_at_ms),
        "counts", "present", present, "absent", absent, "late", late, "unmarked", unmarked,
        "online", online, "total", (int)v->n, "students", students);
    hx_reply(r->h, c, OUT_TODAY_SUMMARY, data, r->id);
    hdl__req_free(r);
}

void hdl_today_summary(hdl_t *h, peer_t *c, const env_t *env, const char *class_id)
{
    hdl_req_t *r = hdl__req_new(h, c, env, class_id);
    st_view(h->st, class_id, brk_now_ms(), on_summary_view, r);
}

/* --- MY_ATTENDANCE ------------------------------------------------------------------- */

static const st_student_t *find_student(const st_view_t *v, const char *id)
{
    size_t lo = 0, hi = v->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int cmp = strcmp(v->students[mid].student_id, id);
        if (cmp == 0)
            return &v->students[mid];
        if (cmp < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static void on_my_view(int err, const st_view_t *v, void *ud)
{
    hdl_req_t *r = ud;
    peer_t *c = hdl__req_peer(r);
    if (!c) {
        hdl__req_free(r);
        return;
    }
    if (err) {
        hx_error(r->h, c, ERR_UNAVAILABLE, "live state unavailable", r->id);
        hdl__req_free(r);
        return;
    }
    const st_session_t *s = &v->session;
    const st_student_t *st = find_student(v, r->sub);
    const char *status = NULL, *source = NULL;
    double pct = 0.0;
    st_student_t none;
    memset(&none, 0, sizeof none);
    const st_student_t *mine = st ? st : &none;
    if (st) {
        student_status(v, st, r->h->cfg->attendance_threshold, &status, &source);
        pct = sc_session_pct(s, st, brk_now_ms());
    }
    int finalized = s->state == ST_SESSION_FINALIZED;
    if (!status && finalized) {
        /* Appeared only after DONE: not in the records, so not present. */
        status = "absent";
    }
    json_t *data = json_pack(
        "{s:s, s:o, s:s, s:s, s:o, s:b, s:f, s:f, s:I, s:i}", "class_id", r->class_id,
        "session_id", s->state == ST_SESSION_NONE ? json_null() : json_string(s->session_id),
        "date", s->date, "status", status ? status : "pending", "source",
        source ? json_string(source) : json_null(), "finalized", finalized,
        "engagement_percentage", pct, "engaged_seconds", sc_round2(mine->engaged_seconds),
        "frames_analyzed", (json_int_t)mine->frames_analyzed, "trust_score",
        sc_trust_score(mine));
    hx_reply(r->h, c, OUT_MY_ATTENDANCE, data, r->id);
    hdl__req_free(r);
}

void hdl_my_attendance(hdl_t *h, peer_t *c, const env_t *env, const char *class_id)
{
    hdl_req_t *r = hdl__req_new(h, c, env, class_id);
    st_view(h->st, class_id, brk_now_ms(), on_my_view, r);
}
