/* SPDX-License-Identifier: MIT */
/* The MongoDB sink and the outbox shipper. By default against the wire-protocol test server
 * (tests/support/mongo_server.c, in-process); with --real against the server named by
 * MONGODB_URI (a fresh database per run, dropped at the end), and exit 77 (skipped) when
 * MONGODB_URI is unset. Fault tests (outage, dropped replies, write errors, refused
 * credentials) need the test server and are skipped against a real one. */
#include "brk.h"
#include "journal.h"
#include "log.h"
#include "mongo.h"
#include "mongo_server.h"
#include "outbox.h"
#include "test.h"

#include <mongoc/mongoc.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static int real;             /* --real */
static const char *real_uri; /* MONGODB_URI */
static mongo_server_t *fake; /* the test server, when not real */
static char uri[512], dbname[64];
static mongoc_client_t *peek; /* the test's own client, to read what the sink wrote */

/* ---- fixtures -------------------------------------------------------------------------- */

static void setup(void)
{
    static unsigned run;
    snprintf(dbname, sizeof dbname, "rollcall_test_%d_%u", (int)getpid(), ++run);
    if (real) {
        snprintf(uri, sizeof uri, "%s", real_uri);
    } else {
        ASSERT_EQ(mongo_server_start(0, &fake), 0);
        snprintf(uri, sizeof uri, "mongodb://127.0.0.1:%d/", mongo_server_port(fake));
    }
    peek = mongoc_client_new(uri);
    ASSERT_NOT_NULL(peek);
    mongoc_client_set_error_api(peek, MONGOC_ERROR_API_VERSION_2);
}

static void teardown(void)
{
    if (real) {
        mongoc_database_t *db = mongoc_client_get_database(peek, dbname);
        mongoc_database_drop(db, NULL);
        mongoc_database_destroy(db);
    }
    mongoc_client_destroy(peek);
    peek = NULL;
    mongo_server_free(fake);
    fake = NULL;
}

static mg_t *open_sink(uv_loop_t *loop)
{
    char err[256];
    mg_t *m = NULL;
    mg_opts_t o = {.uri = uri,
                   .database = dbname,
                   .write_concern = real ? "majority" : "1",
                   .timeout_ms = 400};
    int rc = mg_open(loop, &o, &m, NULL, err, sizeof err);
    if (rc != 0)
        TEST_FAIL("mg_open: %s", err);
    return m;
}

static void close_all(uv_loop_t *loop, mg_t *m, jr_t *j, ob_t *ob)
{
    ob_shutdown(ob);
    mg_shutdown(m);
    if (j)
        jr_shutdown(j);
    ASSERT_EQ(uv_run(loop, UV_RUN_DEFAULT), 0);
    ob_free(ob);
    mg_free(m);
    jr_free(j);
    ASSERT_EQ(uv_loop_close(loop), 0);
}

static void make_day(jr_daily_t *d, jr_record_t *r, size_t n, const char *session)
{
    memset(d, 0, sizeof *d);
    snprintf(d->class_id, sizeof d->class_id, "c-1");
    snprintf(d->teacher_id, sizeof d->teacher_id, "t-1");
    snprintf(d->session_id, sizeof d->session_id, "%s", session);
    int64_t now = brk_now_ms();
    brk_date(now, d->date, sizeof d->date);
    /* Distinct days for distinct sessions of the same class. */
    if (strcmp(session, "sess-2") == 0)
        snprintf(d->date, sizeof d->date, "2020-01-02");
    d->finalized_at_ms = now;
    for (size_t i = 0; i < n; i++) {
        memset(&r[i], 0, sizeof r[i]);
        snprintf(r[i].student_id, sizeof r[i].student_id, "s-%zu", i);
        snprintf(r[i].student_name, sizeof r[i].student_name, "Student %zu", i);
        snprintf(r[i].class_id, sizeof r[i].class_id, "c-1");
        snprintf(r[i].session_id, sizeof r[i].session_id, "%s", session);
        r[i].started_at_ms = now - 3600 * 1000;
        r[i].ended_at_ms = now;
        r[i].total_class_duration_seconds = 3600;
        r[i].engagement_duration_seconds = 1800.5 + (double)i;
        r[i].engagement_percentage = 50.0139 + (double)i;
        r[i].frames_analyzed = 1200 + (int64_t)i;
        snprintf(r[i].status, sizeof r[i].status, i % 2 ? "absent" : "present");
        snprintf(r[i].source, sizeof r[i].source, "engagement");
        r[i].finalized_at_ms = now;
        if (i % 2 == 0)
            d->present++;
        else
            d->absent++;
        d->total++;
    }
    d->percentage = d->total ? 100.0 * d->present / d->total : 0;
}

typedef struct ship_cap {
    int done;
    mg_ship_result_t res;
} ship_cap_t;

static void on_ship(const mg_ship_result_t *r, void *ud)
{
    ship_cap_t *c = ud;
    c->res = *r;
    c->done = 1;
}

static mg_fail_t ship_sync(uv_loop_t *loop, mg_t *m, const jr_daily_t *d, const jr_record_t *r,
                           size_t n, char *msg, size_t msglen)
{
    ship_cap_t c = {0};
    mg_ship(m, d, r, n, on_ship, &c);
    while (!c.done)
        uv_run(loop, UV_RUN_ONCE);
    if (msg)
        snprintf(msg, msglen, "%s", c.res.errmsg);
    return c.res.fail;
}

/* Retries a ship for up to 5 s. After a network error the driver marks the server unknown
 * and rescans it at most every 500 ms, so the first attempts may fail: the outbox retries,
 * and so do these tests. Returns 1 once it succeeded. */
static int ship_until_ok(uv_loop_t *loop, mg_t *m, const jr_daily_t *d, const jr_record_t *r,
                         size_t n)
{
    for (int tries = 0; tries < 50; tries++) {
        if (ship_sync(loop, m, d, r, n, NULL, 0) == MG_OK)
            return 1;
        usleep(100 * 1000);
    }
    return 0;
}

typedef struct rep_cap {
    int done;
    jr_result_t *res;
} rep_cap_t;

static void on_report(jr_result_t *res, void *ud)
{
    rep_cap_t *c = ud;
    c->res = res;
    c->done = 1;
}

static jr_result_t *report_sync(uv_loop_t *loop, mg_t *m, const char *cls, const char *sess)
{
    rep_cap_t c = {0};
    mg_report(m, cls, sess, on_report, &c);
    while (!c.done)
        uv_run(loop, UV_RUN_ONCE);
    return c.res;
}

static int64_t count_docs(const char *coll, const bson_t *filter)
{
    bson_error_t err;
    mongoc_collection_t *c = mongoc_client_get_collection(peek, dbname, coll);
    bson_t empty = BSON_INITIALIZER;
    /* find + count on the client side: the test server does not implement aggregate. */
    mongoc_cursor_t *cur =
        mongoc_collection_find_with_opts(c, filter ? filter : &empty, NULL, NULL);
    const bson_t *doc;
    int64_t n = 0;
    while (mongoc_cursor_next(cur, &doc))
        n++;
    ASSERT(!mongoc_cursor_error(cur, &err));
    mongoc_cursor_destroy(cur);
    mongoc_collection_destroy(c);
    return n;
}

static bson_t *find_one(const char *coll, const bson_t *filter)
{
    mongoc_collection_t *c = mongoc_client_get_collection(peek, dbname, coll);
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(c, filter, NULL, NULL);
    const bson_t *doc;
    bson_t *out = NULL;
    if (mongoc_cursor_next(cur, &doc))
        out = bson_copy(doc);
    mongoc_cursor_destroy(cur);
    mongoc_collection_destroy(c);
    return out;
}

static bson_type_t type_of(const bson_t *doc, const char *dotted)
{
    bson_iter_t it, f;
    if (!bson_iter_init(&it, doc) || !bson_iter_find_descendant(&it, dotted, &f))
        return BSON_TYPE_EOD;
    return bson_iter_type(&f);
}

/* ---- tests ----------------------------------------------------------------------------- */

static void test_indexes_created_at_open(void)
{
    uv_loop_t loop;
    setup();
    ASSERT_EQ(uv_loop_init(&loop), 0);
    mg_t *m = open_sink(&loop);
    static const char *const colls[] = {"attendance", "attendance_daily"};
    static const char *const keys[][2] = {{"session_id", "student_id"}, {"class_id", "date"}};
    for (int i = 0; i < 2; i++) {
        mongoc_collection_t *c = mongoc_client_get_collection(peek, dbname, colls[i]);
        mongoc_cursor_t *cur = mongoc_collection_find_indexes_with_opts(c, NULL);
        const bson_t *doc;
        int found = 0;
        while (mongoc_cursor_next(cur, &doc)) {
            bson_iter_t it, k;
            if (!bson_iter_init_find(&it, doc, "unique") || !bson_iter_as_bool(&it))
                continue;
            ASSERT(bson_iter_init_find(&it, doc, "key") && bson_iter_recurse(&it, &k));
            ASSERT(bson_iter_next(&k));
            ASSERT_STR_EQ(bson_iter_key(&k), keys[i][0]);
            ASSERT(bson_iter_next(&k));
            ASSERT_STR_EQ(bson_iter_key(&k), keys[i][1]);
            found++;
        }
        mongoc_cursor_destroy(cur);
        mongoc_collection_destroy(c);
        ASSERT_EQ(found, 1);
    }
    close_all(&loop, m, NULL, NULL);
    teardown();
}

static void test_fields_and_bson_types(void)
{
    uv_loop_t loop;
    jr_daily_t d;
    jr_record_t r[3];
    setup();
    ASSERT_EQ(uv_loop_init(&loop), 0);
    mg_t *m = open_sink(&loop);
    make_day(&d, r, 3, "sess-1");
    ASSERT_EQ(ship_sync(&loop, m, &d, r, 3, NULL, 0), MG_OK);
    ASSERT_EQ(count_docs("attendance", NULL), 3);
    ASSERT_EQ(count_docs("attendance_daily", NULL), 1);

    bson_t *q = BCON_NEW("session_id", BCON_UTF8("sess-1"), "student_id", BCON_UTF8("s-1"));
    bson_t *doc = find_one("attendance", q);
    ASSERT_NOT_NULL(doc);
    static const char *const strs[] = {"student_id", "student_name", "class_id",
                                       "session_id", "status",       "source"};
    for (size_t i = 0; i < BRK_ARRAY_LEN(strs); i++)
        ASSERT_EQ(type_of(doc, strs[i]), BSON_TYPE_UTF8);
    ASSERT_EQ(type_of(doc, "started_at"), BSON_TYPE_DATE_TIME);
    ASSERT_EQ(type_of(doc, "ended_at"), BSON_TYPE_DATE_TIME);
    ASSERT_EQ(type_of(doc, "finalized_at"), BSON_TYPE_DATE_TIME);
    ASSERT_EQ(type_of(doc, "total_class_duration_seconds"), BSON_TYPE_DOUBLE);
    ASSERT_EQ(type_of(doc, "engagement_duration_seconds"), BSON_TYPE_DOUBLE);
    ASSERT_EQ(type_of(doc, "engagement_percentage"), BSON_TYPE_DOUBLE);
    ASSERT_EQ(type_of(doc, "frames_analyzed"), BSON_TYPE_INT64);
    bson_iter_t it;
    ASSERT(bson_iter_init_find(&it, doc, "started_at"));
    ASSERT_EQ(bson_iter_date_time(&it), r[1].started_at_ms);
    ASSERT(bson_iter_init_find(&it, doc, "engagement_percentage"));
    ASSERT_DOUBLE_NEAR(bson_iter_double(&it), r[1].engagement_percentage, 1e-12);
    ASSERT(bson_iter_init_find(&it, doc, "status"));
    ASSERT_STR_EQ(bson_iter_utf8(&it, NULL), "absent");
    bson_destroy(doc);
    bson_destroy(q);

    q = BCON_NEW("class_id", BCON_UTF8("c-1"), "date", BCON_UTF8(d.date));
    doc = find_one("attendance_daily", q);
    ASSERT_NOT_NULL(doc);
    ASSERT_EQ(type_of(doc, "teacher_id"), BSON_TYPE_UTF8);
    ASSERT_EQ(type_of(doc, "date"), BSON_TYPE_UTF8);
    ASSERT_EQ(type_of(doc, "finalized_at"), BSON_TYPE_DATE_TIME);
    ASSERT_EQ(type_of(doc, "summary.present"), BSON_TYPE_INT32);
    ASSERT_EQ(type_of(doc, "summary.absent"), BSON_TYPE_INT32);
    ASSERT_EQ(type_of(doc, "summary.late"), BSON_TYPE_INT32);
    ASSERT_EQ(type_of(doc, "summary.total"), BSON_TYPE_INT32);
    ASSERT_EQ(type_of(doc, "summary.percentage"), BSON_TYPE_DOUBLE);
    bson_iter_t f;
    ASSERT(bson_iter_init(&it, doc) && bson_iter_find_descendant(&it, "summary.total", &f));
    ASSERT_EQ(bson_iter_int32(&f), 3);
    bson_destroy(doc);
    bson_destroy(q);
    close_all(&loop, m, NULL, NULL);
    teardown();
}

static void test_repeated_ship_never_duplicates(void)
{
    uv_loop_t loop;
    jr_daily_t d;
    jr_record_t r[4];
    setup();
    ASSERT_EQ(uv_loop_init(&loop), 0);
    mg_t *m = open_sink(&loop);
    make_day(&d, r, 4, "sess-1");
    for (int i = 0; i < 3; i++)
        ASSERT_EQ(ship_sync(&loop, m, &d, r, 4, NULL, 0), MG_OK);
    /* A retry carries the journal's values: a replacement, not a second copy. */
    snprintf(r[1].status, sizeof r[1].status, "late");
    ASSERT_EQ(ship_sync(&loop, m, &d, r, 4, NULL, 0), MG_OK);
    ASSERT_EQ(count_docs("attendance", NULL), 4);
    ASSERT_EQ(count_docs("attendance_daily", NULL), 1);
    bson_t *q = BCON_NEW("status", BCON_UTF8("late"));
    ASSERT_EQ(count_docs("attendance", q), 1);
    bson_destroy(q);
    close_all(&loop, m, NULL, NULL);
    teardown();
}

static void test_report_round_trip(void)
{
    uv_loop_t loop;
    jr_daily_t d;
    jr_record_t r[3];
    setup();
    ASSERT_EQ(uv_loop_init(&loop), 0);
    mg_t *m = open_sink(&loop);
    make_day(&d, r, 3, "sess-1");
    ASSERT_EQ(ship_sync(&loop, m, &d, r, 3, NULL, 0), MG_OK);
    jr_result_t *res = report_sync(&loop, m, "c-1", "sess-1");
    ASSERT_EQ(res->err, 0);
    ASSERT_EQ(res->n, 3);
    ASSERT_STR_EQ(res->daily.date, d.date);
    ASSERT_STR_EQ(res->daily.teacher_id, "t-1");
    ASSERT_EQ(res->daily.present, d.present);
    ASSERT_EQ(res->daily.total, 3);
    ASSERT_EQ(res->daily.finalized_at_ms, d.finalized_at_ms);
    for (size_t i = 0; i < 3; i++) {
        ASSERT_STR_EQ(res->records[i].student_id, r[i].student_id); /* sorted by student_id */
        ASSERT_STR_EQ(res->records[i].student_name, r[i].student_name);
        ASSERT_STR_EQ(res->records[i].status, r[i].status);
        ASSERT_EQ(res->records[i].frames_analyzed, r[i].frames_analyzed);
        ASSERT_EQ(res->records[i].started_at_ms, r[i].started_at_ms);
        ASSERT_DOUBLE_NEAR(res->records[i].engagement_percentage, r[i].engagement_percentage,
                           1e-12);
    }
    jr_result_free(res);
    res = report_sync(&loop, m, "c-1", "nope");
    ASSERT_EQ(res->err, BRK_ENOTFOUND);
    jr_result_free(res);
    res = report_sync(&loop, m, "other-class", "sess-1");
    ASSERT_EQ(res->err, BRK_ENOTFOUND);
    jr_result_free(res);
    close_all(&loop, m, NULL, NULL);
    teardown();
}

static void test_outage_fails_fast_then_recovers(void)
{
    uv_loop_t loop;
    jr_daily_t d;
    jr_record_t r[2];
    char msg[256];
    if (real)
        TEST_SKIP("needs the test server's fault injection");
    setup();
    ASSERT_EQ(uv_loop_init(&loop), 0);
    mg_t *m = open_sink(&loop);
    make_day(&d, r, 2, "sess-1");
    ASSERT_EQ(mongo_server_set_down(fake, 1), 0);
    uint64_t t0 = brk_mono_ns();
    ASSERT_EQ(ship_sync(&loop, m, &d, r, 2, msg, sizeof msg), MG_UNREACHABLE);
    /* serverSelectionTimeoutMS 400, not the driver's 30 s default. */
    ASSERT((brk_mono_ns() - t0) / 1000000 < 3000);
    ASSERT_EQ(mongo_server_set_down(fake, 0), 0);
    ASSERT(ship_until_ok(&loop, m, &d, r, 2));
    ASSERT_EQ(mongo_server_count(fake, dbname, "attendance"), 2);

    /* A write applied whose reply is lost: an error, and the retry does not duplicate. */
    mongo_server_drop_next(fake, 1, "update");
    ASSERT_NE(ship_sync(&loop, m, &d, r, 2, msg, sizeof msg), MG_OK);
    ASSERT(ship_until_ok(&loop, m, &d, r, 2));
    ASSERT_EQ(mongo_server_count(fake, dbname, "attendance"), 2);
    ASSERT_EQ(mongo_server_count(fake, dbname, "attendance_daily"), 1);
    close_all(&loop, m, NULL, NULL);
    teardown();
}

static void test_write_errors_are_reported(void)
{
    uv_loop_t loop;
    jr_daily_t d;
    jr_record_t r[2];
    char msg[256];
    if (real)
        TEST_SKIP("needs the test server's fault injection");
    setup();
    ASSERT_EQ(uv_loop_init(&loop), 0);
    mg_t *m = open_sink(&loop);
    make_day(&d, r, 2, "sess-1");
    mongo_server_write_errors(fake, 121, "Document failed validation", 1);
    ASSERT_EQ(ship_sync(&loop, m, &d, r, 2, msg, sizeof msg), MG_WRITE);
    ASSERT_NOT_NULL(strstr(msg, "Document failed validation"));
    ASSERT_EQ(ship_sync(&loop, m, &d, r, 2, msg, sizeof msg), MG_OK);
    close_all(&loop, m, NULL, NULL);
    teardown();
}

static void test_open_refuses_bad_settings(void)
{
    uv_loop_t loop;
    char err[256];
    mg_t *m = NULL;
    setup();
    ASSERT_EQ(uv_loop_init(&loop), 0);
    mg_opts_t o = {.uri = "http://nowhere/x"};
    ASSERT_EQ(mg_open(&loop, &o, &m, NULL, err, sizeof err), BRK_EINVAL);
    ASSERT_NOT_NULL(strstr(err, "ROLLCALL_MONGODB_URI"));
    o.uri = "mongodb://127.0.0.1:1/";
    ASSERT_EQ(mg_open(&loop, &o, &m, NULL, err, sizeof err), BRK_EINVAL);
    ASSERT_NOT_NULL(strstr(err, "ROLLCALL_MONGODB_DATABASE"));
    o.uri = "mongodb://127.0.0.1:1/db";
    o.write_concern = "some";
    ASSERT_EQ(mg_open(&loop, &o, &m, NULL, err, sizeof err), BRK_EINVAL);
    ASSERT_NOT_NULL(strstr(err, "ROLLCALL_MONGODB_WRITE_CONCERN"));
    if (!real) {
        char authuri[300];
        int unreachable = 0;
        mongo_server_require_auth(fake, 1);
        snprintf(authuri, sizeof authuri, "mongodb://u:secret@127.0.0.1:%d/db",
                 mongo_server_port(fake));
        o.uri = authuri;
        o.write_concern = NULL;
        o.timeout_ms = 400;
        ASSERT_EQ(mg_open(&loop, &o, &m, &unreachable, err, sizeof err), BRK_EAUTH);
        ASSERT_NOT_NULL(strstr(err, "ROLLCALL_MONGODB_URI"));
        ASSERT_NULL(strstr(err, "secret"));
        /* A server that is simply down is no reason to refuse the start. */
        mongo_server_require_auth(fake, 0);
        ASSERT_EQ(mongo_server_set_down(fake, 1), 0);
        snprintf(authuri, sizeof authuri, "mongodb://127.0.0.1:%d/db", mongo_server_port(fake));
        ASSERT_EQ(mg_open(&loop, &o, &m, &unreachable, err, sizeof err), 0);
        ASSERT_EQ(unreachable, 1);
        mg_shutdown(m);
    }
    ASSERT_EQ(uv_run(&loop, UV_RUN_DEFAULT), 0);
    mg_free(m);
    ASSERT_EQ(uv_loop_close(&loop), 0);
    teardown();
}

/* The outbox: days finalized in the journal reach MongoDB, are marked shipped, and the
 * backlog drains; with the server down first, they wait and arrive once it is back. */
typedef struct fin_cap {
    int done, err;
} fin_cap_t;

static void on_finalized(jr_result_t *res, void *ud)
{
    fin_cap_t *c = ud;
    c->err = res->err;
    c->done = 1;
    jr_result_free(res);
}

static void run_until(uv_loop_t *loop, int (*cond)(void *), void *arg, int timeout_ms)
{
    uint64_t deadline = brk_mono_ns() + (uint64_t)timeout_ms * 1000000ull;
    while (!cond(arg)) {
        if (brk_mono_ns() > deadline)
            TEST_FAIL("condition not met within %d ms", timeout_ms);
        uv_run(loop, UV_RUN_NOWAIT);
        usleep(5 * 1000);
    }
}

typedef struct ob_ctx {
    jr_t *j;
    ob_t *ob;
    uint64_t days;
} ob_ctx_t;

static int shipped_days(void *arg)
{
    ob_ctx_t *c = arg;
    ob_stats_t s;
    jr_stats_t js;
    ob_get_stats(c->ob, &s);
    jr_get_stats(c->j, &js);
    return s.shipped_days >= c->days && js.backlog.days == 0 && js.queued == 0;
}

static int failed_twice(void *arg)
{
    ob_ctx_t *c = arg;
    ob_stats_t s;
    jr_stats_t js;
    ob_get_stats(c->ob, &s);
    jr_get_stats(c->j, &js);
    return s.failures[MG_UNREACHABLE] >= 4 && js.backlog.records == 5;
}

static void test_outbox_ships_journal_days(void)
{
    uv_loop_t loop;
    char dir[128], err[256];
    jr_daily_t d1, d2;
    jr_record_t r1[3], r2[2];
    fin_cap_t f1 = {0}, f2 = {0};
    jr_t *j = NULL;
    setup();
    snprintf(dir, sizeof dir, "/tmp/rollcall-sink-%d-%s", (int)getpid(), dbname);
    ASSERT_EQ(uv_loop_init(&loop), 0);
    ASSERT_EQ(jr_open(&loop, dir, &j, err, sizeof err), 0);
    mg_t *m = open_sink(&loop);
    if (!real)
        ASSERT_EQ(mongo_server_set_down(fake, 1), 0);
    ob_opts_t oo = {.backoff_min_ms = 50, .backoff_max_ms = 200};
    ob_ctx_t c = {.j = j, .days = 2};
    c.ob = ob_new(&loop, j, m, &oo);
    make_day(&d1, r1, 3, "sess-1");
    make_day(&d2, r2, 2, "sess-2");
    jr_finalize(j, &d1, r1, 3, on_finalized, &f1);
    jr_finalize(j, &d2, r2, 2, on_finalized, &f2);
    if (!real) {
        run_until(&loop, failed_twice, &c, 10000);
        ASSERT_EQ(mongo_server_count(fake, dbname, "attendance"), 0);
        ASSERT_EQ(mongo_server_set_down(fake, 0), 0);
    }
    run_until(&loop, shipped_days, &c, 15000);
    ASSERT_EQ(f1.err, 0);
    ASSERT_EQ(f2.err, 0);
    ASSERT_EQ(count_docs("attendance", NULL), 5);
    ASSERT_EQ(count_docs("attendance_daily", NULL), 2);
    ob_stats_t s;
    ob_get_stats(c.ob, &s);
    ASSERT_EQ(s.shipped_records, 5);
    ASSERT_EQ(s.healthy, 1);
    /* Logged once per distinct message (the driver words an outage in one or two ways),
     * never once per retry. */
    if (!real) {
        ASSERT(s.errors_logged >= 1);
        ASSERT(s.errors_logged < s.failures[MG_UNREACHABLE]);
    }
    close_all(&loop, m, j, c.ob);

    /* Reopened: nothing is left to ship, so nothing is sent again. */
    ASSERT_EQ(uv_loop_init(&loop), 0);
    ASSERT_EQ(jr_open(&loop, dir, &j, err, sizeof err), 0);
    m = open_sink(&loop);
    uint64_t updates = real ? 0 : mongo_server_commands(fake, "update");
    c.j = j;
    c.days = 0;
    c.ob = ob_new(&loop, j, m, &oo);
    run_until(&loop, shipped_days, &c, 5000);
    if (!real)
        ASSERT_EQ(mongo_server_commands(fake, "update"), updates);
    close_all(&loop, m, j, c.ob);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ASSERT_EQ(system(cmd), 0);
    teardown();
}

static const test_case_t tests[] = {
    {"indexes_created_at_open", test_indexes_created_at_open},
    {"fields_and_bson_types", test_fields_and_bson_types},
    {"repeated_ship_never_duplicates", test_repeated_ship_never_duplicates},
    {"report_round_trip", test_report_round_trip},
    {"outage_fails_fast_then_recovers", test_outage_fails_fast_then_recovers},
    {"write_errors_are_reported", test_write_errors_are_reported},
    {"open_refuses_bad_settings", test_open_refuses_bad_settings},
    {"outbox_ships_journal_days", test_outbox_ships_journal_days},
};

int main(int argc, char **argv)
{
    real = argc > 1 && strcmp(argv[1], "--real") == 0;
    if (real) {
        real_uri = getenv("MONGODB_URI");
        if (!real_uri || !real_uri[0]) {
            printf("skipped: MONGODB_URI is not set; the sink tests ran against the test "
                   "server only (unit.mongo_sink_test)\n");
            return 77;
        }
        printf("against the real MongoDB of MONGODB_URI\n");
    }
    log_level = LOG_OFF;
    mg_install_log_handler();
    return test_run_all(tests, BRK_ARRAY_LEN(tests));
}
