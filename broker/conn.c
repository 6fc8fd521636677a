/* SPDX-License-Identifier: MIT */
/* Connection objects: bounded outbound queues, replies and errors, close requests. */
#include "conn.h"

#include "brk.h"
#include "log.h"
#include "room.h"

#include <libwebsockets.h>
#include <stdlib.h>
#include <string.h>

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

void conn_free(conn_t *c)
{
    if (!c)
        return;
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
    lws_callback_on_writable(c->wsi);
    lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, CLOSE_GRACE_S);
}

int conn_send(conn_t *c, evt_msg_t *m)
{
    const cfg_t *cfg = c->srv->cfg;
    if (c->closing)
        return BRK_ECLOSED;
    if (c->q_len >= (size_t)cfg->outbox_messages ||
        c->q_bytes + m->len > (size_t)cfg->outbox_bytes) {
        c->srv->m.queue_drops++;
        c->srv->m.slow_consumer_closes++;
        LOG(WARN, c->p.id, "slow consumer", "queued=%zu bytes=%zu", c->q_len, c->q_bytes);
        conn_close(c, 4001, "slow consumer");
        return BRK_EFULL;
    }
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
    c->srv->m.messages_out[m->type]++;
    /* Ask lws only on the empty -> non-empty edge: asking per message is costly. */
    if (c->q_len == 1)
        lws_callback_on_writable(c->wsi);
    return 0;
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

int conn_on_writeable(conn_t *c)
{
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
    /* Write while the socket takes it; lws buffers a partial write itself and reports the
     * pipe choked until it is flushed. Bound the burst to stay fair to other clients. */
    for (int burst = 0; c->q_len > 0 && burst < 32; burst++) {
        evt_msg_t *m = c->q[c->q_head];
        c->q_head = (c->q_head + 1) % c->q_cap;
        c->q_len--;
        c->q_bytes -= m->len;
        int n = lws_write(c->wsi, m->payload, m->len, LWS_WRITE_TEXT);
        msg_unref(m);
        if (n < 0)
            return -1;
        c->msgs_out++;
        if (lws_send_pipe_choked(c->wsi))
            break;
    }
    if (c->q_len > 0)
        lws_callback_on_writable(c->wsi);
    return 0;
}
