/* SPDX-License-Identifier: MIT */
/* Unit tests of the job queue (base/jobq.h): jobs run in submission order and come back on
 * the loop thread, only inside uv_run(); a bounded queue refuses; latest wins keeps the
 * place in line; a job that waited too long comes back stale; a shutdown with jobs pending
 * either runs them (drain) or cancels them, and lets the loop close; a job refused after the
 * shutdown comes back on a later turn; jobq_free() discards what the loop never delivered;
 * a failed start leaves nothing behind; and no worker touches the async handle once the loop
 * closed it.
 *
 * Linked with -Wl,--wrap=uv_async_send and -Wl,--wrap=pthread_create (tests/CMakeLists.txt):
 * the first widens the window between a worker deciding to send and the send, the second
 * makes thread creation fail on demand. */
#include "brk.h"
#include "jobq.h"
#include "test.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#define MAX_JOBS 64

typedef struct tjob {
    jobq_job_t base; /* first: a jobq_job_t * is a tjob_t * */
    int id;
    int ran_on_worker; /* set by run() */
} tjob_t;

typedef struct fixture {
    pthread_t loop_thread;
    atomic_int gate;    /* run() waits while it is 0 */
    atomic_int runs;    /* run() calls */
    atomic_int started; /* thread_start() calls */
    atomic_int stopped; /* thread_stop() calls */
    int run_order[MAX_JOBS];
    atomic_int run_n;
    int done_order[MAX_JOBS];
    jobq_status_t done_status[MAX_JOBS];
    int done_n;
    int done_off_loop; /* done hook ran on another thread */
    int discarded;
    tjob_t jobs[MAX_JOBS];
} fixture_t;

static fixture_t fx;

static void fx_reset(void)
{
    memset(&fx, 0, sizeof fx);
    fx.loop_thread = pthread_self();
    atomic_store(&fx.gate, 1);
    for (int i = 0; i < MAX_JOBS; i++)
        fx.jobs[i].id = i;
}

static void *on_thread_start(unsigned index, void *ud)
{
    (void)ud;
    atomic_fetch_add(&fx.started, 1);
    return (void *)(uintptr_t)(index + 1);
}

static void on_thread_stop(void *state, void *ud)
{
    (void)ud;
    BRK_ASSERT(state != NULL); /* what thread_start returned comes back */
    atomic_fetch_add(&fx.stopped, 1);
}

static void on_run(jobq_job_t *job, void *state, void *ud)
{
    (void)ud;
    BRK_ASSERT(state != NULL);
    tjob_t *t = (tjob_t *)job;
    while (!atomic_load(&fx.gate))
        usleep(200);
    t->ran_on_worker = !pthread_equal(pthread_self(), fx.loop_thread);
    int i = atomic_fetch_add(&fx.run_n, 1);
    if (i < MAX_JOBS)
        fx.run_order[i] = t->id;
    atomic_fetch_add(&fx.runs, 1);
}

static void on_done(jobq_job_t *job, void *ud)
{
    (void)ud;
    tjob_t *t = (tjob_t *)job;
    if (!pthread_equal(pthread_self(), fx.loop_thread))
        fx.done_off_loop = 1;
    if (fx.done_n < MAX_JOBS) {
        fx.done_order[fx.done_n] = t->id;
        fx.done_status[fx.done_n] = job->status;
    }
    fx.done_n++;
}

static void on_discard(jobq_job_t *job, void *ud)
{
    (void)job;
    (void)ud;
    fx.discarded++;
}

static jobq_config_t cfg_of(unsigned threads, size_t max_waiting, jobq_shutdown_mode_t mode)
{
    jobq_config_t c;
    memset(&c, 0, sizeof c);
    c.threads = threads;
    c.max_waiting = max_waiting;
    c.on_shutdown = mode;
    c.thread_start = on_thread_start;
    c.thread_stop = on_thread_stop;
    c.run = on_run;
    c.done = on_done;
    c.discard = on_discard;
    return c;
}

static jobq_job_t *J(int i)
{
    return &fx.jobs[i].base;
}

/* Runs the loop until cond holds or ~timeout_ms passed. */
#define RUN_UNTIL(loop, cond, timeout_ms)                                                          \
    do {                                                                                           \
        uint64_t t_end_ = brk_mono_ns() + (uint64_t)(timeout_ms)*1000000ULL;                       \
        while (!(cond) && brk_mono_ns() < t_end_)                                                  \
            uv_run(loop, UV_RUN_NOWAIT);                                                           \
    } while (0)

/* Waits (without running the loop) until the workers hold `running` jobs and `waiting` wait. */
static int wait_stats(jobq_t *q, size_t running, size_t waiting)
{
    uint64_t end = brk_mono_ns() + 10ULL * 1000000000ULL;
    jobq_stats_t st;
    do {
        jobq_get_stats(q, &st);
        if (st.running == running && st.waiting == waiting)
            return 1;
        usleep(200);
    } while (brk_mono_ns() < end);
    return 0;
}

static void finish(uv_loop_t *loop, jobq_t *q)
{
    jobq_shutdown(q);
    ASSERT_EQ(uv_run(loop, UV_RUN_DEFAULT), 0);
    jobq_free(q);
    ASSERT_EQ(uv_loop_close(loop), 0);
}

static void test_order_and_completion_on_loop(void)
{
    fx_reset();
    uv_loop_t loop;
    ASSERT_EQ(uv_loop_init(&loop), 0);
    jobq_config_t c = cfg_of(1, 0, JOBQ_DRAIN);
    jobq_t *q;
    char err[128];
    ASSERT_EQ(jobq_new(&loop, &c, &q, err, sizeof err), 0);
    ASSERT_EQ(jobq_threads(q), 1);
    jobq_wait_started(q);
    ASSERT_EQ(atomic_load(&fx.started), 1);
    ASSERT(jobq_all_started(q));

    for (int i = 0; i < 20; i++)
        ASSERT_EQ(jobq_submit(q, J(i), NULL), 0);
    ASSERT_EQ(jobq_pending(q), 20);
    /* Every job has run, but none came back: that happens only inside uv_run(). */
    ASSERT(wait_stats(q, 0, 0));
    while (atomic_load(&fx.runs) < 20)
        usleep(200);
    ASSERT_EQ(fx.done_n, 0);
    ASSERT_EQ(jobq_pending(q), 20);

    RUN_UNTIL(&loop, fx.done_n == 20, 10000);
    ASSERT_EQ(fx.done_n, 20);
    ASSERT_EQ(fx.done_off_loop, 0);
    ASSERT_EQ(jobq_pending(q), 0);
    for (int i = 0; i < 20; i++) {
        ASSERT_EQ(fx.run_order[i], i);
        ASSERT_EQ(fx.done_order[i], i);
        ASSERT_EQ(fx.done_status[i], JOBQ_DONE);
        ASSERT(fx.jobs[i].ran_on_worker);
    }
    finish(&loop, q);
    ASSERT_EQ(atomic_load(&fx.stopped), 1);
    ASSERT_EQ(fx.discarded, 0);
}

static void test_bounded_refusal_and_latest_wins(void)
{
    fx_reset();
    uv_loop_t loop;
    ASSERT_EQ(uv_loop_init(&loop), 0);
    jobq_config_t c = cfg_of(1, 2, JOBQ_DRAIN);
    c.latest_wins = 1;
    jobq_t *q;
    char err[128];
    ASSERT_EQ(jobq_new(&loop, &c, &q, err, sizeof err), 0);

    atomic_store(&fx.gate, 0); /* the worker holds the first job */
    fx.jobs[0].base.key = 100;
    ASSERT_EQ(jobq_submit(q, J(0), NULL), 0);
    ASSERT(wait_stats(q, 1, 0));
    fx.jobs[1].base.key = 1;
    fx.jobs[2].base.key = 2;
    ASSERT_EQ(jobq_submit(q, J(1), NULL), 0);
    ASSERT_EQ(jobq_submit(q, J(2), NULL), 0);
    /* Two wait: a third key is refused, and stays the caller's. */
    fx.jobs[3].base.key = 3;
    ASSERT_EQ(jobq_submit(q, J(3), NULL), BRK_EFULL);
    /* Key 1's newer job takes its place in line even though the queue is full. */
    jobq_job_t *rep = NULL;
    fx.jobs[4].base.key = 1;
    ASSERT_EQ(jobq_submit(q, J(4), &rep), 1);
    ASSERT(rep == J(1));
    ASSERT_EQ(jobq_pending(q), 3);
    jobq_stats_t st;
    jobq_get_stats(q, &st);
    ASSERT_EQ(st.waiting, 2);
    ASSERT_EQ(st.running, 1);
    /* The running job's key is no longer waiting: a job of that key is a new one, and the
     * full queue refuses it. */
    fx.jobs[5].base.key = 100;
    jobq_job_t *none = J(9);
    ASSERT_EQ(jobq_submit(q, J(5), &none), BRK_EFULL);
    ASSERT_NULL(none);

    atomic_store(&fx.gate, 1);
    RUN_UNTIL(&loop, fx.done_n == 3, 10000);
    ASSERT_EQ(fx.done_n, 3);
    ASSERT_EQ(fx.done_order[0], 0);
    ASSERT_EQ(fx.done_order[1], 4); /* in key 1's original place, ahead of key 2 */
    ASSERT_EQ(fx.done_order[2], 2);
    ASSERT_EQ(atomic_load(&fx.runs), 3);
    finish(&loop, q);
}

static void test_stale(void)
{
    fx_reset();
    uv_loop_t loop;
    ASSERT_EQ(uv_loop_init(&loop), 0);
    jobq_config_t c = cfg_of(1, 0, JOBQ_DRAIN);
    /* Generous enough that a worker slow to wake on a loaded machine still takes the first
     * and the last job in time. */
    c.max_wait_ns = 200ULL * 1000000ULL;
    jobq_t *q;
    char err[128];
    ASSERT_EQ(jobq_new(&loop, &c, &q, err, sizeof err), 0);
    atomic_store(&fx.gate, 0);
    ASSERT_EQ(jobq_submit(q, J(0), NULL), 0);
    ASSERT(wait_stats(q, 1, 0));
    ASSERT_EQ(jobq_submit(q, J(1), NULL), 0);
    ASSERT_EQ(jobq_submit(q, J(2), NULL), 0);
    usleep(400000); /* both wait far past 200 ms */
    atomic_store(&fx.gate, 1);
    RUN_UNTIL(&loop, fx.done_n == 3, 10000);
    ASSERT_EQ(fx.done_n, 3);
    ASSERT_EQ(fx.done_status[0], JOBQ_DONE);
    ASSERT_EQ(fx.done_status[1], JOBQ_STALE);
    ASSERT_EQ(fx.done_status[2], JOBQ_STALE);
    ASSERT(fx.jobs[1].base.waited_ns > c.max_wait_ns);
    ASSERT_EQ(atomic_load(&fx.runs), 1);
    jobq_stats_t st;
    jobq_get_stats(q, &st);
    ASSERT_EQ(st.stale, 2);
    /* A job taken at once runs. */
    ASSERT_EQ(jobq_submit(q, J(3), NULL), 0);
    RUN_UNTIL(&loop, fx.done_n == 4, 10000);
    ASSERT_EQ(fx.done_status[3], JOBQ_DONE);
    finish(&loop, q);
}

/* Shutdown with jobs waiting, JOBQ_DRAIN: every one still runs and comes back, in order,
 * and then uv_run() returns on its own. A job submitted afterwards is refused and, handed
 * to jobq_refuse_later(), comes back on a later turn, not inside the call. */
static void test_shutdown_drain(void)
{
    fx_reset();
    uv_loop_t loop;
    ASSERT_EQ(uv_loop_init(&loop), 0);
    jobq_config_t c = cfg_of(2, 0, JOBQ_DRAIN);
    jobq_t *q;
    char err[128];
    ASSERT_EQ(jobq_new(&loop, &c, &q, err, sizeof err), 0);
    atomic_store(&fx.gate, 0);
    for (int i = 0; i < 10; i++)
        ASSERT_EQ(jobq_submit(q, J(i), NULL), 0);
    jobq_shutdown(q);
    ASSERT_EQ(jobq_submit(q, J(10), NULL), BRK_ECLOSED);
    jobq_refuse_later(q, J(10));
    ASSERT_EQ(fx.done_n, 0);
    atomic_store(&fx.gate, 1);
    ASSERT_EQ(uv_run(&loop, UV_RUN_DEFAULT), 0);
    ASSERT_EQ(fx.done_n, 11);
    ASSERT_EQ(atomic_load(&fx.runs), 10);
    int refused = 0, done = 0;
    for (int i = 0; i < 11; i++) {
        if (fx.done_status[i] == JOBQ_REFUSED) {
            ASSERT_EQ(fx.done_order[i], 10);
            refused++;
        } else {
            ASSERT_EQ(fx.done_status[i], JOBQ_DONE);
            done++;
        }
    }
    ASSERT_EQ(refused, 1);
    ASSERT_EQ(done, 10);
    ASSERT_EQ(jobq_pending(q), 0);
    jobq_free(q);
    ASSERT_EQ(uv_loop_close(&loop), 0);
    ASSERT_EQ(atomic_load(&fx.stopped), 2);
    ASSERT_EQ(fx.discarded, 0);
}

/* Shutdown with jobs waiting, JOBQ_CANCEL: the job in hand finishes, the waiting ones come
 * back canceled without running. */
static void test_shutdown_cancel(void)
{
    fx_reset();
    uv_loop_t loop;
    ASSERT_EQ(uv_loop_init(&loop), 0);
    jobq_config_t c = cfg_of(1, 0, JOBQ_CANCEL);
    jobq_t *q;
    char err[128];
    ASSERT_EQ(jobq_new(&loop, &c, &q, err, sizeof err), 0);
    atomic_store(&fx.gate, 0);
    ASSERT_EQ(jobq_submit(q, J(0), NULL), 0);
    ASSERT(wait_stats(q, 1, 0));
    for (int i = 1; i < 5; i++)
        ASSERT_EQ(jobq_submit(q, J(i), NULL), 0);
    jobq_shutdown(q);
    jobq_stats_t st;
    jobq_get_stats(q, &st);
    ASSERT_EQ(st.waiting, 0);
    atomic_store(&fx.gate, 1);
    ASSERT_EQ(uv_run(&loop, UV_RUN_DEFAULT), 0);
    ASSERT_EQ(fx.done_n, 5);
    ASSERT_EQ(atomic_load(&fx.runs), 1);
    int canceled = 0;
    for (int i = 0; i < 5; i++) {
        if (fx.done_order[i] == 0)
            ASSERT_EQ(fx.done_status[i], JOBQ_DONE);
        else if (fx.done_status[i] == JOBQ_CANCELED)
            canceled++;
    }
    ASSERT_EQ(canceled, 4);
    jobq_free(q);
    ASSERT_EQ(uv_loop_close(&loop), 0);
}

/* jobq_free() without letting the loop deliver: what finished is discarded, never handed to
 * done, and the loop still closes after one more run (the handle frees itself). */
static void test_free_discards_undelivered(void)
{
    fx_reset();
    uv_loop_t loop;
    ASSERT_EQ(uv_loop_init(&loop), 0);
    jobq_config_t c = cfg_of(1, 0, JOBQ_DRAIN);
    jobq_t *q;
    char err[128];
    ASSERT_EQ(jobq_new(&loop, &c, &q, err, sizeof err), 0);
    for (int i = 0; i < 5; i++)
        ASSERT_EQ(jobq_submit(q, J(i), NULL), 0);
    jobq_free(q); /* drains: all five run, none is delivered */
    ASSERT_EQ(atomic_load(&fx.runs), 5);
    ASSERT_EQ(fx.discarded, 5);
    ASSERT_EQ(uv_run(&loop, UV_RUN_DEFAULT), 0);
    ASSERT_EQ(fx.done_n, 0);
    ASSERT_EQ(uv_loop_close(&loop), 0);
}

/* pthread_create() fails for the third worker: jobq_new reports it, the two started workers
 * are stopped and joined, and the async handle is closed, so the loop closes cleanly. */
static atomic_int create_calls, create_fail_at;

int __real_pthread_create(pthread_t *t, const pthread_attr_t *a, void *(*fn)(void *), void *arg);
int __wrap_pthread_create(pthread_t *t, const pthread_attr_t *a, void *(*fn)(void *), void *arg);
int __wrap_pthread_create(pthread_t *t, const pthread_attr_t *a, void *(*fn)(void *), void *arg)
{
    int n = atomic_fetch_add(&create_calls, 1) + 1;
    if (n == atomic_load(&create_fail_at))
        return EAGAIN;
    return __real_pthread_create(t, a, fn, arg);
}

static void test_start_failure_closes_everything(void)
{
    fx_reset();
    uv_loop_t loop;
    ASSERT_EQ(uv_loop_init(&loop), 0);
    jobq_config_t c = cfg_of(3, 0, JOBQ_CANCEL);
    jobq_t *q = (jobq_t *)&fx; /* must be reset to NULL */
    char err[128] = "";
    atomic_store(&create_calls, 0);
    atomic_store(&create_fail_at, 3);
    int rc = jobq_new(&loop, &c, &q, err, sizeof err);
    atomic_store(&create_fail_at, 0);
    ASSERT_EQ(rc, BRK_EIO);
    ASSERT_NULL(q);
    ASSERT(strstr(err, "worker thread 2") != NULL);
    ASSERT_EQ(atomic_load(&fx.stopped), 2); /* both started workers exited */
    ASSERT_EQ(uv_run(&loop, UV_RUN_DEFAULT), 0);
    ASSERT_EQ(uv_loop_close(&loop), 0);
}

/* Every uv_async_send() goes through this wrapper. With send_delay_us set, a send first waits
 * that long, then reads the handle as libuv is about to: a send that could still run after
 * the loop thread closed and freed the handle reads freed memory (ASan: heap-use-after-free,
 * TSan: a race with free()). Set only between queue runs (thread start and join order the
 * accesses). */
static unsigned send_delay_us;

int __real_uv_async_send(uv_async_t *async);
int __wrap_uv_async_send(uv_async_t *async);
int __wrap_uv_async_send(uv_async_t *async)
{
    if (send_delay_us)
        usleep(send_delay_us);
    volatile int type = (int)async->type;
    (void)type;
    return __real_uv_async_send(async);
}

/* Shutdown while workers wake up to exit, many times over, with 1 to 4 workers, both modes,
 * with and without jobs still waiting. */
static void test_shutdown_while_workers_exit(void)
{
    send_delay_us = 300;
    for (int round = 0; round < 80; round++) {
        fx_reset();
        uv_loop_t loop;
        ASSERT_EQ(uv_loop_init(&loop), 0);
        jobq_config_t c = cfg_of(1 + (unsigned)round % 4, 0, round % 3 ? JOBQ_CANCEL : JOBQ_DRAIN);
        jobq_t *q;
        char err[128];
        ASSERT_EQ(jobq_new(&loop, &c, &q, err, sizeof err), 0);
        int n = round % 5;
        for (int i = 0; i < n; i++)
            ASSERT_EQ(jobq_submit(q, J(i), NULL), 0);
        if (round % 2)
            uv_sleep(1);
        jobq_shutdown(q);
        ASSERT_EQ(uv_run(&loop, UV_RUN_DEFAULT), 0);
        ASSERT_EQ(fx.done_n, n);
        jobq_free(q);
        ASSERT_EQ(uv_loop_close(&loop), 0);
    }
    send_delay_us = 0;
}

static const test_case_t tests[] = {
    {"order_and_completion_on_loop", test_order_and_completion_on_loop},
    {"bounded_refusal_and_latest_wins", test_bounded_refusal_and_latest_wins},
    {"stale", test_stale},
    {"shutdown_drain", test_shutdown_drain},
    {"shutdown_cancel", test_shutdown_cancel},
    {"free_discards_undelivered", test_free_discards_undelivered},
    {"start_failure_closes_everything", test_start_failure_closes_everything},
    {"shutdown_while_workers_exit", test_shutdown_while_workers_exit},
};

TEST_MAIN(tests)
