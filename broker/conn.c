/* SPDX-License-Identifier: MIT */
/* Connection objects: bounded outbound queues, replies and errors, close requests. */
#include "conn.h"

#include "brk.h"
#include "log.h"
#include "room.h"
#include "wring.h"

#include <errno.h>
#include <libwebsockets.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* One send writes at most this many bytes of frames gathered back to back; a single frame
 * larger than that is sent from its own buffer. It is also lws's per-write limit on the
 * protocol (tx_packet_size in ws.c): above it lws would send part and copy the rest. */
#define WRITE_BATCH_BYTES CONN_WRITE_BATCH_BYTES
/* The buffer the gathered frames of one batch of sends are copied into. */
#define WRITE_ARENA_BYTES (1024 * 1024)
/* Bytes one connection may write per loop turn before the others get theirs. */
#define FLUSH_TURN_BYTES (4 * WRITE_BATCH_BYTES)

/* Errors are counted in windows of this length for the abuse limit. */
#define ERR_WINDOW_MS 10000
/* Seconds a closing connection may stay unwritable before it is killed. */
#define CLOSE_GRACE_S 5

conn_t *conn_new(srv_t *s, struct lws *wsi, const auth_identity_t *id)
{
    conn_t *c = brk_calloc(1, sizeof *c);
    c->p.id = ++s->next_conn_id;
    c->wsi = wsi;
    c->srv = s;
    c->p.role = id->role;
    c->p.sub = brk_strdup(id->sub);
    c->p.name = brk_strdup(id->name);
    c->p.n_classes = id->n_classes;
    c->p.classes = brk_calloc((size_t)id->n_classes, sizeof *c->p.classes);
    for (int i = 0; i < id->n_classes; i++)
        c->p.classes[i] = brk_strdup(id->classes[i]);
    c->p.token_exp = id->exp;
    c->opened_ms = brk_now_ms();
    c->last_rx_ms = (int64_t)uv_now(s->loop);
    return c;
}

static void drop_queue(conn_t *c)
{
    while (c->q_len > 0) {
        msg_unref(c->q[c->q_head]);
        c->q_head = (c->q_head + 1) % c->q_cap;
        c->q_len--;
    }
    c->q_head = 0;
    c->q_bytes = 0;
}

static void flush_list_add(conn_t *c)
{
    srv_t *s = c->srv;
    if (c->on_flush_list)
        return;
    c->on_flush_list = 1;
    c->flush_turn = 0;
    c->flush_prev = NULL;
    c->flush_next = s->flush_head;
    if (s->flush_head)
        s->flush_head->flush_prev = c;
    s->flush_head = c;
}

static void flush_list_remove(conn_t *c)
{
    srv_t *s = c->srv;
    if (!c->on_flush_list)
        return;
    if (c->flush_prev)
        c->flush_prev->flush_next = c->flush_next;
    else
        s->flush_head = c->flush_next;
    if (c->flush_next)
        c->flush_next->flush_prev = c->flush_prev;
    c->flush_prev = c->flush_next = NULL;
    c->on_flush_list = 0;
}

void conn_free(conn_t *c)
{
    if (!c)
        return;
    flush_list_remove(c);
    drop_queue(c);
    free(c->q);
    for (int i = 0; i < c->p.n_classes; i++)
        free(c->p.classes[i]);
    free(c->p.classes);
    free(c->rooms);
    free(c->p.sub);
    free(c->p.name);
    free(c->rx);
    free(c);
}

void conn_close(conn_t *c, int code, const char *reason)
{
    if (c->closing)
        return;
    c->closing = code;
    c->close_reason = reason;
    /* Nothing else will be written: a slow consumer's backlog is what we are shedding,
     * and a draining server owes its clients only the close frame. */
    c->srv->m.queue_drops += c->q_len;
    drop_queue(c);
    flush_list_remove(c);
    lws_callback_on_writable(c->wsi);
    lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, CLOSE_GRACE_S);
}

static void enqueue(conn_t *c, evt_msg_t *m);

int conn_send(conn_t *c, evt_msg_t *m)
{
    const cfg_t *cfg = c->srv->cfg;
    if (c->closing || c->peer_closed)
        return BRK_ECLOSED;
    if (c->q_len >= (size_t)cfg->outbox_messages ||
        c->q_bytes + m->len > (size_t)cfg->outbox_bytes) {
        c->srv->m.queue_drops++;
        c->srv->m.slow_consumer_closes++;
        LOG(WARN, c->p.id, "slow consumer", "queued=%zu bytes=%zu", c->q_len, c->q_bytes);
        conn_close(c, 4001, "slow consumer");
        return BRK_EFULL;
    }
    enqueue(c, m);
    c->srv->m.messages_out[m->type]++;
    return 0;
}

/* Appends m to the queue (taking a new reference) and lists the connection for the next
 * flush. */
static void enqueue(conn_t *c, evt_msg_t *m)
{
    if (c->q_len == c->q_cap) {
        size_t ncap = c->q_cap ? c->q_cap * 2 : 4;
        evt_msg_t **nq = brk_malloc(ncap * sizeof *nq);
        for (size_t i = 0; i < c->q_len; i++)
            nq[i] = c->q[(c->q_head + i) % c->q_cap];
        free(c->q);
        c->q = nq;
        c->q_cap = ncap;
        c->q_head = 0;
    }
    c->q[(c->q_head + c->q_len) % c->q_cap] = msg_ref(m);
    c->q_len++;
    c->q_bytes += m->len;
    /* Written when this loop turn's callbacks are done, with whatever else queued for the
     * connection meanwhile; a connection waiting for its writeable callback gets it then. */
    if (!c->await_writeable)
        flush_list_add(c);
}

void conn_reply(conn_t *c, out_type_t t, json_t *data, const json_t *id)
{
    evt_msg_t *m = msg_build(t, data, id);
    conn_send(c, m);
    msg_unref(m);
}

void conn_error_soft(conn_t *c, err_code_t code, const char *message, const json_t *id)
{
    srv_t *s = c->srv;
    s->m.errors[code]++;
    LOG(DEBUG, c->p.id, "error reply", "code=%s", err_code_name(code));
    json_t *data = json_object();
    json_object_set_new(data, "code", json_string(err_code_name(code)));
    json_object_set_new(data, "message", json_string(message ? message : ""));
    json_object_set(data, "ref", id ? (json_t *)id : json_null());
    conn_reply(c, OUT_ERROR, data, id);
}

void conn_error(conn_t *c, err_code_t code, const char *message, const json_t *id)
{
    srv_t *s = c->srv;
    conn_error_soft(c, code, message, id);

    int64_t now = brk_now_ms();
    if (now - c->err_window_start_ms > ERR_WINDOW_MS) {
        c->err_window_start_ms = now;
        c->err_count = 0;
    }
    if (++c->err_count > s->cfg->error_limit && !c->closing) {
        s->m.abuse_closes++;
        /* The ERROR just queued is dropped with the queue: the close reason says it all. */
        conn_close(c, 1008, "too many errors");
    }
}

/* Takes n messages off the head of the queue. */
static void pop_sent(conn_t *c, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        evt_msg_t *m = c->q[c->q_head];
        c->q_head = (c->q_head + 1) % c->q_cap;
        c->q_len--;
        c->q_bytes -= m->len;
        msg_unref(m);
    }
    c->msgs_out += n;
}

/* Picks what the next send of c carries: the head frame alone (from its own buffer), or as
 * many queued frames as fit in cap bytes (at most WRITE_BATCH_BYTES) copied back to back
 * into buf. Sets *out and *len; returns how many messages that is. */
static size_t gather(conn_t *c, unsigned char *buf, size_t cap, unsigned char **out,
                     size_t *len)
{
    evt_msg_t *head = c->q[c->q_head];
    *out = head->frame;
    *len = head->frame_len;
    if (cap > WRITE_BATCH_BYTES)
        cap = WRITE_BATCH_BYTES;
    if (c->q_len < 2 || head->frame_len >= cap)
        return 1;
    size_t n = 0, used = 0;
    while (n < c->q_len) {
        evt_msg_t *m = c->q[(c->q_head + n) % c->q_cap];
        if (used + m->frame_len > cap)
            break;
        memcpy(buf + used, m->frame, m->frame_len);
        used += m->frame_len;
        n++;
    }
    if (n < 2)
        return 1;
    *out = buf;
    *len = used;
    return n;
}

/* Settles a send of len bytes of out (n messages) that took res bytes, or failed with
 * -errno. What the kernel did not take goes to lws as a raw write (LWS_WRITE_HTTP is "no
 * framing" on a WebSocket connection): lws copies it, asks for POLLOUT, sends it before
 * anything of its own (a PONG, a PING, a close frame), so frames are never interleaved,
 * and reports the connection writeable once it is out. Returns -1 when the socket failed,
 * 1 when the rest waits with lws, 0 when everything went out. */
static int settle(conn_t *c, const unsigned char *out, size_t len, size_t n, ssize_t res)
{
    srv_t *s = c->srv;
    if (res < 0 && res != -EAGAIN && res != -EWOULDBLOCK && res != -EINTR) {
        pop_sent(c, n);
        return -1;
    }
    s->m.write_calls++;
    size_t took = res > 0 ? (size_t)res : 0;
    if (took >= len) {
        pop_sent(c, n);
        return 0;
    }
    s->m.write_deferrals++;
    int lw = lws_write(c->wsi, (unsigned char *)out + took, len - took, LWS_WRITE_HTTP);
    pop_sent(c, n);
    if (lw < 0)
        return -1;
    c->await_writeable = 1;
    return 1;
}

/* The socket failed: lws closes the connection on its next turn. */
static void write_failed(conn_t *c)
{
    drop_queue(c);
    c->peer_closed = 1;
    lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
}

/* Writes queued frames with send(2), several per send when several wait, until the queue
 * is empty, the turn's budget is spent or the socket refuses bytes. Called only when lws
 * holds no unsent bytes of its own (flush_ready checks, and lws calls the writeable
 * callback only once they are out), so our frames follow whole frames. Returns -1 when
 * the socket failed. */
static int write_queue(conn_t *c)
{
    srv_t *s = c->srv;
    if (!s->wbuf)
        s->wbuf = brk_malloc(WRITE_ARENA_BYTES);
    size_t turn = 0;
    while (c->q_len > 0) {
        if (turn >= FLUSH_TURN_BYTES) {
            c->await_writeable = 1;
            lws_callback_on_writable(c->wsi);
            return 0;
        }
        unsigned char *out;
        size_t len;
        size_t n = gather(c, s->wbuf, WRITE_BATCH_BYTES, &out, &len);
        ssize_t w = send(lws_get_socket_fd(c->wsi), out, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        int r = settle(c, out, len, n, w < 0 ? -errno : w);
        if (r != 0)
            return r < 0 ? -1 : 0;
        turn += len;
    }
    return 0;
}

/* Whether c can be written now: not closing, not waiting for lws, nothing of lws' own
 * unsent. */
static int flush_ready(conn_t *c)
{
    if (c->closing || c->peer_closed || c->await_writeable || c->q_len == 0)
        return 0;
    if (lws_partial_buffered(c->wsi)) {
        /* Bytes lws wrote itself (the upgrade response, a PONG) are still waiting. */
        c->await_writeable = 1;
        lws_callback_on_writable(c->wsi);
        return 0;
    }
    return 1;
}

/* One send per connection on the flush list, all of them submitted with one system call
 * (wring.c), over as many batches as the list needs. A connection with more queued than
 * one send carries goes back on the list until its turn's budget is spent. */
static void flush_ring(srv_t *s)
{
    typedef struct {
        conn_t *c;
        unsigned char *out;
        size_t len, n;
    } slot_t;
    if (!s->wbuf)
        s->wbuf = brk_malloc(WRITE_ARENA_BYTES);
    if (!s->wslots)
        s->wslots = brk_calloc(WRITE_RING_SENDS, sizeof(slot_t));
    slot_t *slot = s->wslots;
    while (s->flush_head && s->wring) {
        unsigned k = 0;
        size_t used = 0;
        while (s->flush_head && wring_room(s->wring) > 0) {
            conn_t *c = s->flush_head;
            flush_list_remove(c);
            if (!flush_ready(c))
                continue;
            size_t n = gather(c, s->wbuf + used, WRITE_ARENA_BYTES - used, &slot[k].out,
                              &slot[k].len);
            if (slot[k].out == s->wbuf + used)
                used += slot[k].len;
            slot[k].c = c;
            slot[k].n = n;
            wring_add(s->wring, lws_get_socket_fd(c->wsi), slot[k].out, slot[k].len);
            k++;
        }
        const ssize_t *res;
        wring_run(s->wring, &res);
        for (unsigned i = 0; i < k; i++) {
            conn_t *c = slot[i].c;
            int r = settle(c, slot[i].out, slot[i].len, slot[i].n, res[i]);
            if (r < 0) {
                write_failed(c);
            } else if (r == 0 && c->q_len > 0) {
                size_t turn = c->flush_turn + slot[i].len;
                if (turn < FLUSH_TURN_BYTES) {
                    flush_list_add(c);
                    c->flush_turn = turn;
                } else {
                    c->await_writeable = 1;
                    lws_callback_on_writable(c->wsi);
                }
            }
        }
        if (wring_broken(s->wring)) {
            LOG(WARN, 0, "io_uring failed", "fallback=%s", "send");
            wring_free(s->wring);
            s->wring = NULL;
            s->m.io_uring = 0;
        }
    }
}

void conn_flush_all(srv_t *s)
{
    if (s->wring)
        flush_ring(s);
    while (s->flush_head) {
        conn_t *c = s->flush_head;
        flush_list_remove(c);
        if (flush_ready(c) && write_queue(c) < 0)
            write_failed(c);
    }
}

void conn_close_flushed(conn_t *c, int code, const char *reason)
{
    /* One non-blocking attempt at what is queued (the event that explains the close);
     * what the socket does not take now is dropped with the rest. */
    if (flush_ready(c)) {
        flush_list_remove(c);
        if (write_queue(c) < 0) {
            write_failed(c);
            return;
        }
    }
    conn_close(c, code, reason);
}

void conn_peer_closed(conn_t *c)
{
    c->peer_closed = 1;
    drop_queue(c);
    flush_list_remove(c);
}

int conn_on_writeable(conn_t *c)
{
    c->await_writeable = 0;
    if (c->closing) {
        /* The close frame is written here by hand: returning -1 after lws_close_reason()
         * from this callback makes lws 4.1.6 hang up without sending it. 4 is the close
         * opcode, which the header keeps private (it is LWS_WRITE_CLOSE inside lws). */
        const char *r = c->close_reason ? c->close_reason : "";
        size_t rl = strlen(r) > 123 ? 123 : strlen(r);
        unsigned char buf[LWS_PRE + 2 + 123];
        buf[LWS_PRE] = (unsigned char)(c->closing >> 8);
        buf[LWS_PRE + 1] = (unsigned char)(c->closing & 0xff);
        memcpy(buf + LWS_PRE + 2, r, rl);
        lws_write(c->wsi, buf + LWS_PRE, 2 + rl, (enum lws_write_protocol)4);
        return -1;
    }
    if (c->peer_closed)
        return 0;
    /* lws calls this only once what it held is out: the queue goes on from here. */
    flush_list_remove(c);
    return write_queue(c);
}

void conn_keepalive(srv_t *s, int64_t now_ms)
{
    const cfg_t *cfg = s->cfg;
    const int64_t ping_ms = (int64_t)cfg->ping_interval * 1000;
    const int64_t idle_ms = (int64_t)cfg->idle_timeout * 1000;
    if (ping_ms <= 0)
        return;
    for (size_t i = 0; i < s->conns_cap; i++) {
        for (conn_t *c = s->conns[i]; c; c = c->hnext) {
            if (c->closing || c->peer_closed)
                continue;
            int64_t silent = now_ms - c->last_rx_ms;
            if (idle_ms > 0 && silent >= idle_ms) {
                s->m.idle_closes++;
                LOG(INFO, c->p.id, "idle timeout", "silent_ms=%lld", (long long)silent);
                conn_close(c, 1001, "idle timeout");
            } else if (silent >= ping_ms && !c->ping_sent) {
                if (!s->ping_msg)
                    s->ping_msg = msg_new_ping();
                c->ping_sent = 1;
                enqueue(c, s->ping_msg);
            }
        }
    }
}
