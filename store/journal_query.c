/* SPDX-License-Identifier: MIT */
/* The journal's queries: the finalize transaction (a class's day written at most once), the
 * reports, and the outbox's reads, marks and backlog count. Every function here runs on the
 * worker thread, which owns the connection; results go into the job's jr_result_t. */
#include "brk.h"
#include "journal_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DAILY_COLS                                                                                 \
    "class_id, teacher_id, date, session_id, present, absent, late, total, percentage, "           \
    "finalized_at"
#define REC_COLS JR_REC_COLS("")

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

int jr__prepare(sqlite3 *db, const char *sql, sqlite3_stmt **out)
{
    return sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, out, NULL);
}

int jr__stmts_prepare(sqlite3 *db, stmts_t *st)
{
    int rc;
    if ((rc = jr__prepare(db, sql_find_day, &st->find_day)) != SQLITE_OK ||
        (rc = jr__prepare(db, sql_get_daily, &st->get_daily)) != SQLITE_OK ||
        (rc = jr__prepare(db, sql_get_recs, &st->get_recs)) != SQLITE_OK ||
        (rc = jr__prepare(db, sql_ins_daily, &st->ins_daily)) != SQLITE_OK ||
        (rc = jr__prepare(db, sql_ins_rec, &st->ins_rec)) != SQLITE_OK)
        return rc;
    return SQLITE_OK;
}

void jr__stmts_finalize(stmts_t *st)
{
    sqlite3_finalize(st->find_day);
    sqlite3_finalize(st->get_daily);
    sqlite3_finalize(st->get_recs);
    sqlite3_finalize(st->ins_daily);
    sqlite3_finalize(st->ins_rec);
    memset(st, 0, sizeof *st);
}

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

int jr__row_record(sqlite3_stmt *st, jr_record_t *r)
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
        if (jr__row_record(st, &res->records[res->n]) != 0) {
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

int jr__insert_daily(stmts_t *sts, const jr_daily_t *d)
{
    sqlite3_stmt *st = sts->ins_daily;
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

int jr__insert_record(stmts_t *sts, const jr_record_t *r)
{
    sqlite3_stmt *st = sts->ins_rec;
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

void jr__do_finalize(jr_t *j, job_t *job)
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

    if (jr__insert_daily(&j->st, d) != 0) {
        fail_sql(j, res, "finalize: insert attendance_daily");
        return;
    }
    for (size_t i = 0; i < job->n; i++) {
        if (jr__insert_record(&j->st, &job->recs[i]) != 0) {
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

void jr__do_report(jr_t *j, job_t *job)
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

void jr__do_outbox_next(jr_t *j, job_t *job)
{
    jr_result_t *res = job->res;
    sqlite3_stmt *st = NULL;
    if (sqlite3_exec(j->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
        fail_sql(j, res, "outbox: begin");
        return;
    }
    if (jr__prepare(j->db, sql_next_unshipped, &st) != SQLITE_OK) {
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

void jr__do_mark_shipped(jr_t *j, job_t *job)
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
        if (jr__prepare(j->db, sql[i], &st) != SQLITE_OK) {
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
void jr__count_backlog(jr_t *j, job_t *job)
{
    static const char sql[] =
        "SELECT (SELECT count(*) FROM attendance WHERE shipped_at IS NULL),"
        " (SELECT count(*) FROM attendance_daily WHERE shipped_at IS NULL),"
        " (SELECT min(finalized_at) FROM attendance_daily WHERE shipped_at IS NULL)";
    sqlite3_stmt *st = NULL;
    if (jr__prepare(j->db, sql, &st) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
        job->backlog.records = (uint64_t)sqlite3_column_int64(st, 0);
        job->backlog.days = (uint64_t)sqlite3_column_int64(st, 1);
        job->backlog.oldest_ms = sqlite3_column_int64(st, 2); /* NULL reads as 0 */
        job->has_backlog = 1;
    }
    sqlite3_finalize(st);
}
