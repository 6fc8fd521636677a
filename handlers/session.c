/* SPDX-License-Identifier: MIT */
/* SESSION_START and DONE: opening today's session and finalizing it into the journal. */
#include "hdl_int.h"

#include "brk.h"
#include "finalize.h"
#include "log.h"

#include <stdlib.h>
#include <string.h>

static void broadcast_session_started(hdl_t *h, const st_session_t *sess, const peer_t *except)
{
    hdl_session_began(h, sess->class_id);
    hx_publish(h, sess->class_id, HOST_TO_ALL, except, OUT_SESSION_STARTED,
               hdl__session_json(sess, 0));
}

static void on_session_open(int err, const st_session_t *sess, int created, void *ud)
{
    hdl_req_t *r = ud;
    peer_t *c = hdl__req_peer(r);
    if (err == BRK_ESTATE) {
        if (c)
            hx_error(r->h, c, ERR_SESSION_FINALIZED, "today's session is already finalized", r->id);
    } else if (err) {
        LOG(ERROR, r->conn_id, "session open failed", "err=\"%s\"", brk_strerror(err));
        if (c)
            hx_error(r->h, c, ERR_UNAVAILABLE, "live state unavailable", r->id);
    } else {
        if (created) {
            LOG(INFO, r->conn_id, "session started", "class=%s session=%s", sess->class_id,
                sess->session_id);
            broadcast_session_started(r->h, sess, c);
        }
        if (c)
            hx_reply(r->h, c, OUT_SESSION_STARTED, hdl__session_json(sess, !created), r->id);
    }
    hdl__req_free(r);
}

static void do_open(hdl_req_t *r)
{
    st_session_open(r->h->st, r->class_id, r->sub, brk_now_ms(), on_session_open, r);
}

static void on_open_session(int err, const st_session_t *sess, int created, void *ud)
{
    hdl_req_t *r = ud;
    st_view_t v;
    memset(&v, 0, sizeof v);
    if (sess)
        v.session = *sess;
    hdl__unless_finalized(r, err || !sess ? NULL : &v, do_open);
}

void hdl_session_start(hdl_t *h, peer_t *c, const env_t *env, const char *class_id)
{
    hdl_req_t *r = hdl__req_new(h, c, env, class_id);
    st_session_get(h->st, class_id, brk_now_ms(), on_open_session, r);
}

/* --- DONE ---------------------------------------------------------------------------- */

static json_t *record_json(const jr_record_t *rec)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:f, s:f, s:f, s:I, s:i}", "student_id",
                     rec->student_id, "student_name", rec->student_name, "status", rec->status,
                     "source", rec->source, "engagement_percentage", rec->engagement_percentage,
                     "engagement_duration_seconds", rec->engagement_duration_seconds,
                     "total_class_duration_seconds", rec->total_class_duration_seconds,
                     "frames_analyzed", (json_int_t)rec->frames_analyzed, "trust_score",
                     rec->trust_score);
}

/* The class's finalized records, for its staff. */
static json_t *finalized_json(const jr_result_t *res)
{
    json_t *records = json_array();
    for (size_t i = 0; i < res->n; i++)
        json_array_append_new(records, record_json(&res->records[i]));
    const jr_daily_t *d = &res->daily;
    return json_pack("{s:s, s:s, s:s, s:b, s:{s:i, s:i, s:i, s:i, s:f}, s:o}", "class_id",
                     d->class_id, "session_id", d->session_id, "date", d->date,
                     "already_finalized", res->already, "summary", "present", d->present,
                     "absent", d->absent, "late", d->late, "total", d->total, "percentage",
                     d->percentage, "records", records);
}

/* Tells the class: its staff get every record (data, borrowed), each student only their
 * own record. The class counts stay with the staff too: in a small class they would tell
 * a student their classmates' statuses. */
static void announce_finalized(hdl_t *h, const jr_result_t *res, json_t *data,
                               const peer_t *except)
{
    const jr_daily_t *d = &res->daily;
    hx_publish(h, d->class_id, HOST_TO_STAFF, except, OUT_ATTENDANCE_FINALIZED,
               json_incref(data));
    for (size_t i = 0; i < res->n; i++) {
        const jr_record_t *rec = &res->records[i];
        /* Without other instances, a student with no connection here has no one to tell. */
        if (!h->clustered && !h->host->seat_find(h->host->ud, d->class_id, rec->student_id))
            continue;
        json_t *mine = json_pack("{s:s, s:s, s:s, s:b, s:o}", "class_id", d->class_id,
                                 "session_id", d->session_id, "date", d->date,
                                 "already_finalized", res->already, "record",
                                 record_json(rec));
        hx_publish_about(h, d->class_id, rec->student_id, HOST_TO_SUBJECT, NULL,
                         OUT_ATTENDANCE_FINALIZED, mine);
    }
}

/* Replies to the DONE and, when announce is set, tells the class. */
static void finish_done(hdl_req_t *r, jr_result_t *res, int announce)
{
    peer_t *c = hdl__req_peer(r);
    LOG(INFO, r->conn_id, "session finalized", "class=%s session=%s records=%zu already=%d",
        res->daily.class_id, res->daily.session_id, res->n, res->already);
    json_t *data = finalized_json(res);
    if (announce)
        announce_finalized(r->h, res, data, c);
    if (c)
        hx_reply(r->h, c, OUT_ATTENDANCE_FINALIZED, data, r->id);
    else
        json_decref(data);
    jr_result_free(res);
    hdl__req_free(r);
}

/* Several instances may each store the same frozen records in their own journal, each
 * seeing them as new: the engine's claim picks the one that announces them. The others
 * answer like a repeated DONE. A claim that could not be made announces anyway: a class
 * told twice is better than a class never told. */
static void on_claimed(int err, int first, void *ud)
{
    hdl_req_t *r = ud;
    jr_result_t *res = r->aux;
    r->aux = NULL;
    if (err)
        LOG(WARN, r->conn_id, "finalize claim failed", "class=%s err=\"%s\"", r->class_id,
            brk_strerror(err));
    else if (!first)
        res->already = 1;
    finish_done(r, res, err || first);
}

static void on_journal(jr_result_t *res, void *ud)
{
    hdl_req_t *r = ud;
    hdl_t *h = r->h;
    peer_t *c = hdl__req_peer(r);
    if (!res->err) {
        if (res->already) {
            finish_done(r, res, 0);
        } else {
            /* The first DONE to reach the journal tells the class; later ones only get
             * their reply. */
            r->aux = res;
            st_claim(h->st, r->class_id, res->daily.session_id, on_claimed, r);
        }
        return;
    }
    LOG(ERROR, r->conn_id, "finalize not stored", "class=%s err=\"%s\"", r->class_id,
        res->errmsg);
    if (c)
        hx_error(h, c, ERR_UNAVAILABLE,
                   "the records could not be stored; nothing was finalized, send DONE again",
                   r->id);
    jr_result_free(res);
    hdl__req_free(r);
}

static void on_done_view(int err, const st_view_t *view, void *ud);

static void on_stored_day(jr_result_t *res, void *ud)
{
    hdl_req_t *r = ud;
    peer_t *c = hdl__req_peer(r);
    if (res->err == 0) {
        res->already = 1;
        if (c)
            hx_reply(r->h, c, OUT_ATTENDANCE_FINALIZED, finalized_json(res), r->id);
    } else if (c && res->err == BRK_ENOTFOUND) {
        hx_error(r->h, c, ERR_NO_SESSION, "no session today and no student seen", r->id);
    } else if (c) {
        hx_error(r->h, c, ERR_UNAVAILABLE, "the journal is unavailable", r->id);
    }
    jr_result_free(res);
    hdl__req_free(r);
}

static void submit_finalize(hdl_req_t *r, const st_view_t *view)
{
    hdl_t *h = r->h;
    jr_daily_t daily;
    jr_record_t *recs = NULL;
    size_t n = 0;
    /* Someone who first appeared after the freeze (and so was never marked) is not in the
     * records: every instance computing from the frozen view must get the same records,
     * whenever it reads it. */
    /* Every rostered student has a record: one who never appeared is absent. */
    st_student_t *owned;
    st_view_t whole = hdl__roster_view(h, r->class_id, view, &owned);
    view = &whole;
    st_student_t *kept = view->n ? brk_malloc(view->n * sizeof *kept) : NULL;
    st_view_t frozen = *view;
    frozen.n = 0;
    for (size_t i = 0; i < view->n; i++)
        if (view->students[i].mark != ST_MARK_NONE ||
            view->students[i].first_seen_ms <= view->session.ended_at_ms)
            kept[frozen.n++] = view->students[i];
    frozen.students = kept;
    fin_compute(&frozen, h->cfg->attendance_threshold, view->session.ended_at_ms, &daily, &recs,
                &n);
    free(kept);
    free(owned);
    jr_finalize(h->jr, &daily, recs, n, on_journal, r);
    free(recs);
}

static void on_done_frozen(int err, const st_session_t *sess, int created, void *ud)
{
    hdl_req_t *r = ud;
    /* Frozen now (or by a concurrent DONE a moment ago): read the final view. */
    st_view(r->h->st, r->class_id, brk_now_ms(), on_done_view, r);
}

static void on_done_opened(int err, const st_session_t *sess, int created, void *ud)
{
    hdl_req_t *r = ud;
    if (err && err != BRK_ESTATE) {
        peer_t *c = hdl__req_peer(r);
        if (c)
            hx_error(r->h, c, ERR_UNAVAILABLE, "live state unavailable", r->id);
        hdl__req_free(r);
        return;
    }
    st_view(r->h->st, r->class_id, brk_now_ms(), on_done_view, r);
}

static void on_done_view(int err, const st_view_t *view, void *ud)
{
    hdl_req_t *r = ud;
    hdl_t *h = r->h;
    if (err) {
        peer_t *c = hdl__req_peer(r);
        if (c)
            hx_error(h, c, ERR_UNAVAILABLE, "live state unavailable", r->id);
        hdl__req_free(r);
        return;
    }
    switch (view->session.state) {
    case ST_SESSION_NONE:
        if (view->n == 0) {
            /* Nothing live: the day may have been finalized before a restart. */
            jr_report_day(h->jr, r->class_id, view->session.date, on_stored_day, r);
            return;
        }
        /* Students appeared but nobody opened a session: open it, then finalize. */
        st_session_open(h->st, r->class_id, r->sub, brk_now_ms(), on_done_opened, r);
        return;
    case ST_SESSION_ACTIVE:
        if (++r->attempts > 3) {
            peer_t *c = hdl__req_peer(r);
            if (c)
                hx_error(h, c, ERR_INTERNAL, "the session could not be frozen", r->id);
            hdl__req_free(r);
            return;
        }
        /* Freeze the session before computing, so no mark can be acknowledged after the
         * snapshot the records are made of. A journal failure leaves it frozen and a
         * repeated DONE stores the same records. */
        st_finalized(h->st, r->class_id, view->session.session_id, brk_now_ms(),
                     on_done_frozen, r);
        return;
    case ST_SESSION_FINALIZED:
        submit_finalize(r, view);
        return;
    }
}

void hdl_done(hdl_t *h, peer_t *c, const env_t *env, const char *class_id)
{
    hdl_req_t *r = hdl__req_new(h, c, env, class_id);
    st_view(h->st, class_id, brk_now_ms(), on_done_view, r);
}
