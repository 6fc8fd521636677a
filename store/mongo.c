/* SPDX-License-Identifier: MIT */
/* The MongoDB sink: a mongoc_client_pool_t used by one dedicated worker thread of the shared
 * job queue (base/jobq.h). The loop thread copies each request into a job; the worker pops a
 * client from the pool per job and runs it; the queue hands the finished job back on the
 * loop. The worker's first act (the queue's thread_start hook) is a ping and the creation of
 * the unique indexes; mg_open() waits for that outcome so refused credentials stop the
 * start. */
#include "mongo.h"

#include "brk.h"
#include "jobq.h"
#include "journal_analytics_int.h"
#include "log.h"

#include <mongoc/mongoc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define MG_DEFAULT_TIMEOUT_MS 2000
#define MG_WTIMEOUT_MS 10000

/* At most this many documents (records and summaries together) are read for one analytics
 * query: the scratch database holds them all in memory. */
#define MG_ANALYTICS_MAX_DOCS 200000

typedef enum { JOB_SHIP, JOB_REPORT, JOB_ANALYTICS } job_kind_t;

typedef struct job {
    jobq_job_t base; /* first: the queue's handle on the job */
    job_kind_t kind;
    jr_daily_t daily;
    jr_record_t *recs;
    size_t n;
    char *class_id, *session_id;
    jr_query_t *query; /* analytics: owned */
    mg_ship_cb ship_cb;
    jr_done_cb report_cb;
    void *ud;
    mg_ship_result_t ship;
    jr_result_t *res; /* report */
} job_t;

struct mg {
    jobq_t *q; /* one worker thread */
    mongoc_uri_t *uri;
    mongoc_client_pool_t *pool;
    mongoc_write_concern_t *wc;
    char *db;

    /* Written by the worker's start hook, read by mg_open() after jobq_wait_started(),
     * which orders the two. */
    bson_error_t init_err;
    int init_ok;

    /* Worker thread only. */
    int indexes_ok;
};

/* ---- driver log ------------------------------------------------------------------------ */

static void on_mongoc_log(mongoc_log_level_t level, const char *domain, const char *message,
                          void *ud)
{
    (void)ud;
    /* The driver's messages never hold credentials, but they can hold user data in
     * rare debug traces: trace level is dropped entirely. */
    if (level == MONGOC_LOG_LEVEL_TRACE)
        return;
    if (level <= MONGOC_LOG_LEVEL_WARNING)
        LOG(WARN, 0, "mongoc", "domain=%s detail=\"%.300s\"", domain, message);
    else
        LOG(DEBUG, 0, "mongoc", "domain=%s detail=\"%.300s\"", domain, message);
}

static pthread_once_t init_once = PTHREAD_ONCE_INIT;

static void init_driver(void)
{
    mongoc_log_set_handler(on_mongoc_log, NULL);
    mongoc_init();
    atexit(mongoc_cleanup);
}

void mg_install_log_handler(void)
{
    pthread_once(&init_once, init_driver);
}

/* ---- error translation ----------------------------------------------------------------- */

static int is_auth_error(const bson_error_t *e)
{
    return (e->domain == MONGOC_ERROR_CLIENT && e->code == MONGOC_ERROR_CLIENT_AUTHENTICATE) ||
           e->code == 18 /* AuthenticationFailed */;
}

static mg_fail_t classify(const bson_error_t *e)
{
    if (e->domain == MONGOC_ERROR_SERVER_SELECTION || e->domain == MONGOC_ERROR_STREAM ||
        (e->domain == MONGOC_ERROR_CLIENT && e->code != MONGOC_ERROR_CLIENT_AUTHENTICATE))
        return MG_UNREACHABLE;
    if (e->domain == MONGOC_ERROR_SERVER || e->domain == MONGOC_ERROR_WRITE_CONCERN ||
        e->domain == MONGOC_ERROR_COLLECTION || e->domain == MONGOC_ERROR_COMMAND ||
        e->domain == MONGOC_ERROR_QUERY)
        return MG_WRITE;
    return MG_OTHER;
}

static void set_fail(mg_ship_result_t *r, const char *what, const bson_error_t *e)
{
    r->fail = classify(e);
    snprintf(r->errmsg, sizeof r->errmsg, "%.24s: %.180s (domain %u, code %u)", what, e->message,
             e->domain, e->code);
    /* The driver quotes names with '"': keep log lines and the /readyz body parseable. */
    for (char *p = r->errmsg; *p; p++)
        if (*p == '"' || *p == '\n')
            *p = '\'';
}

/* ---- worker ---------------------------------------------------------------------------- */

static bson_t *opts_with_wc(const mg_t *m, int upsert)
{
    bson_t *o = bson_new();
    if (!mongoc_write_concern_append(m->wc, o))
        BRK_ASSERT(!"write concern not appendable");
    if (upsert)
        BSON_APPEND_BOOL(o, "upsert", true);
    return o;
}

static int ensure_indexes(mg_t *m, mongoc_client_t *c, bson_error_t *err)
{
    static const struct {
        const char *coll, *name, *k1, *k2;
    } ix[] = {
        {"attendance", "session_id_1_student_id_1", "session_id", "student_id"},
        {"attendance_daily", "class_id_1_date_1", "class_id", "date"},
    };
    mongoc_database_t *db = mongoc_client_get_database(c, m->db);
    int ok = 1;
    bson_t *ping = BCON_NEW("ping", BCON_INT32(1));
    ok = mongoc_client_command_simple(c, "admin", ping, NULL, NULL, err);
    bson_destroy(ping);
    for (size_t i = 0; ok && i < BRK_ARRAY_LEN(ix); i++) {
        /* createIndexes is a no-op for an index that already exists with this spec. */
        bson_t *cmd = BCON_NEW("createIndexes", BCON_UTF8(ix[i].coll), "indexes", "[", "{", "key",
                               "{", ix[i].k1, BCON_INT32(1), ix[i].k2, BCON_INT32(1), "}", "name",
                               BCON_UTF8(ix[i].name), "unique", BCON_BOOL(true), "}", "]");
        bson_t *opts = opts_with_wc(m, 0);
        ok = mongoc_database_write_command_with_opts(db, cmd, opts, NULL, err);
        bson_destroy(opts);
        bson_destroy(cmd);
    }
    mongoc_database_destroy(db);
    return ok;
}

static void record_doc(bson_t *d, const jr_record_t *r)
{
    BSON_APPEND_UTF8(d, "student_id", r->student_id);
    BSON_APPEND_UTF8(d, "student_name", r->student_name);
    BSON_APPEND_UTF8(d, "class_id", r->class_id);
    BSON_APPEND_UTF8(d, "session_id", r->session_id);
    BSON_APPEND_DATE_TIME(d, "started_at", r->started_at_ms);
    BSON_APPEND_DATE_TIME(d, "ended_at", r->ended_at_ms);
    BSON_APPEND_DOUBLE(d, "total_class_duration_seconds", r->total_class_duration_seconds);
    BSON_APPEND_DOUBLE(d, "engagement_duration_seconds", r->engagement_duration_seconds);
    BSON_APPEND_DOUBLE(d, "engagement_percentage", r->engagement_percentage);
    BSON_APPEND_INT64(d, "frames_analyzed", r->frames_analyzed);
    BSON_APPEND_INT32(d, "trust_score", r->trust_score);
    BSON_APPEND_UTF8(d, "status", r->status);
    BSON_APPEND_UTF8(d, "source", r->source);
    BSON_APPEND_DATE_TIME(d, "finalized_at", r->finalized_at_ms);
}

static void daily_doc(bson_t *d, const jr_daily_t *v)
{
    bson_t s;
    BSON_APPEND_UTF8(d, "class_id", v->class_id);
    BSON_APPEND_UTF8(d, "teacher_id", v->teacher_id);
    BSON_APPEND_UTF8(d, "date", v->date);
    BSON_APPEND_UTF8(d, "session_id", v->session_id);
    BSON_APPEND_DOCUMENT_BEGIN(d, "summary", &s);
    BSON_APPEND_INT32(&s, "present", v->present);
    BSON_APPEND_INT32(&s, "absent", v->absent);
    BSON_APPEND_INT32(&s, "late", v->late);
    BSON_APPEND_INT32(&s, "total", v->total);
    BSON_APPEND_DOUBLE(&s, "percentage", v->percentage);
    bson_append_document_end(d, &s);
    BSON_APPEND_DATE_TIME(d, "finalized_at", v->finalized_at_ms);
}

static void do_ship(mg_t *m, mongoc_client_t *c, job_t *job)
{
    bson_error_t err;
    bson_t reply;
    if (!m->indexes_ok) {
        if (!ensure_indexes(m, c, &err)) {
            set_fail(&job->ship, "create indexes", &err);
            return;
        }
        m->indexes_ok = 1;
    }
    mongoc_collection_t *att = mongoc_client_get_collection(c, m->db, "attendance");
    mongoc_collection_t *daily = mongoc_client_get_collection(c, m->db, "attendance_daily");
    bson_t *upsert = BCON_NEW("upsert", BCON_BOOL(true));
    if (job->n > 0) {
        bson_t *bopts = opts_with_wc(m, 0);
        BSON_APPEND_BOOL(bopts, "ordered", true);
        mongoc_bulk_operation_t *bulk =
            mongoc_collection_create_bulk_operation_with_opts(att, bopts);
        bson_destroy(bopts);
        int ok = 1;
        for (size_t i = 0; i < job->n && ok; i++) {
            const jr_record_t *r = &job->recs[i];
            bson_t *sel = BCON_NEW("session_id", BCON_UTF8(r->session_id), "student_id",
                                   BCON_UTF8(r->student_id));
            bson_t doc = BSON_INITIALIZER;
            record_doc(&doc, r);
            ok = mongoc_bulk_operation_replace_one_with_opts(bulk, sel, &doc, upsert, &err);
            bson_destroy(&doc);
            bson_destroy(sel);
        }
        if (ok)
            ok = mongoc_bulk_operation_execute(bulk, &reply, &err) != 0;
        else
            bson_init(&reply);
        bson_destroy(&reply);
        mongoc_bulk_operation_destroy(bulk);
        if (!ok) {
            set_fail(&job->ship, "upsert attendance", &err);
            goto cleanup;
        }
    }
    {
        bson_t *sel = BCON_NEW("class_id", BCON_UTF8(job->daily.class_id), "date",
                               BCON_UTF8(job->daily.date));
        bson_t doc = BSON_INITIALIZER;
        daily_doc(&doc, &job->daily);
        bson_t *opts = opts_with_wc(m, 1);
        int ok = mongoc_collection_replace_one(daily, sel, &doc, opts, &reply, &err);
        bson_destroy(&reply);
        bson_destroy(opts);
        bson_destroy(&doc);
        bson_destroy(sel);
        if (!ok)
            set_fail(&job->ship, "upsert attendance_daily", &err);
    }
cleanup:
    bson_destroy(upsert);
    mongoc_collection_destroy(att);
    mongoc_collection_destroy(daily);
}

static void copy_str(char *dst, size_t cap, const bson_t *doc, const char *key, int *bad)
{
    bson_iter_t it;
    if (!bson_iter_init_find(&it, doc, key) || !BSON_ITER_HOLDS_UTF8(&it)) {
        *bad = 1;
        dst[0] = '\0';
        return;
    }
    uint32_t len;
    const char *s = bson_iter_utf8(&it, &len);
    if (len >= cap)
        *bad = 1;
    snprintf(dst, cap, "%s", s);
}

static int64_t get_date(const bson_t *doc, const char *key, int *bad)
{
    bson_iter_t it;
    if (!bson_iter_init_find(&it, doc, key) || !BSON_ITER_HOLDS_DATE_TIME(&it)) {
        *bad = 1;
        return 0;
    }
    return bson_iter_date_time(&it);
}

static double get_num(const bson_t *doc, const char *key, int *bad)
{
    bson_iter_t it;
    if (!bson_iter_init_find(&it, doc, key) || !BSON_ITER_HOLDS_NUMBER(&it)) {
        *bad = 1;
        return 0;
    }
    return bson_iter_as_double(&it);
}

/* A summary document (daily_doc) into *d; *bad set when a field is missing or mistyped. */
static void read_daily(const bson_t *doc, jr_daily_t *d, int *bad)
{
    bson_t s;
    bson_iter_t it, si;
    memset(d, 0, sizeof *d);
    copy_str(d->class_id, sizeof d->class_id, doc, "class_id", bad);
    copy_str(d->teacher_id, sizeof d->teacher_id, doc, "teacher_id", bad);
    copy_str(d->date, sizeof d->date, doc, "date", bad);
    copy_str(d->session_id, sizeof d->session_id, doc, "session_id", bad);
    d->finalized_at_ms = get_date(doc, "finalized_at", bad);
    if (bson_iter_init_find(&it, doc, "summary") && BSON_ITER_HOLDS_DOCUMENT(&it) &&
        bson_iter_recurse(&it, &si)) {
        uint32_t len;
        const uint8_t *data;
        bson_iter_document(&it, &len, &data);
        bson_init_static(&s, data, len);
        d->present = (int)get_num(&s, "present", bad);
        d->absent = (int)get_num(&s, "absent", bad);
        d->late = (int)get_num(&s, "late", bad);
        d->total = (int)get_num(&s, "total", bad);
        d->percentage = get_num(&s, "percentage", bad);
    } else {
        *bad = 1;
    }
}

/* A record document (record_doc) into *r; *bad as above. */
static void read_record(const bson_t *doc, jr_record_t *r, int *bad)
{
    memset(r, 0, sizeof *r);
    copy_str(r->student_id, sizeof r->student_id, doc, "student_id", bad);
    copy_str(r->student_name, sizeof r->student_name, doc, "student_name", bad);
    copy_str(r->class_id, sizeof r->class_id, doc, "class_id", bad);
    copy_str(r->session_id, sizeof r->session_id, doc, "session_id", bad);
    r->started_at_ms = get_date(doc, "started_at", bad);
    r->ended_at_ms = get_date(doc, "ended_at", bad);
    r->total_class_duration_seconds = get_num(doc, "total_class_duration_seconds", bad);
    r->engagement_duration_seconds = get_num(doc, "engagement_duration_seconds", bad);
    r->engagement_percentage = get_num(doc, "engagement_percentage", bad);
    r->frames_analyzed = (int64_t)get_num(doc, "frames_analyzed", bad);
    r->trust_score = bson_has_field(doc, "trust_score") ? (int)get_num(doc, "trust_score", bad)
                                                        : 100; /* written before trust scores */
    copy_str(r->status, sizeof r->status, doc, "status", bad);
    copy_str(r->source, sizeof r->source, doc, "source", bad);
    r->finalized_at_ms = get_date(doc, "finalized_at", bad);
}

static void do_report(mg_t *m, mongoc_client_t *c, job_t *job)
{
    jr_result_t *res = job->res;
    bson_error_t err;
    const bson_t *doc;
    int bad = 0;
    mongoc_collection_t *att = mongoc_client_get_collection(c, m->db, "attendance");
    mongoc_collection_t *daily = mongoc_client_get_collection(c, m->db, "attendance_daily");
    bson_t *filter =
        BCON_NEW("class_id", BCON_UTF8(job->class_id), "session_id", BCON_UTF8(job->session_id));
    bson_t *one = BCON_NEW("limit", BCON_INT64(1));
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(daily, filter, one, NULL);
    int found = 0;
    if (mongoc_cursor_next(cur, &doc)) {
        found = 1;
        read_daily(doc, &res->daily, &bad);
    }
    if (mongoc_cursor_error(cur, &err)) {
        res->err = BRK_EIO;
        snprintf(res->errmsg, sizeof res->errmsg, "mongodb report: %.140s", err.message);
    }
    mongoc_cursor_destroy(cur);
    bson_destroy(one);
    if (!res->err && !found) {
        res->err = BRK_ENOTFOUND;
        snprintf(res->errmsg, sizeof res->errmsg, "report: no finalized session");
    }
    if (!res->err) {
        bson_t *sort = BCON_NEW("sort", "{", "student_id", BCON_INT32(1), "}");
        cur = mongoc_collection_find_with_opts(att, filter, sort, NULL);
        size_t cap = 0;
        while (mongoc_cursor_next(cur, &doc)) {
            if (res->n == cap) {
                cap = cap ? cap * 2 : 32;
                res->records = brk_realloc(res->records, cap * sizeof *res->records);
            }
            read_record(doc, &res->records[res->n++], &bad);
        }
        if (mongoc_cursor_error(cur, &err)) {
            res->err = BRK_EIO;
            snprintf(res->errmsg, sizeof res->errmsg, "mongodb report: %.140s", err.message);
        }
        mongoc_cursor_destroy(cur);
        bson_destroy(sort);
    }
    if (!res->err && bad) {
        res->err = BRK_EIO;
        snprintf(res->errmsg, sizeof res->errmsg,
                 "mongodb report: a stored document lacks a "
                 "field or has a wrong type");
    }
    if (res->err) {
        BRK_FREE(res->records);
        res->n = 0;
        if (res->err != BRK_ENOTFOUND)
            memset(&res->daily, 0, sizeof res->daily);
    }
    bson_destroy(filter);
    mongoc_collection_destroy(att);
    mongoc_collection_destroy(daily);
}

/* ---- analytics: MongoDB's documents, the journal's SQL ----------------------------------- */

/* {key: {$in: [ids...]}}. Only equality and $in filters are used here: dates are kept as
 * text in the summaries and filtered by the SQL afterwards. */
static bson_t *in_filter(const char *key, const char (*ids)[JR_ID], size_t n)
{
    bson_t *f = bson_new();
    bson_t in, arr;
    BSON_APPEND_DOCUMENT_BEGIN(f, key, &in);
    BSON_APPEND_ARRAY_BEGIN(&in, "$in", &arr);
    for (size_t i = 0; i < n; i++) {
        char buf[16];
        const char *k;
        bson_uint32_to_string((uint32_t)i, &k, buf, sizeof buf);
        bson_append_utf8(&arr, k, -1, ids[i], -1);
    }
    bson_append_array_end(&in, &arr);
    bson_append_document_end(f, &in);
    return f;
}

/* The distinct classes of a student's records, for the history's summaries. */
typedef struct class_set {
    char (*ids)[JR_ID];
    size_t n, cap;
} class_set_t;

static void class_set_add(class_set_t *cs, const char *id)
{
    for (size_t i = 0; i < cs->n; i++)
        if (strcmp(cs->ids[i], id) == 0)
            return;
    if (cs->n == cs->cap) {
        cs->cap = cs->cap ? cs->cap * 2 : 8;
        cs->ids = brk_realloc(cs->ids, cs->cap * sizeof *cs->ids);
    }
    snprintf(cs->ids[cs->n++], JR_ID, "%s", id);
}

static void an_fail(jr_result_t *res, int err, const char *why)
{
    res->err = err;
    snprintf(res->errmsg, sizeof res->errmsg, "mongodb analytics: %.130s", why);
}

/* Loads every document of coll that matches filter into sc (summaries when daily, else
 * records, whose classes go into classes when it is set). *docs counts the documents read
 * so far against MG_ANALYTICS_MAX_DOCS. Returns 0, or -1 with res->err set. */
static int load_docs(mongoc_collection_t *coll, const bson_t *filter, int daily, jr_scratch_t *sc,
                     size_t *docs, class_set_t *classes, jr_result_t *res)
{
    bson_error_t err;
    const bson_t *doc;
    char why[160];
    int bad = 0, rc = 0;
    /* One document past the bound tells a full read from one that was cut short. */
    bson_t *opts = BCON_NEW("limit", BCON_INT64((int64_t)(MG_ANALYTICS_MAX_DOCS - *docs) + 1));
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(coll, filter, opts, NULL);
    while (rc == 0 && mongoc_cursor_next(cur, &doc)) {
        if (*docs == MG_ANALYTICS_MAX_DOCS) {
            an_fail(res, BRK_ETOOBIG, "more documents than MG_ANALYTICS_MAX_DOCS");
            rc = -1;
            break;
        }
        (*docs)++;
        if (daily) {
            jr_daily_t d;
            read_daily(doc, &d, &bad);
            if (!bad && jr__scratch_add_daily(sc, &d, why, sizeof why) != 0) {
                an_fail(res, BRK_EIO, why);
                rc = -1;
            }
        } else {
            jr_record_t r;
            read_record(doc, &r, &bad);
            if (!bad && jr__scratch_add_record(sc, &r, why, sizeof why) != 0) {
                an_fail(res, BRK_EIO, why);
                rc = -1;
            }
            if (!bad && rc == 0 && classes)
                class_set_add(classes, r.class_id);
        }
        if (bad) {
            an_fail(res, BRK_EIO, "a stored document lacks a field or has a wrong type");
            rc = -1;
        }
    }
    if (rc == 0 && mongoc_cursor_error(cur, &err)) {
        an_fail(res, BRK_EIO, err.message);
        rc = -1;
    }
    mongoc_cursor_destroy(cur);
    bson_destroy(opts);
    return rc;
}

/* Reads the documents q needs (the records of its classes, or of its student, and the
 * summaries of those classes) into a scratch database with the journal's schema, and runs
 * the journal's query on it. */
static void do_analytics(mg_t *m, mongoc_client_t *c, job_t *job)
{
    const jr_query_t *q = job->query;
    jr_result_t *res = job->res;
    mongoc_collection_t *att = mongoc_client_get_collection(c, m->db, "attendance");
    mongoc_collection_t *daily = mongoc_client_get_collection(c, m->db, "attendance_daily");
    class_set_t classes = {0};
    bson_t *rec_filter = NULL, *day_filter = NULL;
    jr_scratch_t *sc = NULL;
    size_t docs = 0;
    char why[160];

    res->rows_kind = jr_query_rows_kind(q);
    if (jr__scratch_new(&sc, why, sizeof why) != 0) {
        an_fail(res, BRK_EIO, why);
        goto cleanup;
    }
    if (q->kind == JR_Q_HISTORY) {
        rec_filter = q->class_id[0] ? BCON_NEW("student_id", BCON_UTF8(q->student_id), "class_id",
                                               BCON_UTF8(q->class_id))
                                    : BCON_NEW("student_id", BCON_UTF8(q->student_id));
        if (load_docs(att, rec_filter, 0, sc, &docs, &classes, res) != 0)
            goto cleanup;
        /* Only the summaries of the student's classes can date their records. */
        if (classes.n > 0) {
            day_filter = in_filter("class_id", (const char(*)[JR_ID])classes.ids, classes.n);
            if (load_docs(daily, day_filter, 1, sc, &docs, NULL, res) != 0)
                goto cleanup;
        }
    } else {
        if (q->kind == JR_Q_AT_RISK) {
            rec_filter = in_filter("class_id", (const char(*)[JR_ID])q->class_ids, q->n_classes);
            day_filter = in_filter("class_id", (const char(*)[JR_ID])q->class_ids, q->n_classes);
        } else {
            rec_filter = BCON_NEW("class_id", BCON_UTF8(q->class_id));
            day_filter = BCON_NEW("class_id", BCON_UTF8(q->class_id));
        }
        if (load_docs(daily, day_filter, 1, sc, &docs, NULL, res) != 0 ||
            load_docs(att, rec_filter, 0, sc, &docs, NULL, res) != 0)
            goto cleanup;
    }
    jr__scratch_run(sc, q, res);

cleanup:
    jr__scratch_free(sc);
    free(classes.ids);
    if (rec_filter)
        bson_destroy(rec_filter);
    if (day_filter)
        bson_destroy(day_filter);
    mongoc_collection_destroy(att);
    mongoc_collection_destroy(daily);
}

/* The worker's first act, before it takes any job. */
static void *on_worker_start(unsigned index, void *ud)
{
    (void)index;
    mg_t *m = ud;
    bson_error_t err;
    memset(&err, 0, sizeof err);
    mongoc_client_t *c = mongoc_client_pool_pop(m->pool);
    int ok = ensure_indexes(m, c, &err);
    mongoc_client_pool_push(m->pool, c);
    m->indexes_ok = ok;
    m->init_ok = ok;
    m->init_err = err;
    return NULL;
}

static void on_run(jobq_job_t *jj, void *state, void *ud)
{
    (void)state;
    mg_t *m = ud;
    job_t *job = (job_t *)jj;
    mongoc_client_t *c = mongoc_client_pool_pop(m->pool);
    if (job->kind == JOB_SHIP)
        do_ship(m, c, job);
    else if (job->kind == JOB_ANALYTICS)
        do_analytics(m, c, job);
    else
        do_report(m, c, job);
    mongoc_client_pool_push(m->pool, c);
}

/* ---- loop thread ----------------------------------------------------------------------- */

static void job_free(job_t *job)
{
    free(job->recs);
    free(job->class_id);
    free(job->session_id);
    jr_query_free(job->query);
    free(job);
}

/* Loop thread: a finished job, or one refused after the shutdown (which may come after
 * mg_free(): it touches nothing but the job). */
static void on_done(jobq_job_t *jj, void *ud)
{
    (void)ud;
    job_t *job = (job_t *)jj;
    if (job->kind == JOB_SHIP) {
        job->ship_cb(&job->ship, job->ud);
    } else {
        job->report_cb(job->res, job->ud); /* owns res from here */
        job->res = NULL;
    }
    jr_result_free(job->res);
    job_free(job);
}

/* Results the loop never delivered (mg_free() before the loop ran to the end). */
static void on_discard(jobq_job_t *jj, void *ud)
{
    (void)ud;
    job_t *job = (job_t *)jj;
    jr_result_free(job->res);
    job_free(job);
}

static void submit(mg_t *m, job_t *job)
{
    if (jobq_submit(m->q, &job->base, NULL) != 0) { /* unbounded: only after shutdown */
        /* Completed later on the loop, never inside the submitting call. */
        if (job->kind == JOB_SHIP) {
            job->ship.fail = MG_OTHER;
            snprintf(job->ship.errmsg, sizeof job->ship.errmsg, "mongodb sink is shut down");
        } else {
            job->res->err = BRK_ECLOSED;
            snprintf(job->res->errmsg, sizeof job->res->errmsg, "mongodb sink is shut down");
        }
        jobq_refuse_later(m->q, &job->base);
    }
}

void mg_ship(mg_t *m, const jr_daily_t *daily, const jr_record_t *recs, size_t n, mg_ship_cb cb,
             void *ud)
{
    BRK_ASSERT(m && daily && cb && (recs || n == 0));
    job_t *job = brk_calloc(1, sizeof *job);
    job->kind = JOB_SHIP;
    job->daily = *daily;
    if (n) {
        job->recs = brk_malloc(n * sizeof *recs);
        memcpy(job->recs, recs, n * sizeof *recs);
    }
    job->n = n;
    job->ship_cb = cb;
    job->ud = ud;
    submit(m, job);
}

void mg_report(mg_t *m, const char *class_id, const char *session_id, jr_done_cb cb, void *ud)
{
    BRK_ASSERT(m && class_id && session_id && cb);
    job_t *job = brk_calloc(1, sizeof *job);
    job->kind = JOB_REPORT;
    job->class_id = brk_strdup(class_id);
    job->session_id = brk_strdup(session_id);
    job->res = brk_calloc(1, sizeof *job->res);
    job->report_cb = cb;
    job->ud = ud;
    submit(m, job);
}

void mg_analytics(mg_t *m, const jr_query_t *q, jr_done_cb cb, void *ud)
{
    BRK_ASSERT(m && q && cb);
    job_t *job = brk_calloc(1, sizeof *job);
    job->kind = JOB_ANALYTICS;
    job->query = jr__query_dup(q);
    job->res = brk_calloc(1, sizeof *job->res);
    job->report_cb = cb;
    job->ud = ud;
    submit(m, job);
}

const char *mg_database(const mg_t *m)
{
    return m->db;
}

static int parse_write_concern(const char *s, mongoc_write_concern_t **out)
{
    mongoc_write_concern_t *wc = mongoc_write_concern_new();
    if (!s || !s[0] || strcasecmp(s, "majority") == 0) {
        mongoc_write_concern_set_wmajority(wc, MG_WTIMEOUT_MS);
    } else {
        char *end;
        long w = strtol(s, &end, 10);
        if (*end != '\0' || end == s || w < 1 || w > 50) {
            mongoc_write_concern_destroy(wc);
            return BRK_EINVAL;
        }
        mongoc_write_concern_set_w(wc, (int32_t)w);
        mongoc_write_concern_set_wtimeout_int64(wc, MG_WTIMEOUT_MS);
    }
    *out = wc;
    return 0;
}

static int valid_db_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 63)
        return 0;
    return strpbrk(s, "/\\. \"$") == NULL;
}

int mg_open(uv_loop_t *loop, const mg_opts_t *o, mg_t **out, int *unreachable, char *err,
            size_t errlen)
{
    BRK_ASSERT(loop && o && out);
    bson_error_t berr;
    mg_t *m = NULL;
    int rc = BRK_EINVAL;
    *out = NULL;
    if (unreachable)
        *unreachable = 0;

    mg_install_log_handler();
    m = brk_calloc(1, sizeof *m);
    m->uri = mongoc_uri_new_with_error(o->uri ? o->uri : "", &berr);
    if (!m->uri) {
        /* The URI itself is never echoed: it may hold a password. */
        snprintf(err, errlen, "invalid ROLLCALL_MONGODB_URI: %s", berr.message);
        goto cleanup;
    }
    const char *db = o->database && o->database[0] ? o->database : mongoc_uri_get_database(m->uri);
    if (!db || !db[0]) {
        snprintf(err, errlen,
                 "no MongoDB database: name it in ROLLCALL_MONGODB_URI "
                 "(mongodb://host/DB) or in ROLLCALL_MONGODB_DATABASE");
        goto cleanup;
    }
    if (!valid_db_name(db)) {
        snprintf(err, errlen, "invalid MongoDB database name in %s",
                 o->database && o->database[0] ? "ROLLCALL_MONGODB_DATABASE"
                                               : "ROLLCALL_MONGODB_URI");
        goto cleanup;
    }
    m->db = brk_strdup(db);
    if (parse_write_concern(o->write_concern, &m->wc) != 0) {
        snprintf(err, errlen,
                 "invalid ROLLCALL_MONGODB_WRITE_CONCERN: expected majority or a number 1..50");
        goto cleanup;
    }
    int timeout = o->timeout_ms > 0 ? o->timeout_ms : MG_DEFAULT_TIMEOUT_MS;
    /* A down server must fail a write fast (the outbox retries), not after the driver's
     * 30 s default; a URI that sets its own values keeps them. */
    if (!mongoc_uri_has_option(m->uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS))
        mongoc_uri_set_option_as_int32(m->uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS, timeout);
    if (!mongoc_uri_has_option(m->uri, MONGOC_URI_CONNECTTIMEOUTMS))
        mongoc_uri_set_option_as_int32(m->uri, MONGOC_URI_CONNECTTIMEOUTMS, timeout);
    if (!mongoc_uri_has_option(m->uri, MONGOC_URI_APPNAME))
        mongoc_uri_set_option_as_utf8(m->uri, MONGOC_URI_APPNAME, "rollcall");
    m->pool = mongoc_client_pool_new_with_error(m->uri, &berr);
    if (!m->pool) {
        snprintf(err, errlen, "invalid ROLLCALL_MONGODB_URI: %s", berr.message);
        goto cleanup;
    }
    mongoc_client_pool_set_error_api(m->pool, MONGOC_ERROR_API_VERSION_2);
    /* One worker thread: two clients cover it and the occasional second pop. */
    mongoc_client_pool_max_size(m->pool, 2);

    jobq_config_t qc = {
        .threads = 1,
        .on_shutdown = JOBQ_DRAIN,
        .thread_start = on_worker_start,
        .run = on_run,
        .done = on_done,
        .discard = on_discard,
        .ud = m,
    };
    char qerr[160];
    rc = jobq_new(loop, &qc, &m->q, qerr, sizeof qerr);
    if (rc != 0) {
        snprintf(err, errlen, "mongodb: %s", qerr);
        rc = BRK_EIO;
        goto cleanup;
    }

    /* Start-up waits for the first round trip, bounded by the selection timeout. */
    jobq_wait_started(m->q);
    int init_ok = m->init_ok;
    bson_error_t ie = m->init_err;
    if (!init_ok && is_auth_error(&ie)) {
        snprintf(err, errlen, "MongoDB refused the credentials of ROLLCALL_MONGODB_URI: %s",
                 ie.message);
        rc = BRK_EAUTH;
        goto cleanup;
    }
    if (!init_ok) {
        LOG(WARN, 0, "mongodb unreachable at start; records wait in the journal",
            "db=%s reason=\"%s\"", m->db, ie.message);
        if (unreachable)
            *unreachable = 1;
    } else {
        LOG(INFO, 0, "mongodb connected", "db=%s indexes=ok", m->db);
    }
    *out = m;
    return 0;

cleanup:
    jobq_free(m->q); /* joins the worker before the pool it uses goes */
    if (m->pool)
        mongoc_client_pool_destroy(m->pool);
    if (m->wc)
        mongoc_write_concern_destroy(m->wc);
    if (m->uri)
        mongoc_uri_destroy(m->uri);
    free(m->db);
    free(m);
    return rc;
}

void mg_shutdown(mg_t *m)
{
    if (!m)
        return;
    /* Queued jobs still run; the handle closes once the last came back. */
    jobq_shutdown(m->q);
}

void mg_free(mg_t *m)
{
    if (!m)
        return;
    jobq_free(m->q);
    mongoc_client_pool_destroy(m->pool);
    mongoc_write_concern_destroy(m->wc);
    mongoc_uri_destroy(m->uri);
    free(m->db);
    free(m);
}
