/* SPDX-License-Identifier: MIT */
/* Unit tests of the journal's history and analytics queries (store/journal_analytics.c) and
 * of the CSV export text (store/report_csv.c). One fixture of three classes over three
 * months is finalized through the public jr_finalize(), then every figure of every query is
 * checked against numbers computed by hand (the arithmetic is in the comments). Inputs the
 * API must refuse are refused synchronously, without a callback. */
#include "brk.h"
#include "journal.h"
#include "log.h"
#include "mongo.h"
#include "mongo_server.h"
#include "report_csv.h"
#include "test.h"

#include <ftw.h>
#include <math.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#define TEST_TIMEOUT_S 60
#define MAX_RESULTS 64

static char tmpdir[64];

/* ---- harness (as in journal_test.c) ----------------------------------------------------- */

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void setup(void)
{
    log_level = LOG_ERROR;
    alarm(TEST_TIMEOUT_S);
    snprintf(tmpdir, sizeof tmpdir, "/tmp/journal_analytics_test.XXXXXX");
    ASSERT_NOT_NULL(mkdtemp(tmpdir));
}

static void teardown(void)
{
    alarm(0);
    nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

typedef struct cap {
    int calls;
    jr_result_t *res[MAX_RESULTS];
} cap_t;

static void on_done(jr_result_t *res, void *ud)
{
    cap_t *c = ud;
    if (c->calls < MAX_RESULTS)
        c->res[c->calls] = res;
    else
        jr_result_free(res);
    c->calls++;
}

static void cap_free(cap_t *c)
{
    for (int i = 0; i < c->calls && i < MAX_RESULTS; i++)
        jr_result_free(c->res[i]);
    memset(c, 0, sizeof *c);
}

static jr_t *open_ok(uv_loop_t *loop)
{
    jr_t *j = NULL;
    char err[256];
    int rc = jr_open(loop, tmpdir, &j, err, sizeof err);
    if (rc != 0)
        TEST_FAIL("jr_open(%s): %d %s", tmpdir, rc, err);
    return j;
}

static void wait_calls(uv_loop_t *loop, cap_t *c, int n)
{
    while (c->calls < n)
        uv_run(loop, UV_RUN_ONCE);
}

static void close_all(uv_loop_t *loop, jr_t *j)
{
    jr_shutdown(j);
    ASSERT_EQ(uv_run(loop, UV_RUN_DEFAULT), 0);
    jr_free(j);
    ASSERT_EQ(uv_loop_close(loop), 0);
}

/* Waits for the next result of c, checks it succeeded with the kind and row count expected,
 * and returns it (c still owns it). */
static jr_result_t *next_ok(uv_loop_t *loop, cap_t *c, jr_rows_kind_t kind, size_t rows)
{
    int i = c->calls;
    wait_calls(loop, c, i + 1);
    jr_result_t *res = c->res[i];
    if (res->err != 0)
        TEST_FAIL("query failed: %d %s", res->err, res->errmsg);
    ASSERT_EQ(res->rows_kind, kind);
    ASSERT_EQ(res->rows_n, rows);
    ASSERT_EQ(res->n, 0);
    ASSERT_NULL(res->records);
    return res;
}

/* Percentages are compared bit for bit: the constants below are what rounding to 2 decimals
 * must give, and 66.67 written in C is the same double as round(6666.67) / 100. */
#define ASSERT_PCT(a, b)                                                                           \
    do {                                                                                           \
        double a_ = (a), b_ = (b);                                                                 \
        if (a_ != b_)                                                                              \
            TEST_FAIL("%s == %s: %.17g != %.17g", #a, #b, a_, b_);                                 \
    } while (0)

/* ---- the fixture -------------------------------------------------------------------------- */

typedef struct fx_rec {
    const char *student, *name, *status, *source;
    double pct; /* engagement_percentage */
} fx_rec_t;

typedef struct fx_session {
    const char *class_id, *session_id, *date;
    int start_hour, minutes;
    size_t n;
    fx_rec_t recs[3];
} fx_session_t;

#define ANN "Ann O'Hara"
#define ANN_ART "Ann \"Annie\", O'Hara"
#define DEE "=1+2\nDee"

/* Three classes, finalized in this order (not date order). c-math has a session on 2026-11-02
 * outside most ranges; c-art has one without any student (a-1026); s-ann is in c-math and
 * c-art, on the same day 2026-09-07 in both (c-art earlier: 08:00 against 09:00, so the start
 * time, not the class id, orders that day in her history). Bob's name changes from 2026-10-19
 * on. */
static const fx_session_t fixture[] = {
    {"c-math",
     "m-0907",
     "2026-09-07",
     9,
     60,
     3,
     {{"s-ann", ANN, "present", "engagement", 90.00},
      {"s-bob", "Bob", "late", "manual", 60.00},
      {"s-cy", "Cy", "absent", "engagement", 10.00}}},
    {"c-math",
     "m-0921",
     "2026-09-21",
     9,
     60,
     3,
     {{"s-ann", ANN, "present", "engagement", 80.50},
      {"s-bob", "Bob", "present", "engagement", 85.25},
      {"s-cy", "Cy", "late", "manual", 50.00}}},
    {"c-art",
     "a-0907",
     "2026-09-07",
     8,
     45,
     2,
     {{"s-ann", ANN_ART, "absent", "engagement", 30.00},
      {"s-dee", DEE, "present", "engagement", 88.00}}},
    {"c-math",
     "m-1005",
     "2026-10-05",
     9,
     60,
     3,
     {{"s-ann", ANN, "present", "engagement", 100.00},
      {"s-bob", "Bob", "absent", "engagement", 0.00},
      {"s-cy", "Cy", "absent", "engagement", 20.00}}},
    {"c-math",
     "m-1019",
     "2026-10-19",
     9,
     60,
     3,
     {{"s-ann", ANN, "late", "manual", 70.00},
      {"s-bob", "Bob B.", "present", "engagement", 95.00},
      {"s-cy", "Cy", "present", "engagement", 75.00}}},
    {"c-math",
     "m-1102",
     "2026-11-02",
     9,
     60,
     3,
     {{"s-ann", ANN, "absent", "engagement", 5.00},
      {"s-bob", "Bob B.", "absent", "engagement", 5.00},
      {"s-cy", "Cy", "absent", "engagement", 5.00}}},
    {"c-art",
     "a-1012",
     "2026-10-12",
     8,
     45,
     2,
     {{"s-ann", ANN_ART, "present", "engagement", 77.00},
      {"s-dee", DEE, "absent", "engagement", 12.00}}},
    {"c-art", "a-1026", "2026-10-26", 8, 45, 0, {{0}}},
    {"c-bio",
     "b-0915",
     "2026-09-15",
     11,
     60,
     2,
     {{"s-eve", "Eve", "present", "engagement", 92.00},
      {"s-fay", "Fay", "present", "engagement", 81.00}}},
    {"c-bio",
     "b-1020",
     "2026-10-20",
     11,
     60,
     2,
     {{"s-eve", "Eve", "present", "engagement", 99.00}, {"s-fay", "Fay", "late", "manual", 76.00}}},
};

/* Milliseconds of date at hour:00 UTC, through the C library's timegm (not the code under
 * test). */
static int64_t at(const char *date, int hour)
{
    struct tm tm = {0};
    ASSERT_EQ(sscanf(date, "%d-%d-%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday), 3);
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    tm.tm_hour = hour;
    return (int64_t)timegm(&tm) * 1000;
}

/* The record the fixture stores for recs[i] of s. */
static void fx_record(const fx_session_t *s, size_t i, jr_record_t *r)
{
    const fx_rec_t *f = &s->recs[i];
    memset(r, 0, sizeof *r);
    snprintf(r->student_id, sizeof r->student_id, "%s", f->student);
    snprintf(r->student_name, sizeof r->student_name, "%s", f->name);
    snprintf(r->class_id, sizeof r->class_id, "%s", s->class_id);
    snprintf(r->session_id, sizeof r->session_id, "%s", s->session_id);
    r->started_at_ms = at(s->date, s->start_hour);
    r->ended_at_ms = r->started_at_ms + (int64_t)s->minutes * 60000;
    r->finalized_at_ms = r->ended_at_ms + 1234;
    r->total_class_duration_seconds = s->minutes * 60.0;
    r->engagement_duration_seconds = f->pct / 100.0 * r->total_class_duration_seconds;
    r->engagement_percentage = f->pct;
    r->frames_analyzed = (int64_t)(f->pct * 10);
    snprintf(r->status, sizeof r->status, "%s", f->status);
    snprintf(r->source, sizeof r->source, "%s", f->source);
    r->trust_score = strcmp(f->status, "absent") == 0 ? 85 : 100;
}

static const fx_session_t *fx_find(const char *session_id)
{
    for (size_t i = 0; i < BRK_ARRAY_LEN(fixture); i++)
        if (strcmp(fixture[i].session_id, session_id) == 0)
            return &fixture[i];
    TEST_FAIL("no fixture session %s", session_id);
}

/* The summary and records DONE would finalize for fixture[k]. */
static void fx_day(size_t k, jr_daily_t *d, jr_record_t recs[3])
{
    const fx_session_t *s = &fixture[k];
    memset(d, 0, sizeof *d);
    snprintf(d->class_id, sizeof d->class_id, "%s", s->class_id);
    snprintf(d->teacher_id, sizeof d->teacher_id, "t-1");
    snprintf(d->date, sizeof d->date, "%s", s->date);
    snprintf(d->session_id, sizeof d->session_id, "%s", s->session_id);
    for (size_t i = 0; i < s->n; i++) {
        fx_record(s, i, &recs[i]);
        d->present += strcmp(recs[i].status, "present") == 0;
        d->late += strcmp(recs[i].status, "late") == 0;
        d->absent += strcmp(recs[i].status, "absent") == 0;
    }
    d->total = (int)s->n;
    d->percentage = s->n ? round((double)(d->present + d->late) / d->total * 10000.0) / 100.0 : 0;
    d->finalized_at_ms = at(s->date, s->start_hour) + (int64_t)s->minutes * 60000 + 1234;
}

/* Finalizes every session of the fixture through jr_finalize, as DONE would. */
static void load_fixture(uv_loop_t *loop, jr_t *j)
{
    cap_t c = {0};
    for (size_t k = 0; k < BRK_ARRAY_LEN(fixture); k++) {
        jr_daily_t d;
        jr_record_t recs[3];
        fx_day(k, &d, recs);
        jr_finalize(j, &d, recs, fixture[k].n, on_done, &c);
    }
    wait_calls(loop, &c, (int)BRK_ARRAY_LEN(fixture));
    for (int i = 0; i < c.calls; i++) {
        ASSERT_EQ(c.res[i]->err, 0);
        ASSERT_EQ(c.res[i]->already, 0);
    }
    cap_free(&c);
}

/* row is the stored copy of the fixture's record of student in session_id. */
static void expect_dated(const jr_dated_record_t *row, const char *date, const char *session_id,
                         const char *student)
{
    const fx_session_t *s = fx_find(session_id);
    jr_record_t want;
    size_t i = 0;
    while (i < s->n && strcmp(s->recs[i].student, student) != 0)
        i++;
    ASSERT(i < s->n);
    fx_record(s, i, &want);
    ASSERT_STR_EQ(row->date, date);
    ASSERT_STR_EQ(row->date, s->date);
    const jr_record_t *r = &row->rec;
    ASSERT_STR_EQ(r->student_id, want.student_id);
    ASSERT_STR_EQ(r->student_name, want.student_name);
    ASSERT_STR_EQ(r->class_id, want.class_id);
    ASSERT_STR_EQ(r->session_id, want.session_id);
    ASSERT_EQ(r->started_at_ms, want.started_at_ms);
    ASSERT_EQ(r->ended_at_ms, want.ended_at_ms);
    ASSERT(r->total_class_duration_seconds == want.total_class_duration_seconds);
    ASSERT(r->engagement_duration_seconds == want.engagement_duration_seconds);
    ASSERT(r->engagement_percentage == want.engagement_percentage);
    ASSERT_EQ(r->frames_analyzed, want.frames_analyzed);
    ASSERT_STR_EQ(r->status, want.status);
    ASSERT_STR_EQ(r->source, want.source);
    ASSERT_EQ(r->finalized_at_ms, want.finalized_at_ms);
    ASSERT_EQ(r->trust_score, want.trust_score);
}

/* One test's journal with the fixture loaded. */
typedef struct env {
    uv_loop_t loop;
    jr_t *j;
    cap_t c;
} env_t;

static void env_open(env_t *e)
{
    memset(e, 0, sizeof *e);
    setup();
    ASSERT_EQ(uv_loop_init(&e->loop), 0);
    e->j = open_ok(&e->loop);
    load_fixture(&e->loop, e->j);
}

static void env_close(env_t *e)
{
    cap_free(&e->c);
    close_all(&e->loop, e->j);
    teardown();
}

/* env_close() for a test that also opened a MongoDB sink (already shut down): both workers
 * are joined after the loop ran out. */
static void env_close_with(env_t *e, mg_t *m)
{
    cap_free(&e->c);
    jr_shutdown(e->j);
    ASSERT_EQ(uv_run(&e->loop, UV_RUN_DEFAULT), 0);
    jr_free(e->j);
    mg_free(m);
    ASSERT_EQ(uv_loop_close(&e->loop), 0);
    teardown();
}

/* ---- student history ---------------------------------------------------------------------- */

static void test_history(void)
{
    env_t e;
    jr_result_t *res;
    env_open(&e);

    /* s-ann everywhere, no range: 7 records (5 in c-math, 2 in c-art), newest first. On
     * 2026-09-07 she had both classes; c-math started at 09:00, after c-art's 08:00. */
    ASSERT_EQ(jr_student_history(e.j, "s-ann", NULL, NULL, NULL, JR_HISTORY_MAX, on_done, &e.c), 0);
    res = next_ok(&e.loop, &e.c, JR_ROWS_DATED, 7);
    expect_dated(&res->rows.dated[0], "2026-11-02", "m-1102", "s-ann");
    expect_dated(&res->rows.dated[1], "2026-10-19", "m-1019", "s-ann");
    expect_dated(&res->rows.dated[2], "2026-10-12", "a-1012", "s-ann");
    expect_dated(&res->rows.dated[3], "2026-10-05", "m-1005", "s-ann");
    expect_dated(&res->rows.dated[4], "2026-09-21", "m-0921", "s-ann");
    expect_dated(&res->rows.dated[5], "2026-09-07", "m-0907", "s-ann");
    expect_dated(&res->rows.dated[6], "2026-09-07", "a-0907", "s-ann");
    ASSERT_STR_EQ(res->rows.dated[6].rec.student_name, ANN_ART);

    /* One class, a closed range that leaves out 2026-11-02, limit 2: the two newest. */
    ASSERT_EQ(
        jr_student_history(e.j, "s-ann", "c-math", "2026-09-01", "2026-10-31", 2, on_done, &e.c),
        0);
    res = next_ok(&e.loop, &e.c, JR_ROWS_DATED, 2);
    expect_dated(&res->rows.dated[0], "2026-10-19", "m-1019", "s-ann");
    expect_dated(&res->rows.dated[1], "2026-10-05", "m-1005", "s-ann");

    /* Open upper end: c-art from 2026-10-01 holds only a-1012 (a-1026 has no records). */
    ASSERT_EQ(jr_student_history(e.j, "s-ann", "c-art", "2026-10-01", NULL, 10, on_done, &e.c), 0);
    res = next_ok(&e.loop, &e.c, JR_ROWS_DATED, 1);
    expect_dated(&res->rows.dated[0], "2026-10-12", "a-1012", "s-ann");

    /* Open lower end, inclusive upper bound on a session's date: up to 2026-09-21. */
    ASSERT_EQ(jr_student_history(e.j, "s-ann", NULL, NULL, "2026-09-21", 10, on_done, &e.c), 0);
    res = next_ok(&e.loop, &e.c, JR_ROWS_DATED, 3);
    expect_dated(&res->rows.dated[0], "2026-09-21", "m-0921", "s-ann");
    expect_dated(&res->rows.dated[1], "2026-09-07", "m-0907", "s-ann");
    expect_dated(&res->rows.dated[2], "2026-09-07", "a-0907", "s-ann");

    /* A one-day range, inclusive at both ends; then a class the student is not in, and a
     * student with no record: no rows, and no error. */
    ASSERT_EQ(jr_student_history(e.j, "s-dee", NULL, "2026-10-12", "2026-10-12", 1, on_done, &e.c),
              0);
    res = next_ok(&e.loop, &e.c, JR_ROWS_DATED, 1);
    expect_dated(&res->rows.dated[0], "2026-10-12", "a-1012", "s-dee");
    ASSERT_EQ(jr_student_history(e.j, "s-dee", "c-math", NULL, NULL, 10, on_done, &e.c), 0);
    next_ok(&e.loop, &e.c, JR_ROWS_DATED, 0);
    ASSERT_EQ(jr_student_history(e.j, "s-nobody", NULL, NULL, NULL, 10, on_done, &e.c), 0);
    next_ok(&e.loop, &e.c, JR_ROWS_DATED, 0);

    jr_stats_t s;
    jr_get_stats(e.j, &s);
    ASSERT_EQ(s.analytics, 7);
    ASSERT_EQ(s.reports, 0);
    env_close(&e);
}

/* ---- a class's sessions -------------------------------------------------------------------- */

static void expect_session(const jr_session_stat_t *r, const char *date, const char *session_id,
                           int present, int late, int absent, int total, double att, double eng)
{
    ASSERT_STR_EQ(r->date, date);
    ASSERT_STR_EQ(r->session_id, session_id);
    ASSERT_EQ(r->present, present);
    ASSERT_EQ(r->late, late);
    ASSERT_EQ(r->absent, absent);
    ASSERT_EQ(r->total, total);
    ASSERT_PCT(r->attendance_pct, att);
    ASSERT_PCT(r->avg_engagement_pct, eng);
}

static void test_class_sessions(void)
{
    env_t e;
    jr_result_t *res;
    env_open(&e);

    /* c-math in September and October (m-1102 is outside):
     *   m-0907: P ann 90, L bob 60, A cy 10      att 2/3 = 66.666.. -> 66.67
     *                                            eng (90 + 60 + 10) / 3 = 53.333.. -> 53.33
     *   m-0921: P ann 80.5, P bob 85.25, L cy 50 att 3/3 = 100.00
     *                                            eng 215.75 / 3 = 71.91666.. -> 71.92
     *   m-1005: P ann 100, A bob 0, A cy 20      att 1/3 = 33.333.. -> 33.33
     *                                            eng 120 / 3 = 40.00
     *   m-1019: L ann 70, P bob 95, P cy 75      att 100.00, eng 240 / 3 = 80.00 */
    ASSERT_EQ(jr_class_sessions(e.j, "c-math", "2026-09-01", "2026-10-31", on_done, &e.c), 0);
    res = next_ok(&e.loop, &e.c, JR_ROWS_SESSIONS, 4);
    expect_session(&res->rows.sessions[0], "2026-09-07", "m-0907", 1, 1, 1, 3, 66.67, 53.33);
    expect_session(&res->rows.sessions[1], "2026-09-21", "m-0921", 2, 1, 0, 3, 100.00, 71.92);
    expect_session(&res->rows.sessions[2], "2026-10-05", "m-1005", 1, 0, 2, 3, 33.33, 40.00);
    expect_session(&res->rows.sessions[3], "2026-10-19", "m-1019", 2, 1, 0, 3, 100.00, 80.00);

    /* c-art: a-0907 P dee 88, A ann 30: att 1/2 = 50.00, eng 118 / 2 = 59.00;
     * a-1012 P ann 77, A dee 12: 50.00, 89 / 2 = 44.50; a-1026 has no record: all 0. */
    ASSERT_EQ(jr_class_sessions(e.j, "c-art", "2026-09-01", "2026-10-31", on_done, &e.c), 0);
    res = next_ok(&e.loop, &e.c, JR_ROWS_SESSIONS, 3);
    expect_session(&res->rows.sessions[0], "2026-09-07", "a-0907", 1, 0, 1, 2, 50.00, 59.00);
    expect_session(&res->rows.sessions[1], "2026-10-12", "a-1012", 1, 0, 1, 2, 50.00, 44.50);
    expect_session(&res->rows.sessions[2], "2026-10-26", "a-1026", 0, 0, 0, 0, 0.00, 0.00);

    /* Both ends inclusive; a range between sessions is empty, not an error. */
    ASSERT_EQ(jr_class_sessions(e.j, "c-math", "2026-09-07", "2026-09-21", on_done, &e.c), 0);
    res = next_ok(&e.loop, &e.c, JR_ROWS_SESSIONS, 2);
    ASSERT_STR_EQ(res->rows.sessions[0].session_id, "m-0907");
    ASSERT_STR_EQ(res->rows.sessions[1].session_id, "m-0921");
    ASSERT_EQ(jr_class_sessions(e.j, "c-math", "2026-09-08", "2026-09-20", on_done, &e.c), 0);
    next_ok(&e.loop, &e.c, JR_ROWS_SESSIONS, 0);
    ASSERT_EQ(jr_class_sessions(e.j, "c-none", "2026-01-01", "2026-12-31", on_done, &e.c), 0);
    next_ok(&e.loop, &e.c, JR_ROWS_SESSIONS, 0);
    env_close(&e);
}

/* ---- monthly figures ------------------------------------------------------------------------ */

static void expect_month(const jr_month_stat_t *r, const char *month, int sessions, int present,
                         int late, int absent, int records, double att, double eng)
{
    ASSERT_STR_EQ(r->month, month);
    ASSERT_EQ(r->sessions, sessions);
    ASSERT_EQ(r->present, present);
    ASSERT_EQ(r->late, late);
    ASSERT_EQ(r->absent, absent);
    ASSERT_EQ(r->records, records);
    ASSERT_PCT(r->attendance_pct, att);
    ASSERT_PCT(r->avg_engagement_pct, eng);
}

static void test_class_monthly(void)
{
    env_t e;
    jr_result_t *res;
    env_open(&e);

    /* c-math, August to November:
     *   2026-08: no session                     all 0
     *   2026-09: m-0907 + m-0921, 6 records     P 1+2 = 3, L 1+1 = 2, A 1+0 = 1
     *            att 5/6 = 83.333.. -> 83.33    eng (160 + 215.75) / 6 = 62.625 -> 62.63
     *            (62.625 is exact in binary: the half rounds away from zero)
     *   2026-10: m-1005 + m-1019, 6 records     P 1+2 = 3, L 0+1 = 1, A 2+0 = 2
     *            att 4/6 = 66.666.. -> 66.67    eng (120 + 240) / 6 = 60.00
     *   2026-11: m-1102, 3 records              A 3, att 0.00, eng 15 / 3 = 5.00 */
    ASSERT_EQ(jr_class_monthly(e.j, "c-math", "2026-08", "2026-11", on_done, &e.c), 0);
    res = next_ok(&e.loop, &e.c, JR_ROWS_MONTHS, 4);
    expect_month(&res->rows.months[0], "2026-08", 0, 0, 0, 0, 0, 0.00, 0.00);
    expect_month(&res->rows.months[1], "2026-09", 2, 3, 2, 1, 6, 83.33, 62.63);
    expect_month(&res->rows.months[2], "2026-10", 2, 3, 1, 2, 6, 66.67, 60.00);
    expect_month(&res->rows.months[3], "2026-11", 1, 0, 0, 3, 3, 0.00, 5.00);

    /* c-art: 2026-09 a-0907 only: P 1, A 1, att 50.00, eng (30 + 88) / 2 = 59.00.
     * 2026-10 a-1012 and the empty a-1026: 2 sessions but 2 records, P 1, A 1, att 50.00,
     * eng (77 + 12) / 2 = 44.50. */
    ASSERT_EQ(jr_class_monthly(e.j, "c-art", "2026-09", "2026-10", on_done, &e.c), 0);
    res = next_ok(&e.loop, &e.c, JR_ROWS_MONTHS, 2);
    expect_month(&res->rows.months[0], "2026-09", 1, 1, 0, 1, 2, 50.00, 59.00);
    expect_month(&res->rows.months[1], "2026-10", 2, 1, 0, 1, 2, 50.00, 44.50);

    /* A year of c-bio: 12 months, two with sessions. 2026-09 b-0915 P eve 92, P fay 81:
     * att 100.00, eng 173 / 2 = 86.50. 2026-10 b-1020 P eve 99, L fay 76: att 100.00,
     * eng 175 / 2 = 87.50. */
    ASSERT_EQ(jr_class_monthly(e.j, "c-bio", "2026-01", "2026-12", on_done, &e.c), 0);
    res = next_ok(&e.loop, &e.c, JR_ROWS_MONTHS, 12);
    for (int m = 0; m < 12; m++) {
        char month[8];
        snprintf(month, sizeof month, "2026-%02d", m + 1);
        if (m == 8)
            expect_month(&res->rows.months[m], month, 1, 2, 0, 0, 2, 100.00, 86.50);
        else if (m == 9)
            expect_month(&res->rows.months[m], month, 1, 1, 1, 0, 2, 100.00, 87.50);
        else
            expect_month(&res->rows.months[m], month, 0, 0, 0, 0, 0, 0.00, 0.00);
    }

    /* Across a year's end, and the longest range allowed (24 months). */
    ASSERT_EQ(jr_class_monthly(e.j, "c-math", "2025-12", "2027-11", on_done, &e.c), 0);
    res = next_ok(&e.loop, &e.c, JR_ROWS_MONTHS, 24);
    ASSERT_STR_EQ(res->rows.months[0].month, "2025-12");
    ASSERT_STR_EQ(res->rows.months[1].month, "2026-01");
    expect_month(&res->rows.months[10], "2026-10", 2, 3, 1, 2, 6, 66.67, 60.00);
    ASSERT_STR_EQ(res->rows.months[23].month, "2027-11");
    env_close(&e);
}

static void expect_student_month(const jr_student_month_t *r, const char *student, const char *name,
                                 const char *month, int sessions, int attended, int late,
                                 int absent, double att, double eng)
{
    ASSERT_STR_EQ(r->student_id, student);
    ASSERT_STR_EQ(r->student_name, name);
    ASSERT_STR_EQ(r->month, month);
    ASSERT_EQ(r->sessions, sessions);
    ASSERT_EQ(r->attended, attended);
    ASSERT_EQ(r->late, late);
    ASSERT_EQ(r->absent, absent);
    ASSERT_PCT(r->attendance_pct, att);
    ASSERT_PCT(r->avg_engagement_pct, eng);
}

static void test_student_monthly(void)
{
    env_t e;
    jr_result_t *res;
    env_open(&e);

    /* c-math, September and October, by student then month:
     *   ann 09: P 90, P 80.5        2 sessions, attended 2      100.00, 170.5 / 2 = 85.25
     *   ann 10: P 100, L 70         2, attended 2, late 1       100.00, 170 / 2 = 85.00
     *   bob 09: L 60, P 85.25       2, attended 2, late 1       100.00, 145.25 / 2 = 72.625
     *                                                           -> 72.63 (exact half, up)
     *   bob 10: A 0, P 95           2, attended 1, absent 1     50.00, 95 / 2 = 47.50
     *           named "Bob B." as on m-1019, his latest record of the month
     *   cy 09:  A 10, L 50          2, attended 1, late 1, abs 1  50.00, 60 / 2 = 30.00
     *   cy 10:  A 20, P 75          2, attended 1, absent 1     50.00, 95 / 2 = 47.50 */
    ASSERT_EQ(jr_student_monthly(e.j, "c-math", "2026-09", "2026-10", on_done, &e.c), 0);
    res = next_ok(&e.loop, &e.c, JR_ROWS_STUDENT_MONTHS, 6);
    const jr_student_month_t *r = res->rows.student_months;
    expect_student_month(&r[0], "s-ann", ANN, "2026-09", 2, 2, 0, 0, 100.00, 85.25);
    expect_student_month(&r[1], "s-ann", ANN, "2026-10", 2, 2, 1, 0, 100.00, 85.00);
    expect_student_month(&r[2], "s-bob", "Bob", "2026-09", 2, 2, 1, 0, 100.00, 72.63);
    expect_student_month(&r[3], "s-bob", "Bob B.", "2026-10", 2, 1, 0, 1, 50.00, 47.50);
    expect_student_month(&r[4], "s-cy", "Cy", "2026-09", 2, 1, 1, 1, 50.00, 30.00);
    expect_student_month(&r[5], "s-cy", "Cy", "2026-10", 2, 1, 0, 1, 50.00, 47.50);

    /* c-art: one record per student and month; a-1026 adds nobody.
     *   ann 09: A 30 -> 0.00, 30.00    ann 10: P 77 -> 100.00, 77.00
     *   dee 09: P 88 -> 100.00, 88.00  dee 10: A 12 -> 0.00, 12.00 */
    ASSERT_EQ(jr_student_monthly(e.j, "c-art", "2026-09", "2026-10", on_done, &e.c), 0);
    res = next_ok(&e.loop, &e.c, JR_ROWS_STUDENT_MONTHS, 4);
    r = res->rows.student_months;
    expect_student_month(&r[0], "s-ann", ANN_ART, "2026-09", 1, 0, 0, 1, 0.00, 30.00);
    expect_student_month(&r[1], "s-ann", ANN_ART, "2026-10", 1, 1, 0, 0, 100.00, 77.00);
    expect_student_month(&r[2], "s-dee", DEE, "2026-09", 1, 1, 0, 0, 100.00, 88.00);
    expect_student_month(&r[3], "s-dee", DEE, "2026-10", 1, 0, 0, 1, 0.00, 12.00);

    /* November alone: m-1102, everyone absent at 5. */
    ASSERT_EQ(jr_student_monthly(e.j, "c-math", "2026-11", "2026-11", on_done, &e.c), 0);
    res = next_ok(&e.loop, &e.c, JR_ROWS_STUDENT_MONTHS, 3);
    r = res->rows.student_months;
    expect_student_month(&r[0], "s-ann", ANN, "2026-11", 1, 0, 0, 1, 0.00, 5.00);
    expect_student_month(&r[1], "s-bob", "Bob B.", "2026-11", 1, 0, 0, 1, 0.00, 5.00);
    expect_student_month(&r[2], "s-cy", "Cy", "2026-11", 1, 0, 0, 1, 0.00, 5.00);
    env_close(&e);
}

/* ---- classes at risk ---------------------------------------------------------------------- */

static void expect_class(const jr_class_stat_t *r, const char *class_id, int sessions, int present,
                         int late, int absent, int total, double att, double eng)
{
    ASSERT_STR_EQ(r->class_id, class_id);
    ASSERT_EQ(r->sessions, sessions);
    ASSERT_EQ(r->present, present);
    ASSERT_EQ(r->late, late);
    ASSERT_EQ(r->absent, absent);
    ASSERT_EQ(r->total, total);
    ASSERT_PCT(r->attendance_pct, att);
    ASSERT_PCT(r->avg_engagement_pct, eng);
}

static void test_at_risk(void)
{
    static const char *const mine[] = {"c-math", "c-art", "c-bio", "c-none"};
    env_t e;
    jr_result_t *res;
    env_open(&e);

    /* September and October:
     *   c-math: 4 sessions, 12 records; P 1+2+1+2 = 6, L 1+1+0+1 = 3, A 1+0+2+0 = 3
     *           att 9/12 = 75.00 (not below 75); eng (160 + 215.75 + 120 + 240) / 12
     *           = 735.75 / 12 = 61.3125 -> 61.31
     *   c-art:  3 sessions (one empty), 4 records; P 2, A 2; att 2/4 = 50.00
     *           eng (30 + 88 + 77 + 12) / 4 = 207 / 4 = 51.75
     *   c-bio:  P 3, L 1 of 4: 100.00.  c-none: no session, never listed. */
    ASSERT_EQ(jr_classes_at_risk(e.j, mine, 4, "2026-09-01", "2026-10-31", JR_AT_RISK_DEFAULT_PCT,
                                 on_done, &e.c),
              0);
    res = next_ok(&e.loop, &e.c, JR_ROWS_CLASSES, 1);
    expect_class(&res->rows.classes[0], "c-art", 3, 2, 0, 2, 4, 50.00, 51.75);

    /* At 80, c-math's 75.00 is below too; lowest attendance first. */
    ASSERT_EQ(jr_classes_at_risk(e.j, mine, 4, "2026-09-01", "2026-10-31", 80.0, on_done, &e.c), 0);
    res = next_ok(&e.loop, &e.c, JR_ROWS_CLASSES, 2);
    expect_class(&res->rows.classes[0], "c-art", 3, 2, 0, 2, 4, 50.00, 51.75);
    expect_class(&res->rows.classes[1], "c-math", 4, 6, 3, 3, 12, 75.00, 61.31);

    /* Through November, c-math adds m-1102 (3 absent at 5): P 6, L 3, A 6 of 15,
     * att 9/15 = 60.00, eng (735.75 + 15) / 15 = 750.75 / 15 = 50.05. */
    ASSERT_EQ(jr_classes_at_risk(e.j, mine, 4, "2026-09-01", "2026-11-30", 75.0, on_done, &e.c), 0);
    res = next_ok(&e.loop, &e.c, JR_ROWS_CLASSES, 2);
    expect_class(&res->rows.classes[0], "c-art", 3, 2, 0, 2, 4, 50.00, 51.75);
    expect_class(&res->rows.classes[1], "c-math", 5, 6, 3, 6, 15, 60.00, 50.05);

    /* Only classes of the list count, a duplicate counts once, and 100.00 is not below 100.
     * In October alone c-art has a-1012 (P 77, A 12: 50.00, 44.50) and the empty a-1026. */
    static const char *const some[] = {"c-bio", "c-art", "c-art"};
    ASSERT_EQ(jr_classes_at_risk(e.j, some, 3, "2026-10-01", "2026-10-31", 100.0, on_done, &e.c),
              0);
    res = next_ok(&e.loop, &e.c, JR_ROWS_CLASSES, 1);
    expect_class(&res->rows.classes[0], "c-art", 2, 1, 0, 1, 2, 50.00, 44.50);

    /* A class whose only session in range has no record is not judged: c-art on a-1026. */
    ASSERT_EQ(jr_classes_at_risk(e.j, mine, 4, "2026-10-20", "2026-10-31", 75.0, on_done, &e.c), 0);
    next_ok(&e.loop, &e.c, JR_ROWS_CLASSES, 0);
    env_close(&e);
}

/* ---- export and its CSV ---------------------------------------------------------------------- */

static void test_export_csv(void)
{
    env_t e;
    jr_result_t *res;
    env_open(&e);

    /* c-art in September and October, by date, session, student: the empty a-1026 adds no
     * row. */
    ASSERT_EQ(jr_class_export(e.j, "c-art", "2026-09-01", "2026-10-31", on_done, &e.c), 0);
    res = next_ok(&e.loop, &e.c, JR_ROWS_DATED, 4);
    expect_dated(&res->rows.dated[0], "2026-09-07", "a-0907", "s-ann");
    expect_dated(&res->rows.dated[1], "2026-09-07", "a-0907", "s-dee");
    expect_dated(&res->rows.dated[2], "2026-10-12", "a-1012", "s-ann");
    expect_dated(&res->rows.dated[3], "2026-10-12", "a-1012", "s-dee");

    /* Durations: 45 min = 2700 s; engaged = pct / 100 * 2700: 30% 810, 88% 2376, 77% 2079,
     * 12% 324. Frames pct * 10; trust 85 when absent. finalized = ended + 1.234 s. Ann's
     * name has a quote and a comma (quoted, quotes doubled); Dee's starts with '=' (defused)
     * and holds a LF (quoted). */
    static const char want[] =
        "date,session_id,class_id,student_id,student_name,status,source,engagement_percentage,"
        "engagement_duration_seconds,total_class_duration_seconds,frames_analyzed,trust_score,"
        "started_at,ended_at,finalized_at\r\n"
        "2026-09-07,a-0907,c-art,s-ann,\"Ann \"\"Annie\"\", O'Hara\",absent,engagement,30.00,"
        "810.000,2700.000,300,85,2026-09-07T08:00:00.000Z,2026-09-07T08:45:00.000Z,"
        "2026-09-07T08:45:01.234Z\r\n"
        "2026-09-07,a-0907,c-art,s-dee,\"'=1+2\nDee\",present,engagement,88.00,2376.000,"
        "2700.000,880,100,2026-09-07T08:00:00.000Z,2026-09-07T08:45:00.000Z,"
        "2026-09-07T08:45:01.234Z\r\n"
        "2026-10-12,a-1012,c-art,s-ann,\"Ann \"\"Annie\"\", O'Hara\",present,engagement,77.00,"
        "2079.000,2700.000,770,100,2026-10-12T08:00:00.000Z,2026-10-12T08:45:00.000Z,"
        "2026-10-12T08:45:01.234Z\r\n"
        "2026-10-12,a-1012,c-art,s-dee,\"'=1+2\nDee\",absent,engagement,12.00,324.000,"
        "2700.000,120,85,2026-10-12T08:00:00.000Z,2026-10-12T08:45:00.000Z,"
        "2026-10-12T08:45:01.234Z\r\n";
    size_t len = 0;
    char *csv = jr_csv_records(res->rows.dated, res->rows_n, &len);
    ASSERT_STR_EQ(csv, want);
    ASSERT_EQ(len, sizeof want - 1);
    free(csv);

    /* c-math's November: the range leaves out everything before. */
    ASSERT_EQ(jr_class_export(e.j, "c-math", "2026-11-01", "2026-11-30", on_done, &e.c), 0);
    res = next_ok(&e.loop, &e.c, JR_ROWS_DATED, 3);
    expect_dated(&res->rows.dated[0], "2026-11-02", "m-1102", "s-ann");
    expect_dated(&res->rows.dated[1], "2026-11-02", "m-1102", "s-bob");
    expect_dated(&res->rows.dated[2], "2026-11-02", "m-1102", "s-cy");
    env_close(&e);
}

/* An export over JR_EXPORT_MAX_ROWS rows fails as a whole instead of growing without bound;
 * one row fewer is answered in full. Two sessions: 60000 + 40001 records. */
static void test_export_too_big(void)
{
    uv_loop_t loop;
    cap_t c = {0};
    static const size_t sizes[2] = {60000, JR_EXPORT_MAX_ROWS - 60000 + 1};
    static const char *const dates[2] = {"2026-09-01", "2026-09-02"};
    setup();
    ASSERT_EQ(uv_loop_init(&loop), 0);
    jr_t *j = open_ok(&loop);
    jr_record_t *recs = calloc(sizes[0], sizeof *recs);
    ASSERT_NOT_NULL(recs);
    for (int k = 0; k < 2; k++) {
        jr_daily_t d = {0};
        snprintf(d.class_id, sizeof d.class_id, "c-big");
        snprintf(d.date, sizeof d.date, "%s", dates[k]);
        snprintf(d.session_id, sizeof d.session_id, "big-%d", k);
        d.present = d.total = (int)sizes[k];
        for (size_t i = 0; i < sizes[k]; i++) {
            memset(&recs[i], 0, sizeof recs[i]);
            snprintf(recs[i].student_id, sizeof recs[i].student_id, "s-%06zu", i);
            snprintf(recs[i].class_id, sizeof recs[i].class_id, "c-big");
            snprintf(recs[i].session_id, sizeof recs[i].session_id, "big-%d", k);
            snprintf(recs[i].status, sizeof recs[i].status, "present");
            snprintf(recs[i].source, sizeof recs[i].source, "manual");
        }
        jr_finalize(j, &d, recs, sizes[k], on_done, &c);
        wait_calls(&loop, &c, k + 1);
        ASSERT_EQ(c.res[k]->err, 0);
        BRK_FREE(c.res[k]->records); /* the copy read back: not needed, and large */
    }
    free(recs);

    ASSERT_EQ(jr_class_export(j, "c-big", "2026-09-01", "2026-09-02", on_done, &c), 0);
    wait_calls(&loop, &c, 3);
    ASSERT_EQ(c.res[2]->err, BRK_ETOOBIG);
    ASSERT_EQ(c.res[2]->rows_n, 0);
    ASSERT_NULL(c.res[2]->rows.dated);
    /* The first day alone fits. */
    ASSERT_EQ(jr_class_export(j, "c-big", "2026-09-01", "2026-09-01", on_done, &c), 0);
    jr_result_t *res = next_ok(&loop, &c, JR_ROWS_DATED, sizes[0]);
    ASSERT_STR_EQ(res->rows.dated[sizes[0] - 1].rec.student_id, "s-059999");
    cap_free(&c);
    close_all(&loop, j);
    teardown();
}

static void set_row(jr_dated_record_t *row, const char *date, const char *session, const char *cls,
                    const char *student, const char *name)
{
    memset(row, 0, sizeof *row);
    snprintf(row->date, sizeof row->date, "%s", date);
    snprintf(row->rec.session_id, sizeof row->rec.session_id, "%s", session);
    snprintf(row->rec.class_id, sizeof row->rec.class_id, "%s", cls);
    snprintf(row->rec.student_id, sizeof row->rec.student_id, "%s", student);
    snprintf(row->rec.student_name, sizeof row->rec.student_name, "%s", name);
    snprintf(row->rec.status, sizeof row->rec.status, "present");
    snprintf(row->rec.source, sizeof row->rec.source, "manual");
}

/* The CSV function alone, on rows built by hand. */
static void test_csv_quoting(void)
{
    jr_dated_record_t rows[4];
    size_t len = 1;

    /* No rows: the header line alone. */
    char *csv = jr_csv_records(NULL, 0, &len);
    ASSERT_STR_EQ(csv, "date,session_id,class_id,student_id,student_name,status,source,"
                       "engagement_percentage,engagement_duration_seconds,"
                       "total_class_duration_seconds,frames_analyzed,trust_score,started_at,"
                       "ended_at,finalized_at\r\n");
    ASSERT_EQ(len, strlen(csv));
    free(csv);

    /* Every text field that starts with = + - @ TAB or CR is defused, ids included; numbers
     * that start with '-' are not. Quoting only for comma, quote, CR, LF. */
    set_row(&rows[0], "2026-09-07", "-sess", "@cls", "+1", "Smith, \"Jo\"");
    rows[0].rec.engagement_percentage = -0.5;
    rows[0].rec.engagement_duration_seconds = 12.5;
    rows[0].rec.total_class_duration_seconds = -1.25;
    rows[0].rec.frames_analyzed = -3;
    rows[0].rec.trust_score = 0;
    rows[0].rec.started_at_ms = -1;      /* floors into the day before the epoch */
    rows[0].rec.ended_at_ms = INT64_MAX; /* past year 9999: empty */
    rows[0].rec.finalized_at_ms = 0;
    set_row(&rows[1], "2026-09-08", "s-2", "c-1", "=cmd", "\tTab");
    rows[1].rec.engagement_percentage = NAN; /* not finite: empty */
    rows[1].rec.engagement_duration_seconds = INFINITY;
    rows[1].rec.total_class_duration_seconds = 3600;
    rows[1].rec.frames_analyzed = 9007199254740993LL;
    rows[1].rec.trust_score = 100;
    rows[1].rec.started_at_ms = 253402300799999LL; /* 9999-12-31T23:59:59.999Z, the last */
    rows[1].rec.ended_at_ms = 253402300800000LL;   /* 10000-01-01: empty */
    rows[1].rec.finalized_at_ms = 951782400000LL;  /* 2000-02-29, a leap day */
    set_row(&rows[2], "2026-09-09", "s-3", "c-1", "s-3", "\rCR");
    snprintf(rows[2].rec.status, sizeof rows[2].rec.status, "late");
    set_row(&rows[3], "2026-09-10", "s-4", "c-1", "s-4", "two\r\nlines, \"q\" ='x'");
    /* A name that fills its field without a terminator is read up to the field's end. */
    memset(rows[3].rec.student_name, 'n', sizeof rows[3].rec.student_name);
    rows[3].rec.engagement_percentage = 74.99;

    static const char nnn[] = "nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn"
                              "nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn";
    ASSERT_EQ(sizeof nnn - 1, JR_NAME);
    char want[2048];
    snprintf(want, sizeof want,
             "date,session_id,class_id,student_id,student_name,status,source,"
             "engagement_percentage,engagement_duration_seconds,total_class_duration_seconds,"
             "frames_analyzed,trust_score,started_at,ended_at,finalized_at\r\n"
             "2026-09-07,'-sess,'@cls,'+1,\"Smith, \"\"Jo\"\"\",present,manual,-0.50,12.500,"
             "-1.250,-3,0,1969-12-31T23:59:59.999Z,,1970-01-01T00:00:00.000Z\r\n"
             "2026-09-08,s-2,c-1,'=cmd,'\tTab,present,manual,,,3600.000,9007199254740993,100,"
             "9999-12-31T23:59:59.999Z,,2000-02-29T00:00:00.000Z\r\n"
             "2026-09-09,s-3,c-1,s-3,\"'\rCR\",late,manual,0.00,0.000,0.000,0,0,"
             "1970-01-01T00:00:00.000Z,1970-01-01T00:00:00.000Z,1970-01-01T00:00:00.000Z\r\n"
             "2026-09-10,s-4,c-1,s-4,%s,present,manual,74.99,0.000,0.000,0,0,"
             "1970-01-01T00:00:00.000Z,1970-01-01T00:00:00.000Z,1970-01-01T00:00:00.000Z\r\n",
             nnn);
    csv = jr_csv_records(rows, 4, &len);
    ASSERT_STR_EQ(csv, want);
    ASSERT_EQ(len, strlen(want));
    free(csv);

    /* A quoted field with a quote, CR LF and a comma, not defused ('=' is not first). */
    set_row(&rows[0], "2026-09-10", "s-4", "c-1", "s-4", "two\r\nlines, \"q\" ='x'");
    csv = jr_csv_records(rows, 1, NULL);
    ASSERT_NOT_NULL(strstr(csv, ",s-4,\"two\r\nlines, \"\"q\"\" ='x'\",present,"));
    free(csv);
}

/* ---- inputs refused ---------------------------------------------------------------------------
 */

static void test_bad_input(void)
{
    uv_loop_t loop;
    cap_t c = {0};
    setup();
    ASSERT_EQ(uv_loop_init(&loop), 0);
    jr_t *j = open_ok(&loop);
    char long_id[JR_ID + 1];
    memset(long_id, 'x', JR_ID);
    long_id[JR_ID] = '\0'; /* 65 characters: one too many */
    static const char *const one[] = {"c-1"};
    static const char *const bad_one[] = {"c 1"};
    const char *many[JR_AT_RISK_MAX_CLASSES + 1];
    for (size_t i = 0; i < BRK_ARRAY_LEN(many); i++)
        many[i] = "c-1";

    /* History: ids, limit, dates. */
    ASSERT_EQ(jr_student_history(j, NULL, NULL, NULL, NULL, 10, on_done, &c), BRK_EINVAL);
    ASSERT_EQ(jr_student_history(j, "", NULL, NULL, NULL, 10, on_done, &c), BRK_EINVAL);
    ASSERT_EQ(jr_student_history(j, "s 1", NULL, NULL, NULL, 10, on_done, &c), BRK_EINVAL);
    ASSERT_EQ(jr_student_history(j, long_id, NULL, NULL, NULL, 10, on_done, &c), BRK_EINVAL);
    ASSERT_EQ(jr_student_history(j, "s-1", "c'1", NULL, NULL, 10, on_done, &c), BRK_EINVAL);
    ASSERT_EQ(jr_student_history(j, "s-1", "", NULL, NULL, 10, on_done, &c), BRK_EINVAL);
    ASSERT_EQ(jr_student_history(j, "s-1", NULL, NULL, NULL, 0, on_done, &c), BRK_EINVAL);
    ASSERT_EQ(jr_student_history(j, "s-1", NULL, NULL, NULL, JR_HISTORY_MAX + 1, on_done, &c),
              BRK_EINVAL);
    ASSERT_EQ(jr_student_history(j, "s-1", NULL, "2026-02-29", NULL, 10, on_done, &c), BRK_EINVAL);
    ASSERT_EQ(jr_student_history(j, "s-1", NULL, NULL, "2026-13-01", 10, on_done, &c), BRK_EINVAL);
    ASSERT_EQ(jr_student_history(j, "s-1", NULL, "2026-10-02", "2026-10-01", 10, on_done, &c),
              BRK_EINVAL);

    /* Dates that are not real calendar dates, or not exactly YYYY-MM-DD. */
    static const char *const bad_dates[] = {
        "2026-02-29", "2025-02-29", "1900-02-29", "2026-04-31",  "2026-06-31",  "2026-09-31",
        "2026-11-31", "2026-01-32", "2026-00-10", "2026-13-01",  "2026-01-00",  "2026-1-01",
        "2026-01-1",  "26-01-01",   "2026/01/01", "2026-01-01x", "2026-01-01 ", " 2026-01-01",
        "2026-0a-01", "",           "2026-01-+1", "2026-01--1"};
    for (size_t i = 0; i < BRK_ARRAY_LEN(bad_dates); i++) {
        if (jr_class_sessions(j, "c-1", bad_dates[i], "2026-12-31", on_done, &c) != BRK_EINVAL ||
            jr_class_sessions(j, "c-1", "2025-01-01", bad_dates[i], on_done, &c) != BRK_EINVAL)
            TEST_FAIL("date \"%s\" accepted", bad_dates[i]);
    }
    /* Leap days that exist, range bounds: 366 days (both ends counted) pass, 367 do not. */
    ASSERT_EQ(jr_class_sessions(j, "c-1", "2024-02-29", "2024-02-29", on_done, &c), 0);
    ASSERT_EQ(jr_class_sessions(j, "c-1", "2000-02-29", "2000-03-01", on_done, &c), 0);
    ASSERT_EQ(jr_class_sessions(j, "c-1", "2024-01-01", "2024-12-31", on_done, &c), 0);
    ASSERT_EQ(jr_class_sessions(j, "c-1", "2025-01-01", "2026-01-01", on_done, &c), 0);
    ASSERT_EQ(jr_class_sessions(j, "c-1", "2025-01-01", "2026-01-02", on_done, &c), BRK_EINVAL);
    ASSERT_EQ(jr_class_export(j, "c-1", "2025-01-01", "2026-01-02", on_done, &c), BRK_EINVAL);
    ASSERT_EQ(jr_class_export(j, "c-1", "2026-01-02", "2026-01-01", on_done, &c), BRK_EINVAL);
    ASSERT_EQ(jr_class_export(j, "c-1", NULL, "2026-01-01", on_done, &c), BRK_EINVAL);
    ASSERT_EQ(jr_class_sessions(j, "c-1", "2026-01-01", NULL, on_done, &c), BRK_EINVAL);
    ASSERT_EQ(jr_class_sessions(j, long_id, "2026-01-01", "2026-01-01", on_done, &c), BRK_EINVAL);

    /* Months. */
    static const char *const bad_months[] = {"2026-13", "2026-00", "2026-9", "2026-09-01",
                                             "202609",  "",        NULL,     "2026-1a"};
    for (size_t i = 0; i < BRK_ARRAY_LEN(bad_months); i++) {
        if (jr_class_monthly(j, "c-1", bad_months[i], "2026-12", on_done, &c) != BRK_EINVAL ||
            jr_student_monthly(j, "c-1", "2026-01", bad_months[i], on_done, &c) != BRK_EINVAL)
            TEST_FAIL("month \"%s\" accepted", bad_months[i] ? bad_months[i] : "(null)");
    }
    ASSERT_EQ(jr_class_monthly(j, "c-1", "2026-10", "2026-09", on_done, &c), BRK_EINVAL);
    ASSERT_EQ(jr_class_monthly(j, "c-1", "2025-12", "2027-12", on_done, &c), BRK_EINVAL);
    ASSERT_EQ(jr_student_monthly(j, "c 1", "2026-01", "2026-02", on_done, &c), BRK_EINVAL);

    /* At risk: the list, the range, the threshold. */
    ASSERT_EQ(jr_classes_at_risk(j, one, 0, "2026-01-01", "2026-01-31", 75, on_done, &c),
              BRK_EINVAL);
    ASSERT_EQ(jr_classes_at_risk(j, NULL, 1, "2026-01-01", "2026-01-31", 75, on_done, &c),
              BRK_EINVAL);
    ASSERT_EQ(jr_classes_at_risk(j, many, BRK_ARRAY_LEN(many), "2026-01-01", "2026-01-31", 75,
                                 on_done, &c),
              BRK_EINVAL);
    ASSERT_EQ(jr_classes_at_risk(j, bad_one, 1, "2026-01-01", "2026-01-31", 75, on_done, &c),
              BRK_EINVAL);
    ASSERT_EQ(jr_classes_at_risk(j, one, 1, "2026-01-01", "2026-01-31", NAN, on_done, &c),
              BRK_EINVAL);
    ASSERT_EQ(jr_classes_at_risk(j, one, 1, "2026-01-01", "2026-01-31", -0.01, on_done, &c),
              BRK_EINVAL);
    ASSERT_EQ(jr_classes_at_risk(j, one, 1, "2026-01-01", "2026-01-31", 100.01, on_done, &c),
              BRK_EINVAL);
    ASSERT_EQ(jr_classes_at_risk(j, one, 1, "2025-01-01", "2026-01-02", 75, on_done, &c),
              BRK_EINVAL);
    ASSERT_EQ(jr_classes_at_risk(j, many, JR_AT_RISK_MAX_CLASSES, "2026-01-01", "2026-01-31", 75,
                                 on_done, &c),
              0);

    /* None of the refusals called back; the 5 accepted calls do, with no rows. */
    uv_run(&loop, UV_RUN_NOWAIT);
    wait_calls(&loop, &c, 5);
    ASSERT_EQ(c.calls, 5);
    for (int i = 0; i < 4; i++) {
        ASSERT_EQ(c.res[i]->err, 0);
        ASSERT_EQ(c.res[i]->rows_kind, JR_ROWS_SESSIONS);
        ASSERT_EQ(c.res[i]->rows_n, 0);
    }
    ASSERT_EQ(c.res[4]->err, 0);
    ASSERT_EQ(c.res[4]->rows_kind, JR_ROWS_CLASSES);
    cap_free(&c);
    close_all(&loop, j);
    teardown();
}

/* After jr_shutdown() a valid query is accepted and answered BRK_ECLOSED, on a later loop
 * iteration, like the journal's other jobs. */
static void test_closed_after_shutdown(void)
{
    uv_loop_t loop;
    cap_t c = {0};
    setup();
    ASSERT_EQ(uv_loop_init(&loop), 0);
    jr_t *j = open_ok(&loop);
    jr_shutdown(j);
    ASSERT_EQ(jr_class_monthly(j, "c-1", "2026-01", "2026-12", on_done, &c), 0);
    ASSERT_EQ(c.calls, 0);
    ASSERT_EQ(uv_run(&loop, UV_RUN_DEFAULT), 0);
    ASSERT_EQ(c.calls, 1);
    ASSERT_EQ(c.res[0]->err, BRK_ECLOSED);
    ASSERT_EQ(c.res[0]->rows_n, 0);
    cap_free(&c);
    jr_free(j);
    ASSERT_EQ(uv_loop_close(&loop), 0);
    teardown();
}

/* ---- the same queries over MongoDB ------------------------------------------------------- */

/* Row i of res as text, every field, doubles to 17 digits: two results are the same when
 * their texts are. */
static void row_text(const jr_result_t *res, size_t i, char *out, size_t cap)
{
    switch (res->rows_kind) {
    case JR_ROWS_DATED: {
        const jr_dated_record_t *d = &res->rows.dated[i];
        const jr_record_t *r = &d->rec;
        snprintf(out, cap, "%s|%s|%s|%s|%s|%lld|%lld|%.17g|%.17g|%.17g|%lld|%s|%s|%lld|%d", d->date,
                 r->student_id, r->student_name, r->class_id, r->session_id,
                 (long long)r->started_at_ms, (long long)r->ended_at_ms,
                 r->total_class_duration_seconds, r->engagement_duration_seconds,
                 r->engagement_percentage, (long long)r->frames_analyzed, r->status, r->source,
                 (long long)r->finalized_at_ms, r->trust_score);
        break;
    }
    case JR_ROWS_SESSIONS: {
        const jr_session_stat_t *r = &res->rows.sessions[i];
        snprintf(out, cap, "%s|%s|%d|%d|%d|%d|%.17g|%.17g", r->date, r->session_id, r->present,
                 r->late, r->absent, r->total, r->attendance_pct, r->avg_engagement_pct);
        break;
    }
    case JR_ROWS_MONTHS: {
        const jr_month_stat_t *r = &res->rows.months[i];
        snprintf(out, cap, "%s|%d|%d|%d|%d|%d|%.17g|%.17g", r->month, r->sessions, r->present,
                 r->late, r->absent, r->records, r->attendance_pct, r->avg_engagement_pct);
        break;
    }
    case JR_ROWS_STUDENT_MONTHS: {
        const jr_student_month_t *r = &res->rows.student_months[i];
        snprintf(out, cap, "%s|%s|%s|%d|%d|%d|%d|%.17g|%.17g", r->student_id, r->student_name,
                 r->month, r->sessions, r->attended, r->late, r->absent, r->attendance_pct,
                 r->avg_engagement_pct);
        break;
    }
    case JR_ROWS_CLASSES: {
        const jr_class_stat_t *r = &res->rows.classes[i];
        snprintf(out, cap, "%s|%d|%d|%d|%d|%d|%.17g|%.17g", r->class_id, r->sessions, r->present,
                 r->late, r->absent, r->total, r->attendance_pct, r->avg_engagement_pct);
        break;
    }
    case JR_ROWS_NONE:
        TEST_FAIL("a query answered no rows kind");
    }
}

/* The one result of a cap that gets one (it may have come already, in the same loop
 * iteration as another cap's). */
static jr_result_t *take_one(uv_loop_t *loop, cap_t *c)
{
    wait_calls(loop, c, 1);
    ASSERT_EQ(c->calls, 1);
    return c->res[0];
}

static void on_shipped(const mg_ship_result_t *r, void *ud)
{
    int *left = ud;
    if (r->fail != MG_OK)
        TEST_FAIL("mg_ship: %s", r->errmsg);
    (*left)--;
}

/* The fixture finalized into the journal and shipped to the test MongoDB server the way the
 * outbox ships it (mg_ship): every query must give the same rows, field for field, from both.
 * Then, with the server down, MongoDB answers an error (the HTTP layer falls back). */
static void test_mongo_same_results(void)
{
    static const char *const risk_ids[] = {"c-math", "c-art", "c-bio", "c-none"};
    static const char *const one_id[] = {"c-bio"};
    const jr_analytics_req_t reqs[] = {
        {.kind = JR_Q_HISTORY, .student_id = "s-ann", .limit = JR_HISTORY_MAX},
        {.kind = JR_Q_HISTORY, .student_id = "s-ann", .limit = 3},
        {.kind = JR_Q_HISTORY,
         .student_id = "s-ann",
         .class_id = "c-art",
         .from = "2026-09-01",
         .to = "2026-10-31",
         .limit = 10},
        {.kind = JR_Q_HISTORY, .student_id = "s-bob", .from = "2026-10-01", .limit = 10},
        {.kind = JR_Q_HISTORY, .student_id = "s-nobody", .limit = 10},
        {.kind = JR_Q_CLASS_SESSIONS,
         .class_id = "c-math",
         .from = "2026-09-01",
         .to = "2026-10-31"},
        {.kind = JR_Q_CLASS_SESSIONS,
         .class_id = "c-art",
         .from = "2026-09-01",
         .to = "2026-12-31"},
        {.kind = JR_Q_CLASS_MONTHLY, .class_id = "c-math", .from = "2026-08", .to = "2026-11"},
        {.kind = JR_Q_CLASS_MONTHLY, .class_id = "c-art", .from = "2026-01", .to = "2026-12"},
        {.kind = JR_Q_STUDENT_MONTHLY, .class_id = "c-math", .from = "2026-09", .to = "2026-10"},
        {.kind = JR_Q_STUDENT_MONTHLY, .class_id = "c-art", .from = "2026-09", .to = "2026-11"},
        {.kind = JR_Q_AT_RISK,
         .class_ids = risk_ids,
         .n_classes = 4,
         .from = "2026-09-01",
         .to = "2026-11-30",
         .threshold_pct = 100.0},
        {.kind = JR_Q_AT_RISK,
         .class_ids = risk_ids,
         .n_classes = 4,
         .from = "2026-09-01",
         .to = "2026-10-31",
         .threshold_pct = JR_AT_RISK_DEFAULT_PCT},
        {.kind = JR_Q_AT_RISK,
         .class_ids = one_id,
         .n_classes = 1,
         .from = "2026-09-01",
         .to = "2026-10-31",
         .threshold_pct = 50.0},
        {.kind = JR_Q_EXPORT, .class_id = "c-math", .from = "2026-09-01", .to = "2026-11-30"},
        {.kind = JR_Q_EXPORT, .class_id = "c-bio", .from = "2026-10-01", .to = "2026-10-31"},
        {.kind = JR_Q_EXPORT, .class_id = "c-none", .from = "2026-10-01", .to = "2026-10-31"},
    };
    env_t e;
    mongo_server_t *fake = NULL;
    char uri[128], err[256];
    mg_t *m = NULL;
    env_open(&e);
    ASSERT_EQ(mongo_server_start(0, &fake), 0);
    snprintf(uri, sizeof uri, "mongodb://127.0.0.1:%d/", mongo_server_port(fake));
    mg_opts_t o = {.uri = uri, .database = "rollcall_an", .write_concern = "1", .timeout_ms = 400};
    ASSERT_EQ(mg_open(&e.loop, &o, &m, NULL, err, sizeof err), 0);
    int left = (int)BRK_ARRAY_LEN(fixture);
    for (size_t k = 0; k < BRK_ARRAY_LEN(fixture); k++) {
        jr_daily_t d;
        jr_record_t recs[3];
        fx_day(k, &d, recs);
        mg_ship(m, &d, recs, fixture[k].n, on_shipped, &left);
    }
    while (left > 0)
        uv_run(&e.loop, UV_RUN_ONCE);

    size_t total_rows = 0;
    for (size_t k = 0; k < BRK_ARRAY_LEN(reqs); k++) {
        jr_query_t *q = NULL;
        ASSERT_EQ(jr_query_new(&reqs[k], &q), 0);
        cap_t cj = {0}, cm = {0};
        jr_analytics(e.j, q, on_done, &cj);
        mg_analytics(m, q, on_done, &cm);
        jr_result_t *a = take_one(&e.loop, &cj), *b = take_one(&e.loop, &cm);
        if (a->err || b->err)
            TEST_FAIL("query %zu: journal %d %s, mongodb %d %s", k, a->err, a->errmsg, b->err,
                      b->errmsg);
        ASSERT_EQ(a->rows_kind, jr_query_rows_kind(q));
        ASSERT_EQ(b->rows_kind, a->rows_kind);
        if (a->rows_n != b->rows_n)
            TEST_FAIL("query %zu: journal %zu rows, mongodb %zu", k, a->rows_n, b->rows_n);
        for (size_t i = 0; i < a->rows_n; i++) {
            char ta[512], tb[512];
            row_text(a, i, ta, sizeof ta);
            row_text(b, i, tb, sizeof tb);
            if (strcmp(ta, tb) != 0)
                TEST_FAIL("query %zu row %zu:\n journal %s\n mongodb %s", k, i, ta, tb);
        }
        total_rows += a->rows_n;
        cap_free(&cj);
        cap_free(&cm);
        jr_query_free(q);
    }
    /* The comparisons above compared something: the fixture gives rows to most queries. */
    ASSERT(total_rows > 40);

    /* A MongoDB that cannot be reached answers an error, quickly, never rows. */
    mongo_server_set_down(fake, 1);
    jr_query_t *q = NULL;
    ASSERT_EQ(jr_query_new(&reqs[5], &q), 0);
    cap_t cm = {0};
    mg_analytics(m, q, on_done, &cm);
    jr_result_t *b = take_one(&e.loop, &cm);
    ASSERT_EQ(b->err, BRK_EIO);
    ASSERT_EQ(b->rows_n, 0);
    cap_free(&cm);
    jr_query_free(q);

    mg_shutdown(m);
    env_close_with(&e, m);
    mongo_server_free(fake);
}

static const test_case_t tests[] = {
    {"history", test_history},
    {"class_sessions", test_class_sessions},
    {"class_monthly", test_class_monthly},
    {"student_monthly", test_student_monthly},
    {"at_risk", test_at_risk},
    {"export_csv", test_export_csv},
    {"export_too_big", test_export_too_big},
    {"csv_quoting", test_csv_quoting},
    {"bad_input", test_bad_input},
    {"closed_after_shutdown", test_closed_after_shutdown},
    {"mongo_same_results", test_mongo_same_results},
};

TEST_MAIN(tests)
