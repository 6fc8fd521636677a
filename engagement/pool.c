/* SPDX-License-Identifier: MIT */
/* The analyzer pool (pool.h): worker threads sharing one mutex-guarded FIFO of waiting
 * frames and one list of finished ones that the loop drains from a uv_async_t. */
#include "pool.h"

#include "brk.h"
#include "log.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct job {
    struct job *next;
    uint64_t key;
    void *ud;
    uint8_t *bytes;
    size_t len;
    uint64_t queued_ns;
    fp_result_t r;
} job_t;

struct fp {
    uv_loop_t *loop;
    uv_async_t *async; /* allocated apart: its close callback frees it */
    fp_config_t cfg;
    char *model_dir;
    fp_done_cb done;
    void *pool_ud;

    pthread_t *threads;
    unsigned n_threads; /* started */

    pthread_mutex_t mu;
    pthread_cond_t cv;
    job_t *todo_head, *todo_tail; /* under mu */
    size_t todo_len;              /* under mu */
    job_t *done_head, *done_tail; /* under mu */
    unsigned exited;              /* workers that left their loop, under mu */
    unsigned loaded;              /* workers done with preloading (loaded or failed), under mu */
    int stop;                     /* under mu */
    fp_stats_t stats;             /* under mu */

    int closing; /* loop thread: fp_shutdown was called */
    int async_closed;
};

static void job_free(job_t *j)
{
    free(j->bytes);
    free(j);
}

static void push_done(fp_t *p, job_t *j)
{
    j->next = NULL;
    if (p->done_tail)
        p->done_tail->next = j;
    else
        p->done_head = j;
    p->done_tail = j;
}

static void *worker(void *arg)
{
    fp_t *p = arg;
    eng_analyzer_t *a = NULL;
    int load_failed = 0;
    char err[256] = "";

    eng_config_t ecfg = p->cfg.eng;
    ecfg.model_dir = p->model_dir;
    if (p->cfg.preload) {
        a = eng_analyzer_new(&ecfg, err, sizeof err);
        if (!a) {
            load_failed = 1;
            LOG(ERROR, 0, "analyzer models failed to load", "err=\"%s\"", err);
        }
    }

    pthread_mutex_lock(&p->mu);
    p->loaded++;
    for (;;) {
        while (!p->stop && !p->todo_head)
            pthread_cond_wait(&p->cv, &p->mu);
        if (p->stop)
            break;
        job_t *j = p->todo_head;
        p->todo_head = j->next;
        if (!p->todo_head)
            p->todo_tail = NULL;
        p->todo_len--;
        p->stats.queued = p->todo_len;
        uint64_t now = brk_mono_ns();
        j->r.queue_ms = (double)(now - j->queued_ns) / 1e6;
        if (p->cfg.max_wait_ms > 0 && j->r.queue_ms > (double)p->cfg.max_wait_ms) {
            j->r.err = FP_ESTALE;
            p->stats.stale++;
            push_done(p, j);
            uv_async_send(p->async); /* under the lock: see the end of this function */
            continue;
        }
        p->stats.busy++;
        pthread_mutex_unlock(&p->mu);

        if (!a && !load_failed) {
            a = eng_analyzer_new(&ecfg, err, sizeof err);
            if (!a) {
                load_failed = 1;
                LOG(ERROR, 0, "analyzer models failed to load", "err=\"%s\"", err);
            }
        }
        uint64_t t0 = brk_mono_ns();
        j->r.err = a ? eng_analyze(a, j->bytes, j->len, &j->r.res) : ENG_E_MODEL;
        j->r.analyze_ms = (double)(brk_mono_ns() - t0) / 1e6;
        BRK_FREE(j->bytes);

        pthread_mutex_lock(&p->mu);
        p->stats.busy--;
        if (j->r.err == 0) {
            p->stats.analyzed++;
            p->stats.analyze_ms_total += j->r.analyze_ms;
        } else {
            p->stats.failed++;
        }
        push_done(p, j);
        uv_async_send(p->async); /* under the lock: see below */
    }
    /* Every send happens under the lock, this last one included, as in the journal and the
     * MongoDB sink. The loop thread closes (and frees) the handle only after it has seen,
     * under this lock, every worker counted as exited; so by then each worker's sends have
     * returned and none touches the handle again. Sending after the unlock left a window in
     * which the loop could close and free the handle before the last worker's send. */
    p->exited++;
    uv_async_send(p->async);
    pthread_mutex_unlock(&p->mu);
    eng_analyzer_free(a);
    return NULL;
}

static void on_async_closed(uv_handle_t *h)
{
    free(h);
}

static void on_async(uv_async_t *h)
{
    fp_t *p = h->data;
    pthread_mutex_lock(&p->mu);
    job_t *list = p->done_head;
    p->done_head = p->done_tail = NULL;
    /* Seen under the lock, after which no worker sends again (worker()). */
    int all_exited = p->closing && p->exited == p->n_threads;
    pthread_mutex_unlock(&p->mu);

    while (list) {
        job_t *j = list;
        list = j->next;
        j->r.key = j->key;
        j->r.ud = j->ud;
        p->done(&j->r, p->pool_ud);
        job_free(j);
    }
    if (all_exited && !p->async_closed) {
        /* Workers are gone: nothing can be added to the done list any more. */
        p->async_closed = 1;
        uv_close((uv_handle_t *)p->async, on_async_closed);
    }
}

int fp_new(uv_loop_t *loop, const fp_config_t *cfg, fp_done_cb done, void *pool_ud,
           fp_t **out, char *err, size_t errlen)
{
    *out = NULL;
    if (!loop || !cfg || !done || cfg->threads < 1 || cfg->max_queued < 1) {
        snprintf(err, errlen, "invalid analyzer pool configuration");
        return BRK_EINVAL;
    }
    fp_t *p = brk_calloc(1, sizeof(*p));
    p->loop = loop;
    p->cfg = *cfg;
    const char *md = cfg->eng.model_dir ? cfg->eng.model_dir : getenv("ROLLCALL_MODEL_DIR");
    p->model_dir = md ? brk_strdup(md) : NULL;
    p->cfg.eng.model_dir = NULL;
    p->done = done;
    p->pool_ud = pool_ud;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    p->async = brk_calloc(1, sizeof(*p->async));
    p->async->data = p;
    int rc = uv_async_init(loop, p->async, on_async);
    if (rc != 0) {
        free(p->async);
        p->async = NULL;
        snprintf(err, errlen, "uv_async_init: %s", uv_strerror(rc));
        goto fail;
    }
    p->threads = brk_calloc(cfg->threads, sizeof(*p->threads));
    for (unsigned i = 0; i < cfg->threads; i++) {
        rc = pthread_create(&p->threads[i], NULL, worker, p);
        if (rc != 0) {
            snprintf(err, errlen, "cannot start analyzer thread %u: %s", i, strerror(rc));
            rc = BRK_EIO;
            fp_shutdown(p);
            /* Started workers exit promptly; the handle closes on the next loop turns. */
            for (unsigned k = 0; k < p->n_threads; k++)
                pthread_join(p->threads[k], NULL);
            p->n_threads = 0;
            *out = p; /* the caller frees it after the loop ran (the handle is closing) */
            return rc;
        }
        p->n_threads++;
    }
    *out = p;
    return 0;
fail:
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p->model_dir);
    free(p);
    return rc < 0 ? rc : BRK_EIO;
}

int fp_submit(fp_t *p, uint64_t key, uint8_t *bytes, size_t len, void *ud, void **replaced_ud)
{
    *replaced_ud = NULL;
    pthread_mutex_lock(&p->mu);
    if (p->closing || p->stop) {
        pthread_mutex_unlock(&p->mu);
        free(bytes);
        return BRK_EFULL;
    }
    p->stats.submitted++;
    for (job_t *j = p->todo_head; j; j = j->next) {
        if (j->key != key)
            continue;
        /* Latest wins: the newer frame takes the waiting one's place in line. */
        free(j->bytes);
        j->bytes = bytes;
        j->len = len;
        *replaced_ud = j->ud;
        j->ud = ud;
        p->stats.replaced++;
        pthread_mutex_unlock(&p->mu);
        return 1;
    }
    if (p->todo_len >= p->cfg.max_queued) {
        p->stats.skipped++;
        pthread_mutex_unlock(&p->mu);
        free(bytes);
        return BRK_EFULL;
    }
    job_t *j = brk_calloc(1, sizeof(*j));
    j->key = key;
    j->ud = ud;
    j->bytes = bytes;
    j->len = len;
    j->queued_ns = brk_mono_ns();
    if (p->todo_tail)
        p->todo_tail->next = j;
    else
        p->todo_head = j;
    p->todo_tail = j;
    p->todo_len++;
    p->stats.queued = p->todo_len;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
    return 0;
}

void fp_get_stats(fp_t *p, fp_stats_t *out)
{
    pthread_mutex_lock(&p->mu);
    *out = p->stats;
    pthread_mutex_unlock(&p->mu);
}

int fp_ready(fp_t *p)
{
    if (!p->cfg.preload)
        return 1;
    pthread_mutex_lock(&p->mu);
    int ready = p->loaded >= p->n_threads;
    pthread_mutex_unlock(&p->mu);
    return ready;
}

void fp_shutdown(fp_t *p)
{
    if (!p || p->closing)
        return;
    p->closing = 1;
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    /* Waiting frames will never be analyzed: report them as canceled. */
    while (p->todo_head) {
        job_t *j = p->todo_head;
        p->todo_head = j->next;
        BRK_FREE(j->bytes);
        j->r.err = FP_ECANCELED;
        push_done(p, j);
    }
    p->todo_tail = NULL;
    p->todo_len = 0;
    p->stats.queued = 0;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    if (p->async)
        uv_async_send(p->async); /* delivers the cancellations; closes once all exited */
}

void fp_free(fp_t *p)
{
    if (!p)
        return;
    fp_shutdown(p);
    for (unsigned i = 0; i < p->n_threads; i++)
        pthread_join(p->threads[i], NULL);
    /* Results still listed (the loop did not run after the last worker exited) are freed
     * without a callback: their owners are gone with the loop. */
    job_t *list = p->done_head;
    while (list) {
        job_t *j = list;
        list = j->next;
        job_free(j);
    }
    if (p->async && !p->async_closed) {
        /* The loop never ran the last drain; closing now lets uv_loop_close succeed after
         * one more turn, and the close callback frees the handle. */
        p->async_closed = 1;
        uv_close((uv_handle_t *)p->async, on_async_closed);
    }
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p->threads);
    free(p->model_dir);
    free(p);
}
