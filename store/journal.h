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

/* A job's result, handed to the callback on the loop thread. The callee owns it and frees
 * it with jr_result_free(). err is 0, BRK_ENOTFOUND (report of an unknown session) or
 * BRK_EIO (errmsg says why). already is 1 when a finalize found the day already finalized:
 * daily and records are then the stored ones. */
typedef struct jr_result {
    int err;
    int already;
    char errmsg[160];
    jr_daily_t daily;
    size_t n;
    jr_record_t *records;
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

/* Loop thread only. */
void jr_get_stats(const jr_t *j, jr_stats_t *out);

/* Stops accepting jobs; jobs already queued still run and their callbacks still fire.
 * Closes the uv_async_t once the queue is empty; uv_run then returns. Loop thread only. */
void jr_shutdown(jr_t *j);

/* Joins the worker thread and closes the database. Call after uv_run() returned, never
 * from a loop callback. */
void jr_free(jr_t *j);

#endif
