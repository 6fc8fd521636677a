/* SPDX-License-Identifier: MIT */
/* A frame analyzed: the result comes back from the pool on the loop thread, the proctoring
 * rules (violations.h) run over it, the state engine credits engaged time, and the student
 * gets FRAME_RESULT, the class's staff a VIOLATION when one is raised, and the student's
 * line goes into the next ENGAGEMENT_UPDATE (frame_updates.c). */
#include "frame_int.h"

#include "brk.h"
#include "log.h"
#include "scoring.h"
#include "violations.h"

#include <stdlib.h>

void hdl__frame_job_free(frame_job_t *j)
{
    json_decref(j->id);
    free(j);
}

static void on_engaged(int err, const st_session_t *ses, const st_student_t *st, void *ud)
{
    frame_job_t *j = ud;
    hdl_t *h = j->h;
    peer_t *c = hx_find(h, j->conn_id);
    if (err) {
        if (err == BRK_ESTATE) {
            hdl_class_t *cls = h->host->class_find(h->host->ud, j->class_id);
            if (cls)
                cls->no_session_until_ms = brk_now_ms() + NO_SESSION_RECHECK_MS;
        }
        if (c && err == BRK_ESTATE) {
            char msg[128];
            snprintf(msg, sizeof msg, "class %s has no active session: frames are not counted",
                     j->class_id);
            hx_error_soft(h, c, ERR_NO_SESSION, msg, j->id);
        } else if (c) {
            hx_error_soft(h, c, ERR_UNAVAILABLE, "live state unavailable", j->id);
        }
        hdl__frame_job_free(j);
        return;
    }
    int64_t now = brk_now_ms();
    double pct = sc_session_pct(ses, st, now);
    int trust = sc_trust_score(st);
    const eng_result_t *r = &j->res;

    if (c) {
        json_t *data = json_pack(
            "{s:s, s:i, s:b, s:o, s:o, s:o, s:b, s:f, s:f, s:I, s:i, s:o, s:f}", "class_id",
            j->class_id, "faces", r->faces, "looking", r->looking, "eyes_open",
            r->eyes == ENG_EYES_UNKNOWN ? json_null() : json_boolean(r->eyes == ENG_EYES_OPEN),
            "yaw", r->has_pose ? json_real(sc_round2(r->yaw_deg)) : json_null(), "pitch",
            r->has_pose ? json_real(sc_round2(r->pitch_deg)) : json_null(), "engaged", j->engaged,
            "engagement_pct", pct, "engaged_seconds", sc_round2(st->engaged_seconds),
            "frames_analyzed", (json_int_t)st->frames_analyzed, "trust_score", trust,
            "violation",
            j->viol == ST_VIOL_NONE ? json_null() : json_string(st_violation_name(j->viol)),
            "analysis_ms", sc_round2(j->analysis_ms));
        hx_reply(h, c, OUT_FRAME_RESULT, data, j->id);
    }

    if (j->viol != ST_VIOL_NONE) {
        h->stats->violations[j->viol]++;
        int count = j->viol == ST_VIOL_NO_FACE      ? st->violations_no_face
                    : j->viol == ST_VIOL_MULTI_FACE ? st->violations_multi_face
                                                    : st->violations_looking_away;
        LOG(INFO, j->conn_id, "violation", "class=%s student=%s kind=%s count=%d trust=%d",
            j->class_id, j->student_id, st_violation_name(j->viol), count, trust);
        json_t *data = json_pack("{s:s, s:s, s:s, s:s, s:i, s:i, s:o}", "class_id", j->class_id,
                                 "student_id", j->student_id, "name", st->name, "kind",
                                 st_violation_name(j->viol), "count", count, "trust_score",
                                 trust, "at", hdl__iso(now));
        hx_publish(h, j->class_id, HOST_TO_STAFF, NULL, OUT_VIOLATION, data);
    }

    json_t *row = json_pack("{s:s, s:s, s:i, s:b, s:b, s:f, s:f, s:I, s:i, s:o}", "student_id",
                            j->student_id, "name", st->name, "faces", r->faces, "looking",
                            r->looking, "engaged", j->engaged, "engagement_pct", pct,
                            "engaged_seconds", sc_round2(st->engaged_seconds), "frames_analyzed",
                            (json_int_t)st->frames_analyzed, "trust_score", trust, "at",
                            hdl__iso(now));
    hdl__eng_note(h, j->class_id, j->student_id, row);
    hdl__frame_job_free(j);
}

void hdl__frame_analyzed(const fp_result_t *r, void *pool_ud)
{
    hdl_t *h = pool_ud;
    frame_job_t *j = r->ud;
    peer_t *c = hx_find(h, j->conn_id);
    if (r->err != 0) {
        if (c) {
            switch (r->err) {
            case FP_ESTALE:
                hx_error_soft(h, c, ERR_FRAME_SKIPPED,
                                "the analyzer is saturated: the frame waited too long", j->id);
                break;
            case FP_ECANCELED:
                hx_error_soft(h, c, ERR_UNAVAILABLE, "the broker is shutting down", j->id);
                break;
            case ENG_E_TOO_BIG_PIXELS:
            case ENG_E_TOO_BIG_BYTES:
                hx_error(h, c, ERR_FRAME_TOO_LARGE, eng_strerror(r->err), j->id);
                break;
            case ENG_E_FORMAT:
            case ENG_E_DECODE:
            case ENG_E_EMPTY:
                hx_error(h, c, ERR_BAD_FRAME, eng_strerror(r->err), j->id);
                break;
            case ENG_E_MODEL:
                hx_error_soft(h, c, ERR_UNAVAILABLE, "the analyzer's models are unavailable",
                                j->id);
                break;
            default:
                hx_error_soft(h, c, ERR_INTERNAL, "the frame could not be analyzed", j->id);
                break;
            }
        }
        hdl__frame_job_free(j);
        return;
    }
    if (!c) {
        hdl__frame_job_free(j); /* the student left: nothing to credit to a connection */
        return;
    }
    j->res = r->res;
    j->analysis_ms = r->analyze_ms;
    j->engaged = r->res.faces >= 1 && r->res.looking && r->res.eyes != ENG_EYES_CLOSED;
    j->viol = viol_track(&c->viol, r->res.faces, r->res.looking, j->received_ms,
                        h->cfg->violation_seconds);

    /* Credit is the state engine's: the time since the student's newest earlier frame (any
     * connection, any instance), capped at twice the expected interval (st_engage). */
    const st_frame_t frame = {.engaged = j->engaged,
                              .at_ms = j->received_ms,
                              .cap_s = 2.0 * h->cfg->frame_interval,
                              .viol = j->viol};
    st_engage(h->st, j->class_id, j->student_id, j->name, &frame, brk_now_ms(), on_engaged, j);
}
