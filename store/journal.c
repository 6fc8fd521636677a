/* SPDX-License-Identifier: MIT */
/* The durable local journal: one SQLite database (dir/journal.db, WAL, synchronous=FULL)
 * owned by the one worker thread of a job queue (base/jobq.h). The loop thread copies each
 * request into a job and queues it; the worker runs jobs in submission order, and the queue
 * hands each finished job back on the loop thread, where its callback runs. A
 * finalize is a single BEGIN IMMEDIATE transaction, so a class's day is written at most once
 * even when two DONEs race: the second one finds the first one's rows. */
#include "journal.h"

#include "brk.h"
#include "jobq.h"
#include "log.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Bump when the schema changes, and add a step to migrate() that upgrades from the
 * previous version. Stored in PRAGMA user_version. */
#define JR_SCHEMA_VERSION 3

#define JR_BUSY_TIMEOUT_MS 5000

typedef enum {
    JOB_FINALIZE,
    JOB_REPORT,
    JOB_REPORT_DAY,
    JOB_OUTBOX_NEXT,
    JOB_MARK_SHIPPED,
    JOB_BACKLOG, /* only recounts the backlog */
} job_kind_t;

typedef struct job {
    jobq_job_t base; /* first: the queue's handle on the job */
    job_kind_t kind;
    jr_daily_t daily;  /* finalize: the summary to write */
    jr_record_t *recs; /* finalize: owned copy of the records */
    size_t n;
    char *class_id; /* report: owned copies of the key */
    char *session_id;
    int64_t shipped_at_ms; /* mark shipped */
    jr_done_cb cb;
    void *ud;
    jr_result_t *res; /* handed to cb, which owns it from then on */
    int has_backlog;  /* the worker recounted the backlog after this job */
    jr_backlog_t backlog;
} job_t;

typedef struct stmts {
    sqlite3_stmt *find_day;  /* daily row for (class_id, date) or for session_id */
    sqlite3_stmt *get_daily; /* daily row for (class_id, session_id) */
    sqlite3_stmt *get_recs;  /* records of (class_id, session_id) by student_id */
    sqlite3_stmt *ins_daily;
    sqlite3_stmt *ins_rec;
} stmts_t;

struct jr {
    jobq_t *q; /* one worker thread; drains its queue at shutdown */
    char *path;

    /* Owned by the worker thread between jr_open() and jr_free(); starting and joining the
     * worker order the hand-overs. */
    sqlite3 *db;
    stmts_t st;

    atomic_int outbox; /* recount the backlog after writes; set by the loop, read by the worker */

    /* Loop thread only. */
    int closed;       /* jr_shutdown() was called */
    jr_stats_t stats; /* queued is the queue's count of jobs not yet delivered */
    size_t dropped;   /* results discarded by jr_free() */
    void (*commit_hook)(void *ud);
    void *hook_ud;
};

/* ---- SQL ------------------------------------------------------------------------------ */

/* Column names follow the MongoDB records (DESIGN.md); started_at, ended_at, finalized_at and
 * shipped_at are INTEGER milliseconds since the epoch. shipped_at stays NULL until the MongoDB
 * outbox has the row acknowledged. */
static const char schema_v1[] =
    "CREATE TABLE IF NOT EXISTS attendance ("
    " session_id TEXT NOT NULL,"
    " student_id TEXT NOT NULL,"
    " student_name TEXT NOT NULL,"
    " class_id TEXT NOT NULL,"
    " started_at INTEGER NOT NULL,"
    " ended_at INTEGER NOT NULL,"
    " total_class_duration_seconds REAL NOT NULL,"
    " engagement_duration_seconds REAL NOT NULL,"
    " engagement_percentage REAL NOT NULL,"
    " frames_analyzed INTEGER NOT NULL,"
    " status TEXT NOT NULL CHECK (status IN ('present', 'absent', 'late')),"
    " source TEXT NOT NULL CHECK (source IN ('engagement', 'manual')),"
    " finalized_at INTEGER NOT NULL,"
    " shipped_at INTEGER,"
    " PRIMARY KEY (session_id, student_id));"
    "CREATE INDEX IF NOT EXISTS attendance_by_class_session"
    " ON attendance (class_id, session_id, student_id);"
    "CREATE TABLE IF NOT EXISTS attendance_daily ("
    " class_id TEXT NOT NULL,"
    " date TEXT NOT NULL,"
    " teacher_id TEXT NOT NULL,"
    " session_id TEXT NOT NULL UNIQUE,"
    " present INTEGER NOT NULL,"
    " absent INTEGER NOT NULL,"
    " late INTEGER NOT NULL,"
    " total INTEGER NOT NULL,"
    " percentage REAL NOT NULL,"
    " finalized_at INTEGER NOT NULL,"
    " shipped_at INTEGER,"
    " PRIMARY KEY (class_id, date));";

/* Version 2: the MongoDB outbox finds the rows still to ship, and counts them, through
 * partial indexes that hold only those rows. */
static const char upgrade_v2[] = "CREATE INDEX IF NOT EXISTS attendance_daily_unshipped"
                                 " ON attendance_daily (finalized_at) WHERE shipped_at IS NULL;"
                                 "CREATE INDEX IF NOT EXISTS attendance_unshipped"
                                 " ON attendance (class_id, session_id) WHERE shipped_at IS NULL;";

/* Version 3: each record carries the student's proctoring trust score (0..100); records
 * written before it existed had no violations to count, hence 100. */
static const char upgrade_v3[] = "ALTER TABLE attendance ADD COLUMN trust_score INTEGER NOT NULL"
                                 " DEFAULT 100 CHECK (trust_score BETWEEN 0 AND 100);";

#define DAILY_COLS                                                                                 \
    "class_id, teacher_id, date, session_id, present, absent, late, total, percentage, "           \
    "finalized_at"
#define REC_COLS                                                                                   \
    "student_id, student_name, class_id, session_id, started_at, ended_at, "                       \
    "total_class_duration_seconds, engagement_duration_seconds, engagement_percentage, "           \
    "frames_analyzed, status, source, finalized_at, trust_score"

/* The (class_id, date) match sorts first, so a repeated DONE gets its own day back; a match
 * on session_id alone means the same session was finalized under another date. */
static const char sql_find_day[] = "SELECT " DAILY_COLS " FROM attendance_daily"
                                   " WHERE (class_id = ?1 AND date = ?2) OR session_id = ?3"
                                   " ORDER BY (class_id = ?1 AND date = ?2) DESC LIMIT 1";
static const char sql_get_daily[] = "SELECT " DAILY_COLS " FROM attendance_daily"
                                    " WHERE class_id = ?1 AND session_id = ?2";
static const char sql_get_recs[] = "SELECT " REC_COLS " FROM attendance"
                                   " WHERE class_id = ?1 AND session_id = ?2"
                                   " ORDER BY student_id";
/* Plain INSERT, never OR REPLACE: a conflict must abort the transaction, not overwrite. */
static const char sql_ins_daily[] = "INSERT INTO attendance_daily (" DAILY_COLS ")"
                                    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";
static const char sql_ins_rec[] = "INSERT INTO attendance (" REC_COLS ")"
                                  " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12,"
                                  " ?13, ?14)";

/* ---- helpers shared by the open path and the worker ------------------------------------ */

static void set_err(char *err, size_t errlen, const char *what, const char *why)
{
    if (err && errlen)
        snprintf(err, errlen, "%s: %s", what, why);
}

static int prepare(sqlite3 *db, const char *sql, sqlite3_stmt **out)
{
    return sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, out, NULL);
}

static void stmts_finalize(stmts_t *st)
{
    sqlite3_finalize(st->find_day);
    sqlite3_finalize(st->get_daily);
    sqlite3_finalize(st->get_recs);
    sqlite3_finalize(st->ins_daily);
    sqlite3_finalize(st->ins_rec);
    memset(st, 0, sizeof *st);
}

/* mkdir -p: creates every missing component with mode 0700; existing ones are left as
 * they are. */
static int make_dirs(const char *dir, char *err, size_t errlen)
{
    char *p = brk_strdup(dir);
    int rc = 0;
    size_t len = strlen(p);
    while (len > 1 && p[len - 1] == '/')
        p[--len] = '\0';
    for (char *s = p + 1;; s++) {
        if (*s != '/' && *s != '\0')
            continue;
        char saved = *s;
        *s = '\0';
        if (mkdir(p, 0700) != 0 && errno != EEXIST) {
            set_err(err, errlen, p, strerror(errno));
            rc = BRK_EIO;
            goto cleanup;
        }
        *s = saved;
        if (saved == '\0')
            break;
    }
    struct stat sb;
    if (stat(p, &sb) != 0) {
        set_err(err, errlen, p, strerror(errno));
        rc = BRK_EIO;
    } else if (!S_ISDIR(sb.st_mode)) {
        set_err(err, errlen, p, "not a directory");
        rc = BRK_EIO;
    }
cleanup:
    free(p);
    return rc;
}

static int pragma_int(sqlite3 *db, const char *sql, int *out)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            *out = sqlite3_column_int(st, 0);
            rc = SQLITE_OK;
        }
    }
    sqlite3_finalize(st);
    return rc;
}

/* Creates or upgrades the schema inside one write transaction, so two processes opening the
 * same file at once cannot both migrate it. */
static int migrate(sqlite3 *db, char *err, size_t errlen)
{
    int version = 0;
    char sql[64];
    if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        goto fail;
    if (pragma_int(db, "PRAGMA user_version", &version) != SQLITE_OK)
        goto fail;
    if (version > JR_SCHEMA_VERSION) {
        char why[96];
        snprintf(why, sizeof why, "schema_version %d is newer than this build's %d", version,
                 JR_SCHEMA_VERSION);
        set_err(err, errlen, "journal.db", why);
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        return BRK_EIO;
    }
    if (version < 1 && sqlite3_exec(db, schema_v1, NULL, NULL, NULL) != SQLITE_OK)
        goto fail;
    if (version < 2 && sqlite3_exec(db, upgrade_v2, NULL, NULL, NULL) != SQLITE_OK)
        goto fail;
    if (version < 3 && sqlite3_exec(db, upgrade_v3, NULL, NULL, NULL) != SQLITE_OK)
        goto fail;
    snprintf(sql, sizeof sql, "PRAGMA user_version = %d", JR_SCHEMA_VERSION);
    if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
        goto fail;
    if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        goto fail;
    return 0;
fail:
    set_err(err, errlen, "journal.db schema", sqlite3_errmsg(db));
    if (!sqlite3_get_autocommit(db))
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return BRK_EIO;
}

static int open_db(const char *path, sqlite3 **out, stmts_t *st, char *err, size_t errlen)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *jm = NULL;
    int rc = BRK_EIO;
    /* NOMUTEX: the connection is used by one thread at a time (this one, then the worker,
     * then jr_free after the join), so SQLite's per-connection mutex is pure overhead. */
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    if (sqlite3_open_v2(path, &db, flags, NULL) != SQLITE_OK) {
        set_err(err, errlen, path, db ? sqlite3_errmsg(db) : "out of memory");
        goto cleanup;
    }
    sqlite3_extended_result_codes(db, 1);
    if (sqlite3_busy_timeout(db, JR_BUSY_TIMEOUT_MS) != SQLITE_OK)
        goto sqlfail;
    /* journal_mode answers with the mode actually in force; some file systems refuse WAL
     * and SQLite then silently keeps the old mode, which we do not accept. */
    if (sqlite3_prepare_v2(db, "PRAGMA journal_mode = WAL", -1, &jm, NULL) != SQLITE_OK)
        goto sqlfail;
    if (sqlite3_step(jm) != SQLITE_ROW)
        goto sqlfail;
    const char *mode = (const char *)sqlite3_column_text(jm, 0);
    int wal = mode && strcmp(mode, "wal") == 0;
    /* A statement left mid-step would keep the migration's COMMIT from completing. */
    sqlite3_finalize(jm);
    jm = NULL;
    if (!wal) {
        set_err(err, errlen, path, "cannot switch to WAL journal mode");
        goto cleanup;
    }
    /* FULL makes every COMMIT fsync the WAL, so a commit that returned is durable; the
     * broker acknowledges a DONE only after that. */
    if (sqlite3_exec(db, "PRAGMA synchronous = FULL; PRAGMA foreign_keys = OFF", NULL, NULL,
                     NULL) != SQLITE_OK)
        goto sqlfail;
    if (migrate(db, err, errlen) != 0)
        goto cleanup;
    if (prepare(db, sql_find_day, &st->find_day) != SQLITE_OK ||
        prepare(db, sql_get_daily, &st->get_daily) != SQLITE_OK ||
        prepare(db, sql_get_recs, &st->get_recs) != SQLITE_OK ||
        prepare(db, sql_ins_daily, &st->ins_daily) != SQLITE_OK ||
        prepare(db, sql_ins_rec, &st->ins_rec) != SQLITE_OK)
        goto sqlfail;
    *out = db;
    db = NULL;
    rc = 0;
    goto cleanup;
sqlfail:
    set_err(err, errlen, path, sqlite3_errmsg(db));
cleanup:
    sqlite3_finalize(jm);
    if (db) {
        stmts_finalize(st);
        sqlite3_close(db);
    }
    return rc;
}

/* ---- worker thread --------------------------------------------------------------------- */

/* Records the failing step and SQLite's message (which names constraints and columns, never
 * values), then rolls back whatever transaction is open. */
static void fail_sql(jr_t *j, jr_result_t *res, const char *what)
{
    res->err = BRK_EIO;
    snprintf(res->errmsg, sizeof res->errmsg, "%s: %s", what, sqlite3_errmsg(j->db));
    if (!sqlite3_get_autocommit(j->db))
        sqlite3_exec(j->db, "ROLLBACK", NULL, NULL, NULL);
}

static int bind_str(sqlite3_stmt *st, int col, const char *s, size_t cap)
{
    return sqlite3_bind_text(st, col, s, (int)strnlen(s, cap), SQLITE_STATIC);
}

/* Copies a TEXT column into a fixed field; a value that does not fit cannot have been
 * written by us, so it is reported as corruption rather than truncated. */
static int col_str(sqlite3_stmt *st, int col, char *dst, size_t cap)
{
    const unsigned char *t = sqlite3_column_text(st, col);
    int len = sqlite3_column_bytes(st, col);
    if (!t || len < 0 || (size_t)len >= cap)
        return -1;
    memcpy(dst, t, (size_t)len);
    dst[len] = '\0';
    return 0;
}

static int row_daily(sqlite3_stmt *st, jr_daily_t *d)
{
    memset(d, 0, sizeof *d);
    if (col_str(st, 0, d->class_id, sizeof d->class_id) ||
        col_str(st, 1, d->teacher_id, sizeof d->teacher_id) ||
        col_str(st, 2, d->date, sizeof d->date) ||
        col_str(st, 3, d->session_id, sizeof d->session_id))
        return -1;
    d->present = sqlite3_column_int(st, 4);
    d->absent = sqlite3_column_int(st, 5);
    d->late = sqlite3_column_int(st, 6);
    d->total = sqlite3_column_int(st, 7);
    d->percentage = sqlite3_column_double(st, 8);
    d->finalized_at_ms = sqlite3_column_int64(st, 9);
    return 0;
}

static int row_record(sqlite3_stmt *st, jr_record_t *r)
{
    memset(r, 0, sizeof *r);
    if (col_str(st, 0, r->student_id, sizeof r->student_id) ||
        col_str(st, 1, r->student_name, sizeof r->student_name) ||
        col_str(st, 2, r->class_id, sizeof r->class_id) ||
        col_str(st, 3, r->session_id, sizeof r->session_id) ||
        col_str(st, 10, r->status, sizeof r->status) ||
        col_str(st, 11, r->source, sizeof r->source))
        return -1;
    r->started_at_ms = sqlite3_column_int64(st, 4);
    r->ended_at_ms = sqlite3_column_int64(st, 5);
    r->total_class_duration_seconds = sqlite3_column_double(st, 6);
    r->engagement_duration_seconds = sqlite3_column_double(st, 7);
    r->engagement_percentage = sqlite3_column_double(st, 8);
    r->frames_analyzed = sqlite3_column_int64(st, 9);
    r->finalized_at_ms = sqlite3_column_int64(st, 12);
    r->trust_score = sqlite3_column_int(st, 13);
    return 0;
}

/* Runs a single-row SELECT already bound on st: 1 when a row was read into *d, 0 when there
 * was none, -1 on error (res filled in). Resets st in every case. */
static int read_daily(jr_t *j, sqlite3_stmt *st, jr_daily_t *d, jr_result_t *res)
{
    int rc = sqlite3_step(st);
    int out = 0;
    if (rc == SQLITE_ROW) {
        out = 1;
        if (row_daily(st, d) != 0) {
            res->err = BRK_EIO;
            snprintf(res->errmsg, sizeof res->errmsg, "read attendance_daily: bad stored row");
            out = -1;
        }
    } else if (rc != SQLITE_DONE) {
        snprintf(res->errmsg, sizeof res->errmsg, "read attendance_daily: %s",
                 sqlite3_errmsg(j->db));
        res->err = BRK_EIO;
        out = -1;
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return out;
}

/* Reads the records of one session into res (replacing any held). 0 or -1 (res filled). */
static int read_records(jr_t *j, const char *class_id, const char *session_id, jr_result_t *res)
{
    sqlite3_stmt *st = j->st.get_recs;
    size_t cap = 0;
    int rc;
    BRK_FREE(res->records);
    res->n = 0;
    sqlite3_bind_text(st, 1, class_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, session_id, -1, SQLITE_STATIC);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (res->n == cap) {
            cap = cap ? cap * 2 : 32;
            res->records = brk_realloc(res->records, cap * sizeof *res->records);
        }
        if (row_record(st, &res->records[res->n]) != 0) {
            rc = SQLITE_CORRUPT;
            break;
        }
        res->n++;
    }
    if (rc != SQLITE_DONE) {
        res->err = BRK_EIO;
        if (rc == SQLITE_CORRUPT)
            snprintf(res->errmsg, sizeof res->errmsg, "read attendance: bad stored row");
        else
            snprintf(res->errmsg, sizeof res->errmsg, "read attendance: %s", sqlite3_errmsg(j->db));
        BRK_FREE(res->records);
        res->n = 0;
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return res->err ? -1 : 0;
}

static int terminated(const char *s, size_t cap)
{
    return strnlen(s, cap) < cap;
}

static int is_date(const char *s)
{
    for (int i = 0; i < 10; i++) {
        int dash = i == 4 || i == 7;
        if (dash ? s[i] != '-' : (s[i] < '0' || s[i] > '9'))
            return 0;
    }
    return s[10] == '\0';
}

static int one_of(const char *s, const char *a, const char *b, const char *c)
{
    return strcmp(s, a) == 0 || strcmp(s, b) == 0 || (c && strcmp(s, c) == 0);
}

#define FIELD_SET(s) (terminated((s), sizeof(s)) && (s)[0] != '\0')

/* Checks what SQLite cannot: every string is terminated inside its field, the keys are set,
 * and every record belongs to the summary's class and session (otherwise a report of that
 * session would never find it). Returns NULL, or the name of the first bad field and sets
 * *bad_rec to its record's index (or to n for the summary). */
static const char *check_input(const job_t *job, size_t *bad_rec)
{
    const jr_daily_t *d = &job->daily;
    *bad_rec = job->n;
    if (!FIELD_SET(d->class_id))
        return "class_id";
    if (!FIELD_SET(d->session_id))
        return "session_id";
    if (!terminated(d->teacher_id, sizeof d->teacher_id))
        return "teacher_id";
    if (!terminated(d->date, sizeof d->date) || !is_date(d->date))
        return "date";
    for (size_t i = 0; i < job->n; i++) {
        const jr_record_t *r = &job->recs[i];
        *bad_rec = i;
        if (!FIELD_SET(r->student_id))
            return "student_id";
        if (!terminated(r->student_name, sizeof r->student_name))
            return "student_name";
        if (!terminated(r->class_id, sizeof r->class_id) || strcmp(r->class_id, d->class_id) != 0)
            return "class_id (must equal the summary's)";
        if (!terminated(r->session_id, sizeof r->session_id) ||
            strcmp(r->session_id, d->session_id) != 0)
            return "session_id (must equal the summary's)";
        if (!terminated(r->status, sizeof r->status) ||
            !one_of(r->status, "present", "absent", "late"))
            return "status";
        if (!terminated(r->source, sizeof r->source) ||
            !one_of(r->source, "engagement", "manual", NULL))
            return "source";
    }
    return NULL;
}

static int validate(const job_t *job, jr_result_t *res)
{
    size_t i;
    const char *field = check_input(job, &i);
    if (!field)
        return 0;
    res->err = BRK_EINVAL;
    if (i == job->n)
        snprintf(res->errmsg, sizeof res->errmsg, "finalize: summary: bad %s", field);
    else
        snprintf(res->errmsg, sizeof res->errmsg, "finalize: record %zu: bad %s", i, field);
    return -1;
}

static int insert_daily(jr_t *j, const jr_daily_t *d)
{
    sqlite3_stmt *st = j->st.ins_daily;
    bind_str(st, 1, d->class_id, sizeof d->class_id);
    bind_str(st, 2, d->teacher_id, sizeof d->teacher_id);
    bind_str(st, 3, d->date, sizeof d->date);
    bind_str(st, 4, d->session_id, sizeof d->session_id);
    sqlite3_bind_int(st, 5, d->present);
    sqlite3_bind_int(st, 6, d->absent);
    sqlite3_bind_int(st, 7, d->late);
    sqlite3_bind_int(st, 8, d->total);
    sqlite3_bind_double(st, 9, d->percentage);
    sqlite3_bind_int64(st, 10, d->finalized_at_ms);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

static int insert_record(jr_t *j, const jr_record_t *r)
{
    sqlite3_stmt *st = j->st.ins_rec;
    bind_str(st, 1, r->student_id, sizeof r->student_id);
    bind_str(st, 2, r->student_name, sizeof r->student_name);
    bind_str(st, 3, r->class_id, sizeof r->class_id);
    bind_str(st, 4, r->session_id, sizeof r->session_id);
    sqlite3_bind_int64(st, 5, r->started_at_ms);
    sqlite3_bind_int64(st, 6, r->ended_at_ms);
    /* A NaN binds as NULL, which the NOT NULL constraints then refuse. */
    sqlite3_bind_double(st, 7, r->total_class_duration_seconds);
    sqlite3_bind_double(st, 8, r->engagement_duration_seconds);
    sqlite3_bind_double(st, 9, r->engagement_percentage);
    sqlite3_bind_int64(st, 10, r->frames_analyzed);
    bind_str(st, 11, r->status, sizeof r->status);
    bind_str(st, 12, r->source, sizeof r->source);
    sqlite3_bind_int64(st, 13, r->finalized_at_ms);
    sqlite3_bind_int(st, 14, r->trust_score);
    int rc = sqlite3_step(st);
    /* The step's error stays readable through sqlite3_errmsg() after the reset. */
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

static void do_finalize(jr_t *j, job_t *job)
{
    jr_result_t *res = job->res;
    const jr_daily_t *d = &job->daily;
    jr_daily_t stored;
    int found;

    if (validate(job, res) != 0)
        return;
    /* IMMEDIATE takes the write lock up front: the check for an existing day and the insert
     * cannot interleave with another writer (another process on the same file). */
    if (sqlite3_exec(j->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
        fail_sql(j, res, "finalize: begin");
        return;
    }

    sqlite3_stmt *st = j->st.find_day;
    bind_str(st, 1, d->class_id, sizeof d->class_id);
    bind_str(st, 2, d->date, sizeof d->date);
    bind_str(st, 3, d->session_id, sizeof d->session_id);
    found = read_daily(j, st, &stored, res);
    if (found < 0)
        goto rollback;
    if (found) {
        if (strcmp(stored.class_id, d->class_id) != 0) {
            /* The session id is already another class's: answering with that class's
             * records would leak them, so this is refused instead. */
            res->err = BRK_EEXIST;
            snprintf(res->errmsg, sizeof res->errmsg,
                     "finalize: session_id already finalized for another class");
            goto rollback;
        }
        res->already = 1;
        res->daily = stored;
        if (read_records(j, stored.class_id, stored.session_id, res) != 0)
            goto rollback;
        /* Nothing was written: end the transaction without a commit's fsync. */
        sqlite3_exec(j->db, "ROLLBACK", NULL, NULL, NULL);
        return;
    }

    if (insert_daily(j, d) != 0) {
        fail_sql(j, res, "finalize: insert attendance_daily");
        return;
    }
    for (size_t i = 0; i < job->n; i++) {
        if (insert_record(j, &job->recs[i]) != 0) {
            fail_sql(j, res, "finalize: insert attendance");
            return;
        }
    }

    /* Answer with the rows as stored, read inside the transaction that writes them, so the
     * caller reports exactly what the commit below makes durable. */
    st = j->st.get_daily;
    bind_str(st, 1, d->class_id, sizeof d->class_id);
    bind_str(st, 2, d->session_id, sizeof d->session_id);
    found = read_daily(j, st, &res->daily, res);
    if (found <= 0) {
        if (found == 0) {
            res->err = BRK_EIO;
            snprintf(res->errmsg, sizeof res->errmsg, "finalize: summary missing after insert");
        }
        goto rollback;
    }
    if (read_records(j, d->class_id, d->session_id, res) != 0)
        goto rollback;
    if (sqlite3_exec(j->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        BRK_FREE(res->records);
        res->n = 0;
        memset(&res->daily, 0, sizeof res->daily);
        fail_sql(j, res, "finalize: commit");
        return;
    }
    return;

rollback:
    BRK_FREE(res->records);
    res->n = 0;
    res->already = 0;
    memset(&res->daily, 0, sizeof res->daily);
    if (!sqlite3_get_autocommit(j->db))
        sqlite3_exec(j->db, "ROLLBACK", NULL, NULL, NULL);
}

static void do_report(jr_t *j, job_t *job)
{
    jr_result_t *res = job->res;
    /* A read transaction so the summary and its records come from one snapshot. */
    if (sqlite3_exec(j->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
        fail_sql(j, res, "report: begin");
        return;
    }
    sqlite3_stmt *st;
    if (job->kind == JOB_REPORT_DAY) {
        /* job->session_id holds the date; no session id matches "". */
        st = j->st.find_day;
        sqlite3_bind_text(st, 1, job->class_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, job->session_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, "", -1, SQLITE_STATIC);
    } else {
        st = j->st.get_daily;
        sqlite3_bind_text(st, 1, job->class_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, job->session_id, -1, SQLITE_STATIC);
    }
    int found = read_daily(j, st, &res->daily, res);
    if (found > 0 && strcmp(res->daily.class_id, job->class_id) != 0)
        found = 0;
    if (found == 0) {
        res->err = BRK_ENOTFOUND;
        snprintf(res->errmsg, sizeof res->errmsg, "report: no finalized session");
    } else if (found > 0) {
        read_records(j, res->daily.class_id, res->daily.session_id, res);
    }
    if (res->err && res->err != BRK_ENOTFOUND)
        memset(&res->daily, 0, sizeof res->daily);
    sqlite3_exec(j->db, "COMMIT", NULL, NULL, NULL);
}

/* ---- outbox ----------------------------------------------------------------------------- */

static const char sql_next_unshipped[] = "SELECT " DAILY_COLS " FROM attendance_daily"
                                         " WHERE shipped_at IS NULL"
                                         " ORDER BY finalized_at, class_id, date LIMIT 1";

static void do_outbox_next(jr_t *j, job_t *job)
{
    jr_result_t *res = job->res;
    sqlite3_stmt *st = NULL;
    if (sqlite3_exec(j->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
        fail_sql(j, res, "outbox: begin");
        return;
    }
    if (prepare(j->db, sql_next_unshipped, &st) != SQLITE_OK) {
        fail_sql(j, res, "outbox: prepare");
        return;
    }
    int found = read_daily(j, st, &res->daily, res);
    sqlite3_finalize(st);
    if (found == 0) {
        res->err = BRK_ENOTFOUND;
        snprintf(res->errmsg, sizeof res->errmsg, "outbox: nothing to ship");
    } else if (found > 0) {
        read_records(j, res->daily.class_id, res->daily.session_id, res);
    }
    if (res->err && res->err != BRK_ENOTFOUND)
        memset(&res->daily, 0, sizeof res->daily);
    sqlite3_exec(j->db, "COMMIT", NULL, NULL, NULL);
}

static void do_mark_shipped(jr_t *j, job_t *job)
{
    static const char *const sql[] = {
        "UPDATE attendance SET shipped_at = ?3"
        " WHERE class_id = ?1 AND session_id = ?2 AND shipped_at IS NULL",
        "UPDATE attendance_daily SET shipped_at = ?3"
        " WHERE class_id = ?1 AND session_id = ?2 AND shipped_at IS NULL",
    };
    jr_result_t *res = job->res;
    if (sqlite3_exec(j->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
        fail_sql(j, res, "outbox: begin");
        return;
    }
    for (size_t i = 0; i < BRK_ARRAY_LEN(sql); i++) {
        sqlite3_stmt *st = NULL;
        if (prepare(j->db, sql[i], &st) != SQLITE_OK) {
            fail_sql(j, res, "outbox: prepare");
            return;
        }
        sqlite3_bind_text(st, 1, job->class_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, job->session_id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, job->shipped_at_ms);
        int rc = sqlite3_step(st);
        sqlite3_finalize(st);
        if (rc != SQLITE_DONE) {
            fail_sql(j, res, "outbox: mark shipped");
            return;
        }
    }
    if (sqlite3_exec(j->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        fail_sql(j, res, "outbox: commit");
}

/* Counts what is still to ship. Errors leave the previous figures in place (has_backlog
 * stays 0): the counts are for operators, the outbox itself does not depend on them. */
static void count_backlog(jr_t *j, job_t *job)
{
    static const char sql[] =
        "SELECT (SELECT count(*) FROM attendance WHERE shipped_at IS NULL),"
        " (SELECT count(*) FROM attendance_daily WHERE shipped_at IS NULL),"
        " (SELECT min(finalized_at) FROM attendance_daily WHERE shipped_at IS NULL)";
    sqlite3_stmt *st = NULL;
    if (prepare(j->db, sql, &st) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
        job->backlog.records = (uint64_t)sqlite3_column_int64(st, 0);
        job->backlog.days = (uint64_t)sqlite3_column_int64(st, 1);
        job->backlog.oldest_ms = sqlite3_column_int64(st, 2); /* NULL reads as 0 */
        job->has_backlog = 1;
    }
    sqlite3_finalize(st);
}

static void on_run(jobq_job_t *jj, void *state, void *ud)
{
    (void)state;
    jr_t *j = ud;
    job_t *job = (job_t *)jj;
    if (job->kind == JOB_FINALIZE)
        do_finalize(j, job);
    else if (job->kind == JOB_OUTBOX_NEXT)
        do_outbox_next(j, job);
    else if (job->kind == JOB_MARK_SHIPPED)
        do_mark_shipped(j, job);
    else if (job->kind != JOB_BACKLOG)
        do_report(j, job);

    if (atomic_load(&j->outbox) &&
        (job->kind == JOB_BACKLOG || job->kind == JOB_MARK_SHIPPED ||
         job->kind == JOB_OUTBOX_NEXT ||
         (job->kind == JOB_FINALIZE && !job->res->err && !job->res->already)))
        count_backlog(j, job);
}

/* ---- loop thread ----------------------------------------------------------------------- */

static void job_free(job_t *job)
{
    free(job->recs);
    free(job->class_id);
    free(job->session_id);
    free(job);
}

static void count(jr_t *j, const job_t *job)
{
    const jr_result_t *res = job->res;
    if (job->has_backlog)
        j->stats.backlog = job->backlog;
    if (job->kind != JOB_FINALIZE) {
        if (job->kind == JOB_REPORT || job->kind == JOB_REPORT_DAY)
            j->stats.reports++;
    } else if (res->err) {
        j->stats.finalize_failed++;
    } else if (res->already) {
        j->stats.finalize_already++;
    } else {
        j->stats.finalize_ok++;
        j->stats.records_written += res->n;
    }
}

/* Loop thread: a finished job, or one refused after the shutdown. A refused job may come
 * back after jr_free(): it touches nothing but the job. */
static void on_done(jobq_job_t *jj, void *ud)
{
    job_t *job = (job_t *)jj;
    if (jj->status == JOBQ_REFUSED) {
        job->cb(job->res, job->ud);
        job_free(job);
        return;
    }
    jr_t *j = ud;
    count(j, job);
    if (job->res->err && job->res->err != BRK_ENOTFOUND)
        LOG(WARN, 0, "journal job failed", "op=%s err=%d reason=\"%s\"",
            job->kind == JOB_FINALIZE                                       ? "finalize"
            : job->kind == JOB_OUTBOX_NEXT || job->kind == JOB_MARK_SHIPPED ? "outbox"
                                                                            : "report",
            job->res->err, job->res->errmsg);
    int committed = job->kind == JOB_FINALIZE && !job->res->err && !job->res->already;
    job->cb(job->res, job->ud);
    if (committed && j->commit_hook)
        j->commit_hook(j->hook_ud);
    job_free(job);
}

/* Results the loop never delivered (jr_free() without running the loop to the end): their
 * callbacks cannot run now, as their owners may already be freed. */
static void on_discard(jobq_job_t *jj, void *ud)
{
    jr_t *j = ud;
    job_t *job = (job_t *)jj;
    jr_result_free(job->res);
    job_free(job);
    j->dropped++;
}

static void submit(jr_t *j, job_t *job)
{
    job->res = brk_calloc(1, sizeof *job->res);
    if (j->closed || jobq_submit(j->q, &job->base, NULL) != 0) {
        /* Refused after jr_shutdown() (the queue is unbounded). The callback runs on a later
         * loop iteration, never inside the submitting call, so callers need no re-entrancy
         * guard. */
        job->res->err = BRK_ECLOSED;
        snprintf(job->res->errmsg, sizeof job->res->errmsg, "journal is shut down");
        if (job->kind == JOB_FINALIZE)
            j->stats.finalize_failed++;
        jobq_refuse_later(j->q, &job->base);
    }
}

int jr_open(uv_loop_t *loop, const char *dir, jr_t **out, char *err, size_t errlen)
{
    BRK_ASSERT(loop && dir && out);
    jr_t *j = NULL;
    size_t plen;
    int rc;

    *out = NULL;
    if (err && errlen)
        err[0] = '\0';
    if (dir[0] == '\0') {
        set_err(err, errlen, "journal", "empty directory path");
        return BRK_EIO;
    }
    if ((rc = make_dirs(dir, err, errlen)) != 0)
        return rc;

    j = brk_calloc(1, sizeof *j);
    plen = strlen(dir) + sizeof "/journal.db";
    j->path = brk_malloc(plen);
    snprintf(j->path, plen, "%s/journal.db", dir);
    if ((rc = open_db(j->path, &j->db, &j->st, err, errlen)) != 0)
        goto cleanup;

    /* One worker: SQLite's connection is used by one thread, and jobs run in order. At
     * shutdown the jobs already queued still run (their callbacks still fire). */
    jobq_config_t qc = {
        .threads = 1,
        .on_shutdown = JOBQ_DRAIN,
        .run = on_run,
        .done = on_done,
        .discard = on_discard,
        .ud = j,
    };
    char qerr[160];
    if (jobq_new(loop, &qc, &j->q, qerr, sizeof qerr) != 0) {
        set_err(err, errlen, "journal", qerr);
        rc = BRK_EIO;
        goto cleanup;
    }
    LOG(INFO, 0, "journal open", "path=%s schema_version=%d", j->path, JR_SCHEMA_VERSION);
    *out = j;
    return 0;

cleanup:
    if (j->db) {
        stmts_finalize(&j->st);
        sqlite3_close(j->db);
    }
    free(j->path);
    free(j);
    return rc;
}

void jr_finalize(jr_t *j, const jr_daily_t *daily, const jr_record_t *recs, size_t n, jr_done_cb cb,
                 void *ud)
{
    BRK_ASSERT(j && daily && cb && (recs || n == 0));
    job_t *job = brk_calloc(1, sizeof *job);
    job->kind = JOB_FINALIZE;
    job->daily = *daily;
    if (n) {
        job->recs = brk_malloc(n * sizeof *recs);
        memcpy(job->recs, recs, n * sizeof *recs);
    }
    job->n = n;
    job->cb = cb;
    job->ud = ud;
    submit(j, job);
}

void jr_report(jr_t *j, const char *class_id, const char *session_id, jr_done_cb cb, void *ud)
{
    BRK_ASSERT(j && class_id && session_id && cb);
    job_t *job = brk_calloc(1, sizeof *job);
    job->kind = JOB_REPORT;
    job->class_id = brk_strdup(class_id);
    job->session_id = brk_strdup(session_id);
    job->cb = cb;
    job->ud = ud;
    submit(j, job);
}

void jr_report_day(jr_t *j, const char *class_id, const char *date, jr_done_cb cb, void *ud)
{
    BRK_ASSERT(j && class_id && date && cb);
    job_t *job = brk_calloc(1, sizeof *job);
    job->kind = JOB_REPORT_DAY;
    job->class_id = brk_strdup(class_id);
    job->session_id = brk_strdup(date);
    job->cb = cb;
    job->ud = ud;
    submit(j, job);
}

void jr_result_free(jr_result_t *res)
{
    if (!res)
        return;
    free(res->records);
    free(res);
}

void jr_get_stats(const jr_t *j, jr_stats_t *out)
{
    *out = j->stats;
    out->queued = jobq_pending(j->q);
}

void jr_shutdown(jr_t *j)
{
    if (j->closed)
        return;
    j->closed = 1;
    /* Jobs still queued run; the handle closes after the last one came back. */
    jobq_shutdown(j->q);
}

void jr_free(jr_t *j)
{
    if (!j)
        return;
    /* Normally jr_shutdown() ran and the loop delivered everything. Without it, the worker
     * finishes the job in hand and whatever is queued, then exits; results not delivered
     * are discarded (on_discard). */
    j->closed = 1;
    jobq_free(j->q);
    if (j->dropped)
        LOG(WARN, 0, "journal freed with undelivered results", "count=%zu", j->dropped);

    stmts_finalize(&j->st);
    if (sqlite3_close(j->db) != SQLITE_OK)
        LOG(WARN, 0, "journal close failed", "reason=\"%s\"", sqlite3_errmsg(j->db));
    free(j->path);
    free(j);
}

static void on_backlog_counted(jr_result_t *res, void *ud)
{
    (void)ud;
    jr_result_free(res);
}

void jr_outbox_enable(jr_t *j)
{
    atomic_store(&j->outbox, 1);
    job_t *job = brk_calloc(1, sizeof *job);
    job->kind = JOB_BACKLOG;
    job->cb = on_backlog_counted;
    submit(j, job);
}

void jr_set_commit_hook(jr_t *j, void (*hook)(void *ud), void *ud)
{
    j->commit_hook = hook;
    j->hook_ud = ud;
}

void jr_outbox_next(jr_t *j, jr_done_cb cb, void *ud)
{
    BRK_ASSERT(j && cb);
    job_t *job = brk_calloc(1, sizeof *job);
    job->kind = JOB_OUTBOX_NEXT;
    job->cb = cb;
    job->ud = ud;
    submit(j, job);
}

void jr_outbox_mark_shipped(jr_t *j, const char *class_id, const char *session_id,
                            int64_t shipped_at_ms, jr_done_cb cb, void *ud)
{
    BRK_ASSERT(j && class_id && session_id && cb);
    job_t *job = brk_calloc(1, sizeof *job);
    job->kind = JOB_MARK_SHIPPED;
    job->class_id = brk_strdup(class_id);
    job->session_id = brk_strdup(session_id);
    job->shipped_at_ms = shipped_at_ms;
    job->cb = cb;
    job->ud = ud;
    submit(j, job);
}
