/* SPDX-License-Identifier: MIT */
/* Shared inside the journal (journal.c, journal_schema.c, journal_query.c): the journal's
 * struct, its jobs, its prepared statements, and the functions one file gives another. */
#ifndef BRK_JOURNAL_INT_H
#define BRK_JOURNAL_INT_H

#include "jobq.h"
#include "journal.h"

#include <sqlite3.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* Bump when the schema changes, and add a step to migrate() that upgrades from the
 * previous version. Stored in PRAGMA user_version. */
#define JR_SCHEMA_VERSION 5

typedef enum {
    JOB_FINALIZE,
    JOB_REPORT,
    JOB_REPORT_DAY,
    JOB_OUTBOX_NEXT,
    JOB_MARK_SHIPPED,
    JOB_BACKLOG,   /* only recounts the backlog */
    JOB_ANALYTICS, /* the history and analytics queries (journal_analytics.c) */
} job_kind_t;

#define JR__IS_ANALYTICS(kind) ((kind) == JOB_ANALYTICS)

typedef struct job {
    jobq_job_t base; /* first: the queue's handle on the job */
    job_kind_t kind;
    jr_daily_t daily;  /* finalize: the summary to write */
    jr_record_t *recs; /* finalize: owned copy of the records */
    size_t n;
    char *class_id; /* report: owned copies of the key */
    char *session_id;
    int64_t shipped_at_ms; /* mark shipped */
    jr_query_t *query;     /* history and analytics: owned, checked copy */
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

/* The columns of a record, in the order jr__row_record() reads them, each name preceded by p
 * (a table alias such as "a." in a join, or ""). */
#define JR_REC_COLS(p)                                                                             \
    p "student_id, " p "student_name, " p "class_id, " p "session_id, " p "started_at, " p         \
      "ended_at, " p "total_class_duration_seconds, " p "engagement_duration_seconds, " p          \
      "engagement_percentage, " p "frames_analyzed, " p "status, " p "source, " p                  \
      "finalized_at, " p "trust_score"
#define JR_REC_NCOLS 14

/* ---- journal.c: queuing (loop thread) --------------------------------------------------- */

/* Gives the job a fresh result and queues it, or refuses it (BRK_ECLOSED, delivered on a
 * later loop iteration) after jr_shutdown(). Takes ownership of job. */
void jr__submit(jr_t *j, job_t *job);

/* ---- journal_schema.c: the file and its schema (loop thread, in jr_open) --------------- */

/* Formats "what: why" into err (which may be NULL). */
void jr__set_err(char *err, size_t errlen, const char *what, const char *why);

/* mkdir -p with mode 0700. Returns 0 or BRK_EIO with a reason in err. */
int jr__make_dirs(const char *dir, char *err, size_t errlen);

/* Opens path (creating it), switches to WAL with synchronous commits, and creates or upgrades
 * the schema. Returns 0 and *out, or BRK_EIO with a reason in err (nothing left open). */
int jr__open_file(const char *path, sqlite3 **out, char *err, size_t errlen);

/* jr__open_file, then prepares st. Returns 0 and *out, or BRK_EIO with a reason in err (nothing
 * left open). */
/* Opens a private in-memory database and creates the same schema in it (the analytics over
 * MongoDB's documents run there). Returns 0 and *out, or BRK_EIO with a reason in err. */
int jr__open_memory(sqlite3 **out, char *err, size_t errlen);

int jr__open_db(const char *path, sqlite3 **out, stmts_t *st, char *err, size_t errlen);

/* ---- journal_query.c: what each job runs (worker thread) ------------------------------- */

/* sqlite3_prepare_v3 for a statement kept for long. Returns an SQLite code. */
int jr__prepare(sqlite3 *db, const char *sql, sqlite3_stmt **out);
/* Prepares every statement of st. Returns an SQLite code; on failure the caller finalizes. */
int jr__stmts_prepare(sqlite3 *db, stmts_t *st);
void jr__stmts_finalize(stmts_t *st);

/* Reads columns 0..JR_REC_NCOLS-1 of the current row (JR_REC_COLS order) into *r. Returns 0,
 * or -1 when a text column does not fit its field (a row we cannot have written). */
int jr__row_record(sqlite3_stmt *st, jr_record_t *r);

/* Inserts one daily row or record with the statements of st; 0 or -1 (sqlite3_errmsg says
 * why). */
int jr__insert_daily(stmts_t *st, const jr_daily_t *d);
int jr__insert_record(stmts_t *st, const jr_record_t *r);

void jr__do_finalize(jr_t *j, job_t *job);
void jr__do_report(jr_t *j, job_t *job);
void jr__do_outbox_next(jr_t *j, job_t *job);
void jr__do_mark_shipped(jr_t *j, job_t *job);
/* Recounts the outbox backlog into job->backlog (has_backlog set when it succeeded). */
void jr__count_backlog(jr_t *j, job_t *job);

/* ---- journal_analytics.c: the history and analytics queries (worker thread) ------------- */

/* Runs an analytics job (JR__IS_ANALYTICS(job->kind)); the answer goes into job->res. */
void jr__do_analytics(jr_t *j, job_t *job);
/* Runs q on db, any connection holding the journal's schema (the journal's own, or a
 * scratch database); the answer goes into res. */
void jr__analytics_on(sqlite3 *db, const jr_query_t *q, jr_result_t *res);
/* Frees the rows of res (any rows_kind) and empties them. */
void jr__rows_free(jr_result_t *res);

#endif
