/* SPDX-License-Identifier: MIT */
/* Process counters exposed at GET /metrics in Prometheus text format. Loop thread only. */
#ifndef BRK_METRICS_H
#define BRK_METRICS_H

#include "envelope.h"
#include "hdl.h"
#include "protocol.h"

#include <stddef.h>
#include <stdint.h>

typedef struct metrics {
    uint64_t connections[3];       /* open now, by auth_role_t */
    uint64_t connections_total[3]; /* accepted since start, by role */
    uint64_t auth_refused;         /* upgrades refused with 401 */
    uint64_t conn_refused_full;    /* upgrades refused with 503 (limit or draining) */
    uint64_t messages_in[EVT__COUNT];
    uint64_t messages_in_binary;
    uint64_t messages_out[OUT__COUNT]; /* deliveries queued to a connection */
    uint64_t errors[ERR__COUNT];
    int io_uring;                  /* 1 when writes are batched through io_uring */
    uint64_t write_calls;          /* sends of queued frames (several frames per send when
                                    * several wait for one connection) */
    uint64_t write_deferrals;      /* sends the kernel took only part of: the rest waits
                                    * for the socket to be writeable */
    uint64_t queue_drops;          /* messages discarded because a consumer was too slow */
    uint64_t slow_consumer_closes;
    uint64_t idle_closes;          /* closed after idle_timeout seconds of silence */
    uint64_t abuse_closes;         /* 1008/1009 closes */
    uint64_t http_requests;
    uint64_t logins_ok, logins_failed, logins_limited; /* the accounts endpoints (http_accounts.c) */
    uint64_t jwt_key_reloads[2]; /* SIGHUP (server.c): [0] done, [1] failed (old keys stay) */
    hdl_stats_t hdl;             /* the handlers' counters: tokens, frames, engagement */
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
