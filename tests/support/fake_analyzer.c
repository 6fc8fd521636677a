/* SPDX-License-Identifier: MIT */
/* The analyzer stand-in of fake_analyzer.h: eng_config_default, eng_models_load/ref/unref,
 * eng_analyzer_new, eng_analyzer_free and eng_analyze in plain C, so that a ThreadSanitizer
 * build sees every memory access the pool's threads make. */
#include "fake_analyzer.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_ANSWERS 8
#define LOAD_US 100000   /* "model loading": slow next to analysis, as for the real one */
#define NEW_US 1000      /* an analyzer over loaded models: quick */
#define ANALYZE_US 5000

static struct {
    const uint8_t *bytes;
    size_t len;
    eng_result_t r;
} answers[MAX_ANSWERS];
static int n_answers;
static atomic_uint model_loads;

/* Read by every analyzer, written only by eng_models_load: sharing it across threads must
 * not race. */
struct eng_models {
    atomic_ulong refs;
    uint8_t weights[64];
};

struct eng_analyzer {
    eng_config_t cfg;
    eng_models_t *models;
    uint64_t frames;     /* written on every call: shared use across threads would race */
    uint8_t scratch[64]; /* likewise, as the real analyzer's reused image buffers */
};

void fake_analyzer_answer(const uint8_t *bytes, size_t len, const eng_result_t *r)
{
    if (n_answers == MAX_ANSWERS)
        abort();
    answers[n_answers].bytes = bytes;
    answers[n_answers].len = len;
    answers[n_answers].r = *r;
    n_answers++;
}

void eng_config_default(eng_config_t *cfg)
{
    if (!cfg)
        return;
    memset(cfg, 0, sizeof *cfg);
    cfg->max_yaw_deg = 30.0;
    cfg->max_pitch_deg = 30.0;
    cfg->ear_closed = 0.18;
    cfg->det_threshold = 0.75;
    cfg->max_side = 4096;
    cfg->max_pixels = 4096u * 4096u / 2u;
    cfg->max_bytes = 8u << 20;
    cfg->work_side = 640;
}

unsigned fake_analyzer_model_loads(void)
{
    return atomic_load(&model_loads);
}

eng_models_t *eng_models_load(const eng_config_t *cfg, char *err, size_t errlen)
{
    (void)cfg;
    atomic_fetch_add(&model_loads, 1);
    usleep(LOAD_US);
    eng_models_t *m = calloc(1, sizeof *m);
    if (!m) {
        if (err && errlen)
            snprintf(err, errlen, "out of memory");
        return NULL;
    }
    atomic_init(&m->refs, 1);
    memset(m->weights, 0x5a, sizeof m->weights);
    return m;
}

eng_models_t *eng_models_ref(eng_models_t *m)
{
    if (m)
        atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed);
    return m;
}

void eng_models_unref(eng_models_t *m)
{
    if (m && atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) == 1)
        free(m);
}

eng_analyzer_t *eng_analyzer_new(eng_models_t *models, const eng_config_t *cfg, char *err,
                                 size_t errlen)
{
    eng_config_t c;
    eng_config_default(&c);
    if (cfg)
        c = *cfg;
    if (!models || c.max_side == 0 || c.max_pixels == 0 || c.max_bytes == 0) {
        if (err && errlen)
            snprintf(err, errlen, "invalid engagement configuration");
        return NULL;
    }
    usleep(NEW_US);
    eng_analyzer_t *a = calloc(1, sizeof *a);
    if (!a) {
        if (err && errlen)
            snprintf(err, errlen, "out of memory");
        return NULL;
    }
    a->cfg = c;
    a->cfg.model_dir = NULL; /* borrowed by the caller: not kept */
    a->models = eng_models_ref(models);
    return a;
}

void eng_analyzer_free(eng_analyzer_t *a)
{
    if (!a)
        return;
    eng_models_unref(a->models);
    free(a);
}

int eng_analyze(eng_analyzer_t *a, const uint8_t *bytes, size_t len, eng_result_t *out)
{
    if (!out)
        return ENG_E_INVAL;
    memset(out, 0, sizeof *out);
    if (!a || !bytes)
        return ENG_E_INVAL;
    if (len == 0)
        return ENG_E_EMPTY;
    if (len > a->cfg.max_bytes)
        return ENG_E_TOO_BIG_BYTES;
    eng_img_format_t fmt;
    uint32_t w = 0, h = 0;
    int rc = eng_probe_image(bytes, len, &fmt, &w, &h);
    if (rc != 0)
        return rc;
    if (w > a->cfg.max_side || h > a->cfg.max_side || (uint64_t)w * h > a->cfg.max_pixels)
        return ENG_E_TOO_BIG_PIXELS;
    a->frames++;
    memset(a->scratch, (int)(a->frames & 0xff), sizeof a->scratch);
    for (size_t i = 0; i < sizeof a->scratch; i++) /* reads the shared models */
        a->scratch[i] ^= a->models->weights[i];
    usleep(ANALYZE_US);
    for (int i = 0; i < n_answers; i++) {
        if (answers[i].len == len && memcmp(answers[i].bytes, bytes, len) == 0) {
            *out = answers[i].r;
            out->width = (int)w;
            out->height = (int)h;
            return 0;
        }
    }
    return ENG_E_DECODE;
}
