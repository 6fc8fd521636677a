/* SPDX-License-Identifier: MIT */
/* The analyzer pool: a fixed set of worker threads, each with its own eng_analyzer_t over
 * one model set they all share (engagement.h: the models are loaded once, not once per
 * worker), fed by a bounded queue of frames (the shared job queue, base/jobq.h). The loop
 * thread submits a frame (its bytes are handed over) and gets each result back on the loop
 * through a uv_async_t. Not libuv's shared threadpool: analysis is long and would starve
 * file-system and DNS work.
 *
 * Bounded by construction:
 *  - latest wins: a frame submitted while the same key's previous frame is still waiting
 *    replaces it (the replaced frame's user data is handed back to the caller at once);
 *  - at most max_queued frames wait; past that a frame is refused (skipped);
 *  - a frame that waited longer than max_wait_ms when a worker takes it is dropped as
 *    stale and reported with err = FP_ESTALE, so a backlog never turns into latency.
 *
 * The models load lazily, on the first frame a worker takes, unless preload is set (then at
 * start, in the worker threads: fp_new never blocks on model loading). Either way the first
 * worker that needs them loads them and the others wait for that load, then each makes its
 * analyzer (cheap). A load that fails is not retried: every frame then gets ENG_E_MODEL. */
#ifndef RC_FRAME_POOL_H
#define RC_FRAME_POOL_H

#include "engagement.h"

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define FP_ESTALE (-9101)    /* waited past max_wait_ms */
#define FP_ECANCELED (-9102) /* the pool shut down before analyzing it */

typedef struct fp_config {
    unsigned threads;     /* worker threads, >= 1 */
    size_t max_queued;    /* frames waiting (not counting those being analyzed), >= 1 */
    int64_t max_wait_ms;  /* a frame older than this when dequeued is dropped; 0: never */
    int preload;          /* load models at start instead of on the first frame */
    eng_config_t eng;     /* analyzer settings; model_dir is copied */
} fp_config_t;

/* One finished frame, handed to the done callback on the loop thread; borrowed for the
 * duration of the callback. */
typedef struct fp_result {
    uint64_t key;         /* as submitted (e.g. a connection id) */
    void *ud;             /* as submitted; the callback owns it again */
    int err;              /* 0, an ENG_E_* code, FP_ESTALE or FP_ECANCELED */
    eng_result_t res;     /* valid when err == 0 */
    double queue_ms;      /* waiting time */
    double analyze_ms;    /* analysis time on the worker */
} fp_result_t;

typedef void (*fp_done_cb)(const fp_result_t *r, void *pool_ud);

typedef struct fp_stats {
    uint64_t submitted;
    uint64_t analyzed;  /* results with err == 0 */
    uint64_t failed;    /* results with an ENG_E_* error */
    uint64_t replaced;  /* waiting frames replaced by a newer one of the same key */
    uint64_t skipped;   /* refused because the queue was full */
    uint64_t stale;     /* dropped after waiting past max_wait_ms */
    size_t queued;      /* waiting now */
    size_t busy;        /* being analyzed now */
    double analyze_ms_total;
} fp_stats_t;

typedef struct fp fp_t;

/* Starts the workers. cfg is borrowed. done runs on the loop thread for every submitted
 * frame that was not replaced or refused, exactly once. Returns 0 and *out, or a negative
 * code with a message in err and *out NULL; a failed start leaves no thread running and
 * closes what it opened on the loop (one more uv_run() finishes the close). Loop thread. */
int fp_new(uv_loop_t *loop, const fp_config_t *cfg, fp_done_cb done, void *pool_ud,
           fp_t **out, char *err, size_t errlen);

/* Queues a frame. Takes ownership of bytes (malloc'd) in every case. Returns:
 *  0        queued; *replaced_ud is NULL
 *  1        queued in place of the key's waiting frame; *replaced_ud is that frame's ud
 *           (the caller owns it again; its done callback will not run)
 *  BRK_EFULL the queue is full: the frame was freed and ud stays the caller's.
 * Loop thread. */
int fp_submit(fp_t *p, uint64_t key, uint8_t *bytes, size_t len, void *ud, void **replaced_ud);

void fp_get_stats(fp_t *p, fp_stats_t *out);

/* 1 once every worker has its analyzer or knows it cannot have one, i.e. the shared models
 * were loaded (or failed to) and every worker made its analyzer over them (at once without
 * preload): a broker is not ready for frames while its models are still loading. Loop
 * thread. */
int fp_ready(fp_t *p);

/* Stops the pool without blocking: workers finish the frame they hold and exit, frames
 * still waiting are reported with FP_ECANCELED, results are delivered, and once every
 * worker has exited the async handle closes (so uv_run can return). Later fp_submit calls
 * refuse with BRK_EFULL. Loop thread. */
void fp_shutdown(fp_t *p);

/* Joins the workers and frees the pool. Call after uv_run returned, never from a loop
 * callback. NULL is a no-op. */
void fp_free(fp_t *p);

#endif
