/* SPDX-License-Identifier: MIT */
/* libFuzzer target for frame intake, decode and analysis: the input is taken both as a
 * FRAME event's image field (base64 or data: URL) and as the raw bytes of a binary frame;
 * whatever passes the intake checks (handlers/frame_decode.h) goes through the real
 * analyzer (engagement.h), as the broker would do. The contract: every input ends in
 * FD_OK/FD_E_* and then 0 or a stable ENG_E_* code, with no sanitizer report. Needs the
 * models ($ROLLCALL_MODEL_DIR); without them only the intake is fuzzed. */
#include "engagement.h"
#include "frame_decode.h"

#include <stdio.h>
#include <stdlib.h>

/* Small limits keep each run fast; the checks are the same at any size. */
#define MAX_BYTES (256u * 1024u)
#define MAX_PIXELS (1024u * 1024u)

static eng_analyzer_t *a;

/* Loads the models once, before any input runs (loading takes seconds under the
 * sanitizers, far past the per-input timeout). */
int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    {
        eng_config_t cfg;
        eng_config_default(&cfg);
        cfg.max_pixels = MAX_PIXELS;
        cfg.max_bytes = MAX_BYTES;
        char err[256];
        eng_models_t *m = eng_models_load(&cfg, err, sizeof err);
        a = m ? eng_analyzer_new(m, &cfg, err, sizeof err) : NULL;
        eng_models_unref(m); /* the analyzer holds its own reference */
        if (!a)
            fprintf(stderr, "frame_fuzz: no analyzer (%s): fuzzing the intake only\n", err);
    }
    return 0;
}

static eng_analyzer_t *analyzer(void)
{
    return a;
}

static void analyze(const uint8_t *b, size_t len)
{
    uint32_t w, h;
    size_t image_len;
    int rc = fd_check_image(b, len, MAX_BYTES, MAX_PIXELS, &w, &h, &image_len);
    if (rc < FD_E_MALFORMED || rc > FD_OK)
        abort();
    if (rc == FD_OK && (image_len < 4 || image_len > len))
        abort();
    if (rc != FD_OK || !analyzer())
        return;
    eng_result_t r;
    int er = eng_analyze(analyzer(), b, image_len, &r);
    if (er != 0 && er != ENG_E_FORMAT && er != ENG_E_DECODE && er != ENG_E_EMPTY &&
        er != ENG_E_TOO_BIG_PIXELS && er != ENG_E_TOO_BIG_BYTES)
        abort();
    if (er == 0 && (r.faces < 0 || r.width <= 0 || r.height <= 0))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *bytes = NULL;
    size_t n = 0;
    int rc = fd_decode_field((const char *)data, size, MAX_BYTES, &bytes, &n);
    if (rc == FD_OK) {
        analyze(bytes, n);
        free(bytes);
    } else if (rc != FD_E_BASE64 && rc != FD_E_DATA_URL && rc != FD_E_BYTES) {
        abort();
    }
    analyze(data, size);
    return 0;
}
