/* SPDX-License-Identifier: MIT */
/* One WebSocket connection: its identity (from the token), room memberships, bounded
 * outbound queue, inbound message assembly and abuse counters. Loop thread only. The
 * struct is shared by the broker's files (ws.c, room.c, handlers) and nothing else. */
#ifndef BRK_CONN_H
#define BRK_CONN_H

#include "auth.h"
#include "host.h"
#include "msg.h"
#include "srv.h"

#include <stddef.h>
#include <stdint.h>

struct lws;

/* The most bytes of frames gathered into one send (conn.c; ws.c tells lws). */
#define CONN_WRITE_BATCH_BYTES (64 * 1024)
/* Sends submitted together through io_uring (wring.c). */
#define WRITE_RING_SENDS 1024

typedef struct room_seat room_seat_t;

/* One room the connection is a member of. */
typedef struct conn_room {
    room_t *room;
    size_t idx;        /* position in the room's member array */
    room_seat_t *seat; /* a student's seat in the room (NULL for staff) */
} conn_room_t;

struct conn {
    peer_t p; /* what the handlers see: identity, token deadlines, proctoring (host.h) */
    struct lws *wsi;
    srv_t *srv;
    conn_room_t *rooms; /* the rooms joined, in no particular order */
    int n_rooms, cap_rooms;

    /* outbound ring of shared messages */
    evt_msg_t **q;
    size_t q_head, q_len, q_cap;
    size_t q_bytes;
    /* write state (conn.c): queued messages go out when the loop has run this turn's
     * callbacks, from the server's list of connections to flush; when the socket refused
     * bytes, lws holds them and reports the connection writeable once they are gone. */
    conn_t *flush_prev, *flush_next;
    int on_flush_list;
    size_t flush_turn;   /* bytes written since it was listed, for fairness */
    int await_writeable; /* lws holds unsent bytes, or a writeable callback was asked for */
    int peer_closed;     /* the peer's close frame came: nothing more may be written */
    /* keepalive (conn_keepalive): when the peer last sent anything, and whether a PING
     * went out since */
    int64_t last_rx_ms;
    int ping_sent;

    /* inbound assembly of fragmented messages */
    char *rx;
    size_t rx_len, rx_cap;
    size_t rx_total; /* bytes seen of the current message, kept or not */
    int rx_discard;  /* current message is over the limit: drop its bytes */
    int rx_binary;
    int rx_frame; /* a text message that starts as a FRAME event (larger size limit) */

    /* abuse accounting */
    int64_t err_window_start_ms;
    int err_count;
    int oversize_count;

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
/* conn_close after one non-blocking attempt to write what is queued, so that the event
 * explaining the close (CLASS_REMOVED, ...) goes out before the close frame when the
 * socket takes it. The handlers' closes (host.c) go this way. */
void conn_close_flushed(conn_t *c, int code, const char *reason);

/* Writes queued messages; called on LWS_CALLBACK_SERVER_WRITEABLE. Returns -1 when lws
 * must close the connection. */
int conn_on_writeable(conn_t *c);

/* Writes what every connection on the server's flush list has queued (each connection's
 * frames back to back, one send per batch); called once per loop turn before the loop
 * polls. A connection whose socket refuses bytes waits for its writeable callback. */
void conn_flush_all(srv_t *s);

/* The peer's close frame arrived: drop the queue and write nothing more. */
void conn_peer_closed(conn_t *c);

/* The peer sent something (a message, a fragment, a PONG) at now_ms. */
static inline void conn_heard(conn_t *c, int64_t now_ms)
{
    c->last_rx_ms = now_ms;
    c->ping_sent = 0;
}

/* One keepalive pass over every connection: a PING to those silent for ping_interval
 * seconds, a close (1001, "idle timeout") to those silent for idle_timeout. One timer for
 * all connections instead of lws's per-connection timers, whose sorted list made every new
 * connection cost a walk over all the others. */
void conn_keepalive(srv_t *s, int64_t now_ms);

/* The connection whose peer_t p is. */
static inline conn_t *conn_of_peer(peer_t *p)
{
    return (conn_t *)(void *)((char *)p - offsetof(conn_t, p));
}

#endif
