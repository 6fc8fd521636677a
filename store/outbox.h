/* SPDX-License-Identifier: MIT */
/* The outbox shipper: moves finalized days from the local journal to MongoDB, one day at a
 * time, oldest first. A day is marked shipped (journal shipped_at) only after MongoDB
 * acknowledged its records and summary; until then it stays in the journal, across
 * restarts. Failures are retried with exponential backoff and jitter; each distinct error
 * is logged once per outage. Runs on the loop thread, driving the journal and the sink,
 * which do the blocking work on their own threads. */
#ifndef BRK_OUTBOX_H
#define BRK_OUTBOX_H

#include "journal.h"
#include "mongo.h"

#include <stdint.h>
#include <uv.h>

typedef struct ob ob_t;

typedef struct ob_stats {
    uint64_t shipped_days, shipped_records; /* acknowledged by MongoDB and marked */
    uint64_t attempts;                      /* ship attempts */
    uint64_t failures[4];                   /* by mg_fail_t (index 0 unused) */
    uint64_t errors_logged;                 /* distinct errors logged */
    int healthy; /* 1 after a success (or before any attempt), 0 after a failure */
    int64_t last_error_at_ms;
    char last_error[256]; /* "" when none since start */
    uint32_t backoff_ms;  /* current retry delay, 0 when not backing off */
} ob_stats_t;

typedef struct ob_opts {
    uint32_t backoff_min_ms; /* first retry delay; 0: 250 */
    uint32_t backoff_max_ms; /* cap; 0: 10000 */
} ob_opts_t;

/* Starts shipping what the journal holds (borrows j and m, which must outlive it until
 * ob_free) and hooks into the journal's commits. Enables the journal's backlog counts.
 * Loop thread, start-up. opts may be NULL. */
ob_t *ob_new(uv_loop_t *loop, jr_t *j, mg_t *m, const ob_opts_t *opts);

/* Something new was committed: ship it soon (no effect while backing off). */
void ob_kick(ob_t *ob);

void ob_get_stats(const ob_t *ob, ob_stats_t *out);

/* Stops: no new jobs; the timer is closed. Jobs in flight complete (their results are
 * dropped). Loop thread only. */
void ob_shutdown(ob_t *ob);

/* Frees after uv_run() returned (every callback ran). */
void ob_free(ob_t *ob);

#endif
