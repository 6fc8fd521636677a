/* SPDX-License-Identifier: MIT */
/* The analyzer pool (pool.h) on the shared job queue (base/jobq.h): the queue gives the
 * workers, the bound, latest wins per key, staleness and the cancelling shutdown; this file
 * adds what is the analyzer's own: one model set loaded once and shared by every worker, one
 * eng_analyzer_t per worker over it (made at start or on the first frame), the frame bytes a
 * job owns, and the pool's counters. */
#include "pool.h"

#include "brk.h"
#include "jobq.h"
#include "log.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct job {
    jobq_job_t base; /* first: the queue's handle on the job; base.key is the frame's key */
    void *ud;
    uint8_t *bytes;
    size_t len;
    fp_result_t r;
} job_t;

/* One worker's analyzer, created in its thread. */
typedef struct worker {
    eng_analyzer_t *a;
    int load_failed; /* the models or this worker's analyzer failed: every frame errs */
} worker_t;

struct fp {
    jobq_t *q;
    fp_config_t cfg;
    char *model_dir;
    fp_done_cb done;
    void *pool_ud;

    pthread_mutex_t mu; /* guards stats: workers count results, the loop counts submits */
    fp_stats_t stats;   /* queued, busy and stale come from the queue */

    /* The models, loaded by the first worker that needs them while the others wait on
     * models_mu, then shared read-only (engagement.h). Set once and never changed until
     * fp_free, after the workers are joined; the pool owns one reference, each analyzer
     * another. */
    pthread_mutex_t models_mu;
    eng_models_t *models;
    int models_tried; /* models_mu: loading was attempted (models NULL: it failed) */

    int closing; /* loop thread: fp_shutdown was called */
};

static void job_free(job_t *j)
{
    free(j->bytes);
    free(j);
}

/* Worker thread: the shared models, loaded by the first caller; a later caller waits until
 * that load finished. A failed load is not retried (as before models were shared, when each
 * worker tried once): the models are missing or broken, and the error is logged once. */
static eng_models_t *shared_models(fp_t *p)
{
    pthread_mutex_lock(&p->models_mu);
    if (!p->models_tried) {
        char err[256] = "";
        eng_config_t ecfg = p->cfg.eng;
        ecfg.model_dir = p->model_dir;
        uint64_t t0 = brk_mono_ns();
        p->models = eng_models_load(&ecfg, err, sizeof err);
        p->models_tried = 1;
        if (p->models)
            LOG(INFO, 0, "analyzer models loaded", "ms=%.0f",
                (double)(brk_mono_ns() - t0) / 1e6);
        else
            LOG(ERROR, 0, "analyzer models failed to load", "err=\"%s\"", err);
    }
    eng_models_t *m = p->models;
    pthread_mutex_unlock(&p->models_mu);
    return m;
}

/* Worker thread: this worker's analyzer over the shared models (loading them if no worker
 * did yet). */
static eng_analyzer_t *load(fp_t *p, worker_t *w)
{
    eng_models_t *m = shared_models(p);
    if (!m) {
        w->load_failed = 1;
        return NULL;
    }
    char err[256] = "";
    w->a = eng_analyzer_new(m, &p->cfg.eng, err, sizeof err);
    if (!w->a) {
        w->load_failed = 1;
        LOG(ERROR, 0, "analyzer failed to start", "err=\"%s\"", err);
    }
    return w->a;
}

/* Worker thread. With preload the models load here, before the worker takes any frame (the
 * first worker loads them, the others wait for it and then make their analyzers), and
 * fp_ready() turns 1 once every worker is past this point (jobq_all_started). */
static void *on_worker_start(unsigned index, void *ud)
{
    (void)index;
    fp_t *p = ud;
    worker_t *w = brk_calloc(1, sizeof *w);
    if (p->cfg.preload)
        load(p, w);
    return w;
}

static void on_worker_stop(void *state, void *ud)
{
    (void)ud;
    worker_t *w = state;
    eng_analyzer_free(w->a);
    free(w);
}

/* Worker thread: analyzes one frame, then frees its bytes. */
static void on_run(jobq_job_t *jj, void *state, void *ud)
{
    fp_t *p = ud;
    worker_t *w = state;
    job_t *j = (job_t *)jj;
    if (!w->a && !w->load_failed)
        load(p, w);
    uint64_t t0 = brk_mono_ns();
    j->r.err = w->a ? eng_analyze(w->a, j->bytes, j->len, &j->r.res) : ENG_E_MODEL;
    j->r.analyze_ms = (double)(brk_mono_ns() - t0) / 1e6;
    BRK_FREE(j->bytes);

    /* Counted before the queue stops counting the frame as running, so a reader never sees
     * it neither running nor analyzed. */
    pthread_mutex_lock(&p->mu);
    if (j->r.err == 0) {
        p->stats.analyzed++;
        p->stats.analyze_ms_total += j->r.analyze_ms;
    } else {
        p->stats.failed++;
    }
    pthread_mutex_unlock(&p->mu);
}

/* Loop thread: every frame that was queued comes back here exactly once. */
static void on_done(jobq_job_t *jj, void *ud)
{
    fp_t *p = ud;
    job_t *j = (job_t *)jj;
    if (jj->status == JOBQ_STALE)
        j->r.err = FP_ESTALE;
    else if (jj->status != JOBQ_DONE)
        j->r.err = FP_ECANCELED;
    j->r.queue_ms = (double)jj->waited_ns / 1e6;
    j->r.key = jj->key;
    j->r.ud = j->ud;
    p->done(&j->r, p->pool_ud);
    job_free(j);
}

/* Results still undelivered when the pool is freed: their owners are gone with the loop. */
static void on_discard(jobq_job_t *jj, void *ud)
{
    (void)ud;
    job_free((job_t *)jj);
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
    p->cfg = *cfg;
    const char *md = cfg->eng.model_dir ? cfg->eng.model_dir : getenv("ROLLCALL_MODEL_DIR");
    p->model_dir = md ? brk_strdup(md) : NULL;
    p->cfg.eng.model_dir = NULL;
    p->done = done;
    p->pool_ud = pool_ud;
    pthread_mutex_init(&p->mu, NULL);
    pthread_mutex_init(&p->models_mu, NULL);

    jobq_config_t qc = {
        .threads = cfg->threads,
        .max_waiting = cfg->max_queued,
        .max_wait_ns = cfg->max_wait_ms > 0 ? (uint64_t)cfg->max_wait_ms * 1000000ULL : 0,
        .latest_wins = 1,
        .on_shutdown = JOBQ_CANCEL,
        .thread_start = on_worker_start,
        .run = on_run,
        .thread_stop = on_worker_stop,
        .done = on_done,
        .discard = on_discard,
        .ud = p,
    };
    char qerr[160];
    int rc = jobq_new(loop, &qc, &p->q, qerr, sizeof qerr);
    if (rc != 0) {
        /* The queue left nothing running and closes its own handle. */
        snprintf(err, errlen, "analyzer pool: %s", qerr);
        eng_models_unref(p->models); /* a worker may have loaded them before the failure */
        pthread_mutex_destroy(&p->models_mu);
        pthread_mutex_destroy(&p->mu);
        free(p->model_dir);
        free(p);
        return rc;
    }
    *out = p;
    return 0;
}

int fp_submit(fp_t *p, uint64_t key, uint8_t *bytes, size_t len, void *ud, void **replaced_ud)
{
    *replaced_ud = NULL;
    if (p->closing) {
        free(bytes);
        return BRK_EFULL;
    }
    job_t *j = brk_calloc(1, sizeof(*j));
    j->base.key = key;
    j->ud = ud;
    j->bytes = bytes;
    j->len = len;
    jobq_job_t *old = NULL;
    int rc = jobq_submit(p->q, &j->base, &old);
    pthread_mutex_lock(&p->mu);
    p->stats.submitted++;
    if (rc == 1)
        p->stats.replaced++;
    else if (rc == BRK_EFULL)
        p->stats.skipped++;
    pthread_mutex_unlock(&p->mu);
    if (rc == 1) {
        /* Latest wins: the newer frame took the waiting one's place in line. */
        *replaced_ud = ((job_t *)old)->ud;
        job_free((job_t *)old);
        return 1;
    }
    if (rc != 0) {
        job_free(j); /* frees the bytes; ud stays the caller's */
        return BRK_EFULL;
    }
    return 0;
}

void fp_get_stats(fp_t *p, fp_stats_t *out)
{
    jobq_stats_t qs;
    pthread_mutex_lock(&p->mu);
    *out = p->stats;
    pthread_mutex_unlock(&p->mu);
    jobq_get_stats(p->q, &qs);
    out->queued = qs.waiting;
    out->busy = qs.running;
    out->stale = qs.stale;
}

int fp_ready(fp_t *p)
{
    if (!p->cfg.preload)
        return 1;
    return jobq_all_started(p->q);
}

void fp_shutdown(fp_t *p)
{
    if (!p || p->closing)
        return;
    p->closing = 1;
    /* Waiting frames come back canceled; the handle closes once every worker exited. */
    jobq_shutdown(p->q);
}

void fp_free(fp_t *p)
{
    if (!p)
        return;
    fp_shutdown(p);
    jobq_free(p->q);
    eng_models_unref(p->models); /* the workers are joined: their analyzers are freed */
    pthread_mutex_destroy(&p->models_mu);
    pthread_mutex_destroy(&p->mu);
    free(p->model_dir);
    free(p);
}
