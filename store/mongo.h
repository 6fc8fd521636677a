/* SPDX-License-Identifier: MIT */
/* The MongoDB sink: finalized attendance written to the collections `attendance` and
 * `attendance_daily` through libmongoc, and reports read back from them. Every driver call
 * runs on one dedicated worker thread holding a mongoc_client_pool_t; the loop thread queues
 * jobs (inputs copied) and gets each result back on the loop through a uv_async_t, like the
 * journal. Writes are replacement upserts keyed on (session_id, student_id) and
 * (class_id, date), so a retried write never duplicates. Retrying is the outbox's job
 * (outbox.h); the sink reports each failure as it is. */
#ifndef BRK_MONGO_H
#define BRK_MONGO_H

#include "journal.h"

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct mg mg_t;

typedef struct mg_opts {
    const char *uri;           /* ROLLCALL_MONGODB_URI (borrowed) */
    const char *database;      /* ROLLCALL_MONGODB_DATABASE, NULL: the URI's database */
    const char *write_concern; /* ROLLCALL_MONGODB_WRITE_CONCERN: "majority" or 1..50 */
    int timeout_ms;            /* serverSelectionTimeoutMS when the URI sets none; 0: 2000 */
} mg_opts_t;

/* Why a write failed: the server could not be reached (or the connection broke), the server
 * refused the write (write error, write-concern error, command error), or anything else. */
typedef enum { MG_OK = 0, MG_UNREACHABLE, MG_WRITE, MG_OTHER } mg_fail_t;

typedef struct mg_ship_result {
    mg_fail_t fail;
    char errmsg[256]; /* "" when fail == MG_OK */
} mg_ship_result_t;

typedef void (*mg_ship_cb)(const mg_ship_result_t *res, void *ud);

/* Validates the options (URI, database, write concern), creates the pool and starts the
 * worker, which pings the server and creates the unique indexes. Waits for that first
 * round trip (bounded by the server-selection timeout): refused credentials fail here; an
 * unreachable server does not (it is retried before the first write) and *unreachable is
 * set. Runs on the loop thread at start-up only. Returns 0 and *out, or BRK_EINVAL
 * (configuration) / BRK_EAUTH (credentials) with a message naming the setting in err. */
int mg_open(uv_loop_t *loop, const mg_opts_t *o, mg_t **out, int *unreachable, char *err,
            size_t errlen);

/* Queues the upsert of one day's records, then its summary (records first, so a summary
 * found in MongoDB means its records are all there). Inputs copied. Loop thread only. */
void mg_ship(mg_t *m, const jr_daily_t *daily, const jr_record_t *recs, size_t n, mg_ship_cb cb,
             void *ud);

/* Queues a read of one session's summary and records from MongoDB, in the journal's result
 * shape: err 0, BRK_ENOTFOUND, or BRK_EIO with errmsg. Loop thread only. */
void mg_report(mg_t *m, const char *class_id, const char *session_id, jr_done_cb cb, void *ud);

/* Queues q (borrowed: copied), a history or analytics query (journal.h jr_query_new), on
 * MongoDB's records: the worker reads the summaries and records q needs (equality and $in
 * filters on class_id or student_id; dates are filtered afterwards), loads them into an
 * in-memory database with the journal's schema and runs the journal's own query there, so
 * the figures are the journal's for the same rows. cb gets the result as from jr_analytics():
 * err 0, BRK_EIO (MongoDB or a stored document failed; errmsg says why), BRK_ETOOBIG (more
 * than 200000 documents would be read), or BRK_ECLOSED after mg_shutdown(). Loop thread
 * only. */
void mg_analytics(mg_t *m, const jr_query_t *q, jr_done_cb cb, void *ud);

/* The database in use (borrowed, lives as long as m). */
const char *mg_database(const mg_t *m);

/* Stops accepting jobs; queued jobs still run and their callbacks fire; the async handle
 * closes once the queue is empty. Loop thread only. */
void mg_shutdown(mg_t *m);

/* Joins the worker and frees the pool. After uv_run() returned, never from a callback. */
void mg_free(mg_t *m);

/* Sets libmongoc's log handler (driver messages go to our log at debug level, warnings
 * and errors at warn). Call once before any pool exists; mg_open() does. */
void mg_install_log_handler(void);

#endif
