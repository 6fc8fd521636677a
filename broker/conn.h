/* SPDX-License-Identifier: MIT */
/* One WebSocket connection: its identity (from the token), room memberships, bounded
 * outbound queue, inbound message assembly and abuse counters. Loop thread only. The
 * struct is shared by the broker's files (ws.c, room.c, handlers) and nothing else. */
#ifndef BRK_CONN_H
#define BRK_CONN_H

#include "auth.h"
#include "msg.h"
#include "srv.h"

#include <stddef.h>
#include <stdint.h>

struct lws;

typedef struct room_seat room_seat_t;

typedef struct conn_room {
    room_t *room;
    size_t idx;        /* position in the room's member array */
    room_seat_t *seat; /* a student's seat in the room (NULL for staff) */
} conn_room_t;

struct conn {
    uint64_t id;
    struct lws *wsi;
    srv_t *srv;
    auth_role_t role;
    char *sub;
    char *name;
    int n_classes;
    char **classes;
    conn_room_t *rooms; /* n_classes entries, parallel to classes */

    /* outbound ring of shared messages */
    evt_msg_t **q;
    size_t q_head, q_len, q_cap;
    size_t q_bytes;

    /* inbound assembly of fragmented messages */
    char *rx;
    size_t rx_len, rx_cap;
    size_t rx_total; /* bytes seen of the current message, kept or not */
    int rx_discard;  /* current message is over the limit: drop its bytes */
    int rx_binary;
    int rx_frame; /* a text message that starts as a FRAME event (larger size limit) */

    /* frames of a student (handlers/frame.c) */
    int64_t no_session_until_ms; /* refuse frames at once until then (no active session) */
    int64_t viol_since_ms[4];    /* by st_violation_t: when the condition began, 0 if not */
    int viol_raised[4];          /* the current episode already raised its violation */

    /* abuse accounting */
    int64_t err_window_start_ms;
    int err_count;
    int oversize_count;

    /* token lifetime (handlers/token.c) */
    int64_t token_exp;     /* exp of the token the connection lives on, s since the epoch */
    exp_node_t token_node; /* its place in the server's token deadline heap */
    int token_warned;      /* TOKEN_EXPIRING was sent for this token */

    /* life cycle */
    int closing;             /* close code we want to send, 0 when none */
    const char *close_reason;
    int peer_close_code;
    int64_t opened_ms;
    uint64_t msgs_in, msgs_out;
    conn_t *hnext; /* registry hash chain */
};

/* Creates a connection for wsi from a verified identity (copied). */
conn_t *conn_new(srv_t *s, struct lws *wsi, const auth_identity_t *id);
/* Frees everything the connection owns (leave rooms first). */
void conn_free(conn_t *c);

/* Queues a message (takes a new reference). When the queue passes its limits the
 * connection is closed as a slow consumer (4001) and its queue dropped; returns
 * BRK_EFULL then. */
int conn_send(conn_t *c, evt_msg_t *m);

/* Builds and queues a reply; takes ownership of data, borrows id. */
void conn_reply(conn_t *c, out_type_t t, json_t *data, const json_t *id);

/* Sends ERROR {code, message, ref: id} with the request id; counts it, and closes the
 * connection with 1008 when errors pass the configured rate. */
void conn_error(conn_t *c, err_code_t code, const char *message, const json_t *id);

/* Like conn_error, for conditions the client did not cause (an overloaded analyzer, an
 * unavailable dependency): not counted towards the error-rate close. */
void conn_error_soft(conn_t *c, err_code_t code, const char *message, const json_t *id);

/* Asks for the connection to be closed with code and reason (a static string). The close
 * happens from its next writeable callback, or by a kill timeout if it never comes. */
void conn_close(conn_t *c, int code, const char *reason);

/* Writes queued messages; called on LWS_CALLBACK_SERVER_WRITEABLE. Returns -1 when lws
 * must close the connection. */
int conn_on_writeable(conn_t *c);

/* The class an event acts on: data.class_id if present, else the token's only class.
 * Returns it, or NULL after sending CLASS_REQUIRED / CLASS_FORBIDDEN. */
const char *conn_resolve_class(conn_t *c, const json_t *data, const json_t *id);

#endif
