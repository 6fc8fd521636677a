/* SPDX-License-Identifier: MIT */
/* Unit tests of the SQLite journal (store/journal.c) on a real libuv loop and a fresh
 * mkdtemp() directory per test: round trips, the once-per-day rule under repeated and
 * concurrent DONEs, durability across a reopen and across a killed process, shutdown
 * draining, refusal after shutdown, and open failures. Rows are counted through a separate
 * SQLite connection so the tests never trust the journal's own answers alone. */
#include "brk.h"
#include "journal.h"
#include "log.h"
#include "test.h"

#include <ftw.h>
#include <math.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#define TEST_TIMEOUT_S 30
#define MAX_RESULTS 64

static char tmpdir[64];

/* ---- fixtures -------------------------------------------------------------------------- */

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* Each test gets its own directory and a watchdog: a hang kills the executable (SIGALRM)
 * instead of stalling the suite until CTest's timeout. */
static void setup(void)
{
    log_level = LOG_ERROR;
    alarm(TEST_TIMEOUT_S);
    snprintf(tmpdir, sizeof tmpdir, "/tmp/journal_test.XXXXXX");
    ASSERT_NOT_NULL(mkdtemp(tmpdir));
}

static void teardown(void)
{
    alarm(0);
    nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

typedef struct cap {
    int calls;
    int sync_guard; /* set while a submit call is on the stack */
    int sync_calls; /* callbacks that ran inside a submit call */
    jr_result_t *res[MAX_RESULTS];
    jr_t *shutdown_after; /* when set, jr_shutdown() once want callbacks arrived */
    int want;
} cap_t;

static void on_done(jr_result_t *res, void *ud)
{
    cap_t *c = ud;
    if (c->sync_guard)
        c->sync_calls++;
    if (c->calls < MAX_RESULTS)
        c->res[c->calls] = res;
    else
        jr_result_free(res);
    c->calls++;
    if (c->shutdown_after && c->calls == c->want)
        jr_shutdown(c->shutdown_after);
}

static void cap_free(cap_t *c)
{
    for (int i = 0; i < c->calls && i < MAX_RESULTS; i++)
        jr_result_free(c->res[i]);
    memset(c, 0, sizeof *c);
}

static jr_t *open_ok(uv_loop_t *loop, const char *dir)
{
    jr_t *j = NULL;
    char err[256];
    int rc = jr_open(loop, dir, &j, err, sizeof err);
    if (rc != 0)
        TEST_FAIL("jr_open(%s): %d %s", dir, rc, err);
    ASSERT_NOT_NULL(j);
    return j;
}

/* Runs the loop until c has n callbacks; the async handle keeps the loop alive meanwhile. */
static void wait_calls(uv_loop_t *loop, cap_t *c, int n)
{
    while (c->calls < n)
        uv_run(loop, UV_RUN_ONCE);
}

/* Shuts the journal down, lets the loop drain and end, frees it and checks that nothing
 * was left on the loop. */
static void close_all(uv_loop_t *loop, jr_t *j)
{
    jr_shutdown(j);
    ASSERT_EQ(uv_run(loop, UV_RUN_DEFAULT), 0);
    jr_free(j);
    ASSERT_EQ(uv_loop_close(loop), 0);
}

static void make_daily(jr_daily_t *d, const char *class_id, const char *date,
                       const char *session_id)
{
    memset(d, 0, sizeof *d);
    snprintf(d->class_id, sizeof d->class_id, "%s", class_id);
    snprintf(d->teacher_id, sizeof d->teacher_id, "t-\"O'Neil\"");
    snprintf(d->date, sizeof d->date, "%.10s", date);
    snprintf(d->session_id, sizeof d->session_id, "%s", session_id);
    d->present = 1;
    d->absent = 1;
    d->late = 1;
    d->total = 3;
    d->percentage = 200.0 / 3.0;
    d->finalized_at_ms = 1763799000123LL;
}

/* Three records, deliberately not in student_id order, with awkward strings and numbers. */
static void make_recs(jr_record_t r[3], const jr_daily_t *d, double salt)
{
    static const char *const ids[3] = {"s-3", "s-1", "s-2"};
    static const char *const names[3] = {
        "Robert'); DROP TABLE attendance;--",
        "Zoë \"Zo\" Ñúñez 李小龍 🎓",
        "back\\slash, comma; tab\there",
    };
    static const char *const status[3] = {"late", "present", "absent"};
    memset(r, 0, 3 * sizeof *r);
    for (int i = 0; i < 3; i++) {
        snprintf(r[i].student_id, sizeof r[i].student_id, "%s", ids[i]);
        snprintf(r[i].student_name, sizeof r[i].student_name, "%s", names[i]);
        snprintf(r[i].class_id, sizeof r[i].class_id, "%s", d->class_id);
        snprintf(r[i].session_id, sizeof r[i].session_id, "%s", d->session_id);
        r[i].started_at_ms = 1763796000001LL + i;
        r[i].ended_at_ms = INT64_MAX - i;
        r[i].total_class_duration_seconds = 3599.999 + salt;
        r[i].engagement_duration_seconds = 0.1 + 0.2 + salt;
        r[i].engagement_percentage = 1e-300 * (i + 1) + salt;
        r[i].frames_analyzed = 9007199254740993LL + i; /* not representable as a double */
        snprintf(r[i].status, sizeof r[i].status, "%s", status[i]);
        snprintf(r[i].source, sizeof r[i].source, "%s", i == 0 ? "manual" : "engagement");
        r[i].finalized_at_ms = -1 - i;
        r[i].trust_score = 100 - 35 * i;
    }
}

static void expect_daily(const jr_daily_t *a, const jr_daily_t *b)
{
    ASSERT_STR_EQ(a->class_id, b->class_id);
    ASSERT_STR_EQ(a->teacher_id, b->teacher_id);
    ASSERT_STR_EQ(a->date, b->date);
    ASSERT_STR_EQ(a->session_id, b->session_id);
    ASSERT_EQ(a->present, b->present);
    ASSERT_EQ(a->absent, b->absent);
    ASSERT_EQ(a->late, b->late);
    ASSERT_EQ(a->total, b->total);
    ASSERT(a->percentage == b->percentage); /* bit-exact, not approximately */
    ASSERT_EQ(a->finalized_at_ms, b->finalized_at_ms);
}

static void expect_record(const jr_record_t *a, const jr_record_t *b)
{
    ASSERT_STR_EQ(a->student_id, b->student_id);
    ASSERT_STR_EQ(a->student_name, b->student_name);
    ASSERT_STR_EQ(a->class_id, b->class_id);
    ASSERT_STR_EQ(a->session_id, b->session_id);
    ASSERT_EQ(a->started_at_ms, b->started_at_ms);
    ASSERT_EQ(a->ended_at_ms, b->ended_at_ms);
    ASSERT(a->total_class_duration_seconds == b->total_class_duration_seconds);
    ASSERT(a->engagement_duration_seconds == b->engagement_duration_seconds);
    ASSERT(a->engagement_percentage == b->engagement_percentage);
    ASSERT_EQ(a->frames_analyzed, b->frames_analyzed);
    ASSERT_STR_EQ(a->status, b->status);
    ASSERT_STR_EQ(a->source, b->source);
    ASSERT_EQ(a->trust_score, b->trust_score);
    ASSERT_EQ(a->finalized_at_ms, b->finalized_at_ms);
}

/* The stored order is by student_id: s-1, s-2, s-3 are inputs 1, 2, 0. */
static void expect_session(const jr_result_t *res, const jr_daily_t *d, const jr_record_t r[3])
{
    static const int order[3] = {1, 2, 0};
    expect_daily(&res->daily, d);
    ASSERT_EQ(res->n, 3);
    ASSERT_NOT_NULL(res->records);
    for (int i = 0; i < 3; i++)
        expect_record(&res->records[i], &r[order[i]]);
}

/* Counts rows through a connection of our own, read-only, so the journal's answers are
 * checked against the file itself. */
static long long count_rows_in(const char *dir, const char *sql)
{
    char path[160];
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    long long n = -1;
    snprintf(path, sizeof path, "%s/journal.db", dir);
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

static long long count_rows(const char *sql)
{
    return count_rows_in(tmpdir, sql);
}

static void query_text(const char *dir, const char *sql, char *out, size_t outlen)
{
    char path[160];
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    out[0] = '\0';
    snprintf(path, sizeof path, "%s/journal.db", dir);
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW &&
        sqlite3_column_text(st, 0))
        snprintf(out, outlen, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(db);
}

/* ---- tests ----------------------------------------------------------------------------- */

static void test_finalize_then_report(void)
{
    uv_loop_t loop;
    cap_t c = {0};
    jr_daily_t d;
    jr_record_t r[3];
    jr_stats_t s;
    setup();
    ASSERT_EQ(uv_loop_init(&loop), 0);
    jr_t *j = open_ok(&loop, tmpdir);
    make_daily(&d, "class-\"A\"", "2026-11-22", "sess-1");
    make_recs(r, &d, 0.0);

    jr_finalize(j, &d, r, 3, on_done, &c);
    wait_calls(&loop, &c, 1);
    ASSERT_EQ(c.res[0]->err, 0);
    ASSERT_EQ(c.res[0]->already, 0);
    expect_session(c.res[0], &d, r);

    jr_report(j, d.class_id, d.session_id, on_done, &c);
    wait_calls(&loop, &c, 2);
    ASSERT_EQ(c.res[1]->err, 0);
    ASSERT_EQ(c.res[1]->already, 0);
    expect_session(c.res[1], &d, r);

    jr_get_stats(j, &s);
    ASSERT_EQ(s.finalize_ok, 1);
    ASSERT_EQ(s.finalize_already, 0);
    ASSERT_EQ(s.finalize_failed, 0);
    ASSERT_EQ(s.records_written, 3);
    ASSERT_EQ(s.reports, 1);
    ASSERT_EQ(s.queued, 0);
    ASSERT_EQ(count_rows("SELECT count(*) FROM attendance WHERE shipped_at IS NULL"), 3);
    ASSERT_EQ(count_rows("SELECT count(*) FROM attendance_daily WHERE shipped_at IS NULL"), 1);
    cap_free(&c);
    close_all(&loop, j);
    teardown();
}

static void test_finalize_twice_same_day(void)
{
    uv_loop_t loop;
    cap_t c = {0};
    jr_daily_t d1, d2;
    jr_record_t r1[3], r2[3];
    jr_stats_t s;
    setup();
    ASSERT_EQ(uv_loop_init(&loop), 0);
    jr_t *j = open_ok(&loop, tmpdir);
    make_daily(&d1, "class-1", "2026-11-22", "sess-1");
    make_recs(r1, &d1, 0.0);
    /* A second DONE for the same class and day, even under a new session and other data. */
    make_daily(&d2, "class-1", "2026-11-22", "sess-2");
    d2.present = 3;
    d2.absent = d2.late = 0;
    d2.percentage = 100.0;
    make_recs(r2, &d2, 5.0);

    jr_finalize(j, &d1, r1, 3, on_done, &c);
    wait_calls(&loop, &c, 1);
    ASSERT_EQ(c.res[0]->err, 0);
    ASSERT_EQ(c.res[0]->already, 0);
    /* The identical DONE repeated, then the different one. */
    jr_finalize(j, &d1, r1, 3, on_done, &c);
    jr_finalize(j, &d2, r2, 3, on_done, &c);
    wait_calls(&loop, &c, 3);
    for (int i = 1; i < 3; i++) {
        ASSERT_EQ(c.res[i]->err, 0);
        ASSERT_EQ(c.res[i]->already, 1);
        expect_session(c.res[i], &d1, r1);
    }
    ASSERT_EQ(count_rows("SELECT count(*) FROM attendance"), 3);
    ASSERT_EQ(count_rows("SELECT count(*) FROM attendance_daily"), 1);
    ASSERT_EQ(count_rows("SELECT count(*) FROM attendance WHERE session_id = 'sess-2'"), 0);
    jr_get_stats(j, &s);
    ASSERT_EQ(s.finalize_ok, 1);
    ASSERT_EQ(s.finalize_already, 2);
    ASSERT_EQ(s.records_written, 3);
    cap_free(&c);
    close_all(&loop, j);
    teardown();
}

static void test_concurrent_done(void)
{
    uv_loop_t loop;
    cap_t c = {0};
    jr_daily_t d1, d2;
    jr_record_t r1[3], r2[3];
    setup();
    ASSERT_EQ(uv_loop_init(&loop), 0);
    jr_t *j = open_ok(&loop, tmpdir);
    make_daily(&d1, "class-1", "2026-11-22", "sess-1");
    make_recs(r1, &d1, 0.0);
    make_daily(&d2, "class-1", "2026-11-22", "sess-1");
    make_recs(r2, &d2, 1.0);
    /* Both queued before the loop runs even once: two teachers pressing DONE together. */
    jr_finalize(j, &d1, r1, 3, on_done, &c);
    jr_finalize(j, &d2, r2, 3, on_done, &c);
    wait_calls(&loop, &c, 2);
    ASSERT_EQ(c.res[0]->err, 0);
    ASSERT_EQ(c.res[1]->err, 0);
    ASSERT_EQ(c.res[0]->already + c.res[1]->already, 1);
    const jr_result_t *first = c.res[0]->already ? c.res[1] : c.res[0];
    const jr_record_t *winner = first == c.res[0] ? r1 : r2;
    for (int i = 0; i < 2; i++)
        expect_session(c.res[i], &d1, winner);
    ASSERT_EQ(count_rows("SELECT count(*) FROM attendance"), 3);
    ASSERT_EQ(count_rows("SELECT count(*) FROM attendance_daily"), 1);
    cap_free(&c);
    close_all(&loop, j);
    teardown();
}

static void test_same_session_other_day_or_class(void)
{
    uv_loop_t loop;
    cap_t c = {0};
    jr_daily_t d1, d2, d3;
    jr_record_t r1[3], r2[3], r3[3];
    setup();
    ASSERT_EQ(uv_loop_init(&loop), 0);
    jr_t *j = open_ok(&loop, tmpdir);
    make_daily(&d1, "class-1", "2026-11-22", "sess-1");
    make_recs(r1, &d1, 0.0);
    make_daily(&d2, "class-1", "2026-11-23", "sess-1"); /* finalized again after midnight */
    make_recs(r2, &d2, 1.0);
    make_daily(&d3, "class-2", "2026-11-22", "sess-1"); /* another class's session id */
    make_recs(r3, &d3, 2.0);
    jr_finalize(j, &d1, r1, 3, on_done, &c);
    jr_finalize(j, &d2, r2, 3, on_done, &c);
    jr_finalize(j, &d3, r3, 3, on_done, &c);
    wait_calls(&loop, &c, 3);
    ASSERT_EQ(c.res[0]->already, 0);
    ASSERT_EQ(c.res[1]->err, 0);
    ASSERT_EQ(c.res[1]->already, 1);
    expect_session(c.res[1], &d1, r1);
    /* Never answered with another class's records. */
    ASSERT_EQ(c.res[2]->err, BRK_EEXIST);
    ASSERT_EQ(c.res[2]->n, 0);
    ASSERT_NULL(c.res[2]->records);
    ASSERT(strlen(c.res[2]->errmsg) > 0);
    ASSERT_EQ(count_rows("SELECT count(*) FROM attendance"), 3);
    ASSERT_EQ(count_rows("SELECT count(*) FROM attendance_daily"), 1);
    cap_free(&c);
    close_all(&loop, j);
    teardown();
}

static void test_report_unknown(void)
{
    uv_loop_t loop;
    cap_t c = {0};
    jr_daily_t d;
    jr_record_t r[3];
    setup();
    ASSERT_EQ(uv_loop_init(&loop), 0);
    jr_t *j = open_ok(&loop, tmpdir);
    make_daily(&d, "class-1", "2026-11-22", "sess-1");
    make_recs(r, &d, 0.0);
    jr_report(j, "class-1", "sess-1", on_done, &c); /* nothing finalized yet */
    jr_finalize(j, &d, r, 3, on_done, &c);
    jr_report(j, "class-2", "sess-1", on_done, &c); /* right session, wrong class */
    jr_report(j, "class-1", "sess-9", on_done, &c);
    jr_report(j, "class-1",
              "a-session-id-far-longer-than-the-sixty-four-characters-a-field-can-hold", on_done,
              &c);
    wait_calls(&loop, &c, 5);
    ASSERT_EQ(c.res[0]->err, BRK_ENOTFOUND);
    ASSERT_EQ(c.res[1]->err, 0);
    for (int i = 2; i < 5; i++) {
        ASSERT_EQ(c.res[i]->err, BRK_ENOTFOUND);
        ASSERT_EQ(c.res[i]->n, 0);
        ASSERT_NULL(c.res[i]->records);
    }
    cap_free(&c);
    close_all(&loop, j);
    teardown();
}

/* A DONE after a restart has no live session: it finds the stored day by class and date. */
static void test_report_day(void)
{
    uv_loop_t loop;
    cap_t c = {0};
    jr_daily_t d;
    jr_record_t r[3];
    setup();
    ASSERT_EQ(uv_loop_init(&loop), 0);
    jr_t *j = open_ok(&loop, tmpdir);
    make_daily(&d, "class-1", "2026-11-22", "sess-1");
    make_recs(r, &d, 0.0);
    jr_report_day(j, "class-1", "2026-11-22", on_done, &c); /* nothing finalized yet */
    jr_finalize(j, &d, r, 3, on_done, &c);
    jr_report_day(j, "class-1", "2026-11-22", on_done, &c);
    jr_report_day(j, "class-1", "2026-11-23", on_done, &c); /* another day */
    jr_report_day(j, "class-2", "2026-11-22", on_done, &c); /* another class */
    wait_calls(&loop, &c, 5);
    ASSERT_EQ(c.res[0]->err, BRK_ENOTFOUND);
    ASSERT_EQ(c.res[1]->err, 0);
    ASSERT_EQ(c.res[2]->err, 0);
    expect_session(c.res[2], &d, r);
    ASSERT_EQ(c.res[3]->err, BRK_ENOTFOUND);
    ASSERT_EQ(c.res[4]->err, BRK_ENOTFOUND);
    ASSERT_EQ(c.res[4]->n, 0);
    cap_free(&c);
    close_all(&loop, j);
    teardown();
}

static void test_reopen(void)
{
    uv_loop_t loop;
    cap_t c = {0};
    jr_daily_t d;
    jr_record_t r[3];
    setup();
    make_daily(&d, "class-1", "2026-11-22", "sess-1");
    make_recs(r, &d, 0.0);

    ASSERT_EQ(uv_loop_init(&loop), 0);
    jr_t *j = open_ok(&loop, tmpdir);
    jr_finalize(j, &d, r, 3, on_done, &c);
    c.shutdown_after = j;
    c.want = 1;
    ASSERT_EQ(uv_run(&loop, UV_RUN_DEFAULT), 0);
    ASSERT_EQ(c.calls, 1);
    ASSERT_EQ(c.res[0]->err, 0);
    jr_free(j);
    ASSERT_EQ(uv_loop_close(&loop), 0);
    cap_free(&c);

    ASSERT_EQ(uv_loop_init(&loop), 0);
    j = open_ok(&loop, tmpdir);
    jr_report(j, "class-1", "sess-1", on_done, &c);
    jr_finalize(j, &d, r, 3, on_done, &c);
    wait_calls(&loop, &c, 2);
    ASSERT_EQ(c.res[0]->err, 0);
    expect_session(c.res[0], &d, r);
    ASSERT_EQ(c.res[1]->err, 0);
    ASSERT_EQ(c.res[1]->already, 1);
    expect_session(c.res[1], &d, r);
    cap_free(&c);
    close_all(&loop, j);
    teardown();
}

/* The child finalizes, and the moment the callback (the acknowledgement) fires it dies
 * without closing anything: SIGKILL, or _exit() with the database still open. */
typedef enum { DIE_SIGKILL, DIE_EXIT } die_t;

static die_t child_die;

static void on_child_done(jr_result_t *res, void *ud)
{
    (void)ud;
    if (res->err != 0 || res->already != 0 || res->n != 3)
        _exit(3);
    if (child_die == DIE_SIGKILL)
        kill(getpid(), SIGKILL);
    _exit(0);
}

static void run_child(const jr_daily_t *d, const jr_record_t r[3])
{
    uv_loop_t loop;
    jr_t *j = NULL;
    char err[256];
    if (uv_loop_init(&loop) != 0 || jr_open(&loop, tmpdir, &j, err, sizeof err) != 0)
        _exit(2);
    jr_finalize(j, d, r, 3, on_child_done, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    _exit(4); /* unreachable: the callback never returns */
}

static void test_killed_process_keeps_records(void)
{
    uv_loop_t loop;
    cap_t c = {0};
    jr_daily_t d[2];
    jr_record_t r[2][3];
    setup();
    make_daily(&d[0], "class-1", "2026-11-22", "sess-kill");
    make_recs(r[0], &d[0], 0.0);
    make_daily(&d[1], "class-1", "2026-11-23", "sess-exit");
    make_recs(r[1], &d[1], 1.0);

    for (int i = 0; i < 2; i++) {
        fflush(NULL);
        child_die = i == 0 ? DIE_SIGKILL : DIE_EXIT;
        pid_t pid = fork();
        ASSERT(pid >= 0);
        if (pid == 0)
            run_child(&d[i], r[i]);
        int status = 0;
        ASSERT_EQ(waitpid(pid, &status, 0), pid);
        if (i == 0) {
            ASSERT(WIFSIGNALED(status));
            ASSERT_EQ(WTERMSIG(status), SIGKILL);
        } else {
            ASSERT(WIFEXITED(status));
            ASSERT_EQ(WEXITSTATUS(status), 0);
        }
    }

    ASSERT_EQ(uv_loop_init(&loop), 0);
    jr_t *j = open_ok(&loop, tmpdir);
    jr_report(j, "class-1", "sess-kill", on_done, &c);
    jr_report(j, "class-1", "sess-exit", on_done, &c);
    wait_calls(&loop, &c, 2);
    for (int i = 0; i < 2; i++) {
        ASSERT_EQ(c.res[i]->err, 0);
        expect_session(c.res[i], &d[i], r[i]);
    }
    cap_free(&c);
    close_all(&loop, j);
    teardown();
}

static void test_wal_and_schema(void)
{
    uv_loop_t loop;
    char dir[128], text[32];
    struct stat sb;
    setup();
    /* Nested missing directories are created, mkdir -p style, private to the broker. */
    snprintf(dir, sizeof dir, "%s/a/b/", tmpdir);
    ASSERT_EQ(uv_loop_init(&loop), 0);
    jr_t *j = open_ok(&loop, dir);
    ASSERT_EQ(stat(dir, &sb), 0);
    ASSERT(S_ISDIR(sb.st_mode));
    ASSERT_EQ(sb.st_mode & 0777, 0700);
    snprintf(dir, sizeof dir, "%s/a", tmpdir);
    ASSERT_EQ(stat(dir, &sb), 0);
    ASSERT_EQ(sb.st_mode & 0777, 0700);
    close_all(&loop, j);

    snprintf(dir, sizeof dir, "%s/a/b", tmpdir);
    query_text(dir, "PRAGMA journal_mode", text, sizeof text);
    ASSERT_STR_EQ(text, "wal");
    ASSERT_EQ(count_rows_in(dir, "PRAGMA user_version"), 5);
    ASSERT_EQ(count_rows_in(dir, "SELECT count(*) FROM pragma_table_info('attendance')"), 15);
    ASSERT_EQ(count_rows_in(dir, "SELECT count(*) FROM pragma_table_info('attendance_daily')"), 11);
    ASSERT_EQ(count_rows_in(dir, "SELECT count(*) FROM sqlite_schema WHERE type = 'index'"
                                 " AND tbl_name = 'attendance' AND sql IS NOT NULL"),
              3); /* by class and session; unshipped rows (v2); by student (v5) */
    /* The other records of the file (v4 accounts, v5 classes and their rosters). */
    ASSERT_EQ(count_rows_in(dir, "SELECT count(*) FROM sqlite_schema WHERE type = 'table'"
                                 " AND name IN ('accounts', 'classes', 'class_members')"),
              3);

    /* Reopening an existing journal keeps it (no second migration, same version). */
    ASSERT_EQ(uv_loop_init(&loop), 0);
    j = open_ok(&loop, dir);
    close_all(&loop, j);
    teardown();
}

static void test_newer_schema_refused(void)
{
    uv_loop_t loop;
    char path[128], err[256];
    sqlite3 *db = NULL;
    jr_t *j = NULL;
    setup();
    snprintf(path, sizeof path, "%s/journal.db", tmpdir);
    ASSERT_EQ(sqlite3_open(path, &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    ASSERT_EQ(uv_loop_init(&loop), 0);
    ASSERT_EQ(jr_open(&loop, tmpdir, &j, err, sizeof err), BRK_EIO);
    ASSERT_NULL(j);
    ASSERT_NOT_NULL(strstr(err, "99"));
    ASSERT_EQ(uv_run(&loop, UV_RUN_DEFAULT), 0);
    ASSERT_EQ(uv_loop_close(&loop), 0);
    teardown();
}

static void test_shutdown_drains_queue(void)
{
    enum { N = 40 };
    uv_loop_t loop;
    cap_t c = {0};
    jr_daily_t d;
    jr_record_t r[3];
    jr_stats_t s;
    setup();
    ASSERT_EQ(uv_loop_init(&loop), 0);
    jr_t *j = open_ok(&loop, tmpdir);
    for (int i = 0; i < N / 2; i++) {
        char date[16], sess[16];
        snprintf(date, sizeof date, "2026-11-%02d", i + 1);
        snprintf(sess, sizeof sess, "sess-%d", i);
        make_daily(&d, "class-1", date, sess);
        make_recs(r, &d, i);
        jr_finalize(j, &d, r, 3, on_done, &c);
        jr_report(j, "class-1", sess, on_done, &c);
    }
    jr_get_stats(j, &s);
    ASSERT(s.queued > 0);
    jr_shutdown(j);
    jr_shutdown(j); /* idempotent */
    ASSERT_EQ(uv_run(&loop, UV_RUN_DEFAULT), 0);
    ASSERT_EQ(c.calls, N);
    for (int i = 0; i < N; i++) {
        ASSERT_EQ(c.res[i]->err, 0);
        ASSERT_EQ(c.res[i]->n, 3);
    }
    jr_get_stats(j, &s);
    ASSERT_EQ(s.queued, 0);
    ASSERT_EQ(s.finalize_ok, N / 2);
    ASSERT_EQ(s.reports, N / 2);
    ASSERT_EQ(s.records_written, 3 * N / 2);
    jr_free(j);
    ASSERT_EQ(uv_loop_close(&loop), 0);
    ASSERT_EQ(count_rows("SELECT count(*) FROM attendance"), 3 * N / 2);
    cap_free(&c);
    teardown();
}

static void test_closed_after_shutdown(void)
{
    uv_loop_t loop;
    cap_t c = {0}, late = {0};
    jr_daily_t d;
    jr_record_t r[3];
    setup();
    make_daily(&d, "class-1", "2026-11-22", "sess-1");
    make_recs(r, &d, 0.0);

    /* Refused while queued work is still draining. */
    ASSERT_EQ(uv_loop_init(&loop), 0);
    jr_t *j = open_ok(&loop, tmpdir);
    jr_finalize(j, &d, r, 3, on_done, &c);
    jr_shutdown(j);
    late.sync_guard = 1;
    jr_finalize(j, &d, r, 3, on_done, &late);
    jr_report(j, "class-1", "sess-1", on_done, &late);
    late.sync_guard = 0;
    ASSERT_EQ(late.calls, 0); /* never inside the submitting call */
    ASSERT_EQ(uv_run(&loop, UV_RUN_DEFAULT), 0);
    ASSERT_EQ(c.calls, 1);
    ASSERT_EQ(c.res[0]->err, 0);
    ASSERT_EQ(late.calls, 2);
    ASSERT_EQ(late.sync_calls, 0);
    for (int i = 0; i < 2; i++) {
        ASSERT_EQ(late.res[i]->err, BRK_ECLOSED);
        ASSERT_EQ(late.res[i]->n, 0);
    }
    jr_free(j);
    ASSERT_EQ(uv_loop_close(&loop), 0);
    cap_free(&c);
    cap_free(&late);

    /* Refused after the async handle is already closed, and after uv_run() returned once. */
    ASSERT_EQ(uv_loop_init(&loop), 0);
    j = open_ok(&loop, tmpdir);
    jr_shutdown(j);
    ASSERT_EQ(uv_run(&loop, UV_RUN_DEFAULT), 0);
    late.sync_guard = 1;
    jr_report(j, "class-1", "sess-1", on_done, &late);
    late.sync_guard = 0;
    ASSERT_EQ(late.calls, 0);
    ASSERT_EQ(uv_run(&loop, UV_RUN_DEFAULT), 0);
    ASSERT_EQ(late.calls, 1);
    ASSERT_EQ(late.sync_calls, 0);
    ASSERT_EQ(late.res[0]->err, BRK_ECLOSED);
    jr_free(j);
    ASSERT_EQ(uv_loop_close(&loop), 0);
    cap_free(&late);
    teardown();
}

/* A start-up failure path: the broker frees the journal before (or without) running the
 * loop to the end. jr_free() must not leave the loop pointing into freed memory. */
static void test_free_before_loop_runs(void)
{
    uv_loop_t loop;
    cap_t c = {0};
    jr_daily_t d;
    jr_record_t r[3];
    setup();
    ASSERT_EQ(uv_loop_init(&loop), 0);
    jr_t *j = open_ok(&loop, tmpdir);
    jr_shutdown(j);
    jr_free(j); /* the async close callback has not run yet */
    ASSERT_EQ(uv_run(&loop, UV_RUN_DEFAULT), 0);
    ASSERT_EQ(uv_loop_close(&loop), 0);

    /* Without jr_shutdown() and with a job queued: the job is still written (the worker
     * drains its queue before exiting), but its callback can no longer run. */
    make_daily(&d, "class-1", "2026-11-22", "sess-1");
    make_recs(r, &d, 0.0);
    ASSERT_EQ(uv_loop_init(&loop), 0);
    j = open_ok(&loop, tmpdir);
    jr_finalize(j, &d, r, 3, on_done, &c);
    jr_free(j);
    ASSERT_EQ(uv_run(&loop, UV_RUN_DEFAULT), 0);
    ASSERT_EQ(c.calls, 0);
    ASSERT_EQ(uv_loop_close(&loop), 0);
    ASSERT_EQ(count_rows("SELECT count(*) FROM attendance"), 3);
    teardown();
}

static void test_bad_input_and_rollback(void)
{
    uv_loop_t loop;
    cap_t c = {0};
    jr_daily_t d;
    jr_record_t r[3], bad[3];
    setup();
    ASSERT_EQ(uv_loop_init(&loop), 0);
    jr_t *j = open_ok(&loop, tmpdir);
    make_daily(&d, "class-1", "2026-11-22", "sess-1");
    make_recs(r, &d, 0.0);

    memcpy(bad, r, sizeof bad);
    snprintf(bad[1].session_id, sizeof bad[1].session_id, "sess-other");
    jr_finalize(j, &d, bad, 3, on_done, &c); /* 0: record of another session */
    memcpy(bad, r, sizeof bad);
    snprintf(bad[2].status, sizeof bad[2].status, "excused");
    jr_finalize(j, &d, bad, 3, on_done, &c); /* 1: unknown status */
    memcpy(bad, r, sizeof bad);
    memset(bad[0].student_name, 'x', sizeof bad[0].student_name); /* 2: not terminated */
    jr_finalize(j, &d, bad, 3, on_done, &c);
    jr_daily_t bad_day = d;
    snprintf(bad_day.date, sizeof bad_day.date, "22/11/2026");
    jr_finalize(j, &bad_day, r, 3, on_done, &c); /* 3: bad date */
    /* 4: a SQLite failure mid-transaction (duplicate student) must roll back the summary. */
    memcpy(bad, r, sizeof bad);
    snprintf(bad[2].student_id, sizeof bad[2].student_id, "%s", bad[0].student_id);
    jr_finalize(j, &d, bad, 3, on_done, &c);
    /* 5: NaN cannot be stored (it would bind as NULL). */
    memcpy(bad, r, sizeof bad);
    bad[1].engagement_percentage = NAN;
    jr_finalize(j, &d, bad, 3, on_done, &c);
    /* 6: the good one still goes through: nothing of the failures was left behind. */
    jr_finalize(j, &d, r, 3, on_done, &c);
    wait_calls(&loop, &c, 7);
    for (int i = 0; i < 4; i++) {
        ASSERT_EQ(c.res[i]->err, BRK_EINVAL);
        ASSERT(strlen(c.res[i]->errmsg) > 0);
        ASSERT_EQ(c.res[i]->n, 0);
    }
    ASSERT_NOT_NULL(strstr(c.res[0]->errmsg, "session_id"));
    ASSERT_NOT_NULL(strstr(c.res[1]->errmsg, "status"));
    ASSERT_NOT_NULL(strstr(c.res[3]->errmsg, "date"));
    ASSERT_EQ(c.res[4]->err, BRK_EIO);
    ASSERT_NOT_NULL(strstr(c.res[4]->errmsg, "UNIQUE"));
    ASSERT_NULL(strstr(c.res[4]->errmsg, "s-3")); /* no data values in messages */
    ASSERT_EQ(c.res[5]->err, BRK_EIO);
    ASSERT_NOT_NULL(strstr(c.res[5]->errmsg, "NOT NULL"));
    ASSERT_EQ(c.res[6]->err, 0);
    ASSERT_EQ(c.res[6]->already, 0);
    expect_session(c.res[6], &d, r);
    jr_stats_t s;
    jr_get_stats(j, &s);
    ASSERT_EQ(s.finalize_failed, 6);
    ASSERT_EQ(s.finalize_ok, 1);
    ASSERT_EQ(count_rows("SELECT count(*) FROM attendance"), 3);
    ASSERT_EQ(count_rows("SELECT count(*) FROM attendance_daily"), 1);
    cap_free(&c);
    close_all(&loop, j);
    teardown();
}

static void test_empty_session(void)
{
    uv_loop_t loop;
    cap_t c = {0};
    jr_daily_t d;
    setup();
    ASSERT_EQ(uv_loop_init(&loop), 0);
    jr_t *j = open_ok(&loop, tmpdir);
    make_daily(&d, "class-1", "2026-11-22", "sess-1");
    d.present = d.absent = d.late = d.total = 0;
    d.percentage = 0;
    jr_finalize(j, &d, NULL, 0, on_done, &c);
    jr_report(j, "class-1", "sess-1", on_done, &c);
    wait_calls(&loop, &c, 2);
    for (int i = 0; i < 2; i++) {
        ASSERT_EQ(c.res[i]->err, 0);
        ASSERT_EQ(c.res[i]->n, 0);
        expect_daily(&c.res[i]->daily, &d);
    }
    cap_free(&c);
    close_all(&loop, j);
    teardown();
}

static void test_open_fails(void)
{
    uv_loop_t loop;
    char path[128], err[256];
    jr_t *j = NULL;
    setup();
    ASSERT_EQ(uv_loop_init(&loop), 0);

    /* A directory under a regular file cannot be created, even by root. */
    snprintf(path, sizeof path, "%s/file", tmpdir);
    FILE *f = fopen(path, "w");
    ASSERT_NOT_NULL(f);
    fclose(f);
    snprintf(path, sizeof path, "%s/file/journal", tmpdir);
    err[0] = '\0';
    ASSERT_EQ(jr_open(&loop, path, &j, err, sizeof err), BRK_EIO);
    ASSERT_NULL(j);
    ASSERT(strlen(err) > 0);

    /* The directory is a file. */
    snprintf(path, sizeof path, "%s/file", tmpdir);
    err[0] = '\0';
    ASSERT_EQ(jr_open(&loop, path, &j, err, sizeof err), BRK_EIO);
    ASSERT(strlen(err) > 0);

    /* journal.db exists but is a directory. */
    snprintf(path, sizeof path, "%s/db", tmpdir);
    ASSERT_EQ(mkdir(path, 0700), 0);
    snprintf(path, sizeof path, "%s/db/journal.db", tmpdir);
    ASSERT_EQ(mkdir(path, 0700), 0);
    snprintf(path, sizeof path, "%s/db", tmpdir);
    err[0] = '\0';
    ASSERT_EQ(jr_open(&loop, path, &j, err, sizeof err), BRK_EIO);
    ASSERT_NULL(j);
    ASSERT(strlen(err) > 0);

    /* Permission bits only stop a non-root user. */
    if (geteuid() != 0) {
        snprintf(path, sizeof path, "%s/ro", tmpdir);
        ASSERT_EQ(mkdir(path, 0500), 0);
        snprintf(path, sizeof path, "%s/ro/journal", tmpdir);
        err[0] = '\0';
        ASSERT_EQ(jr_open(&loop, path, &j, err, sizeof err), BRK_EIO);
        ASSERT_NOT_NULL(strstr(err, "Permission denied"));
        snprintf(path, sizeof path, "%s/ro", tmpdir);
        chmod(path, 0700);
    }

    /* Nothing was left registered on the loop. */
    ASSERT_EQ(uv_run(&loop, UV_RUN_DEFAULT), 0);
    ASSERT_EQ(uv_loop_close(&loop), 0);
    teardown();
}

/* The outbox: unshipped days come oldest first with their records, marking one shipped
 * moves on to the next, the backlog counts follow, and shipped_at survives a reopen. */
static void test_outbox_next_and_mark(void)
{
    uv_loop_t loop;
    cap_t c = {0};
    jr_daily_t d1, d2;
    jr_record_t r1[3], r2[3];
    jr_stats_t st;
    setup();
    make_daily(&d1, "class-1", "2026-11-22", "sess-1");
    make_daily(&d2, "class-1", "2026-11-23", "sess-2");
    d2.finalized_at_ms = d1.finalized_at_ms + 86400000LL;
    make_recs(r1, &d1, 0.0);
    make_recs(r2, &d2, 1.0);

    ASSERT_EQ(uv_loop_init(&loop), 0);
    jr_t *j = open_ok(&loop, tmpdir);
    jr_outbox_enable(j);
    jr_finalize(j, &d2, r2, 3, on_done, &c); /* the newer day first */
    jr_finalize(j, &d1, r1, 3, on_done, &c);
    jr_outbox_next(j, on_done, &c);
    wait_calls(&loop, &c, 3);
    jr_get_stats(j, &st);
    ASSERT_EQ(st.backlog.records, 6);
    ASSERT_EQ(st.backlog.days, 2);
    ASSERT_EQ(st.backlog.oldest_ms, d1.finalized_at_ms);
    ASSERT_EQ(c.res[2]->err, 0);
    expect_session(c.res[2], &d1, r1); /* oldest finalized_at first */

    jr_outbox_mark_shipped(j, "class-1", "sess-1", 1763900000000LL, on_done, &c);
    jr_outbox_next(j, on_done, &c);
    wait_calls(&loop, &c, 5);
    ASSERT_EQ(c.res[3]->err, 0);
    ASSERT_EQ(c.res[4]->err, 0);
    expect_session(c.res[4], &d2, r2);
    jr_get_stats(j, &st);
    ASSERT_EQ(st.backlog.records, 3);
    ASSERT_EQ(st.backlog.days, 1);
    ASSERT_EQ(st.backlog.oldest_ms, d2.finalized_at_ms);

    jr_outbox_mark_shipped(j, "class-1", "sess-2", 1763900000001LL, on_done, &c);
    jr_outbox_next(j, on_done, &c);
    wait_calls(&loop, &c, 7);
    ASSERT_EQ(c.res[6]->err, BRK_ENOTFOUND);
    jr_get_stats(j, &st);
    ASSERT_EQ(st.backlog.records, 0);
    ASSERT_EQ(st.backlog.days, 0);
    ASSERT_EQ(st.backlog.oldest_ms, 0);
    close_all(&loop, j);
    cap_free(&c);
    ASSERT_EQ(count_rows("SELECT count(*) FROM attendance WHERE shipped_at IS NOT NULL"), 6);
    ASSERT_EQ(count_rows("SELECT count(*) FROM attendance_daily WHERE shipped_at = 1763900000000"),
              1);

    /* Reopened: nothing left to ship. */
    ASSERT_EQ(uv_loop_init(&loop), 0);
    j = open_ok(&loop, tmpdir);
    jr_outbox_enable(j);
    jr_outbox_next(j, on_done, &c);
    wait_calls(&loop, &c, 1);
    ASSERT_EQ(c.res[0]->err, BRK_ENOTFOUND);
    close_all(&loop, j);
    cap_free(&c);
    teardown();
}

/* A version 1 journal (before the outbox indexes and trust scores) is upgraded in place on
 * open, keeping its rows, which are then all waiting to be shipped. */
static void test_upgrade_from_v1(void)
{
    uv_loop_t loop;
    cap_t c = {0};
    jr_daily_t d;
    jr_record_t r[3];
    char path[160];
    sqlite3 *db = NULL;
    setup();
    make_daily(&d, "class-1", "2026-11-22", "sess-1");
    make_recs(r, &d, 0.0);
    for (int i = 0; i < 3; i++)
        r[i].trust_score = 100; /* what the upgrade gives rows written before v3 */
    ASSERT_EQ(uv_loop_init(&loop), 0);
    jr_t *j = open_ok(&loop, tmpdir);
    jr_finalize(j, &d, r, 3, on_done, &c);
    wait_calls(&loop, &c, 1);
    close_all(&loop, j);
    cap_free(&c);
    /* Turn it back into what version 1 wrote. */
    snprintf(path, sizeof path, "%s/journal.db", tmpdir);
    ASSERT_EQ(sqlite3_open(path, &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db,
                           "DROP INDEX attendance_unshipped; DROP INDEX attendance_daily_unshipped;"
                           "ALTER TABLE attendance DROP COLUMN trust_score;"
                           "PRAGMA user_version = 1",
                           NULL, NULL, NULL),
              SQLITE_OK);
    sqlite3_close(db);

    ASSERT_EQ(uv_loop_init(&loop), 0);
    j = open_ok(&loop, tmpdir);
    jr_outbox_enable(j);
    jr_outbox_next(j, on_done, &c);
    wait_calls(&loop, &c, 1);
    ASSERT_EQ(c.res[0]->err, 0);
    expect_session(c.res[0], &d, r);
    close_all(&loop, j);
    cap_free(&c);
    ASSERT_EQ(count_rows("PRAGMA user_version"), 5);
    ASSERT_EQ(count_rows("SELECT count(*) FROM sqlite_schema WHERE type = 'index'"
                         " AND name IN ('attendance_unshipped', 'attendance_daily_unshipped')"),
              2);
    teardown();
}

static const test_case_t tests[] = {
    {"outbox_next_and_mark", test_outbox_next_and_mark},
    {"upgrade_from_v1", test_upgrade_from_v1},
    {"finalize_then_report", test_finalize_then_report},
    {"finalize_twice_same_day", test_finalize_twice_same_day},
    {"concurrent_done", test_concurrent_done},
    {"same_session_other_day_or_class", test_same_session_other_day_or_class},
    {"report_unknown", test_report_unknown},
    {"report_day", test_report_day},
    {"reopen", test_reopen},
    {"killed_process_keeps_records", test_killed_process_keeps_records},
    {"wal_and_schema", test_wal_and_schema},
    {"newer_schema_refused", test_newer_schema_refused},
    {"shutdown_drains_queue", test_shutdown_drains_queue},
    {"closed_after_shutdown", test_closed_after_shutdown},
    {"free_before_loop_runs", test_free_before_loop_runs},
    {"bad_input_and_rollback", test_bad_input_and_rollback},
    {"empty_session", test_empty_session},
    {"open_fails", test_open_fails},
};

TEST_MAIN(tests)
