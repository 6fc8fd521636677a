/* SPDX-License-Identifier: MIT */
/* Unit tests of the analyzer pool (engagement/pool.h) with the real analyzer and real
 * photos: results come back on the loop, a waiting frame is replaced by its key's newer
 * one, a full queue refuses, a frame that waited too long is dropped as stale, a
 * shutdown cancels what still waits and lets the loop close, and no worker touches the
 * loop's handle once the loop has closed it. The workers share one model set, loaded once
 * (counted in the stand-in build below). Skips (77) without models; fails without its two
 * photos.
 *
 * Built with RC_FAKE_ANALYZER (the ThreadSanitizer build, tests/CMakeLists.txt), the pool
 * runs the analyzer stand-in of tests/support/fake_analyzer.h instead, told here to answer
 * for the two photos what the real analyzer answers (which the other build checks), and
 * needs no models. */
#include "brk.h"
#include "pool.h"
#include "test.h"
#ifdef RC_FAKE_ANALYZER
#include "fake_analyzer.h"
#endif

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define SKIP_CODE 77

typedef struct {
    int calls;
    int by_ud[16];   /* results per ud index */
    int err_of[16];  /* last err per ud index */
    int faces_of[16];
    int looking_of[16];
    int stale, canceled;
} seen_t;

static int ud_slot[16];

static void on_done(const fp_result_t *r, void *pool_ud)
{
    seen_t *s = pool_ud;
    int i = *(int *)r->ud;
    s->calls++;
    s->by_ud[i]++;
    s->err_of[i] = r->err;
    s->faces_of[i] = r->err == 0 ? r->res.faces : -1;
    s->looking_of[i] = r->err == 0 ? r->res.looking : -1;
    if (r->err == FP_ESTALE)
        s->stale++;
    if (r->err == FP_ECANCELED)
        s->canceled++;
}

static uint8_t *dup_bytes(const uint8_t *b, size_t len)
{
    uint8_t *d = malloc(len);
    memcpy(d, b, len);
    return d;
}

static uint8_t *face, *noface;
static size_t face_len, noface_len;

static fp_config_t base_cfg(unsigned threads, size_t max_queued, int64_t max_wait_ms)
{
    fp_config_t c;
    memset(&c, 0, sizeof c);
    c.threads = threads;
    c.max_queued = max_queued;
    c.max_wait_ms = max_wait_ms;
    eng_config_default(&c.eng);
    return c;
}

/* Runs the loop until cond holds or ~timeout_ms passed. */
#define RUN_UNTIL(loop, cond, timeout_ms)                                                          \
    do {                                                                                           \
        uint64_t t_end_ = brk_mono_ns() + (uint64_t)(timeout_ms)*1000000ULL;                       \
        while (!(cond) && brk_mono_ns() < t_end_)                                                  \
            uv_run(loop, UV_RUN_ONCE);                                                             \
    } while (0)

static void finish(uv_loop_t *loop, fp_t *p)
{
    fp_shutdown(p);
    uv_run(loop, UV_RUN_DEFAULT);
    fp_free(p);
    ASSERT_EQ(uv_loop_close(loop), 0);
}

static void test_results_on_loop(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    seen_t s = {0};
    fp_config_t c = base_cfg(2, 8, 0);
    fp_t *p;
    char err[256];
#ifdef RC_FAKE_ANALYZER
    unsigned loads = fake_analyzer_model_loads();
#endif
    ASSERT_EQ(fp_new(&loop, &c, on_done, &s, &p, err, sizeof err), 0);
    void *rep;
    ASSERT_EQ(fp_submit(p, 1, dup_bytes(face, face_len), face_len, &ud_slot[1], &rep), 0);
    ASSERT_EQ(fp_submit(p, 2, dup_bytes(noface, noface_len), noface_len, &ud_slot[2], &rep), 0);
    ASSERT_EQ(fp_submit(p, 3, dup_bytes(face, 100), 100, &ud_slot[3], &rep), 0); /* truncated */
    RUN_UNTIL(&loop, s.calls == 3, 60000);
    ASSERT_EQ(s.calls, 3);
    ASSERT_EQ(s.err_of[1], 0);
    ASSERT_EQ(s.faces_of[1], 1);
    ASSERT_EQ(s.looking_of[1], 1);
    ASSERT_EQ(s.err_of[2], 0);
    ASSERT_EQ(s.faces_of[2], 0);
    ASSERT(s.err_of[3] == ENG_E_DECODE || s.err_of[3] == ENG_E_FORMAT);
    fp_stats_t st;
    fp_get_stats(p, &st);
    ASSERT_EQ(st.submitted, 3);
    ASSERT_EQ(st.analyzed, 2);
    ASSERT_EQ(st.failed, 1);
    ASSERT_EQ(st.queued, 0);
#ifdef RC_FAKE_ANALYZER
    /* Without preload the first frame loads the models; the other worker waits for them. */
    ASSERT_EQ(fake_analyzer_model_loads() - loads, 1);
#endif
    finish(&loop, p);
}

static void test_latest_wins_and_full_queue(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    seen_t s = {0};
    fp_config_t c = base_cfg(1, 2, 0);
    fp_t *p;
    char err[256];
    ASSERT_EQ(fp_new(&loop, &c, on_done, &s, &p, err, sizeof err), 0);
    void *rep = NULL;
    /* The single worker takes key 1 (and loads its models: slow), so the others wait. */
    ASSERT_EQ(fp_submit(p, 1, dup_bytes(face, face_len), face_len, &ud_slot[1], &rep), 0);
    fp_stats_t st;
    do {
        fp_get_stats(p, &st);
    } while (st.busy == 0 && st.analyzed == 0);
    ASSERT_EQ(fp_submit(p, 2, dup_bytes(face, face_len), face_len, &ud_slot[2], &rep), 0);
    ASSERT_EQ(fp_submit(p, 3, dup_bytes(noface, noface_len), noface_len, &ud_slot[3], &rep),
              0);
    /* Key 2's newer frame replaces the waiting one: its ud comes back at once. */
    ASSERT_EQ(fp_submit(p, 2, dup_bytes(noface, noface_len), noface_len, &ud_slot[4], &rep),
              1);
    ASSERT(rep == &ud_slot[2]);
    /* A third waiting key does not fit in a queue of two. */
    ASSERT_EQ(fp_submit(p, 5, dup_bytes(face, face_len), face_len, &ud_slot[5], &rep),
              BRK_EFULL);
    RUN_UNTIL(&loop, s.calls == 3, 60000);
    ASSERT_EQ(s.calls, 3);
    ASSERT_EQ(s.by_ud[1], 1);
    ASSERT_EQ(s.by_ud[2], 0); /* replaced: never reported */
    ASSERT_EQ(s.by_ud[3], 1);
    ASSERT_EQ(s.by_ud[4], 1);
    ASSERT_EQ(s.faces_of[4], 0); /* the newer (no-face) frame was the one analyzed */
    ASSERT_EQ(s.by_ud[5], 0);
    fp_get_stats(p, &st);
    ASSERT_EQ(st.replaced, 1);
    ASSERT_EQ(st.skipped, 1);
    finish(&loop, p);
}

static void test_stale_and_cancel(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    seen_t s = {0};
    /* Frames may wait 1 ms: everything behind the first (model loading takes far longer)
     * goes stale; the first too when the worker thread started late. */
    fp_config_t c = base_cfg(1, 8, 1);
    fp_t *p;
    char err[256];
    ASSERT_EQ(fp_new(&loop, &c, on_done, &s, &p, err, sizeof err), 0);
    void *rep;
    for (int i = 1; i <= 4; i++)
        ASSERT_EQ(fp_submit(p, (uint64_t)i, dup_bytes(face, face_len), face_len, &ud_slot[i],
                            &rep),
                  0);
    RUN_UNTIL(&loop, s.calls == 4, 60000);
    ASSERT_EQ(s.calls, 4);
    ASSERT(s.stale >= 3);

    /* Shutdown with frames waiting: each is reported canceled, none is lost silently. */
    fp_config_t c2 = base_cfg(1, 8, 0);
    seen_t s2 = {0};
    fp_t *p2;
    ASSERT_EQ(fp_new(&loop, &c2, on_done, &s2, &p2, err, sizeof err), 0);
    for (int i = 1; i <= 5; i++)
        ASSERT_EQ(fp_submit(p2, (uint64_t)i, dup_bytes(face, face_len), face_len, &ud_slot[i],
                            &rep),
                  0);
    fp_shutdown(p2);
    ASSERT_EQ(fp_submit(p2, 9, dup_bytes(face, face_len), face_len, &ud_slot[9], &rep),
              BRK_EFULL);
    uv_run(&loop, UV_RUN_ONCE);
    RUN_UNTIL(&loop, s2.calls == 5, 60000);
    ASSERT_EQ(s2.calls, 5);
    ASSERT(s2.canceled >= 4);
    fp_free(p2);
    finish(&loop, p);
}

static void test_preload_readiness(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    seen_t s = {0};
    fp_config_t c = base_cfg(2, 8, 0);
    c.preload = 1;
    fp_t *p;
    char err[256];
#ifdef RC_FAKE_ANALYZER
    unsigned loads = fake_analyzer_model_loads();
#endif
    ASSERT_EQ(fp_new(&loop, &c, on_done, &s, &p, err, sizeof err), 0);
    /* Ready once the models are loaded and both workers made their analyzers over them (in
     * their threads). */
    uint64_t end = brk_mono_ns() + 120ULL * 1000000000ULL;
    while (!fp_ready(p) && brk_mono_ns() < end)
        uv_sleep(10);
    ASSERT(fp_ready(p));
#ifdef RC_FAKE_ANALYZER
    ASSERT_EQ(fake_analyzer_model_loads() - loads, 1); /* once for both workers */
#endif
    void *rep;
    ASSERT_EQ(fp_submit(p, 1, dup_bytes(face, face_len), face_len, &ud_slot[1], &rep), 0);
    RUN_UNTIL(&loop, s.calls == 1, 60000);
    ASSERT_EQ(s.err_of[1], 0);
    ASSERT_EQ(s.faces_of[1], 1);
    finish(&loop, p);

    /* Without preload the pool is ready at once (models load on the first frame). */
    uv_loop_init(&loop);
    c.preload = 0;
    ASSERT_EQ(fp_new(&loop, &c, on_done, &s, &p, err, sizeof err), 0);
    ASSERT(fp_ready(p));
    finish(&loop, p);
}

/* Every uv_async_send() of the pool goes through this wrapper: pool_test is linked with
 * -Wl,--wrap=uv_async_send (tests/CMakeLists.txt). With send_delay_us set, a send first waits
 * that long, which widens the window between a thread deciding to send and the send, then
 * reads the handle as libuv is about to. A send that can still run after the loop thread
 * closed and freed the handle then reads freed memory: a heap-use-after-free report under
 * ASan, a race with free() under TSan. Set only between pool runs (thread start and join
 * order the accesses). */
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

/* fp_shutdown() while the workers are waking up to exit, many times over, with 1 to 4
 * workers, some stopped at once and some once they wait for work. The loop closes the async
 * handle (and frees it) as soon as it has seen every worker exit; the last worker's "I
 * exited" send must not be able to come after that. */
static void test_shutdown_while_workers_exit(void)
{
    send_delay_us = 300;
    for (int round = 0; round < 120; round++) {
        uv_loop_t loop;
        ASSERT_EQ(uv_loop_init(&loop), 0);
        seen_t s = {0};
        fp_config_t c = base_cfg(1 + (unsigned)round % 4, 8, 0);
        fp_t *p;
        char err[256];
        ASSERT_EQ(fp_new(&loop, &c, on_done, &s, &p, err, sizeof err), 0);
        if (round % 2)
            uv_sleep(1);
        fp_shutdown(p);
        ASSERT_EQ(uv_run(&loop, UV_RUN_DEFAULT), 0);
        fp_free(p);
        ASSERT_EQ(uv_loop_close(&loop), 0);
        ASSERT_EQ(s.calls, 0);
    }
    send_delay_us = 0;
}

static const test_case_t tests[] = {
    {"shutdown_while_workers_exit", test_shutdown_while_workers_exit},
    {"preload_readiness", test_preload_readiness},
    {"results_on_loop", test_results_on_loop},
    {"latest_wins_and_full_queue", test_latest_wins_and_full_queue},
    {"stale_and_cancel", test_stale_and_cancel},
};

int main(void)
{
    for (int i = 0; i < 16; i++)
        ud_slot[i] = i;
    char path[1024];
#ifndef RC_FAKE_ANALYZER
    const char *md = getenv("ROLLCALL_MODEL_DIR");
    struct stat sb;
    snprintf(path, sizeof path, "%s/face_detection_front_128x128_barracuda.onnx",
             md ? md : ".");
    if (!md || stat(path, &sb) != 0) {
        printf("SKIP: no analyzer models at %s (ROLLCALL_MODEL_DIR; "
               "engagement/fetch_models.sh)\n",
               path);
        return SKIP_CODE;
    }
#endif
    /* The photos are test data of the project: without them the tests cannot say anything,
     * which is a failure, not a skip. */
    const char *names[2] = {"aflw2000_image00050.jpg", "dlib_ffmpeg_eagle.jpg"};
    face = test_read_photo_at(names[0], &face_len, path, sizeof path);
    if (face)
        noface = test_read_photo_at(names[1], &noface_len, path, sizeof path);
    if (!face || !noface) {
        printf("FAIL: test photo %s missing or empty: the test data (../shared/data/faces "
               "next to the checkout) is incomplete\n0 passed, 1 failed\n",
               path);
        free(face);
        return 1;
    }
#ifdef RC_FAKE_ANALYZER
    const eng_result_t looking = {.faces = 1, .looking = 1, .eyes = ENG_EYES_OPEN, .has_pose = 1};
    const eng_result_t nobody = {.faces = 0, .eyes = ENG_EYES_UNKNOWN};
    fake_analyzer_answer(face, face_len, &looking);
    fake_analyzer_answer(noface, noface_len, &nobody);
#endif
    int failed = test_run_all(tests, BRK_ARRAY_LEN(tests));
    free(face);
    free(noface);
    return failed ? 1 : 0;
}
