/* SPDX-License-Identifier: MIT */
/* FRAME: a student's webcam frame, as base64 (or a data: URL) in a FRAME event, or as a
 * binary WebSocket message of raw JPEG/PNG bytes. On the loop thread a frame is checked
 * cheaply (the student's frame rate in the class, size, image header, whether the class has
 * a session) and handed to the analyzer pool; frame_results.c takes it from there. */
#include "frame_int.h"

#include "brk.h"
#include "frame_decode.h"

#include <stdlib.h>
#include <string.h>

/* The frame budget is the student's in the class, shared by every connection the student
 * has open in it on this instance: a second tab gets no second analyzer. */
static int rate_ok(hdl_t *h, peer_t *c, const char *class_id, int64_t now)
{
    hdl_seat_t *t = h->host->seat_find(h->host->ud, class_id, c->sub);
    BRK_ASSERT(t);
    double rate = h->cfg->frame_rate;
    double burst = rate < 2 ? 2 : rate;
    if (t->frame_tokens_ms == 0)
        t->frame_tokens = burst;
    else
        t->frame_tokens += (double)(now - t->frame_tokens_ms) / 1000.0 * rate;
    if (t->frame_tokens > burst)
        t->frame_tokens = burst;
    t->frame_tokens_ms = now;
    if (t->frame_tokens < 1.0)
        return 0;
    t->frame_tokens -= 1.0;
    return 1;
}

/* Checks a frame and queues it for analysis. Takes ownership of bytes (malloc'd). */
static void submit(hdl_t *h, peer_t *c, const char *class_id, uint8_t *bytes, size_t len,
                   const json_t *id)
{
    const cfg_t *cfg = h->cfg;
    int64_t now = brk_now_ms();
    h->stats->frames_received++;
    char msg[128];

    if (!rate_ok(h, c, class_id, now)) {
        snprintf(msg, sizeof msg, "more than %d frames per second", cfg->frame_rate);
        h->stats->frames_refused++;
        hx_error(h, c, ERR_RATE_LIMITED, msg, id);
        goto refuse;
    }
    uint32_t w, ht;
    size_t image_len;
    int rc = fd_check_image(bytes, len, (size_t)cfg->frame_max_bytes,
                            (uint64_t)cfg->frame_max_pixels, &w, &ht, &image_len);
    if (rc != FD_OK) {
        h->stats->frames_refused++;
        switch (rc) {
        case FD_E_EMPTY:
            hx_error(h, c, ERR_BAD_FRAME, "empty frame", id);
            break;
        case FD_E_BYTES:
            snprintf(msg, sizeof msg, "frame of %zu bytes is over the limit of %d", len,
                     cfg->frame_max_bytes);
            hx_error(h, c, ERR_FRAME_TOO_LARGE, msg, id);
            break;
        case FD_E_FORMAT:
            hx_error(h, c, ERR_BAD_FRAME, "not a JPEG or PNG image", id);
            break;
        case FD_E_TRUNCATED:
            hx_error(h, c, ERR_BAD_FRAME, "truncated image (no end-of-image marker)", id);
            break;
        case FD_E_MALFORMED:
            hx_error(h, c, ERR_BAD_FRAME, "malformed image (its segments or chunks do not parse)",
                       id);
            break;
        default:
            snprintf(msg, sizeof msg, "image of %ux%u pixels is over the limit of %d pixels",
                     w, ht, cfg->frame_max_pixels);
            hx_error(h, c, ERR_FRAME_TOO_LARGE, msg, id);
            break;
        }
        goto refuse;
    }
    hdl_class_t *cls = h->host->class_find(h->host->ud, class_id);
    if (cls && now < cls->no_session_until_ms) {
        snprintf(msg, sizeof msg, "class %s has no active session: frames are not counted",
                 class_id);
        h->stats->frames_refused++;
        hx_error_soft(h, c, ERR_NO_SESSION, msg, id);
        goto refuse;
    }

    frame_job_t *j = brk_calloc(1, sizeof *j);
    j->h = h;
    j->conn_id = c->id;
    j->id = id ? json_incref((json_t *)id) : NULL;
    snprintf(j->class_id, sizeof j->class_id, "%s", class_id);
    snprintf(j->student_id, sizeof j->student_id, "%s", c->sub);
    snprintf(j->name, sizeof j->name, "%s", c->name ? c->name : "");
    j->received_ms = now;
    void *replaced = NULL;
    /* Only the image proper goes to the analyzer: its decoders need not see a trailer. */
    rc = fp_submit(h->fp, c->id, bytes, image_len, j, &replaced);
    if (rc == BRK_EFULL && *h->draining) {
        hx_error_soft(h, c, ERR_UNAVAILABLE, "the broker is shutting down", id);
        hdl__frame_job_free(j);
        return;
    }
    if (rc == BRK_EFULL) {
        hx_error_soft(h, c, ERR_FRAME_SKIPPED, "the analyzer is saturated: frame skipped", id);
        hdl__frame_job_free(j);
        return;
    }
    if (replaced) {
        frame_job_t *old = replaced;
        hx_error_soft(h, c, ERR_FRAME_SKIPPED, "replaced by a newer frame before analysis",
                        old->id);
        hdl__frame_job_free(old);
    }
    return;
refuse:
    free(bytes);
}

void hdl_frame(hdl_t *h, peer_t *c, const env_t *env, const char *class_id)
{
    const json_t *img = json_object_get(env->data, "image");
    const char *s = json_string_value(img);
    size_t len = json_string_length(img);
    if (!s) {
        hx_error(h, c, ERR_INVALID_PAYLOAD, "data.image is required", env->id);
        return;
    }
    size_t n = 0;
    uint8_t *bytes = NULL;
    int rc = fd_decode_field(s, len, (size_t)h->cfg->frame_max_bytes, &bytes, &n);
    if (rc != FD_OK) {
        h->stats->frames_received++;
        h->stats->frames_refused++;
        if (rc == FD_E_BYTES)
            hx_error(h, c, ERR_FRAME_TOO_LARGE, "frame is over the byte limit", env->id);
        else if (rc == FD_E_DATA_URL)
            hx_error(h, c, ERR_BAD_FRAME, "data.image: expected a base64 image data: URL",
                       env->id);
        else
            hx_error(h, c, ERR_BAD_FRAME, "data.image is not valid base64", env->id);
        return;
    }
    submit(h, c, class_id, bytes, n, env->id);
}

void hdl_frame_binary(hdl_t *h, peer_t *c, const uint8_t *bytes, size_t len)
{
    if (c->role != ROLE_STUDENT) {
        char msg[96];
        snprintf(msg, sizeof msg, "a %s may not send frames", auth_role_name(c->role));
        hx_error(h, c, ERR_FORBIDDEN, msg, NULL);
        return;
    }
    /* A binary message carries no class: the token must name exactly one. */
    const char *class_id = hdl__resolve_class(h, c, NULL, NULL);
    if (!class_id)
        return;
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy) {
        hx_error_soft(h, c, ERR_UNAVAILABLE, "out of memory", NULL);
        return;
    }
    if (len)
        memcpy(copy, bytes, len);
    submit(h, c, class_id, copy, len, NULL);
}

void hdl_session_began(hdl_t *h, const char *class_id)
{
    hdl_class_t *cls = h->host->class_find(h->host->ud, class_id);
    if (cls)
        cls->no_session_until_ms = 0;
}
