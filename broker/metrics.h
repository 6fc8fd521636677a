/* SPDX-License-Identifier: MIT */
/* Process counters exposed at GET /metrics in Prometheus text format. Loop thread only. */
#ifndef BRK_METRICS_H
#define BRK_METRICS_H

#include "envelope.h"
#include "msg.h"

#include <stddef.h>
#include <stdint.h>

/* Stable error codes of docs/PROTOCOL.md, used as metric labels. */
typedef enum {
    ERR_BAD_JSON = 0,
    ERR_INVALID_UTF8,
    ERR_TOO_DEEP,
    ERR_MESSAGE_TOO_LARGE,
    ERR_BAD_ENVELOPE,
    ERR_UNKNOWN_EVENT,
    ERR_INVALID_PAYLOAD,
    ERR_FORBIDDEN,
    ERR_CLASS_REQUIRED,
    ERR_CLASS_FORBIDDEN,
    ERR_NO_SESSION,
    ERR_SESSION_FINALIZED,
    ERR_NOT_IMPLEMENTED,
    ERR_UNAVAILABLE,
    ERR_BAD_FRAME,       /* not a decodable JPEG/PNG, or bad base64 */
    ERR_FRAME_TOO_LARGE, /* over ROLLCALL_FRAME_MAX_BYTES or _MAX_PIXELS */
    ERR_RATE_LIMITED,    /* frames faster than ROLLCALL_FRAME_RATE */
    ERR_FRAME_SKIPPED,   /* analyzer saturated: queue full, frame replaced or stale */
    ERR_TOKEN_INVALID,   /* AUTH: the new token was refused (auth_verify's reason) */
    ERR_TOKEN_MISMATCH,  /* AUTH: the new token names another sub or role */
    ERR_INTERNAL,
    ERR__COUNT
} err_code_t;

const char *err_code_name(err_code_t c);
/* Maps a code string (from env_error_t) to its enum; ERR_INTERNAL when unknown. */
err_code_t err_code_from_name(const char *name);

typedef struct metrics {
    uint64_t connections[3];       /* open now, by auth_role_t */
    uint64_t connections_total[3]; /* accepted since start, by role */
    uint64_t auth_refused;         /* upgrades refused with 401 */
    uint64_t conn_refused_full;    /* upgrades refused with 503 (limit or draining) */
    uint64_t messages_in[EVT__COUNT];
    uint64_t messages_in_binary;
    uint64_t messages_out[OUT__COUNT]; /* deliveries queued to a connection */
    uint64_t errors[ERR__COUNT];
    uint64_t queue_drops;          /* messages discarded because a consumer was too slow */
    uint64_t slow_consumer_closes;
    uint64_t abuse_closes;         /* 1008/1009 closes */
    uint64_t http_requests;
    /* tokens: key reloads on SIGHUP (server.c), lifetimes and renewals (handlers/token.c) */
    uint64_t jwt_key_reloads[2]; /* [0] done, [1] failed (the old keys stayed) */
    uint64_t token_expired_closes; /* connections closed with 4003 */
    uint64_t token_renewals[2];    /* AUTH: [0] accepted, [1] refused */
    /* frames (the pool's own counters are copied in before rendering) */
    uint64_t frames_received;
    uint64_t frames_refused; /* refused before analysis: size, format, rate, session */
    uint64_t frames_analyzed, frames_failed, frames_skipped, frames_replaced, frames_stale;
    uint64_t frames_queued, frames_busy;
    double analysis_seconds_total;
    uint64_t engagement_updates; /* ENGAGEMENT_UPDATE messages built */
    uint64_t violations[4];      /* by st_violation_t */
    /* Redis (cluster.c), rendered only when redis_enabled */
    int redis_enabled;
    int redis_up;
    uint64_t redis_outages;          /* transitions to unreachable */
    uint64_t redis_publish_failed;   /* fan-out publications Redis did not take */
    uint64_t redis_messages_in;      /* publications of other instances received */
    uint64_t redis_presence_swept;   /* students reported gone with a dead instance */
} metrics_t;

struct jr_stats;

/* Renders the exposition text into a new malloc'd string (*len set). */
char *metrics_render(const metrics_t *m, const struct jr_stats *js, int ready, size_t *len);

struct ob_stats;
struct jr_backlog;
/* Renders the MongoDB outbox families into a new malloc'd string (*len set). */
char *metrics_render_outbox(const struct ob_stats *os, const struct jr_backlog *bl,
                            int64_t now_ms, size_t *len);

#endif
