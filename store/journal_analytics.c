/* SPDX-License-Identifier: MIT */
/* History and analytics over the finalized attendance (journal.h): a student's history, a
 * class's sessions, monthly figures per class and per student, the classes at risk, and the
 * rows of an export. The public functions check and copy their inputs on the loop thread and
 * queue a job; the queries run on the journal's worker thread and answer in the result's
 * rows. Records are dated by their daily row: attendance and attendance_daily are joined on
 * (class_id, session_id), the daily row's key, which every record of a finalize shares. */
#include "brk.h"
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

static job_t *new_job(job_kind_t kind, const char *class_id, jr_done_cb cb, void *ud)
{
    job_t *job = brk_calloc(1, sizeof *job);
    job->kind = kind;
    job->class_id = class_id ? brk_strdup(class_id) : NULL;
    job->cb = cb;
    job->ud = ud;
    return job;
}

static void set_range(job_t *job, const char *from, const char *to)
{
    snprintf(job->from, sizeof job->from, "%s", from ? from : DATE_LOWEST);
    snprintf(job->to, sizeof job->to, "%s", to ? to : DATE_HIGHEST);
}

/* ---- the public calls (loop thread) ------------------------------------------------------ */

int jr_student_history(jr_t *j, const char *student_id, const char *class_id, const char *from,
                       const char *to, unsigned limit, jr_done_cb cb, void *ud)
{
    BRK_ASSERT(j && cb);
    int64_t a = 0, b = 0;
    if (!id_ok(student_id) || (class_id && !id_ok(class_id)) || limit < 1 ||
        limit > JR_HISTORY_MAX || (from && !parse_date(from, &a)) || (to && !parse_date(to, &b)) ||
        (from && to && a > b))
        return BRK_EINVAL;
    job_t *job = new_job(JOB_HISTORY, class_id, cb, ud);
    job->student_id = brk_strdup(student_id);
    set_range(job, from, to);
    job->limit = limit;
    jr__submit(j, job);
    return 0;
}

/* The calls on one class and a closed date range. */
static int class_range(jr_t *j, job_kind_t kind, const char *class_id, const char *from,
                       const char *to, jr_done_cb cb, void *ud)
{
    BRK_ASSERT(j && cb);
    if (!id_ok(class_id) || !range_ok(from, to, JR_RANGE_MAX_DAYS))
        return BRK_EINVAL;
    job_t *job = new_job(kind, class_id, cb, ud);
    set_range(job, from, to);
    jr__submit(j, job);
    return 0;
}

int jr_class_sessions(jr_t *j, const char *class_id, const char *from, const char *to,
                      jr_done_cb cb, void *ud)
{
    return class_range(j, JOB_CLASS_SESSIONS, class_id, from, to, cb, ud);
}

int jr_class_export(jr_t *j, const char *class_id, const char *from, const char *to, jr_done_cb cb,
                    void *ud)
{
    return class_range(j, JOB_EXPORT, class_id, from, to, cb, ud);
}

/* The calls on one class and a month range. */
static int class_months(jr_t *j, job_kind_t kind, const char *class_id, const char *from_month,
                        const char *to_month, jr_done_cb cb, void *ud)
{
    BRK_ASSERT(j && cb);
    int a, b;
    if (!id_ok(class_id) || !parse_month(from_month, &a) || !parse_month(to_month, &b) || a > b ||
        b - a + 1 > JR_MONTHS_MAX)
        return BRK_EINVAL;
    job_t *job = new_job(kind, class_id, cb, ud);
    /* "-31" bounds the last month from above whatever its length: dates compare as text. */
    snprintf(job->from, sizeof job->from, "%.7s-01", from_month);
    snprintf(job->to, sizeof job->to, "%.7s-31", to_month);
    jr__submit(j, job);
    return 0;
}

int jr_class_monthly(jr_t *j, const char *class_id, const char *from_month, const char *to_month,
                     jr_done_cb cb, void *ud)
{
    return class_months(j, JOB_CLASS_MONTHLY, class_id, from_month, to_month, cb, ud);
}

int jr_student_monthly(jr_t *j, const char *class_id, const char *from_month, const char *to_month,
                       jr_done_cb cb, void *ud)
{
    return class_months(j, JOB_STUDENT_MONTHLY, class_id, from_month, to_month, cb, ud);
}

int jr_classes_at_risk(jr_t *j, const char *const *class_ids, size_t n, const char *from,
                       const char *to, double threshold_pct, jr_done_cb cb, void *ud)
{
    BRK_ASSERT(j && cb);
    /* Written so that a NaN threshold fails the check too. */
    if (!class_ids || n < 1 || n > JR_AT_RISK_MAX_CLASSES ||
        !range_ok(from, to, JR_RANGE_MAX_DAYS) || !(threshold_pct >= 0.0 && threshold_pct <= 100.0))
        return BRK_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (!id_ok(class_ids[i]))
            return BRK_EINVAL;
    job_t *job = new_job(JOB_AT_RISK, NULL, cb, ud);
    job->class_ids = brk_calloc(n, sizeof *job->class_ids);
    for (size_t i = 0; i < n; i++)
        snprintf(job->class_ids[i], sizeof job->class_ids[i], "%s", class_ids[i]);
    job->n_classes = n;
    set_range(job, from, to);
    job->threshold_pct = threshold_pct;
    jr__submit(j, job);
    return 0;
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
static sqlite3_stmt *prepare(jr_t *j, const job_t *job, const char *sql, const char *what)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(j->db, sql, -1, &st, NULL) != SQLITE_OK) {
        set_error(job->res, BRK_EIO, what, sqlite3_errmsg(j->db));
        sqlite3_finalize(st);
        return NULL;
    }
    if (job->class_id)
        sqlite3_bind_text(st, 1, job->class_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, job->from, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, job->to, -1, SQLITE_STATIC);
    return st;
}

/* Ends a statement's run: rc is the last sqlite3_step() code, SQLITE_CORRUPT for a stored
 * row that does not fit our fields. Returns 0 or -1 (res filled in). */
static int finish(jr_t *j, jr_result_t *res, sqlite3_stmt *st, int rc, const char *what)
{
    if (rc == SQLITE_CORRUPT)
        set_error(res, BRK_EIO, what, "bad stored row");
    else if (rc != SQLITE_DONE)
        set_error(res, BRK_EIO, what, sqlite3_errmsg(j->db));
    sqlite3_finalize(st);
    return res->err ? -1 : 0;
}

/* History and export: records with their session's date (the last column). */
static void do_dated(jr_t *j, job_t *job)
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
    jr_result_t *res = job->res;
    int history = job->kind == JOB_HISTORY;
    const char *what = history ? "history" : "export";
    jr_dated_record_t *rows = NULL;
    size_t n = 0, cap = 0;
    int rc;

    res->rows_kind = JR_ROWS_DATED;
    sqlite3_stmt *st = prepare(j, job, history ? sql_history : sql_export, what);
    if (!st)
        return;
    if (history)
        sqlite3_bind_text(st, 4, job->student_id, -1, SQLITE_STATIC);
    /* One row past the export's bound tells a full export from one that was cut short. */
    sqlite3_bind_int64(st, 5, history ? (int64_t)job->limit : JR_EXPORT_MAX_ROWS + 1);
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
    if (finish(j, res, st, rc, what) != 0) {
        free(rows);
        return;
    }
    res->rows.dated = rows;
    res->rows_n = n;
}

static void do_sessions(jr_t *j, job_t *job)
{
    static const char sql[] = "SELECT d.date, d.session_id, " FIGURES
                              " FROM attendance_daily AS d LEFT JOIN attendance AS a ON " JOIN_DAY
                              " WHERE d.class_id = ?1 AND d.date BETWEEN ?2 AND ?3"
                              " GROUP BY d.date, d.session_id ORDER BY d.date, d.session_id";
    jr_result_t *res = job->res;
    jr_session_stat_t *rows = NULL;
    size_t n = 0, cap = 0;
    int rc;

    res->rows_kind = JR_ROWS_SESSIONS;
    sqlite3_stmt *st = prepare(j, job, sql, "sessions");
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
    if (finish(j, res, st, rc, "sessions") != 0) {
        free(rows);
        return;
    }
    res->rows.sessions = rows;
    res->rows_n = n;
}

/* Every month of the range gets a row, in order; the query fills those that had sessions. */
static void do_class_monthly(jr_t *j, job_t *job)
{
    static const char sql[] =
        "SELECT substr(d.date, 1, 7) AS month, count(DISTINCT d.session_id), " FIGURES
        " FROM attendance_daily AS d LEFT JOIN attendance AS a ON " JOIN_DAY
        " WHERE d.class_id = ?1 AND d.date BETWEEN ?2 AND ?3"
        " GROUP BY month ORDER BY month";
    jr_result_t *res = job->res;
    char first_month[8], last_month[8];
    int first = 0, last = -1, rc;
    size_t n = 0, next = 0;

    res->rows_kind = JR_ROWS_MONTHS;
    /* job->from and job->to start with the range's months (class_months()). */
    snprintf(first_month, sizeof first_month, "%.7s", job->from);
    snprintf(last_month, sizeof last_month, "%.7s", job->to);
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

    sqlite3_stmt *st = prepare(j, job, sql, "monthly");
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
    if (finish(j, res, st, rc, "monthly") != 0) {
        free(rows);
        return;
    }
    res->rows.months = rows;
    res->rows_n = n;
}

static void do_student_monthly(jr_t *j, job_t *job)
{
    /* student_name is a bare column beside the one max(): SQLite takes it from the row that
     * holds the maximum, i.e. the student's latest session of the month (a class has one
     * session per date). */
    static const char sql[] =
        "SELECT a.student_id, a.student_name, substr(d.date, 1, 7) AS month, max(d.date), " FIGURES
        " FROM attendance_daily AS d JOIN attendance AS a ON " JOIN_DAY
        " WHERE d.class_id = ?1 AND d.date BETWEEN ?2 AND ?3"
        " GROUP BY a.student_id, month ORDER BY a.student_id, month";
    jr_result_t *res = job->res;
    jr_student_month_t *rows = NULL;
    size_t n = 0, cap = 0;
    int rc;

    res->rows_kind = JR_ROWS_STUDENT_MONTHS;
    sqlite3_stmt *st = prepare(j, job, sql, "student monthly");
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
    if (finish(j, res, st, rc, "student monthly") != 0) {
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

static void do_at_risk(jr_t *j, job_t *job)
{
    static const char head[] = "SELECT d.class_id, count(DISTINCT d.session_id), " FIGURES
                               " FROM attendance_daily AS d LEFT JOIN attendance AS a ON " JOIN_DAY
                               " WHERE d.date BETWEEN ?2 AND ?3 AND d.class_id IN (";
    static const char tail[] = ") GROUP BY d.class_id";
    jr_result_t *res = job->res;
    jr_class_stat_t *rows = NULL;
    size_t n = 0, cap = 0;
    int rc;

    res->rows_kind = JR_ROWS_CLASSES;
    /* The list is placeholders ?4, ?5, ... only: the ids themselves are bound, never
     * spliced into the SQL. */
    size_t len = sizeof head + sizeof tail + job->n_classes * sizeof "?NN,";
    char *sql = brk_malloc(len);
    size_t off = (size_t)snprintf(sql, len, "%s", head);
    for (size_t i = 0; i < job->n_classes; i++)
        off += (size_t)snprintf(sql + off, len - off, "%s?%zu", i ? "," : "", i + 4);
    snprintf(sql + off, len - off, "%s", tail);
    sqlite3_stmt *st = prepare(j, job, sql, "at risk");
    free(sql);
    if (!st)
        return;
    for (size_t i = 0; i < job->n_classes; i++)
        sqlite3_bind_text(st, (int)i + 4, job->class_ids[i], -1, SQLITE_STATIC);

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
        if (c.total > 0 && c.attendance_pct < job->threshold_pct) {
            rows = reserve(rows, n, &cap, sizeof *rows);
            rows[n++] = c;
        }
    }
    if (finish(j, res, st, rc, "at risk") != 0) {
        free(rows);
        return;
    }
    if (n > 1)
        qsort(rows, n, sizeof *rows, by_attendance);
    res->rows.classes = rows;
    res->rows_n = n;
}

void jr__do_analytics(jr_t *j, job_t *job)
{
    switch (job->kind) {
    case JOB_HISTORY:
    case JOB_EXPORT:
        do_dated(j, job);
        break;
    case JOB_CLASS_SESSIONS:
        do_sessions(j, job);
        break;
    case JOB_CLASS_MONTHLY:
        do_class_monthly(j, job);
        break;
    case JOB_STUDENT_MONTHLY:
        do_student_monthly(j, job);
        break;
    case JOB_AT_RISK:
        do_at_risk(j, job);
        break;
    default:
        brk_assert_fail("JR__IS_ANALYTICS(job->kind)", __FILE__, __LINE__);
    }
}
