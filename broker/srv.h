/* SPDX-License-Identifier: MIT */
/* The server: everything the loop thread owns (configuration, the lws context, the
 * connection registry, rooms, the live-state engine, the journal, metrics), and the
 * life cycle from start to a drained exit. */
#ifndef BRK_SRV_H
#define BRK_SRV_H

#include "auth.h"
#include "config.h"
#include "hdl.h"
#include "journal.h"
#include "metrics.h"
#include "mongo.h"
#include "outbox.h"
#include "state.h"

#include <stdint.h>
#include <uv.h>

struct lws_context;
struct lws_vhost;
typedef struct conn conn_t;
typedef struct room room_t;
typedef struct clu clu_t;

typedef struct srv {
    uv_loop_t *loop;
    const cfg_t *cfg;
    auth_verifier_t *auth;
    st_t *st;
    jr_t *jr;
    mg_t *mg; /* MongoDB sink, NULL when ROLLCALL_MONGODB_URI is unset */
    ob_t *ob; /* its outbox shipper */
    clu_t *clu; /* multi-instance glue (cluster.c), NULL without Redis */
    /* accounts (http_accounts.c): the service, the key tokens are signed with, the login
     * limits; acct is NULL when accounts are off, and accounts_off says why */
    struct acct_svc *acct;
    auth_signer_t *signer;
    struct rl *rl_addr, *rl_acct;
    struct roster_reg *rosters; /* the classes' live rosters (accounts/roster.h) */
    uv_timer_t roster_retry;    /* reads the rosters again after a failed read */
    int rosters_pending;        /* the start could not read them (MongoDB down) */
    const char *accounts_off;
    struct lws_context *lws;
    struct lws_vhost *vhost;
    int port; /* bound port */
    /* the identity CONFIRM_UPGRADE verified, for the ESTABLISHED of the same wsi (ws.c) */
    const struct lws *upgrade_wsi;
    struct auth_identity *upgrade_id;

    /* connection registry: open addressing on conn id */
    conn_t **conns;
    size_t conns_cap, conns_len;
    uint64_t next_conn_id;
    /* rooms by class id: chained hash */
    room_t **rooms;
    size_t rooms_cap, rooms_len;

    /* connections with queued messages to write before the loop polls (conn.c), the
     * prepare handle that writes them, and the buffer their frames are gathered in */
    conn_t *flush_head;
    uv_prepare_t flush_prep;
    unsigned char *wbuf;
    struct wring *wring; /* NULL: one send(2) per connection (ROLLCALL_IO_URING=0, or none) */
    void *wslots;        /* conn.c's bookkeeping of one batch */
    /* keepalive (conn_keepalive): one timer for every connection, and the shared PING */
    uv_timer_t keepalive;
    struct evt_msg *ping_msg;

    /* the event handlers, and the operations they reach the server by (host.c) */
    hdl_t *hdl;
    hdl_host_t host;

    metrics_t m;
    int ready;
    int draining;
    int stopped;
    uint64_t drain_deadline_ns;
    uv_signal_t sig_term, sig_int;
    uv_signal_t sig_hup; /* reloads the JWT key files */
    uv_timer_t drain_timer;
    int exit_code;
} srv_t;

/* Runs the server until SIGTERM/SIGINT drained it. Returns the process exit code. */
int srv_run(const cfg_t *cfg, const char *jwt_secret);

/* Connection registry (loop thread). */
void srv__conn_add(srv_t *s, conn_t *c);
void srv__conn_remove(srv_t *s, conn_t *c);
conn_t *srv_conn_find(srv_t *s, uint64_t id);

/* Fills s->host with the server's side of handlers/host.h (host.c). */
void srv__host_init(srv_t *s);

/* The live roster of class_id (or of every class) may be stale: another instance changed
 * it in the shared account store. Reads it again and applies it (http_classes.c). */
void srv_roster_stale(srv_t *s, const char *class_id);
void srv_rosters_stale(srv_t *s);

/* Starts a drain (as on SIGTERM). */
void srv_begin_drain(srv_t *s);

#endif
