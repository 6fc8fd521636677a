/* SPDX-License-Identifier: MIT */
/* The job queue every worker thread of the broker runs on: the journal's SQLite worker, the
 * MongoDB sink and the analyzer pool. One or more dedicated threads (not libuv's shared
 * threadpool, which file-system and DNS work need) take jobs in submission order from one
 * mutex-guarded FIFO, run them, and push the finished ones onto a done list; the loop thread
 * drains the whole list from a uv_async_t (sends coalesce) and hands each job back through the
 * done hook.
 *
 * What the users differ in is configuration:
 *  - bound: at most max_waiting jobs wait; past that a submit is refused (BRK_EFULL);
 *  - latest wins: a job submitted while a job of the same key still waits takes its place
 *    in line (and its queue time), and the waiting one is handed back to the caller;
 *  - staleness: a job that waited longer than max_wait_ns when a worker takes it is not run
 *    and comes back with JOBQ_STALE;
 *  - shutdown: jobs still waiting either all run first (JOBQ_DRAIN) or come back at once
 *    with JOBQ_CANCELED (JOBQ_CANCEL).
 *
 * Jobs are intrusive: a user's job struct starts with a jobq_job_t (or embeds one and finds
 * its struct again from it). The queue never allocates or frees a job. */
#ifndef BRK_JOBQ_H
#define BRK_JOBQ_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

/* How a job came back to the done hook. */
typedef enum {
    JOBQ_DONE = 0, /* run() ran it */
    JOBQ_STALE,    /* waited past max_wait_ns: not run */
    JOBQ_CANCELED, /* still waiting at a JOBQ_CANCEL shutdown: not run */
    JOBQ_REFUSED,  /* handed to jobq_refuse_later(): not run */
} jobq_status_t;

typedef struct jobq_job {
    struct jobq_job *next; /* the queue's link; the user never touches it */
    uint64_t key;          /* for latest wins (jobq_config_t.latest_wins); else unused */
    uint64_t queued_ns;    /* set by jobq_submit (monotonic clock) */
    uint64_t waited_ns;    /* time spent waiting, set when a worker takes the job */
    jobq_status_t status;  /* set before the done hook runs */
} jobq_job_t;

typedef enum {
    JOBQ_DRAIN,  /* at shutdown, jobs already queued still run */
    JOBQ_CANCEL, /* at shutdown, jobs still waiting come back with JOBQ_CANCELED */
} jobq_shutdown_mode_t;

typedef struct jobq_config {
    unsigned threads;     /* worker threads, >= 1 */
    size_t max_waiting;   /* jobs waiting (not counting running ones); 0: unbounded */
    uint64_t max_wait_ns; /* a job that waited longer is not run (JOBQ_STALE); 0: never */
    int latest_wins;      /* 1: a job replaces the waiting job of the same key */
    jobq_shutdown_mode_t on_shutdown;

    /* Worker thread, optional: runs once in each worker before it takes any job (index is
     * 0..threads-1); its return value is handed to run() and thread_stop() of that worker.
     * jobq_wait_started() and jobq_all_started() tell when every worker has returned from
     * it, and that return orders whatever it wrote before the waiter's reads. */
    void *(*thread_start)(unsigned index, void *ud);
    /* Worker thread, required: runs one job; the job's fields belong to this worker until it
     * returns. */
    void (*run)(jobq_job_t *job, void *thread_state, void *ud);
    /* Worker thread, optional: runs once as the worker exits, after it has stopped touching
     * the queue; it must not call into the queue. */
    void (*thread_stop)(void *thread_state, void *ud);
    /* Loop thread, required: a job comes back (status says how); the user owns it again.
     * A JOBQ_REFUSED job may come back after jobq_free(): its done hook must then touch
     * nothing but the job. The hook may submit further jobs or call jobq_shutdown(). */
    void (*done)(jobq_job_t *job, void *ud);
    /* Loop thread (inside jobq_free), required: a job that will never come back, because the
     * queue is freed before the loop delivered it. */
    void (*discard)(jobq_job_t *job, void *ud);
    void *ud; /* handed to every hook */
} jobq_config_t;

typedef struct jobq_stats {
    size_t waiting; /* jobs in line now */
    size_t running; /* jobs inside run() now */
    uint64_t stale; /* jobs dropped as stale so far */
} jobq_stats_t;

typedef struct jobq jobq_t;

/* Starts the workers (with every signal blocked, so that process signals always reach the
 * loop thread). cfg is copied. Returns 0 and *out, or a negative code (BRK_EINVAL, a UV_E*
 * code, BRK_EIO) with *out NULL and a reason in err. On failure nothing is left running: the
 * workers already started are joined and the async handle, if it was initialized, is closing
 * (it frees itself on the next loop turn, so uv_loop_close() succeeds after one more
 * uv_run()). Loop thread. */
int jobq_new(uv_loop_t *loop, const jobq_config_t *cfg, jobq_t **out, char *err, size_t errlen);

/* Queues job (the queue borrows it until the done hook, discard hook or *replaced hands it
 * back). Returns:
 *  0           queued;
 *  1           latest wins: queued in place of the same key's waiting job, which is in
 *              *replaced (never run, never handed to done);
 *  BRK_EFULL   max_waiting jobs wait already: not queued, job stays the caller's;
 *  BRK_ECLOSED jobq_shutdown() was called: not queued, job stays the caller's.
 * replaced may be NULL when latest_wins is off. Loop thread. */
int jobq_submit(jobq_t *q, jobq_job_t *job, jobq_job_t **replaced);

/* Hands job back to the done hook with JOBQ_REFUSED on a later loop turn, never inside this
 * call, through a timer of its own (so it works after jobq_shutdown(), when the async handle
 * may be closed already). For a job that jobq_submit() refused. Loop thread. */
void jobq_refuse_later(jobq_t *q, jobq_job_t *job);

/* Jobs submitted and not yet handed back by the done hook (waiting, running or finished
 * but not yet delivered). Loop thread. */
size_t jobq_pending(const jobq_t *q);

/* Any thread. */
void jobq_get_stats(jobq_t *q, jobq_stats_t *out);

/* Worker threads started (all of them once jobq_new returned 0). */
unsigned jobq_threads(const jobq_t *q);

/* 1 once every worker has returned from thread_start. Any thread. */
int jobq_all_started(jobq_t *q);

/* Blocks until every worker has returned from thread_start. Loop thread, at start-up only. */
void jobq_wait_started(jobq_t *q);

/* Stops the queue without blocking: later submits are refused; waiting jobs run
 * (JOBQ_DRAIN) or come back canceled (JOBQ_CANCEL); each worker exits once there is nothing
 * left for it; once every worker has exited and every job came back, the async handle closes,
 * so uv_run() can return. Idempotent. Loop thread. */
void jobq_shutdown(jobq_t *q);

/* Shuts down if that was not done, joins the workers, hands every job not delivered to the
 * discard hook, and frees the queue. Call after uv_run() returned, never from a loop
 * callback. NULL is a no-op. */
void jobq_free(jobq_t *q);

#endif
