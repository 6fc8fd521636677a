/* SPDX-License-Identifier: MIT */
/* libwebsockets callbacks: token check before the upgrade, message assembly with a size
 * limit, dispatch, queued writes, close accounting. */
#include "ws.h"

#include "brk.h"
#include "conn.h"
#include "envelope.h"
#include "hdl.h"
#include "http.h"
#include "log.h"

#include <libwebsockets.h>
#include <stdlib.h>
#include <string.h>

/* One message over this many times the limit closes the connection at once (1009):
 * reading it to its end only to refuse it would let a client make us burn bandwidth. */
#define HUGE_FACTOR 16
/* Oversized messages tolerated (each answered with MESSAGE_TOO_LARGE) before 1009. */
#define MAX_OVERSIZE 3
/* Keep an assembly buffer up to this size between messages; free bigger ones. 0: an idle
 * connection holds none (only messages longer than lws' 512-byte receive buffer, or sent
 * in fragments, need one, and they are rare next to the memory of every idle connection). */
#define RX_KEEP 0
/* Longest token we read: lws' header buffer is 8 KiB. */
#define TOKEN_MAX 8192

static srv_t *srv_of(struct lws *wsi)
{
    return lws_context_user(lws_get_context(wsi));
}

/* Copies the bearer token of the request into buf: the token query argument, else the
 * Authorization header. Returns its length, 0 when there is none; *touched is how many
 * bytes of buf were written, for the caller to wipe. */
static size_t read_token(struct lws *wsi, char *buf, size_t cap, size_t *touched)
{
    *touched = 0;
    const char *v = lws_get_urlarg_by_name(wsi, "token=", buf, (int)cap);
    if (v) {
        size_t n = strlen(v);
        *touched = (size_t)(v - buf) + n + 1;
        memmove(buf, v, n + 1);
        return n;
    }
    int len = lws_hdr_copy(wsi, buf, (int)cap, WSI_TOKEN_HTTP_AUTHORIZATION);
    if (len > 0)
        *touched = (size_t)len + 1;
    if (len <= 7 || strncasecmp(buf, "Bearer ", 7) != 0)
        return 0;
    size_t n = (size_t)len - 7;
    memmove(buf, buf + 7, n + 1);
    while (n > 0 && buf[n - 1] == ' ')
        buf[--n] = '\0';
    return n;
}

/* Verifies the request's token. Returns 0 and fills *id, or BRK_EAUTH with a reason. */
static int verify_request(srv_t *s, struct lws *wsi, auth_identity_t *id, const char **reason)
{
    char tok[TOKEN_MAX + 1];
    size_t touched;
    size_t n = read_token(wsi, tok, sizeof tok, &touched);
    *reason = "missing token";
    int rc = n ? auth_verify(s->auth, tok, n, brk_now_ms() / 1000, id, reason) : BRK_EAUTH;
    /* Wipe the token: it must never reach a log or linger in memory. */
    explicit_bzero(tok, touched < sizeof tok ? touched : sizeof tok);
    return rc;
}

/* Runs before the 101 answer, with no per-session data yet: the place to refuse with an
 * HTTP status. The identity the token gave is kept for this wsi's ESTABLISHED, which lws
 * 4.1 calls next from the same call (handshake_0405, after the 101 is written): verifying
 * the token twice was about 7 % of the broker's CPU during connects. */
static int confirm_upgrade(srv_t *s, struct lws *wsi)
{
    s->upgrade_wsi = NULL;
    char uri[64];
    if (lws_hdr_copy(wsi, uri, sizeof uri, WSI_TOKEN_GET_URI) < 0 || strcmp(uri, "/ws") != 0)
        return http_refuse(wsi, 404, NULL, "no WebSocket endpoint here: use /ws\n");
    if (s->draining || !s->ready) {
        s->m.conn_refused_full++;
        return http_refuse(wsi, 503, NULL, "shutting down\n");
    }
    if (s->conns_len >= (size_t)s->cfg->max_connections) {
        s->m.conn_refused_full++;
        LOG(WARN, 0, "connection refused", "reason=max_connections limit=%d",
            s->cfg->max_connections);
        return http_refuse(wsi, 503, NULL, "too many connections\n");
    }
    if (!s->upgrade_id)
        s->upgrade_id = brk_malloc(sizeof *s->upgrade_id);
    const char *reason;
    int rc = verify_request(s, wsi, s->upgrade_id, &reason);
    if (rc != 0) {
        s->m.auth_refused++;
        char peer[64] = "";
        lws_get_peer_simple(wsi, peer, sizeof peer);
        LOG(INFO, 0, "upgrade refused", "status=401 reason=\"%s\" peer=%s", reason, peer);
        return http_refuse(wsi, 401, "Bearer realm=\"rollcall\", error=\"invalid_token\"",
                           "invalid or missing token\n");
    }
    s->upgrade_wsi = wsi;
    return 0;
}

static int established(srv_t *s, struct lws *wsi, ws_pss_t *pss)
{
    conn_t *c;
    if (s->upgrade_wsi == wsi) {
        s->upgrade_wsi = NULL;
        c = conn_new(s, wsi, s->upgrade_id);
    } else {
        /* Not straight after this wsi's CONFIRM_UPGRADE (which an lws other than 4.1 might
         * do): verify the headers again. */
        LOG(DEBUG, 0, "token verified again", "why=%s", "no CONFIRM_UPGRADE just before");
        auth_identity_t *id = brk_malloc(sizeof *id);
        const char *reason;
        if (verify_request(s, wsi, id, &reason) != 0) {
            free(id);
            lws_close_reason(wsi, LWS_CLOSE_STATUS_POLICY_VIOLATION, (unsigned char *)"token",
                             5);
            return -1;
        }
        c = conn_new(s, wsi, id);
        free(id);
    }
    pss->conn = c;
    srv__conn_add(s, c);
    s->m.connections[c->p.role]++;
    s->m.connections_total[c->p.role]++;
    if (LOG_INFO >= log_level) { /* the peer's address costs a system call */
        char peer[64] = "";
        lws_get_peer_simple(wsi, peer, sizeof peer);
        LOG(INFO, c->p.id, "conn open", "role=%s sub=%s classes=%d peer=%s",
            auth_role_name(c->p.role), c->p.sub, c->p.n_classes, peer);
    }
    hdl_conn_open(s->hdl, &c->p);
    return 0;
}

static void closed(srv_t *s, ws_pss_t *pss)
{
    conn_t *c = pss->conn;
    if (!c)
        return;
    pss->conn = NULL;
    hdl_conn_close(s->hdl, &c->p);
    srv__conn_remove(s, c);
    s->m.connections[c->p.role]--;
    const char *reason = c->close_reason;
    int code = c->closing;
    if (!code && c->peer_close_code) {
        code = c->peer_close_code;
        reason = "peer closed";
    } else if (!code) {
        reason = "connection lost";
    }
    LOG(INFO, c->p.id, "conn close", "code=%d reason=\"%s\" duration_ms=%lld in=%llu out=%llu",
        code, reason, (long long)(brk_now_ms() - c->opened_ms), (unsigned long long)c->msgs_in,
        (unsigned long long)c->msgs_out);
    conn_free(c);
}

static void on_message(conn_t *c, const char *buf, size_t len, int binary)
{
    srv_t *s = c->srv;
    c->msgs_in++;
    if (binary) {
        s->m.messages_in_binary++;
        hdl_frame_binary(s->hdl, &c->p, (const uint8_t *)buf, len);
        return;
    }
    env_t env;
    env_error_t err;
    if (env_parse(buf, len, &env, &err) != 0) {
        conn_error(c, err_code_from_name(err.code), err.message, err.id);
        json_decref(err.id);
        return;
    }
    s->m.messages_in[env.type]++;
    hdl_dispatch(s->hdl, &c->p, &env);
    env_free(&env);
}

static void rx_reset(conn_t *c)
{
    c->rx_len = 0;
    c->rx_total = 0;
    c->rx_discard = 0;
    if (c->rx_cap > RX_KEEP) {
        BRK_FREE(c->rx);
        c->rx_cap = 0;
    }
}

/* Closes from inside this connection's own callback, with a close frame. */
static int close_now(conn_t *c, int code, const char *reason)
{
    if (!c->closing) {
        c->closing = code;
        c->close_reason = reason;
    }
    lws_close_reason(c->wsi, (enum lws_close_status)c->closing, (unsigned char *)c->close_reason,
                     strlen(c->close_reason));
    return -1;
}

/* Whether a text message begins {"event":"FRAME" (blanks allowed between tokens): only
 * such a message may exceed the text limit, up to a base64 frame. A FRAME whose "event"
 * is not its first member gets the plain text limit (docs/PROTOCOL.md). */
static int starts_as_frame(const char *p, size_t len)
{
    static const char *const tokens[] = {"{", "\"event\"", ":", "\"FRAME\""};
    size_t i = 0;
    for (size_t t = 0; t < BRK_ARRAY_LEN(tokens); t++) {
        while (i < len && (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\r'))
            i++;
        size_t n = strlen(tokens[t]);
        if (len - i < n || memcmp(p + i, tokens[t], n) != 0)
            return 0;
        i += n;
    }
    return 1;
}

/* The size limit of the message being received: a binary message is a raw frame; a
 * student's FRAME event may carry a frame as base64 (4 characters per 3 bytes, plus the
 * envelope); every other text message has the plain text limit. */
static size_t rx_limit(const conn_t *c)
{
    const cfg_t *cfg = c->srv->cfg;
    size_t text = (size_t)cfg->max_message_bytes;
    if (c->rx_binary)
        return (size_t)cfg->frame_max_bytes;
    if (c->p.role == ROLE_STUDENT && c->rx_frame) {
        size_t b64 = ((size_t)cfg->frame_max_bytes + 2) / 3 * 4 + 4096;
        return b64 > text ? b64 : text;
    }
    return text;
}

static int receive(conn_t *c, struct lws *wsi, const char *in, size_t len)
{
    srv_t *s = c->srv;
    if (c->closing)
        return 0; /* the close is on its way; ignore what the peer still sends */
    int first = lws_is_first_fragment(wsi);
    int final = lws_is_final_fragment(wsi) && lws_remaining_packet_payload(wsi) == 0;
    if (first && c->rx_total == 0) {
        c->rx_binary = lws_frame_is_binary(wsi);
        c->rx_frame = !c->rx_binary && starts_as_frame(in, len);
    }
    const size_t limit = rx_limit(c);
    c->rx_total += len;

    if (c->rx_total > HUGE_FACTOR * limit) {
        s->m.abuse_closes++;
        s->m.errors[ERR_MESSAGE_TOO_LARGE]++;
        return close_now(c, 1009, "message too large");
    }
    if (!c->rx_discard && c->rx_total > limit) {
        c->rx_discard = 1;
        c->rx_len = 0;
    }
    if (!c->rx_discard) {
        if (final && c->rx_len == 0) {
            /* The whole message arrived in one piece: parse it in place. */
            on_message(c, in, len, c->rx_binary);
            rx_reset(c);
            return c->closing ? close_now(c, c->closing, c->close_reason) : 0;
        }
        if (c->rx_len + len > c->rx_cap) {
            size_t ncap = c->rx_cap ? c->rx_cap : 1024;
            while (ncap < c->rx_len + len)
                ncap *= 2;
            c->rx = brk_realloc(c->rx, ncap);
            c->rx_cap = ncap;
        }
        memcpy(c->rx + c->rx_len, in, len);
        c->rx_len += len;
    }
    if (!final)
        return 0;
    if (c->rx_discard) {
        char msg[96];
        snprintf(msg, sizeof msg, "%s of %zu bytes is over the limit of %zu",
                 c->rx_binary ? "frame" : "message", c->rx_total, limit);
        if (c->rx_binary)
            s->m.hdl.frames_refused++;
        conn_error(c, c->rx_binary ? ERR_FRAME_TOO_LARGE : ERR_MESSAGE_TOO_LARGE, msg, NULL);
        if (++c->oversize_count >= MAX_OVERSIZE) {
            s->m.abuse_closes++;
            rx_reset(c);
            return close_now(c, 1009, "message too large");
        }
    } else {
        on_message(c, c->rx, c->rx_len, c->rx_binary);
    }
    rx_reset(c);
    return c->closing ? close_now(c, c->closing, c->close_reason) : 0;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
    srv_t *s = srv_of(wsi);
    ws_pss_t *pss = user;

    switch (reason) {
    case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
        return confirm_upgrade(s, wsi);
    case LWS_CALLBACK_ESTABLISHED:
        return established(s, wsi, pss);
    case LWS_CALLBACK_RECEIVE:
        if (!pss->conn)
            return -1;
        conn_heard(pss->conn, (int64_t)uv_now(s->loop));
        return receive(pss->conn, wsi, in, len);
    case LWS_CALLBACK_RECEIVE_PONG:
        if (pss->conn)
            conn_heard(pss->conn, (int64_t)uv_now(s->loop));
        return 0;
    case LWS_CALLBACK_SERVER_WRITEABLE:
        return pss->conn ? conn_on_writeable(pss->conn) : 0;
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
        if (pss->conn && len >= 2) {
            const unsigned char *p = in;
            pss->conn->peer_close_code = (p[0] << 8) | p[1];
        } else if (pss->conn) {
            pss->conn->peer_close_code = 1005;
        }
        if (pss->conn) /* lws answers the close frame; nothing of ours may follow it */
            conn_peer_closed(pss->conn);
        return 0;
    case LWS_CALLBACK_CLOSED:
        closed(s, pss);
        return 0;
    case LWS_CALLBACK_HTTP:
        return http_on_request(s, wsi, pss, in ? (const char *)in : "/");
    case LWS_CALLBACK_HTTP_BODY:
        return http_on_body(s, pss, in, len);
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        return http_on_body_done(s, pss);
    case LWS_CALLBACK_HTTP_WRITEABLE:
        return http_on_writeable(s, wsi, pss);
    case LWS_CALLBACK_CLOSED_HTTP:
        if (pss)
            http_on_closed(s, pss);
        return 0;
    case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
        if (pss)
            http_on_closed(s, pss);
        return 0;
    default:
        return 0;
    }
}

static const struct lws_protocols protocols[] = {
    /* rx_buffer_size 512: lws allocates it for every connection (512 bytes less per idle
     * connection than 1024; longer messages arrive in pieces, which receive() joins);
     * tx_packet_size is the most conn.c writes in one send, so lws
     * never splits such a write into a send and a copy of the rest. */
    {"rollcall", callback, sizeof(ws_pss_t), 512, 0, NULL, CONN_WRITE_BATCH_BYTES},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

const struct lws_protocols *ws_protocols(void)
{
    return protocols;
}
