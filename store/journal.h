/* SPDX-License-Identifier: MIT */
/* The durable local journal of finalized attendance: SQLite in WAL mode with synchronous
 * commits, driven by one dedicated worker thread. The loop thread submits jobs (inputs are
 * copied) and gets each result back on the loop through a uv_async_t. A finalize is one
 * transaction; a class's day is finalized at most once, so a repeated or concurrent DONE
 * gets the records already stored instead of writing new ones. */
#ifndef BRK_JOURNAL_H
#define BRK_JOURNAL_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define JR_ID 65    /* 64 characters + NUL */
#define JR_NAME 129

typedef struct jr_record {
    char student_id[JR_ID];
    char student_name[JR_NAME];
    char class_id[JR_ID];
    char session_id[JR_ID];
    int64_t started_at_ms;
    int64_t ended_at_ms;
    double total_class_duration_seconds;
    double engagement_duration_seconds;
    double engagement_percentage;
    int64_t frames_analyzed;
    char status[8];  /* present | absent | late */
    char source[12]; /* engagement | manual */
    int64_t finalized_at_ms;
    int trust_score; /* proctoring trust score 0..100 (handlers/finalize.h) */
} jr_record_t;

typedef struct jr_daily {
    char class_id[JR_ID];
    char teacher_id[JR_ID];
    char date[11]; /* YYYY-MM-DD */
    char session_id[JR_ID];
    int present, absent, late, total;
    double percentage; /* (present + late) / total * 100, 0 when total is 0 */
    int64_t finalized_at_ms;
} jr_daily_t;

/* ---- rows of the history and analytics queries (jr_student_history() and below) ------- */

/* One stored record with the date of its session (attendance_daily.date). */
typedef struct jr_dated_record {
    char date[11]; /* YYYY-MM-DD */
    jr_record_t rec;
} jr_dated_record_t;

/* Percentages in the rows below are rounded to 2 decimals the way the DONE handler rounds
 * them (handlers/scoring.c sc_round2: half away from zero), and are 0 when they have no
 * record to count. attendance_pct = (present + late) / records * 100; avg_engagement_pct is
 * the plain mean of the records' engagement_percentage. The counts come from the stored
 * records (attendance), the dates and the sessions from the daily rows (attendance_daily). */

/* One finalized session of a class. */
typedef struct jr_session_stat {
    char date[11]; /* YYYY-MM-DD */
    char session_id[JR_ID];
    int present, late, absent;
    int total; /* records of the session */
    double attendance_pct;
    double avg_engagement_pct;
} jr_session_stat_t;

/* One month of a class. */
typedef struct jr_month_stat {
    char month[8]; /* YYYY-MM */
    int sessions;  /* finalized sessions (days) of the month, with or without records */
    int present, late, absent;
    int records; /* present + late + absent */
    double attendance_pct;
    double avg_engagement_pct;
} jr_month_stat_t;

/* One student of a class in one month. */
typedef struct jr_student_month {
    char student_id[JR_ID];
    char student_name[JR_NAME]; /* as on the student's latest record of that month */
    char month[8];              /* YYYY-MM */
    int sessions;               /* the student's records in the month */
    int attended;               /* present + late */
    int late, absent;
    double attendance_pct; /* attended / sessions * 100 */
    double avg_engagement_pct;
} jr_student_month_t;

/* One class over a date range (jr_classes_at_risk()). */
typedef struct jr_class_stat {
    char class_id[JR_ID];
    int sessions; /* finalized sessions in the range, with or without records */
    int present, late, absent;
    int total; /* records in the range */
    double attendance_pct;
    double avg_engagement_pct;
} jr_class_stat_t;

/* Which member of jr_result_t.rows a result carries. */
typedef enum jr_rows_kind {
    JR_ROWS_NONE = 0,       /* finalize, report, outbox: rows is unused */
    JR_ROWS_DATED,          /* rows.dated: jr_student_history(), jr_class_export() */
    JR_ROWS_SESSIONS,       /* rows.sessions: jr_class_sessions() */
    JR_ROWS_MONTHS,         /* rows.months: jr_class_monthly() */
    JR_ROWS_STUDENT_MONTHS, /* rows.student_months: jr_student_monthly() */
    JR_ROWS_CLASSES,        /* rows.classes: jr_classes_at_risk() */
} jr_rows_kind_t;

/* A job's result, handed to the callback on the loop thread. The callee owns it and frees
 * it with jr_result_free(). err is 0, BRK_ENOTFOUND (report of an unknown session) or
 * BRK_EIO (errmsg says why). already is 1 when a finalize found the day already finalized:
 * daily and records are then the stored ones.
 *
 * The history and analytics queries leave daily, n and records empty and answer in rows:
 * rows_kind says which member is set and rows_n counts its rows (0 rows is a success, not
 * BRK_ENOTFOUND). On an error rows_n is 0. */
typedef struct jr_result {
    int err;
    int already;
    char errmsg[160];
    jr_daily_t daily;
    size_t n;
    jr_record_t *records;
    jr_rows_kind_t rows_kind;
    size_t rows_n;
    union {
        jr_dated_record_t *dated;
        jr_session_stat_t *sessions;
        jr_month_stat_t *months;
        jr_student_month_t *student_months;
        jr_class_stat_t *classes;
    } rows;
} jr_result_t;

/* The MongoDB outbox: finalized days whose shipped_at is still NULL. */
typedef struct jr_backlog {
    uint64_t records;  /* attendance rows waiting */
    uint64_t days;     /* attendance_daily rows waiting */
    int64_t oldest_ms; /* finalized_at of the oldest waiting day, 0 when none */
} jr_backlog_t;

typedef void (*jr_done_cb)(jr_result_t *res, void *ud);

typedef struct jr jr_t;

typedef struct jr_stats {
    uint64_t finalize_ok;      /* transactions committed */
    uint64_t finalize_already; /* finalizes that found the day already stored */
    uint64_t finalize_failed;
    uint64_t records_written;
    uint64_t reports;
    uint64_t analytics; /* history and analytics queries answered (errors included) */
    size_t queued; /* jobs waiting or running */
    jr_backlog_t backlog; /* kept current only after jr_outbox_enable() */
} jr_stats_t;

/* Opens (creating when missing) dir/journal.db, creating dir too, and starts the worker
 * thread. Runs on the loop thread at start-up only (opening may block briefly). Returns 0
 * and *out, or BRK_EIO with a reason in err. */
int jr_open(uv_loop_t *loop, const char *dir, jr_t **out, char *err, size_t errlen);

/* A connection of the caller's own to the same file, for the other durable records kept
 * there (accounts/): opens (creating when missing) dir/journal.db, creating dir too, in WAL
 * mode with synchronous commits, and creates or upgrades the whole schema as jr_open() does.
 * Returns 0 and *out (the caller closes it with sqlite3_close), or BRK_EIO with a reason in
 * err. Blocks on the file: a worker thread, or the loop thread at start-up only. */
struct sqlite3;
int jr_db_open(const char *dir, struct sqlite3 **out, char *err, size_t errlen);

/* Queues the finalize of one session: daily summary plus n records in one transaction,
 * durable (fsync'd) before cb runs. Inputs are copied. Loop thread only. */
void jr_finalize(jr_t *j, const jr_daily_t *daily, const jr_record_t *recs, size_t n,
                 jr_done_cb cb, void *ud);

/* Queues a read of one session's daily summary and records, ordered by student_id.
 * err = BRK_ENOTFOUND when class_id/session_id has no finalized records. Loop thread only. */
void jr_report(jr_t *j, const char *class_id, const char *session_id, jr_done_cb cb, void *ud);

/* Queues a read of the day class_id finalized on date (YYYY-MM-DD): its summary and
 * records, or BRK_ENOTFOUND. Lets a DONE after a restart find what it already stored.
 * Loop thread only. */
void jr_report_day(jr_t *j, const char *class_id, const char *date, jr_done_cb cb, void *ud);

void jr_result_free(jr_result_t *res);

/* Turns on the outbox bookkeeping: from now on the worker recounts the backlog after every
 * finalize that wrote, every outbox job, and once right away (stats.backlog). Call once, at
 * start-up, before any job is queued. Loop thread only. */
void jr_outbox_enable(jr_t *j);

/* Called on the loop thread after each finalize that committed new rows (not for an
 * already finalized day), so the outbox can ship them. Loop thread only. */
void jr_set_commit_hook(jr_t *j, void (*hook)(void *ud), void *ud);

/* Queues a read of the oldest day not yet shipped: its summary and records, or err =
 * BRK_ENOTFOUND when everything is shipped. Loop thread only. */
void jr_outbox_next(jr_t *j, jr_done_cb cb, void *ud);

/* Queues setting shipped_at = shipped_at_ms on the day (class_id, session_id) and its
 * records, in one transaction. The result carries no records. Loop thread only. */
void jr_outbox_mark_shipped(jr_t *j, const char *class_id, const char *session_id,
                            int64_t shipped_at_ms, jr_done_cb cb, void *ud);

/* ---- history and analytics over the finalized records -----------------------------------
 *
 * Each call validates its inputs first: on a bad input it returns BRK_EINVAL at once and cb
 * is never called. Otherwise it copies the inputs, queues the query on the journal's worker
 * and returns 0; cb then runs exactly once on the loop thread, on a later iteration, with a
 * result the callee frees with jr_result_free() (err BRK_EIO when SQLite failed, BRK_ECLOSED
 * after jr_shutdown()). All strings are borrowed for the duration of the call. Loop thread
 * only.
 *
 * Inputs: ids must pass brk_id_ok() (1 to 64 characters of letters, digits and - _ . : @).
 * Dates are "YYYY-MM-DD" and real calendar dates (2024-02-29 yes, 2026-02-29 no); months
 * are "YYYY-MM". Ranges are inclusive and from must not be after to. A session belongs to
 * the date of its daily row (attendance_daily.date: the class's day, as DONE stored it). */

#define JR_HISTORY_MAX 1000   /* jr_student_history(): the largest limit */
#define JR_RANGE_MAX_DAYS 366 /* date ranges of sessions, at-risk and export: days, inclusive */
#define JR_MONTHS_MAX 24      /* jr_class_monthly(), jr_student_monthly(): months, inclusive */
#define JR_AT_RISK_MAX_CLASSES 64
#define JR_AT_RISK_DEFAULT_PCT 75.0 /* the threshold callers should pass when they have none */
#define JR_EXPORT_MAX_ROWS 100000   /* jr_class_export(): more rows fail with BRK_ETOOBIG */

/* A student's records, newest first (session date, then start time, descending; then class
 * and session id): in class_id only, or in every class when class_id is NULL; from and to
 * (each may be NULL for an open end) bound the session date. At most limit rows, 1 <= limit
 * <= JR_HISTORY_MAX; no bound on the range, the limit bounds the answer. Answers rows.dated. */
int jr_student_history(jr_t *j, const char *student_id, const char *class_id, const char *from,
                       const char *to, unsigned limit, jr_done_cb cb, void *ud);

/* A class's finalized sessions dated from..to (at most JR_RANGE_MAX_DAYS days), ordered by
 * date: its attendance trend. A session without records is listed with zero counts. Answers
 * rows.sessions. */
int jr_class_sessions(jr_t *j, const char *class_id, const char *from, const char *to,
                      jr_done_cb cb, void *ud);

/* A class's months from_month..to_month ("YYYY-MM", at most JR_MONTHS_MAX months; a year is
 * "YYYY-01".."YYYY-12"), one row per month of the range in order, months without a session
 * included with zeros. Answers rows.months. */
int jr_class_monthly(jr_t *j, const char *class_id, const char *from_month, const char *to_month,
                     jr_done_cb cb, void *ud);

/* The same range per student of the class: one row per student and month in which the
 * student has at least one record, ordered by student_id, then month. Answers
 * rows.student_months. */
int jr_student_monthly(jr_t *j, const char *class_id, const char *from_month, const char *to_month,
                       jr_done_cb cb, void *ud);

/* Among class_ids (n of them, 1 <= n <= JR_AT_RISK_MAX_CLASSES; duplicates count once), the
 * classes whose attendance over every record of their sessions dated from..to (at most
 * JR_RANGE_MAX_DAYS days) is below threshold_pct (0..100; compared after rounding, as the
 * teacher sees it): lowest attendance first, then by class_id. A class with no record in
 * the range (no session, or only sessions without students) is not listed. Answers
 * rows.classes. */
int jr_classes_at_risk(jr_t *j, const char *const *class_ids, size_t n, const char *from,
                       const char *to, double threshold_pct, jr_done_cb cb, void *ud);

/* Every record of a class's sessions dated from..to (at most JR_RANGE_MAX_DAYS days), ordered
 * by date, session_id, student_id, for an export (report_csv.h). More than
 * JR_EXPORT_MAX_ROWS rows fail with BRK_ETOOBIG rather than hold them all in memory.
 * Answers rows.dated. */
int jr_class_export(jr_t *j, const char *class_id, const char *from, const char *to, jr_done_cb cb,
                    void *ud);

/* ---- one entry point for all of the above --------------------------------------------------
 *
 * The calls above are wrappers over a query description that the MongoDB sink (mongo.h
 * mg_analytics) also answers, with the same SQL: check and copy the request once with
 * jr_query_new(), then hand the copy to jr_analytics() or mg_analytics() (each takes a copy of
 * its own, so the caller may run it on the other too, e.g. after an error). */

typedef enum jr_query_kind {
    JR_Q_HISTORY,         /* jr_student_history() */
    JR_Q_CLASS_SESSIONS,  /* jr_class_sessions() */
    JR_Q_CLASS_MONTHLY,   /* jr_class_monthly() */
    JR_Q_STUDENT_MONTHLY, /* jr_student_monthly() */
    JR_Q_AT_RISK,         /* jr_classes_at_risk() */
    JR_Q_EXPORT,          /* jr_class_export() */
} jr_query_kind_t;

/* The inputs of one query, all borrowed for the duration of jr_query_new(); a member a kind
 * does not use is ignored. The rules are those of the matching call above. */
typedef struct jr_analytics_req {
    jr_query_kind_t kind;
    const char *student_id;       /* history */
    const char *class_id;         /* history (NULL: every class) and the class kinds */
    const char *const *class_ids; /* at risk: n_classes ids */
    size_t n_classes;
    const char *from, *to; /* dates; months ("YYYY-MM") for the monthly kinds */
    unsigned limit;        /* history */
    double threshold_pct;  /* at risk */
} jr_analytics_req_t;

/* A checked, owned copy of a request. */
typedef struct jr_query jr_query_t;

/* Checks req as the call of its kind would. Returns 0 and *out (returns new reference, free it
 * with jr_query_free()), or BRK_EINVAL. Any thread. */
int jr_query_new(const jr_analytics_req_t *req, jr_query_t **out);
void jr_query_free(jr_query_t *q);
/* The rows_kind a successful result of q carries. */
jr_rows_kind_t jr_query_rows_kind(const jr_query_t *q);

/* Queues q (borrowed: copied) on the journal's worker; cb runs as for the calls above. Loop
 * thread only. */
void jr_analytics(jr_t *j, const jr_query_t *q, jr_done_cb cb, void *ud);

/* Loop thread only. */
void jr_get_stats(const jr_t *j, jr_stats_t *out);

/* Stops accepting jobs; jobs already queued still run and their callbacks still fire.
 * Closes the uv_async_t once the queue is empty; uv_run then returns. Loop thread only. */
void jr_shutdown(jr_t *j);

/* Joins the worker thread and closes the database. Call after uv_run() returned, never
 * from a loop callback. */
void jr_free(jr_t *j);

#endif
