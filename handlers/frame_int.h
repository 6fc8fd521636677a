/* SPDX-License-Identifier: MIT */
/* Inside frame handling, split by job:
 *   frame_intake.c   FRAME and binary frames: rate, size and image checks, to the pool
 *   frame_results.c  a frame analyzed: engagement credit, FRAME_RESULT, VIOLATION
 *   frame_updates.c  the coalesced ENGAGEMENT_UPDATE to staff, with its own timer
 *   frame_pool.c     the analyzer pool's life cycle and counters
 * A frame's path: hdl_frame / hdl_frame_binary -> submit -> fp_submit (a worker thread
 * analyzes it) -> hdl__frame_analyzed on the loop -> st_engage -> FRAME_RESULT, VIOLATION,
 * hdl__eng_note. */
#ifndef BRK_FRAME_INT_H
#define BRK_FRAME_INT_H

#include "hdl_int.h"

#include "engagement.h"
#include "pool.h"

/* A class without an active session refuses frames at once for this long after the state
 * engine said so, instead of analyzing them first. */
#define NO_SESSION_RECHECK_MS 2000

/* What travels with a frame through the pool and the state engine. */
typedef struct frame_job {
    hdl_t *h;
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

void hdl__frame_job_free(frame_job_t *j);

/* The pool's completion callback (pool_ud is the hdl_t). */
void hdl__frame_analyzed(const fp_result_t *r, void *pool_ud);

/* Puts row (taken) as student_id's line in the class's next ENGAGEMENT_UPDATE. */
void hdl__eng_note(hdl_t *h, const char *class_id, const char *student_id, json_t *row);
/* The update timer: started with the pool, stopped on drain (updates then go out at
 * once), freed at the end. */
void hdl__eng_updates_start(hdl_t *h);
void hdl__eng_updates_stop(hdl_t *h);
void hdl__eng_updates_free(hdl_t *h);

#endif
