/* SPDX-License-Identifier: MIT */
/* The event handlers, as the server sees them: one object (hdl_t) built at start from the
 * components the handlers use and the server's host operations (host.h), then a few entry
 * points: an event to dispatch, a binary frame, a connection opening or closing, and the
 * hooks for what other instances report. The server never calls a handler's internals;
 * the handlers never see the server's (hdl_int.h and host.h are the whole contract).
 * Loop thread only. */
#ifndef BRK_HDL_H
#define BRK_HDL_H

#include "auth.h"
#include "config.h"
#include "envelope.h"
#include "host.h"
#include "journal.h"
#include "state.h"

#include <stdint.h>
#include <uv.h>

typedef struct hdl hdl_t;

/* The handlers' counters, rendered at GET /metrics (the server embeds them in its own). */
typedef struct hdl_stats {
    uint64_t token_expired_closes; /* connections closed with 4003 */
    uint64_t token_renewals[2];    /* AUTH: [0] accepted, [1] refused */
    uint64_t frames_received;
    uint64_t frames_refused; /* refused before analysis: size, format, rate, session */
    /* the analyzer pool's own counters, copied in by hdl_sync_stats */
    uint64_t frames_analyzed, frames_failed, frames_skipped, frames_replaced, frames_stale;
    uint64_t frames_queued, frames_busy;
    double analysis_seconds_total;
    uint64_t engagement_updates; /* ENGAGEMENT_UPDATE messages built */
    uint64_t violations[4];      /* by st_violation_t */
} hdl_stats_t;

/* What the handlers work with; every pointer is borrowed and outlives the hdl_t. */
typedef struct hdl_deps {
    uv_loop_t *loop;
    const cfg_t *cfg;
    st_t *st;
    jr_t *jr;
    auth_verifier_t *const *auth; /* the server's verifier, which SIGHUP replaces */
    const hdl_host_t *host;
    hdl_stats_t *stats;
    const int *draining; /* the server's flag: set once it stops taking work */
    int clustered;       /* other instances share the classes (Redis fan-out) */
    /* the live rosters of the classes made through the accounts (accounts/roster.h), or NULL
     * when accounts are off: a student may be only in the classes whose roster has them */
    const struct roster_reg *rosters;
} hdl_deps_t;

hdl_t *hdl_new(const hdl_deps_t *deps);
/* class_id's roster changed (a student joined, left or was removed): its staff here get
 * the new ROSTER; its students here who are no
 * longer on it leave its channel at once, are told with CLASS_REMOVED, and are closed
 * (4004) when no class is left to them. */
void hdl_roster_changed(hdl_t *h, const char *class_id);
/* Starts the analyzer pool, the engagement-update timer and the token deadline timer.
 * Returns 0, or -1 with a message on stderr (the models are missing). */
int hdl_start(hdl_t *h);
/* Stops the timers and the analyzer without blocking (on drain): frames still arriving
 * are refused, results still arriving go out at once. */
void hdl_stop(hdl_t *h);
/* Frees everything, after the loop ended. */
void hdl_free(hdl_t *h);
/* 1 when the analyzer can take frames (its models are loaded, or load on demand). */
int hdl_ready(const hdl_t *h);
/* Copies the analyzer pool's counters into the stats (before /metrics renders them). */
void hdl_sync_stats(hdl_t *h);

/* Handles one parsed request from p (env is borrowed). */
void hdl_dispatch(hdl_t *h, peer_t *p, const env_t *env);
/* A binary WebSocket message: the raw bytes of a frame (borrowed). */
void hdl_frame_binary(hdl_t *h, peer_t *p, const uint8_t *bytes, size_t len);
/* A connection opened (WELCOME, its classes joined, presence, token deadlines), or is
 * gone (the reverse). */
void hdl_conn_open(hdl_t *h, peer_t *p);
void hdl_conn_close(hdl_t *h, peer_t *p);

/* Hooks. A student went online or offline on another instance: tells the class's staff
 * here. A session began in class_id (here or elsewhere): the students' frames count at
 * once. A class has nobody left here: its data (hdl_class_t) is about to be freed. */
void hdl_presence_changed(hdl_t *h, const char *class_id, const char *student_id,
                          const char *name, int online_now, int online_students);
void hdl_session_began(hdl_t *h, const char *class_id);
void hdl_class_gone(hdl_t *h, hdl_class_t *cls);

#endif
