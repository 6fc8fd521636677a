/* SPDX-License-Identifier: MIT */
/* The job queue (jobq.h): worker threads sharing one mutex-guarded FIFO of waiting jobs and
 * one list of finished ones, which the loop thread drains from a uv_async_t.
 *
 * Closing the async handle safely is the delicate part. Every uv_async_send() of a worker
 * happens under the mutex, its last one ("I exited") included. The loop thread closes (and
 * frees) the handle only after it has seen, under that mutex, every worker counted as exited;
 * by then each worker's sends have returned and none touches the handle again. */
#include "jobq.h"

#include "brk.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct worker {
    jobq_t *q;
    pthread_t thread;
    unsigned index;
} worker_t;

struct jobq {
    uv_loop_t *loop;
    /* Allocated apart: its close callback frees it, so jobq_free() need not wait for the loop
     * to run that callback. */
    uv_async_t *async;
    jobq_config_t cfg;
    worker_t *workers;
    unsigned n_threads; /* started; written by the loop thread only */

    pthread_mutex_t mu;
    pthread_cond_t cv;                 /* workers wait here for jobs or the stop */
    pthread_cond_t started_cv;         /* jobq_wait_started() waits here */
    jobq_job_t *todo_head, *todo_tail; /* under mu */
    jobq_job_t *done_head, *done_tail; /* under mu */
    size_t waiting;                    /* under mu */
    size_t running;                    /* under mu */
    uint64_t stale;                    /* under mu */
    unsigned started;                  /* workers back from thread_start, under mu */
    unsigned exited;                   /* workers that left their loop, under mu */
    int stop;                          /* under mu */

    /* Loop thread only. */
    int closing;       /* jobq_shutdown() was called */
    int async_closing; /* uv_close() was called on async */
    size_t pending;    /* submitted, not yet handed back */
};

/* A job refused after shutdown: completed from a zero timer, which carries copies of the hook
 * and its argument so that it does not depend on the queue still existing. */
typedef struct refusal {
    uv_timer_t timer;
    jobq_job_t *job;
    void (*done)(jobq_job_t *job, void *ud);
    void *ud;
} refusal_t;

static void push_done(jobq_t *q, jobq_job_t *job)
{
    job->next = NULL;
    if (q->done_tail)
        q->done_tail->next = job;
    else
        q->done_head = job;
    q->done_tail = job;
}

static void *worker_main(void *arg)
{
    worker_t *w = arg;
    jobq_t *q = w->q;
    void *state = q->cfg.thread_start ? q->cfg.thread_start(w->index, q->cfg.ud) : NULL;

    pthread_mutex_lock(&q->mu);
    q->started++;
    pthread_cond_broadcast(&q->started_cv);
    for (;;) {
        while (!q->stop && !q->todo_head)
            pthread_cond_wait(&q->cv, &q->mu);
        jobq_job_t *job = q->todo_head;
        if (!job)
            break; /* stopping and nothing left for this worker */
        q->todo_head = job->next;
        if (!q->todo_head)
            q->todo_tail = NULL;
        job->next = NULL;
        q->waiting--;
        job->waited_ns = brk_mono_ns() - job->queued_ns;
        if (q->cfg.max_wait_ns > 0 && job->waited_ns > q->cfg.max_wait_ns) {
            /* A backlog must not turn into latency: the job is handed back unrun. */
            job->status = JOBQ_STALE;
            q->stale++;
            push_done(q, job);
            uv_async_send(q->async);
            continue;
        }
        q->running++;
        pthread_mutex_unlock(&q->mu);

        q->cfg.run(job, state, q->cfg.ud);

        pthread_mutex_lock(&q->mu);
        q->running--;
        job->status = JOBQ_DONE;
        push_done(q, job);
        uv_async_send(q->async); /* under the lock: see the top of this file */
    }
    q->exited++;
    uv_async_send(q->async);
    pthread_mutex_unlock(&q->mu);
    if (q->cfg.thread_stop)
        q->cfg.thread_stop(state, q->cfg.ud);
    return NULL;
}

static void on_async_closed(uv_handle_t *h)
{
    /* The queue may be gone already: touch nothing but the handle. */
    free(h);
}

static void close_async(jobq_t *q)
{
    if (q->async && !q->async_closing) {
        q->async_closing = 1;
        uv_close((uv_handle_t *)q->async, on_async_closed);
    }
}

static void on_async(uv_async_t *h)
{
    jobq_t *q = h->data;
    pthread_mutex_lock(&q->mu);
    jobq_job_t *list = q->done_head;
    q->done_head = q->done_tail = NULL;
    /* Seen under the lock, after which no worker sends again. Workers that have all exited
     * can add nothing more to the done list, so this drain is the last one. */
    int all_exited = q->closing && q->exited == q->n_threads;
    pthread_mutex_unlock(&q->mu);

    while (list) {
        jobq_job_t *job = list;
        list = job->next;
        job->next = NULL;
        q->pending--;
        q->cfg.done(job, q->cfg.ud);
    }
    if (all_exited)
        close_async(q);
}

/* Asks the workers to stop once their work is done. Loop thread; the caller decides what
 * happens to waiting jobs first. */
static void stop_workers(jobq_t *q)
{
    pthread_mutex_lock(&q->mu);
    q->stop = 1;
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
}

static void join_workers(jobq_t *q)
{
    for (unsigned i = 0; i < q->n_threads; i++)
        pthread_join(q->workers[i].thread, NULL);
}

static void destroy(jobq_t *q)
{
    pthread_cond_destroy(&q->started_cv);
    pthread_cond_destroy(&q->cv);
    pthread_mutex_destroy(&q->mu);
    free(q->workers);
    free(q);
}

int jobq_new(uv_loop_t *loop, const jobq_config_t *cfg, jobq_t **out, char *err, size_t errlen)
{
    *out = NULL;
    if (!loop || !cfg || cfg->threads < 1 || !cfg->run || !cfg->done || !cfg->discard) {
        snprintf(err, errlen, "invalid job queue configuration");
        return BRK_EINVAL;
    }
    jobq_t *q = brk_calloc(1, sizeof *q);
    q->loop = loop;
    q->cfg = *cfg;
    q->workers = brk_calloc(cfg->threads, sizeof *q->workers);
    /* Initializing a mutex or condition variable with default attributes cannot fail on
     * Linux (glibc never returns an error for them). */
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->cv, NULL);
    pthread_cond_init(&q->started_cv, NULL);

    q->async = brk_calloc(1, sizeof *q->async);
    int rc = uv_async_init(loop, q->async, on_async);
    if (rc != 0) {
        /* A failed init registers nothing with the loop. */
        snprintf(err, errlen, "uv_async_init: %s", uv_strerror(rc));
        free(q->async);
        destroy(q);
        return rc;
    }
    q->async->data = q;

    /* The workers inherit this mask: every signal goes to the loop thread. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    for (unsigned i = 0; i < cfg->threads; i++) {
        q->workers[i].q = q;
        q->workers[i].index = i;
        rc = pthread_create(&q->workers[i].thread, NULL, worker_main, &q->workers[i]);
        if (rc != 0) {
            snprintf(err, errlen, "cannot start worker thread %u: %s", i, strerror(rc));
            break;
        }
        q->n_threads++;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        /* No job was ever queued: the started workers see the stop and exit at once. After
         * the join nothing can send on the handle, so it may close right away. */
        stop_workers(q);
        join_workers(q);
        close_async(q);
        destroy(q);
        return BRK_EIO;
    }
    *out = q;
    return 0;
}

int jobq_submit(jobq_t *q, jobq_job_t *job, jobq_job_t **replaced)
{
    if (replaced)
        *replaced = NULL;
    if (q->closing)
        return BRK_ECLOSED;
    job->next = NULL;
    job->waited_ns = 0;
    job->status = JOBQ_DONE;
    pthread_mutex_lock(&q->mu);
    if (q->cfg.latest_wins) {
        for (jobq_job_t **link = &q->todo_head; *link; link = &(*link)->next) {
            jobq_job_t *old = *link;
            if (old->key != job->key)
                continue;
            /* The newer job takes the waiting one's place in line and its queue time: the
             * wait is the key's, whichever of its jobs ends up running. */
            job->queued_ns = old->queued_ns;
            job->next = old->next;
            *link = job;
            if (q->todo_tail == old)
                q->todo_tail = job;
            old->next = NULL;
            pthread_mutex_unlock(&q->mu);
            BRK_ASSERT(replaced);
            *replaced = old;
            return 1;
        }
    }
    if (q->cfg.max_waiting > 0 && q->waiting >= q->cfg.max_waiting) {
        pthread_mutex_unlock(&q->mu);
        return BRK_EFULL;
    }
    job->queued_ns = brk_mono_ns();
    if (q->todo_tail)
        q->todo_tail->next = job;
    else
        q->todo_head = job;
    q->todo_tail = job;
    q->waiting++;
    pthread_cond_signal(&q->cv);
    pthread_mutex_unlock(&q->mu);
    q->pending++;
    return 0;
}

static void on_refusal_closed(uv_handle_t *h)
{
    free(h->data);
}

static void on_refusal_timer(uv_timer_t *t)
{
    refusal_t *r = t->data;
    jobq_job_t *job = r->job;
    r->job = NULL;
    uv_close((uv_handle_t *)t, on_refusal_closed);
    job->status = JOBQ_REFUSED;
    r->done(job, r->ud);
}

void jobq_refuse_later(jobq_t *q, jobq_job_t *job)
{
    refusal_t *r = brk_calloc(1, sizeof *r);
    r->job = job;
    r->done = q->cfg.done;
    r->ud = q->cfg.ud;
    /* Neither call can fail for a timer on a live loop. */
    int rc = uv_timer_init(q->loop, &r->timer);
    BRK_ASSERT(rc == 0);
    r->timer.data = r;
    rc = uv_timer_start(&r->timer, on_refusal_timer, 0, 0);
    BRK_ASSERT(rc == 0);
}

size_t jobq_pending(const jobq_t *q)
{
    return q->pending;
}

void jobq_get_stats(jobq_t *q, jobq_stats_t *out)
{
    pthread_mutex_lock(&q->mu);
    out->waiting = q->waiting;
    out->running = q->running;
    out->stale = q->stale;
    pthread_mutex_unlock(&q->mu);
}

unsigned jobq_threads(const jobq_t *q)
{
    return q->n_threads;
}

int jobq_all_started(jobq_t *q)
{
    pthread_mutex_lock(&q->mu);
    int all = q->started >= q->n_threads;
    pthread_mutex_unlock(&q->mu);
    return all;
}

void jobq_wait_started(jobq_t *q)
{
    pthread_mutex_lock(&q->mu);
    while (q->started < q->n_threads)
        pthread_cond_wait(&q->started_cv, &q->mu);
    pthread_mutex_unlock(&q->mu);
}

void jobq_shutdown(jobq_t *q)
{
    if (!q || q->closing)
        return;
    q->closing = 1;
    pthread_mutex_lock(&q->mu);
    q->stop = 1;
    if (q->cfg.on_shutdown == JOBQ_CANCEL) {
        while (q->todo_head) {
            jobq_job_t *job = q->todo_head;
            q->todo_head = job->next;
            job->status = JOBQ_CANCELED;
            push_done(q, job);
        }
        q->todo_tail = NULL;
        q->waiting = 0;
    }
    pthread_cond_broadcast(&q->cv);
    /* Delivers the cancellations, and closes the handle at once when the workers have all
     * exited already (or none runs any more). */
    uv_async_send(q->async);
    pthread_mutex_unlock(&q->mu);
}

void jobq_free(jobq_t *q)
{
    if (!q)
        return;
    jobq_shutdown(q);
    join_workers(q);
    /* Jobs the loop never delivered (it did not run after the last worker exited): their
     * owners may be gone with the loop, so they are discarded without the done hook. With
     * JOBQ_DRAIN the workers ran every waiting job before exiting, so the list of waiting
     * jobs is empty here in both modes. */
    BRK_ASSERT(q->todo_head == NULL);
    for (jobq_job_t *job = q->done_head, *next; job; job = next) {
        next = job->next;
        job->next = NULL;
        q->cfg.discard(job, q->cfg.ud);
    }
    q->done_head = q->done_tail = NULL;
    /* The workers are joined, so nothing can send on the handle any more; its close callback
     * frees it whenever the loop next runs. */
    close_async(q);
    destroy(q);
}
