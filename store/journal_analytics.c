/* SPDX-License-Identifier: MIT */
/* History and analytics over the finalized attendance (journal.h): a student's history, a
 * class's sessions, monthly figures per class and per student, the classes at risk, and the
 * rows of an export. The public functions check and copy their inputs on the loop thread and
 * queue a job; the queries run on the journal's worker thread and answer in the result's
 * rows. The same queries run on any connection with the journal's schema: the MongoDB sink
 * loads its documents into a scratch database (jr__scratch_new) and asks them there, so both
 * sources compute a figure with one piece of SQL. Records are dated by their daily row: attendance
 * and attendance_daily are joined on (class_id, session_id), the daily row's key, which every
 * record of a finalize shares. */
#include "brk.h"
#include "journal_analytics_int.h"
#include "journal_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Bounds for an open end of a date range: every stored date (YYYY-MM-DD, digits checked at
 * finalize) sorts between them. */
#define DATE_LOWEST "0000-00-00"
#define DATE_HIGHEST "9999-99-99"

/* ---- input checks (loop thread) ---------------------------------------------------------- */

static int id_ok(const char *s)
{
    return s && brk_id_ok(s, strnlen(s, JR_ID), JR_ID - 1);
}

/* Reads n decimal digits; 0 when one is not a digit. */
static int digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 1;
}

static int leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (the civil-from-days inverse, as in
 * H. Hinnant's date algorithms), for the length of a range. */
static int64_t day_number(int y, int m, int d)
{
    int64_t yy = (int64_t)y - (m <= 2);
    int64_t era = (yy >= 0 ? yy : yy - 399) / 400;
    int64_t yoe = yy - era * 400;
    int64_t doy = (153 * (int64_t)(m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* The "YYYY-MM" that s starts with (s holds at least 7 characters): 1 and *index = year * 12
 * + month - 1, or 0. */
static int parse_year_month(const char *s, int *index)
{
    int y, m;
    if (s[4] != '-' || !digits(s, 4, &y) || !digits(s + 5, 2, &m) || m < 1 || m > 12)
        return 0;
    *index = y * 12 + m - 1;
    return 1;
}

/* Exactly "YYYY-MM". */
static int parse_month(const char *s, int *index)
{
    return s && strnlen(s, 8) == 7 && parse_year_month(s, index);
}

/* "YYYY-MM-DD", a day that exists: 1 and *day (days since the epoch), or 0. */
static int parse_date(const char *s, int64_t *day)
{
    static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y, m, d, idx;
    if (!s || strnlen(s, 11) != 10 || s[7] != '-' || !parse_year_month(s, &idx) ||
        !digits(s + 8, 2, &d))
        return 0;
    y = idx / 12;
    m = idx % 12 + 1;
    if (d < 1 || d > mdays[m - 1] + (m == 2 && leap(y)))
        return 0;
    *day = day_number(y, m, d);
    return 1;
}

/* A closed range of dates, from <= to, spanning at most max_days days (both ends counted). */
static int range_ok(const char *from, const char *to, int64_t max_days)
{
    int64_t a, b;
    return parse_date(from, &a) && parse_date(to, &b) && a <= b && b - a + 1 <= max_days;
}

/* ---- the query description (any thread) ------------------------------------------------ */

static void set_range(jr_query_t *q, const char *from, const char *to)
{
    snprintf(q->from, sizeof q->from, "%s", from ? from : DATE_LOWEST);
    snprintf(q->to, sizeof q->to, "%s", to ? to : DATE_HIGHEST);
}

static int check_history(const jr_analytics_req_t *r, jr_query_t *q)
{
    int64_t a = 0, b = 0;
    if (!id_ok(r->student_id) || (r->class_id && !id_ok(r->class_id)) || r->limit < 1 ||
        r->limit > JR_HISTORY_MAX || (r->from && !parse_date(r->from, &a)) ||
        (r->to && !parse_date(r->to, &b)) || (r->from && r->to && a > b))
        return BRK_EINVAL;
    snprintf(q->student_id, sizeof q->student_id, "%s", r->student_id);
    if (r->class_id)
        snprintf(q->class_id, sizeof q->class_id, "%s", r->class_id);
    set_range(q, r->from, r->to);
    q->limit = r->limit;
    return 0;
}

/* The kinds on one class and a closed date range. */
static int check_class_range(const jr_analytics_req_t *r, jr_query_t *q)
{
    if (!id_ok(r->class_id) || !range_ok(r->from, r->to, JR_RANGE_MAX_DAYS))
        return BRK_EINVAL;
    snprintf(q->class_id, sizeof q->class_id, "%s", r->class_id);
    set_range(q, r->from, r->to);
    return 0;
}

/* The kinds on one class and a month range. */
static int check_class_months(const jr_analytics_req_t *r, jr_query_t *q)
{
    int a, b;
    if (!id_ok(r->class_id) || !parse_month(r->from, &a) || !parse_month(r->to, &b) || a > b ||
        b - a + 1 > JR_MONTHS_MAX)
        return BRK_EINVAL;
    snprintf(q->class_id, sizeof q->class_id, "%s", r->class_id);
    /* "-31" bounds the last month from above whatever its length: dates compare as text. */
    snprintf(q->from, sizeof q->from, "%.7s-01", r->from);
    snprintf(q->to, sizeof q->to, "%.7s-31", r->to);
    return 0;
}

static int check_at_risk(const jr_analytics_req_t *r, jr_query_t *q)
{
    /* Written so that a NaN threshold fails the check too. */
    if (!r->class_ids || r->n_classes < 1 || r->n_classes > JR_AT_RISK_MAX_CLASSES ||
        !range_ok(r->from, r->to, JR_RANGE_MAX_DAYS) ||
        !(r->threshold_pct >= 0.0 && r->threshold_pct <= 100.0))
        return BRK_EINVAL;
    for (size_t i = 0; i < r->n_classes; i++)
        if (!id_ok(r->class_ids[i]))
            return BRK_EINVAL;
    q->class_ids = brk_calloc(r->n_classes, sizeof *q->class_ids);
    for (size_t i = 0; i < r->n_classes; i++)
        snprintf(q->class_ids[i], sizeof q->class_ids[i], "%s", r->class_ids[i]);
    q->n_classes = r->n_classes;
    set_range(q, r->from, r->to);
    q->threshold_pct = r->threshold_pct;
    return 0;
}

int jr_query_new(const jr_analytics_req_t *req, jr_query_t **out)
{
    BRK_ASSERT(req && out);
    jr_query_t *q = brk_calloc(1, sizeof *q);
    int rc = BRK_EINVAL;
    *out = NULL;
    q->kind = req->kind;
    switch (req->kind) {
    case JR_Q_HISTORY:
        rc = check_history(req, q);
        break;
    case JR_Q_CLASS_SESSIONS:
    case JR_Q_EXPORT:
        rc = check_class_range(req, q);
        break;
    case JR_Q_CLASS_MONTHLY:
    case JR_Q_STUDENT_MONTHLY:
        rc = check_class_months(req, q);
        break;
    case JR_Q_AT_RISK:
        rc = check_at_risk(req, q);
        break;
    }
    if (rc != 0) {
        jr_query_free(q);
        return rc;
    }
    *out = q;
    return 0;
}

jr_query_t *jr__query_dup(const jr_query_t *q)
{
    jr_query_t *c = brk_malloc(sizeof *c);
    *c = *q;
    if (q->class_ids) {
        c->class_ids = brk_malloc(q->n_classes * sizeof *c->class_ids);
        memcpy(c->class_ids, q->class_ids, q->n_classes * sizeof *c->class_ids);
    }
    return c;
}

void jr_query_free(jr_query_t *q)
{
    if (!q)
        return;
    free(q->class_ids);
    free(q);
}

jr_rows_kind_t jr_query_rows_kind(const jr_query_t *q)
{
    switch (q->kind) {
    case JR_Q_HISTORY:
    case JR_Q_EXPORT:
        return JR_ROWS_DATED;
    case JR_Q_CLASS_SESSIONS:
        return JR_ROWS_SESSIONS;
    case JR_Q_CLASS_MONTHLY:
        return JR_ROWS_MONTHS;
    case JR_Q_STUDENT_MONTHLY:
        return JR_ROWS_STUDENT_MONTHS;
    case JR_Q_AT_RISK:
        return JR_ROWS_CLASSES;
    }
    return JR_ROWS_NONE;
}

/* ---- the public calls (loop thread) ------------------------------------------------------ */

void jr_analytics(jr_t *j, const jr_query_t *q, jr_done_cb cb, void *ud)
{
    BRK_ASSERT(j && q && cb);
    job_t *job = brk_calloc(1, sizeof *job);
    job->kind = JOB_ANALYTICS;
    job->query = jr__query_dup(q);
    job->cb = cb;
    job->ud = ud;
    jr__submit(j, job);
}

/* The wrappers: check, then queue. */
static int run_req(jr_t *j, const jr_analytics_req_t *req, jr_done_cb cb, void *ud)
{
    BRK_ASSERT(j && cb);
    jr_query_t *q;
    int rc = jr_query_new(req, &q);
    if (rc != 0)
        return rc;
    jr_analytics(j, q, cb, ud);
    jr_query_free(q);
    return 0;
}

int jr_student_history(jr_t *j, const char *student_id, const char *class_id, const char *from,
                       const char *to, unsigned limit, jr_done_cb cb, void *ud)
{
    jr_analytics_req_t r = {.kind = JR_Q_HISTORY,
                            .student_id = student_id,
                            .class_id = class_id,
                            .from = from,
                            .to = to,
                            .limit = limit};
    return run_req(j, &r, cb, ud);
}

static int class_req(jr_t *j, jr_query_kind_t kind, const char *class_id, const char *from,
                     const char *to, jr_done_cb cb, void *ud)
{
    jr_analytics_req_t r = {.kind = kind, .class_id = class_id, .from = from, .to = to};
    return run_req(j, &r, cb, ud);
}

int jr_class_sessions(jr_t *j, const char *class_id, const char *from, const char *to,
                      jr_done_cb cb, void *ud)
{
    return class_req(j, JR_Q_CLASS_SESSIONS, class_id, from, to, cb, ud);
}

int jr_class_export(jr_t *j, const char *class_id, const char *from, const char *to, jr_done_cb cb,
                    void *ud)
{
    return class_req(j, JR_Q_EXPORT, class_id, from, to, cb, ud);
}

int jr_class_monthly(jr_t *j, const char *class_id, const char *from_month, const char *to_month,
                     jr_done_cb cb, void *ud)
{
    return class_req(j, JR_Q_CLASS_MONTHLY, class_id, from_month, to_month, cb, ud);
}

int jr_student_monthly(jr_t *j, const char *class_id, const char *from_month, const char *to_month,
                       jr_done_cb cb, void *ud)
{
    return class_req(j, JR_Q_STUDENT_MONTHLY, class_id, from_month, to_month, cb, ud);
}

int jr_classes_at_risk(jr_t *j, const char *const *class_ids, size_t n, const char *from,
                       const char *to, double threshold_pct, jr_done_cb cb, void *ud)
{
    jr_analytics_req_t r = {.kind = JR_Q_AT_RISK,
                            .class_ids = class_ids,
                            .n_classes = n,
                            .from = from,
                            .to = to,
                            .threshold_pct = threshold_pct};
    return run_req(j, &r, cb, ud);
}

/* ---- the queries (worker thread) ---------------------------------------------------------- */

/* Rounds to 2 decimals exactly as sc_round2() in handlers/scoring.c does (round half away
 * from zero of x * 100, divided by 100), which store/ cannot include: the figures here then
 * match what DONE stored and showed for the same counts. */
static double round2(double x)
{
    return round(x * 100.0) / 100.0;
}

/* (present + late) / records * 100, written as handlers/finalize.c writes the daily figure,
 * and 0 without records. */
static double attendance_pct(int attended, int records)
{
    return records > 0 ? round2((double)attended / records * 100.0) : 0.0;
}

static double mean_pct(double sum, int records)
{
    return records > 0 ? round2(sum / records) : 0.0;
}

/* Copies a TEXT column into a fixed field; 0, or -1 when it is NULL or does not fit. */
static int text_col(sqlite3_stmt *st, int col, char *dst, size_t cap)
{
    const unsigned char *t = sqlite3_column_text(st, col);
    int len = sqlite3_column_bytes(st, col);
    if (!t || len < 0 || (size_t)len >= cap)
        return -1;
    memcpy(dst, t, (size_t)len);
    dst[len] = '\0';
    return 0;
}

static void set_error(jr_result_t *res, int err, const char *what, const char *why)
{
    res->err = err;
    snprintf(res->errmsg, sizeof res->errmsg, "%s: %s", what, why);
}

/* Makes room for row n in arr (rows of sz bytes, capacity *cap, doubled when full) and zeroes
 * it. Returns arr, moved or not. Each query fills a typed array of its own and hands it to
 * the result only when it succeeded. */
static void *reserve(void *arr, size_t n, size_t *cap, size_t sz)
{
    if (n == *cap) {
        *cap = *cap ? *cap * 2 : 16;
        arr = brk_realloc(arr, *cap * sz);
    }
    memset((char *)arr + n * sz, 0, sz);
    return arr;
}

void jr__rows_free(jr_result_t *res)
{
    switch (res->rows_kind) {
    case JR_ROWS_DATED:
        BRK_FREE(res->rows.dated);
        break;
    case JR_ROWS_SESSIONS:
        BRK_FREE(res->rows.sessions);
        break;
    case JR_ROWS_MONTHS:
        BRK_FREE(res->rows.months);
        break;
    case JR_ROWS_STUDENT_MONTHS:
        BRK_FREE(res->rows.student_months);
        break;
    case JR_ROWS_CLASSES:
        BRK_FREE(res->rows.classes);
        break;
    case JR_ROWS_NONE:
        break;
    }
    res->rows_n = 0;
}

/* The columns the figures of a group of records are read from, after the group's own
 * columns: records, present, late, absent, and the sum of engagement. A LEFT JOIN's missing
 * record counts nowhere: count() skips its NULLs and sum() of only NULLs reads as 0. */
#define FIGURES                                                                                    \
    "count(a.student_id), sum(a.status = 'present'), sum(a.status = 'late'),"                      \
    " sum(a.status = 'absent'), total(a.engagement_percentage)"
#define JOIN_DAY "a.class_id = d.class_id AND a.session_id = d.session_id"
#define REC_COLS_A JR_REC_COLS("a.")

typedef struct figures {
    int records, present, late, absent;
    double engagement_sum;
} figures_t;

static void read_figures(sqlite3_stmt *st, int col, figures_t *f)
{
    f->records = sqlite3_column_int(st, col);
    f->present = sqlite3_column_int(st, col + 1);
    f->late = sqlite3_column_int(st, col + 2);
    f->absent = sqlite3_column_int(st, col + 3);
    f->engagement_sum = sqlite3_column_double(st, col + 4);
}

/* Prepares sql for this one job (analytics are rare: nothing is kept prepared) and binds
 * ?1 = class_id (when set), ?2 = from, ?3 = to. NULL on failure, res filled in. */
static sqlite3_stmt *prepare(sqlite3 *db, const jr_query_t *q, jr_result_t *res, const char *sql,
                             const char *what)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        set_error(res, BRK_EIO, what, sqlite3_errmsg(db));
        sqlite3_finalize(st);
        return NULL;
    }
    if (q->class_id[0])
        sqlite3_bind_text(st, 1, q->class_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, q->from, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, q->to, -1, SQLITE_STATIC);
    return st;
}

/* Ends a statement's run: rc is the last sqlite3_step() code, SQLITE_CORRUPT for a stored
 * row that does not fit our fields. Returns 0 or -1 (res filled in). */
static int finish(sqlite3 *db, jr_result_t *res, sqlite3_stmt *st, int rc, const char *what)
{
    if (rc == SQLITE_CORRUPT)
        set_error(res, BRK_EIO, what, "bad stored row");
    else if (rc != SQLITE_DONE)
        set_error(res, BRK_EIO, what, sqlite3_errmsg(db));
    sqlite3_finalize(st);
    return res->err ? -1 : 0;
}

/* History and export: records with their session's date (the last column). */
static void do_dated(sqlite3 *db, const jr_query_t *q, jr_result_t *res)
{
    static const char sql_history[] =
        "SELECT " REC_COLS_A ", d.date FROM attendance AS a"
        " JOIN attendance_daily AS d ON " JOIN_DAY
        " WHERE a.student_id = ?4 AND (?1 IS NULL OR a.class_id = ?1)"
        " AND d.date BETWEEN ?2 AND ?3"
        " ORDER BY d.date DESC, a.started_at DESC, a.class_id, a.session_id LIMIT ?5";
    static const char sql_export[] =
        "SELECT " REC_COLS_A ", d.date FROM attendance_daily AS d"
        " JOIN attendance AS a ON " JOIN_DAY " WHERE d.class_id = ?1 AND d.date BETWEEN ?2 AND ?3"
        " ORDER BY d.date, a.session_id, a.student_id LIMIT ?5";
    int history = q->kind == JR_Q_HISTORY;
    const char *what = history ? "history" : "export";
    jr_dated_record_t *rows = NULL;
    size_t n = 0, cap = 0;
    int rc;

    res->rows_kind = JR_ROWS_DATED;
    sqlite3_stmt *st = prepare(db, q, res, history ? sql_history : sql_export, what);
    if (!st)
        return;
    if (history)
        sqlite3_bind_text(st, 4, q->student_id, -1, SQLITE_STATIC);
    /* One row past the export's bound tells a full export from one that was cut short. */
    sqlite3_bind_int64(st, 5, history ? (int64_t)q->limit : JR_EXPORT_MAX_ROWS + 1);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (!history && n == JR_EXPORT_MAX_ROWS) {
            rc = SQLITE_DONE;
            set_error(res, BRK_ETOOBIG, what, "more rows than JR_EXPORT_MAX_ROWS");
            break;
        }
        rows = reserve(rows, n, &cap, sizeof *rows);
        if (jr__row_record(st, &rows[n].rec) != 0 ||
            text_col(st, JR_REC_NCOLS, rows[n].date, sizeof rows[n].date) != 0) {
            rc = SQLITE_CORRUPT;
            break;
        }
        n++;
    }
    if (finish(db, res, st, rc, what) != 0) {
        free(rows);
        return;
    }
    res->rows.dated = rows;
    res->rows_n = n;
}

static void do_sessions(sqlite3 *db, const jr_query_t *q, jr_result_t *res)
{
    static const char sql[] = "SELECT d.date, d.session_id, " FIGURES
                              " FROM attendance_daily AS d LEFT JOIN attendance AS a ON " JOIN_DAY
                              " WHERE d.class_id = ?1 AND d.date BETWEEN ?2 AND ?3"
                              " GROUP BY d.date, d.session_id ORDER BY d.date, d.session_id";
    jr_session_stat_t *rows = NULL;
    size_t n = 0, cap = 0;
    int rc;

    res->rows_kind = JR_ROWS_SESSIONS;
    sqlite3_stmt *st = prepare(db, q, res, sql, "sessions");
    if (!st)
        return;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        rows = reserve(rows, n, &cap, sizeof *rows);
        jr_session_stat_t *row = &rows[n];
        figures_t f;
        if (text_col(st, 0, row->date, sizeof row->date) != 0 ||
            text_col(st, 1, row->session_id, sizeof row->session_id) != 0) {
            rc = SQLITE_CORRUPT;
            break;
        }
        read_figures(st, 2, &f);
        row->present = f.present;
        row->late = f.late;
        row->absent = f.absent;
        row->total = f.records;
        row->attendance_pct = attendance_pct(f.present + f.late, f.records);
        row->avg_engagement_pct = mean_pct(f.engagement_sum, f.records);
        n++;
    }
    if (finish(db, res, st, rc, "sessions") != 0) {
        free(rows);
        return;
    }
    res->rows.sessions = rows;
    res->rows_n = n;
}

/* Every month of the range gets a row, in order; the query fills those that had sessions. */
static void do_class_monthly(sqlite3 *db, const jr_query_t *q, jr_result_t *res)
{
    static const char sql[] =
        "SELECT substr(d.date, 1, 7) AS month, count(DISTINCT d.session_id), " FIGURES
        " FROM attendance_daily AS d LEFT JOIN attendance AS a ON " JOIN_DAY
        " WHERE d.class_id = ?1 AND d.date BETWEEN ?2 AND ?3"
        " GROUP BY month ORDER BY month";
    char first_month[8], last_month[8];
    int first = 0, last = -1, rc;
    size_t n = 0, next = 0;

    res->rows_kind = JR_ROWS_MONTHS;
    /* q->from and q->to start with the range's months (class_months()). */
    snprintf(first_month, sizeof first_month, "%.7s", q->from);
    snprintf(last_month, sizeof last_month, "%.7s", q->to);
    if (!parse_month(first_month, &first) || !parse_month(last_month, &last) || last < first) {
        set_error(res, BRK_EINVAL, "monthly", "bad month range");
        return;
    }
    n = (size_t)(last - first + 1);
    jr_month_stat_t *rows = brk_calloc(n, sizeof *rows);
    for (size_t i = 0; i < n; i++) {
        int m = first + (int)i;
        /* parse_month() read the year from 4 digits: it is below 10000. */
        snprintf(rows[i].month, sizeof rows[i].month, "%04u-%02u", (unsigned)(m / 12) % 10000u,
                 (unsigned)(m % 12) + 1u);
    }

    sqlite3_stmt *st = prepare(db, q, res, sql, "monthly");
    if (!st) {
        free(rows);
        return;
    }
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        char month[8];
        figures_t f;
        if (text_col(st, 0, month, sizeof month) != 0) {
            rc = SQLITE_CORRUPT;
            break;
        }
        /* Both lists are sorted, so one pass matches them. The range bounds the query, so a
         * month of the query that is not in the list is a date we did not write. */
        while (next < n && strcmp(rows[next].month, month) < 0)
            next++;
        if (next == n || strcmp(rows[next].month, month) != 0) {
            rc = SQLITE_CORRUPT;
            break;
        }
        jr_month_stat_t *row = &rows[next];
        row->sessions = sqlite3_column_int(st, 1);
        read_figures(st, 2, &f);
        row->present = f.present;
        row->late = f.late;
        row->absent = f.absent;
        row->records = f.records;
        row->attendance_pct = attendance_pct(f.present + f.late, f.records);
        row->avg_engagement_pct = mean_pct(f.engagement_sum, f.records);
    }
    if (finish(db, res, st, rc, "monthly") != 0) {
        free(rows);
        return;
    }
    res->rows.months = rows;
    res->rows_n = n;
}

static void do_student_monthly(sqlite3 *db, const jr_query_t *q, jr_result_t *res)
{
    /* student_name is a bare column beside the one max(): SQLite takes it from the row that
     * holds the maximum, i.e. the student's latest session of the month (a class has one
     * session per date). */
    static const char sql[] =
        "SELECT a.student_id, a.student_name, substr(d.date, 1, 7) AS month, max(d.date), " FIGURES
        " FROM attendance_daily AS d JOIN attendance AS a ON " JOIN_DAY
        " WHERE d.class_id = ?1 AND d.date BETWEEN ?2 AND ?3"
        " GROUP BY a.student_id, month ORDER BY a.student_id, month";
    jr_student_month_t *rows = NULL;
    size_t n = 0, cap = 0;
    int rc;

    res->rows_kind = JR_ROWS_STUDENT_MONTHS;
    sqlite3_stmt *st = prepare(db, q, res, sql, "student monthly");
    if (!st)
        return;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        rows = reserve(rows, n, &cap, sizeof *rows);
        jr_student_month_t *row = &rows[n];
        figures_t f;
        if (text_col(st, 0, row->student_id, sizeof row->student_id) != 0 ||
            text_col(st, 1, row->student_name, sizeof row->student_name) != 0 ||
            text_col(st, 2, row->month, sizeof row->month) != 0) {
            rc = SQLITE_CORRUPT;
            break;
        }
        read_figures(st, 4, &f);
        row->sessions = f.records;
        row->attended = f.present + f.late;
        row->late = f.late;
        row->absent = f.absent;
        row->attendance_pct = attendance_pct(row->attended, f.records);
        row->avg_engagement_pct = mean_pct(f.engagement_sum, f.records);
        n++;
    }
    if (finish(db, res, st, rc, "student monthly") != 0) {
        free(rows);
        return;
    }
    res->rows.student_months = rows;
    res->rows_n = n;
}

static int by_attendance(const void *pa, const void *pb)
{
    const jr_class_stat_t *a = pa, *b = pb;
    if (a->attendance_pct != b->attendance_pct)
        return a->attendance_pct < b->attendance_pct ? -1 : 1;
    return strcmp(a->class_id, b->class_id);
}

static void do_at_risk(sqlite3 *db, const jr_query_t *q, jr_result_t *res)
{
    static const char head[] = "SELECT d.class_id, count(DISTINCT d.session_id), " FIGURES
                               " FROM attendance_daily AS d LEFT JOIN attendance AS a ON " JOIN_DAY
                               " WHERE d.date BETWEEN ?2 AND ?3 AND d.class_id IN (";
    static const char tail[] = ") GROUP BY d.class_id";
    jr_class_stat_t *rows = NULL;
    size_t n = 0, cap = 0;
    int rc;

    res->rows_kind = JR_ROWS_CLASSES;
    /* The list is placeholders ?4, ?5, ... only: the ids themselves are bound, never
     * spliced into the SQL. */
    size_t len = sizeof head + sizeof tail + q->n_classes * sizeof "?NN,";
    char *sql = brk_malloc(len);
    size_t off = (size_t)snprintf(sql, len, "%s", head);
    for (size_t i = 0; i < q->n_classes; i++)
        off += (size_t)snprintf(sql + off, len - off, "%s?%zu", i ? "," : "", i + 4);
    snprintf(sql + off, len - off, "%s", tail);
    sqlite3_stmt *st = prepare(db, q, res, sql, "at risk");
    free(sql);
    if (!st)
        return;
    for (size_t i = 0; i < q->n_classes; i++)
        sqlite3_bind_text(st, (int)i + 4, q->class_ids[i], -1, SQLITE_STATIC);

    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        jr_class_stat_t c = {0};
        figures_t f;
        if (text_col(st, 0, c.class_id, sizeof c.class_id) != 0) {
            rc = SQLITE_CORRUPT;
            break;
        }
        c.sessions = sqlite3_column_int(st, 1);
        read_figures(st, 2, &f);
        c.present = f.present;
        c.late = f.late;
        c.absent = f.absent;
        c.total = f.records;
        c.attendance_pct = attendance_pct(f.present + f.late, f.records);
        c.avg_engagement_pct = mean_pct(f.engagement_sum, f.records);
        /* Without a record there is no attendance to judge, whatever the sessions. The
         * rounded figure is compared, the one a teacher is shown. */
        if (c.total > 0 && c.attendance_pct < q->threshold_pct) {
            rows = reserve(rows, n, &cap, sizeof *rows);
            rows[n++] = c;
        }
    }
    if (finish(db, res, st, rc, "at risk") != 0) {
        free(rows);
        return;
    }
    if (n > 1)
        qsort(rows, n, sizeof *rows, by_attendance);
    res->rows.classes = rows;
    res->rows_n = n;
}

void jr__analytics_on(sqlite3 *db, const jr_query_t *q, jr_result_t *res)
{
    switch (q->kind) {
    case JR_Q_HISTORY:
    case JR_Q_EXPORT:
        do_dated(db, q, res);
        break;
    case JR_Q_CLASS_SESSIONS:
        do_sessions(db, q, res);
        break;
    case JR_Q_CLASS_MONTHLY:
        do_class_monthly(db, q, res);
        break;
    case JR_Q_STUDENT_MONTHLY:
        do_student_monthly(db, q, res);
        break;
    case JR_Q_AT_RISK:
        do_at_risk(db, q, res);
        break;
    }
}

void jr__do_analytics(jr_t *j, job_t *job)
{
    jr__analytics_on(j->db, job->query, job->res);
}

/* ---- a scratch database (a worker thread) -------------------------------------------------- */

struct jr_scratch {
    sqlite3 *db;
    stmts_t st;
};

void jr__scratch_free(jr_scratch_t *s)
{
    if (!s)
        return;
    jr__stmts_finalize(&s->st);
    sqlite3_close(s->db);
    free(s);
}

int jr__scratch_new(jr_scratch_t **out, char *err, size_t errlen)
{
    jr_scratch_t *s = brk_calloc(1, sizeof *s);
    *out = NULL;
    int rc = jr__open_memory(&s->db, err, errlen);
    if (rc != 0) {
        free(s);
        return rc;
    }
    /* One transaction around every load: nothing is durable here, and it is much faster. */
    if (jr__stmts_prepare(s->db, &s->st) != SQLITE_OK ||
        sqlite3_exec(s->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
        jr__set_err(err, errlen, "scratch database", sqlite3_errmsg(s->db));
        jr__scratch_free(s);
        return BRK_EIO;
    }
    *out = s;
    return 0;
}

int jr__scratch_add_daily(jr_scratch_t *s, const jr_daily_t *d, char *err, size_t errlen)
{
    if (jr__insert_daily(&s->st, d) == 0)
        return 0;
    jr__set_err(err, errlen, "load daily", sqlite3_errmsg(s->db));
    return BRK_EIO;
}

int jr__scratch_add_record(jr_scratch_t *s, const jr_record_t *r, char *err, size_t errlen)
{
    if (jr__insert_record(&s->st, r) == 0)
        return 0;
    jr__set_err(err, errlen, "load record", sqlite3_errmsg(s->db));
    return BRK_EIO;
}

void jr__scratch_run(jr_scratch_t *s, const jr_query_t *q, jr_result_t *res)
{
    if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        res->rows_kind = jr_query_rows_kind(q);
        set_error(res, BRK_EIO, "scratch database", sqlite3_errmsg(s->db));
        return;
    }
    jr__analytics_on(s->db, q, res);
}
