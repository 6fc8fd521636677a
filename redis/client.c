/* SPDX-License-Identifier: MIT */
/* The Redis client: two hiredis async connections (commands, pub/sub) on the loop, their
 * handshake (AUTH, SELECT, PING; re-SUBSCRIBE), reconnect with backoff and jitter, the
 * refcounted channel table, and the queue that fails commands asynchronously while the
 * command connection is down.
 *
 * Each connection is a small state machine: IDLE (no context; the timer waits for the next
 * attempt) -> CONNECTING (the timer is the connect timeout) -> HANDSHAKE -> READY, and back
 * to IDLE whenever the context is lost. A context is only ever freed from a top-level loop
 * callback (a timer, the idle handle or the glue's error path), never from inside a hiredis
 * callback: freeing there would pull the context out from under hiredis. */
#include "rds.h"

#include "brk.h"
#include "log.h"
#include "rds_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define ERR_MAX 192

typedef enum {
    CONN_IDLE = 0,
    CONN_CONNECTING,
    CONN_HANDSHAKE,
    CONN_READY,
    CONN_DYING, /* hiredis is failing its callbacks before it frees the context */
} conn_state_t;

typedef struct rds_conn {
    rds_client_t *client;
    const char *name; /* "cmd" or "pubsub", for logs */
    int is_sub;
    conn_state_t state;
    redisAsyncContext *ac;
    uv_timer_t timer; /* next attempt while IDLE, connect timeout or abort otherwise */
    uint32_t attempt; /* failed attempts since the last READY */
    int hs_pending;   /* handshake replies still expected */
    int subs_live;    /* pubsub: SUBSCRIBE may be sent on this context */
    size_t resub_pending;
    char abort_err[ERR_MAX]; /* why we are dropping the context ourselves */
} rds_conn_t;

typedef struct channel {
    struct channel *next;
    int refs;
    char name[]; /* NUL-terminated */
} channel_t;

typedef struct rds_req {
    struct rds_req *next;
    rds_reply_cb cb;
    void *ud;
    char err[ERR_MAX + 64]; /* room for a prefix before a connection error */
} rds_req_t;

typedef enum { REP_NONE = 0, REP_UP, REP_DOWN } reported_t;

struct rds_client {
    uv_loop_t *loop;
    rds_url_t url;
    rds_opts_t opts;
    rds_conn_t cmd, sub;
    uv_idle_t idle; /* delivers deferred errors; runs the close */
    rds_req_t *defer_head, *defer_tail;
    channel_t **buckets;
    size_t nbuckets, nchannels;
    reported_t reported;
    char last_err[ERR_MAX];
    uint64_t rng;
    int closing, close_started;
    unsigned open_handles;
    void (*on_closed)(void *ud);
};

static void on_conn_timer(uv_timer_t *t);
static void conn_lost(rds_conn_t *k, const char *err);

/* ---- channels: a chained hash table keyed by name ---- */

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

static channel_t **chan_slot(const rds_client_t *c, const char *name)
{
    channel_t **pp = &c->buckets[hash_str(name) & (c->nbuckets - 1)];
    while (*pp && strcmp((*pp)->name, name) != 0)
        pp = &(*pp)->next;
    return pp;
}

static void chan_grow(rds_client_t *c)
{
    size_t n = c->nbuckets * 2;
    channel_t **b = brk_calloc(n, sizeof *b);
    for (size_t i = 0; i < c->nbuckets; i++) {
        channel_t *ch = c->buckets[i];
        while (ch) {
            channel_t *next = ch->next;
            size_t j = hash_str(ch->name) & (n - 1);
            ch->next = b[j];
            b[j] = ch;
            ch = next;
        }
    }
    free(c->buckets);
    c->buckets = b;
    c->nbuckets = n;
}

/* ---- errors delivered on a later loop iteration ---- */

static void on_idle(uv_idle_t *h);

__attribute__((format(printf, 4, 5))) static void defer_error(rds_client_t *c, rds_reply_cb cb,
                                                              void *ud, const char *fmt, ...)
{
    rds_req_t *q = brk_calloc(1, sizeof *q);
    q->cb = cb;
    q->ud = ud;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(q->err, sizeof q->err, fmt, ap);
    va_end(ap);
    if (c->defer_tail)
        c->defer_tail->next = q;
    else
        c->defer_head = q;
    c->defer_tail = q;
    if (!uv_is_closing((uv_handle_t *)&c->idle))
        uv_idle_start(&c->idle, on_idle);
}

/* Delivers the errors queued so far; errors queued by these callbacks wait for the next
 * iteration, so a caller that resubmits on every error cannot spin here. */
static void drain_deferred(rds_client_t *c)
{
    rds_req_t *q = c->defer_head;
    c->defer_head = c->defer_tail = NULL;
    while (q) {
        rds_req_t *next = q->next;
        if (q->cb)
            q->cb(NULL, q->err, q->ud);
        free(q);
        q = next;
    }
}

/* ---- handles and teardown ---- */

static void client_free(rds_client_t *c)
{
    for (size_t i = 0; i < c->nbuckets; i++) {
        channel_t *ch = c->buckets[i];
        while (ch) {
            channel_t *next = ch->next;
            free(ch);
            ch = next;
        }
    }
    free(c->buckets);
    free(c);
}

static void handle_gone(void *arg)
{
    rds_client_t *c = arg;
    BRK_ASSERT(c->open_handles > 0);
    if (--c->open_handles == 0 && c->closing) {
        void (*cb)(void *) = c->on_closed;
        void *ud = c->opts.ud;
        /* Only a command submitted after the idle handle closed (from some other handle's
         * callback) can still be queued; it is failed now, before on_closed. */
        while (c->defer_head)
            drain_deferred(c);
        client_free(c);
        if (cb)
            cb(ud);
    }
}

static void on_timer_closed(uv_handle_t *h)
{
    rds_conn_t *k = h->data;
    handle_gone(k->client);
}

static void on_idle_closed(uv_handle_t *h)
{
    handle_gone(h->data);
}

/* ---- state reporting ---- */

static void client_update(rds_client_t *c, const char *err)
{
    if (c->closing)
        return;
    int up = c->cmd.state == CONN_READY && c->sub.state == CONN_READY;
    if (up && c->reported != REP_UP) {
        c->reported = REP_UP;
        c->last_err[0] = '\0';
        LOG(INFO, 0, "redis up", "host=%s port=%d", c->url.is_unix ? c->url.path : c->url.host,
            c->url.port);
        if (c->opts.on_up)
            c->opts.on_up(c->opts.ud);
    } else if (!up && err && c->reported != REP_DOWN) {
        c->reported = REP_DOWN;
        LOG(WARN, 0, "redis down", "err=\"%s\"", err);
        if (c->opts.on_down)
            c->opts.on_down(err, c->opts.ud);
    }
}

/* ---- backoff ---- */

static uint64_t rng_next(rds_client_t *c)
{
    /* xorshift64*: jitter only needs to decorrelate instances, not to be unpredictable. */
    uint64_t x = c->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    c->rng = x;
    return x * 2685821657736338717ULL;
}

/* Exponential backoff with "equal jitter": a delay in [d/2, d] where d doubles per failed
 * attempt from backoff_min_ms up to backoff_max_ms. Instances that lost Redis together do
 * not all come back in the same millisecond, and no retry is ever immediate. */
static uint32_t next_delay(rds_client_t *c, rds_conn_t *k)
{
    uint64_t d = c->opts.backoff_min_ms;
    for (uint32_t i = 0; i < k->attempt && d < c->opts.backoff_max_ms; i++)
        d *= 2;
    if (d > c->opts.backoff_max_ms)
        d = c->opts.backoff_max_ms;
    if (k->attempt < 64)
        k->attempt++;
    uint64_t half = d / 2;
    return (uint32_t)(d - half + rng_next(c) % (half + 1));
}

/* ---- connection lifecycle ---- */

static void schedule_abort(rds_conn_t *k, const char *err)
{
    if (!k->abort_err[0])
        snprintf(k->abort_err, sizeof k->abort_err, "%s", err);
    if (!k->client->closing)
        uv_timer_start(&k->timer, on_conn_timer, 0, 0);
}

/* Drops the context now. Top-level callbacks only (see the file comment). */
static void conn_abort(rds_conn_t *k, const char *err)
{
    redisAsyncContext *ac = k->ac;
    if (!ac)
        return;
    if (!k->abort_err[0])
        snprintf(k->abort_err, sizeof k->abort_err, "%s", err);
    /* Runs every pending callback with a NULL reply, then the disconnect callback, but the
     * latter only for a context that had connected: finish the others here. */
    redisAsyncFree(ac);
    if (k->ac == ac)
        conn_lost(k, k->abort_err);
}

static void on_glue_err(redisAsyncContext *ac, const char *err)
{
    rds_conn_t *k = ac->data;
    char msg[ERR_MAX];
    snprintf(msg, sizeof msg, "socket error: %s", err);
    conn_abort(k, msg);
}

/* The context is gone (or never existed): schedule the next attempt. */
static void conn_lost(rds_conn_t *k, const char *err)
{
    rds_client_t *c = k->client;
    int was_ready = k->state == CONN_READY || k->state == CONN_DYING;
    k->ac = NULL;
    k->state = CONN_IDLE;
    k->hs_pending = 0;
    k->subs_live = 0;
    k->resub_pending = 0;
    if (c->closing)
        return;
    /* err may point into k->abort_err, which the next attempt clears. */
    snprintf(c->last_err, sizeof c->last_err, "%s", err);
    uint32_t delay = next_delay(c, k);
    if (was_ready || k->attempt == 1)
        LOG(WARN, 0, "redis link lost", "link=%s err=\"%s\" retry_ms=%u", k->name, c->last_err,
            delay);
    else
        LOG(DEBUG, 0, "redis link retry", "link=%s err=\"%s\" retry_ms=%u attempt=%u", k->name,
            c->last_err, delay, k->attempt);
    uv_timer_start(&k->timer, on_conn_timer, delay, 0);
    client_update(c, c->last_err);
}

static void conn_ready(rds_conn_t *k)
{
    if (k->abort_err[0])
        return; /* an abort is already scheduled */
    k->state = CONN_READY;
    k->attempt = 0;
    uv_timer_stop(&k->timer);
    LOG(DEBUG, 0, "redis link ready", "link=%s", k->name);
    client_update(k->client, NULL);
}

static void send_subscribe(rds_conn_t *k, int argc, const char **argv, const char *what);

static void on_sub_reply(redisAsyncContext *ac, void *r, void *priv);

/* The pubsub context passed its handshake: subscribe every channel held now, in one
 * command, and become READY once Redis confirmed them all, so that a PUBLISH sent after
 * on_up is seen. */
static void resubscribe(rds_conn_t *k)
{
    rds_client_t *c = k->client;
    k->subs_live = 1;
    if (c->nchannels == 0) {
        conn_ready(k);
        return;
    }
    const char **argv = brk_malloc((c->nchannels + 1) * sizeof *argv);
    size_t n = 0;
    argv[n++] = "SUBSCRIBE";
    for (size_t i = 0; i < c->nbuckets; i++)
        for (channel_t *ch = c->buckets[i]; ch; ch = ch->next)
            argv[n++] = ch->name;
    k->resub_pending = n - 1;
    send_subscribe(k, (int)n, argv, "resubscribe");
    free(argv);
}

static void hs_reply(redisAsyncContext *ac, redisReply *reply, const char *what)
{
    rds_conn_t *k = ac->data;
    /* NULL: the context is going away and the disconnect path reports it. */
    if (!reply || k->state != CONN_HANDSHAKE || k->abort_err[0])
        return;
    if (reply->type == REDIS_REPLY_ERROR) {
        char msg[ERR_MAX];
        snprintf(msg, sizeof msg, "%s failed: %s", what, reply->str);
        schedule_abort(k, msg);
        return;
    }
    if (--k->hs_pending > 0)
        return;
    if (k->is_sub)
        resubscribe(k);
    else
        conn_ready(k);
}

static void on_auth_reply(redisAsyncContext *ac, void *r, void *priv)
{
    (void)priv;
    hs_reply(ac, r, "AUTH");
}

static void on_select_reply(redisAsyncContext *ac, void *r, void *priv)
{
    (void)priv;
    hs_reply(ac, r, "SELECT");
}

static void on_ping_reply(redisAsyncContext *ac, void *r, void *priv)
{
    (void)priv;
    hs_reply(ac, r, "PING");
}

static void hs_send(rds_conn_t *k, redisCallbackFn *fn, int argc, const char **argv)
{
    if (redisAsyncCommandArgv(k->ac, fn, NULL, argc, argv, NULL) == REDIS_OK)
        k->hs_pending++;
    else
        schedule_abort(k, "could not queue the handshake");
}

/* Runs inside hiredis' connect handling: it must not free the context (see the file
 * comment), so failures go through schedule_abort(). */
static void on_connect(const redisAsyncContext *cac, int status)
{
    rds_conn_t *k = cac->data;
    rds_client_t *c = k->client;
    if (status != REDIS_OK) {
        char msg[ERR_MAX];
        snprintf(msg, sizeof msg, "connect: %s", cac->errstr);
        /* hiredis frees the context when this returns, without a disconnect callback. */
        conn_lost(k, msg);
        return;
    }
    k->state = CONN_HANDSHAKE;
    if (c->url.has_password) {
        const char *argv[3] = {"AUTH", c->url.user, c->url.password};
        if (c->url.user[0])
            hs_send(k, on_auth_reply, 3, argv);
        else {
            argv[1] = c->url.password;
            hs_send(k, on_auth_reply, 2, argv);
        }
    }
    if (!k->is_sub && c->url.db >= 0) {
        char db[16];
        snprintf(db, sizeof db, "%d", c->url.db);
        const char *argv[2] = {"SELECT", db};
        hs_send(k, on_select_reply, 2, argv);
    }
    /* Always last: proves the server answers commands (no NOAUTH, not LOADING). */
    const char *ping[1] = {"PING"};
    hs_send(k, on_ping_reply, 1, ping);
}

static void on_disconnect(const redisAsyncContext *cac, int status)
{
    (void)status; /* REDIS_OK after redisAsyncFree(): our own abort_err says more */
    rds_conn_t *k = cac->data;
    if (k->ac != cac)
        return;
    char msg[ERR_MAX];
    if (k->abort_err[0])
        snprintf(msg, sizeof msg, "%s", k->abort_err);
    else if (cac->err)
        snprintf(msg, sizeof msg, "connection lost: %s", cac->errstr);
    else
        snprintf(msg, sizeof msg, "connection closed");
    conn_lost(k, msg);
}

static void conn_connect(rds_conn_t *k)
{
    rds_client_t *c = k->client;
    char msg[ERR_MAX];
    k->abort_err[0] = '\0';
    /* Numeric hosts only (rds_url_parse): hiredis' getaddrinfo() does no lookup then. */
    redisAsyncContext *ac = c->url.is_unix ? redisAsyncConnectUnix(c->url.path)
                                           : redisAsyncConnect(c->url.host, c->url.port);
    if (!ac) {
        conn_lost(k, "connect: out of memory");
        return;
    }
    if (ac->err) {
        snprintf(msg, sizeof msg, "connect: %s", ac->errstr);
        redisAsyncFree(ac);
        conn_lost(k, msg);
        return;
    }
    int rc = rds__glue_attach(ac, c->loop, on_glue_err, handle_gone, c);
    if (rc < 0) {
        snprintf(msg, sizeof msg, "connect: cannot poll the socket: %s", uv_strerror(rc));
        redisAsyncFree(ac);
        conn_lost(k, msg);
        return;
    }
    c->open_handles++;
    ac->data = k;
    k->ac = ac;
    k->state = CONN_CONNECTING;
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    redisAsyncSetConnectCallback(ac, on_connect); /* arms the write watch */
    uv_timer_start(&k->timer, on_conn_timer, c->opts.connect_timeout_ms, 0);
}

static void on_conn_timer(uv_timer_t *t)
{
    rds_conn_t *k = t->data;
    if (k->client->closing)
        return;
    if (k->state == CONN_IDLE) {
        conn_connect(k);
    } else if (k->abort_err[0]) {
        char msg[ERR_MAX];
        snprintf(msg, sizeof msg, "%s", k->abort_err);
        conn_abort(k, msg);
    } else if (k->state == CONN_CONNECTING || k->state == CONN_HANDSHAKE) {
        char msg[ERR_MAX];
        snprintf(msg, sizeof msg, "connect timed out after %u ms",
                 k->client->opts.connect_timeout_ms);
        conn_abort(k, msg);
    }
}

/* ---- commands ---- */

static void on_cmd_reply(redisAsyncContext *ac, void *r, void *priv)
{
    rds_req_t *q = priv;
    rds_conn_t *k = ac->data;
    redisReply *reply = r;
    if (reply) {
        if (q->cb)
            q->cb(reply, reply->type == REDIS_REPLY_ERROR ? reply->str : NULL, q->ud);
        free(q);
        return;
    }
    /* hiredis fails every pending callback before its disconnect callback: stop sending
     * on this context now, so a command submitted from a callback fails cleanly. */
    if (k->state != CONN_IDLE)
        k->state = CONN_DYING;
    if (k->client->closing)
        snprintf(q->err, sizeof q->err, "redis client closed");
    else if (k->abort_err[0])
        snprintf(q->err, sizeof q->err, "redis connection lost: %s", k->abort_err);
    else if (ac->err)
        snprintf(q->err, sizeof q->err, "redis connection lost: %s", ac->errstr);
    else
        snprintf(q->err, sizeof q->err, "redis connection lost");
    if (q->cb)
        q->cb(NULL, q->err, q->ud);
    free(q);
}

/* 1 when a formatted command ("*N\r\n$L\r\nNAME\r\n...") would put the connection in
 * subscribed or monitor mode, which would break the request/reply pairing it relies on. */
static int is_pubsub_command(const char *cmd, size_t len)
{
    static const char *const names[] = {"subscribe",  "unsubscribe",  "psubscribe", "punsubscribe",
                                        "ssubscribe", "sunsubscribe", "monitor"};
    const char *end = cmd + len;
    const char *p = memchr(cmd, '\n', len); /* end of "*N\r\n" */
    if (!p || ++p >= end || *p != '$')
        return 0;
    p = memchr(p, '\n', (size_t)(end - p)); /* end of "$L\r\n" */
    if (!p || ++p >= end)
        return 0;
    const char *cr = memchr(p, '\r', (size_t)(end - p));
    if (!cr)
        return 0;
    size_t n = (size_t)(cr - p);
    for (size_t i = 0; i < BRK_ARRAY_LEN(names); i++)
        if (strlen(names[i]) == n && strncasecmp(p, names[i], n) == 0)
            return 1;
    return 0;
}

static void submit(rds_client_t *c, rds_reply_cb cb, void *ud, const char *cmd, int len)
{
    if (c->closing) {
        defer_error(c, cb, ud, "redis client closed");
        return;
    }
    if (c->cmd.state != CONN_READY) {
        defer_error(c, cb, ud, "redis unavailable: %s",
                    c->last_err[0] ? c->last_err : "not connected yet");
        return;
    }
    if (is_pubsub_command(cmd, (size_t)len)) {
        defer_error(c, cb, ud, "subscription commands are not allowed here: use rds_subscribe");
        return;
    }
    rds_req_t *q = brk_calloc(1, sizeof *q);
    q->cb = cb;
    q->ud = ud;
    if (redisAsyncFormattedCommand(c->cmd.ac, on_cmd_reply, q, cmd, (size_t)len) != REDIS_OK) {
        free(q);
        defer_error(c, cb, ud, "redis unavailable: the connection is closing");
    }
}

void rds_command(rds_client_t *c, rds_reply_cb cb, void *ud, const char *fmt, ...)
{
    char *cmd = NULL;
    va_list ap;
    va_start(ap, fmt);
    int len = redisvFormatCommand(&cmd, fmt, ap);
    va_end(ap);
    if (len <= 0) {
        defer_error(c, cb, ud, "invalid command format \"%.40s\"", fmt);
        return;
    }
    submit(c, cb, ud, cmd, len);
    redisFreeCommand(cmd);
}

void rds_command_argv(rds_client_t *c, rds_reply_cb cb, void *ud, int argc, const char **argv,
                      const size_t *argvlen)
{
    char *cmd = NULL;
    int len = argc > 0 ? redisFormatCommandArgv(&cmd, argc, argv, argvlen) : -1;
    if (len <= 0) {
        defer_error(c, cb, ud, "invalid command (argc=%d)", argc);
        return;
    }
    submit(c, cb, ud, cmd, len);
    redisFreeCommand(cmd);
}

/* ---- pub/sub ---- */

static void on_sub_reply(redisAsyncContext *ac, void *r, void *priv)
{
    (void)priv;
    rds_conn_t *k = ac->data;
    rds_client_t *c = k->client;
    redisReply *reply = r;
    if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements < 3)
        return;
    const redisReply *kind = reply->element[0], *chan = reply->element[1];
    if (kind->type != REDIS_REPLY_STRING || chan->type != REDIS_REPLY_STRING)
        return;
    if (strcasecmp(kind->str, "message") == 0) {
        const redisReply *payload = reply->element[2];
        if (c->closing || !c->opts.on_message || payload->type != REDIS_REPLY_STRING)
            return;
        /* A message can still arrive for a channel dropped since: nobody wants it. */
        channel_t *ch = *chan_slot(c, chan->str);
        if (ch && ch->refs > 0)
            c->opts.on_message(chan->str, payload->str, payload->len, c->opts.ud);
    } else if (strcasecmp(kind->str, "subscribe") == 0) {
        /* Redis answers in order, so the first confirmations belong to the resubscribe. */
        if (k->state == CONN_HANDSHAKE && k->resub_pending > 0 && --k->resub_pending == 0)
            conn_ready(k);
    }
}

static void send_subscribe(rds_conn_t *k, int argc, const char **argv, const char *what)
{
    if (redisAsyncCommandArgv(k->ac, on_sub_reply, k, argc, argv, NULL) != REDIS_OK) {
        char msg[ERR_MAX];
        snprintf(msg, sizeof msg, "could not queue %s", what);
        schedule_abort(k, msg);
    }
}

int rds_subscribe(rds_client_t *c, const char *channel)
{
    if (c->closing)
        return BRK_ESTATE;
    if (!channel || !*channel)
        return BRK_EINVAL;
    channel_t **pp = chan_slot(c, channel);
    if (*pp) {
        (*pp)->refs++;
        return 0;
    }
    size_t n = strlen(channel);
    channel_t *ch = brk_calloc(1, sizeof *ch + n + 1);
    memcpy(ch->name, channel, n + 1);
    ch->refs = 1;
    *pp = ch;
    c->nchannels++;
    if (c->nchannels > 2 * c->nbuckets)
        chan_grow(c);
    rds_conn_t *k = &c->sub;
    if (k->ac && k->subs_live && k->state != CONN_DYING) {
        const char *argv[2] = {"SUBSCRIBE", channel};
        send_subscribe(k, 2, argv, "SUBSCRIBE");
    }
    return 0;
}

int rds_unsubscribe(rds_client_t *c, const char *channel)
{
    if (c->closing)
        return BRK_ESTATE;
    if (!channel)
        return BRK_EINVAL;
    channel_t **pp = chan_slot(c, channel);
    channel_t *ch = *pp;
    if (!ch)
        return BRK_ENOTFOUND;
    if (--ch->refs > 0)
        return 0;
    rds_conn_t *k = &c->sub;
    /* Every channel in the table was subscribed once the context went live, so there is
     * something to undo. UNSUBSCRIBE has no callback of its own in hiredis. */
    if (k->ac && k->subs_live && k->state != CONN_DYING) {
        const char *argv[2] = {"UNSUBSCRIBE", channel};
        if (redisAsyncCommandArgv(k->ac, NULL, NULL, 2, argv, NULL) != REDIS_OK)
            schedule_abort(k, "could not queue UNSUBSCRIBE");
    }
    *pp = ch->next;
    free(ch);
    c->nchannels--;
    return 0;
}

int rds_subscription_refs(const rds_client_t *c, const char *channel)
{
    const channel_t *ch = *chan_slot(c, channel);
    return ch ? ch->refs : 0;
}

/* ---- client ---- */

static void on_idle(uv_idle_t *h)
{
    rds_client_t *c = h->data;
    if (c->closing && !c->close_started) {
        c->close_started = 1;
        /* Commands in flight fail here, with "redis client closed". */
        conn_abort(&c->cmd, "client closed");
        conn_abort(&c->sub, "client closed");
        uv_close((uv_handle_t *)&c->cmd.timer, on_timer_closed);
        uv_close((uv_handle_t *)&c->sub.timer, on_timer_closed);
    }
    drain_deferred(c);
    if (c->defer_head)
        return;
    if (c->closing)
        uv_close((uv_handle_t *)&c->idle, on_idle_closed);
    else
        uv_idle_stop(&c->idle);
}

static void conn_init(rds_client_t *c, rds_conn_t *k, const char *name, int is_sub)
{
    k->client = c;
    k->name = name;
    k->is_sub = is_sub;
    BRK_ASSERT(uv_timer_init(c->loop, &k->timer) == 0);
    k->timer.data = k;
    c->open_handles++;
    /* The first attempt runs on the next loop iteration, never inside rds_client_new. */
    uv_timer_start(&k->timer, on_conn_timer, 0, 0);
}

int rds_client_new(uv_loop_t *loop, const char *url, const rds_opts_t *opts, rds_client_t **out)
{
    char err[ERR_MAX];
    rds_url_t u;
    *out = NULL;
    if (rds_url_parse(url, &u, err, sizeof err) != 0) {
        LOG(ERROR, 0, "bad redis url", "err=\"%s\"", err);
        return BRK_EINVAL;
    }
    rds_client_t *c = brk_calloc(1, sizeof *c);
    c->loop = loop;
    c->url = u;
    if (opts)
        c->opts = *opts;
    if (!c->opts.backoff_min_ms)
        c->opts.backoff_min_ms = 100;
    if (!c->opts.backoff_max_ms)
        c->opts.backoff_max_ms = 5000;
    if (c->opts.backoff_max_ms < c->opts.backoff_min_ms)
        c->opts.backoff_max_ms = c->opts.backoff_min_ms;
    if (!c->opts.connect_timeout_ms)
        c->opts.connect_timeout_ms = 3000;
    if (brk_random(&c->rng, sizeof c->rng) != 0 || c->rng == 0)
        c->rng = uv_hrtime() | 1;
    c->nbuckets = 16;
    c->buckets = brk_calloc(c->nbuckets, sizeof *c->buckets);
    BRK_ASSERT(uv_idle_init(loop, &c->idle) == 0);
    c->idle.data = c;
    c->open_handles++;
    conn_init(c, &c->cmd, "cmd", 0);
    conn_init(c, &c->sub, "pubsub", 1);
    char shown[RDS_PATH_MAX + RDS_USER_MAX + 64];
    LOG(INFO, 0, "redis connecting", "url=\"%s\"", rds_url_redacted(&u, shown, sizeof shown));
    *out = c;
    return 0;
}

int rds_client_close(rds_client_t *c, void (*on_closed)(void *ud))
{
    if (c->closing)
        return BRK_ESTATE;
    c->closing = 1;
    c->on_closed = on_closed;
    uv_timer_stop(&c->cmd.timer);
    uv_timer_stop(&c->sub.timer);
    /* The contexts are dropped from the idle callback: this call may come from inside a
     * hiredis callback, where freeing a context is not allowed, and the callers' command
     * callbacks should not run inside their own close call. */
    uv_idle_start(&c->idle, on_idle);
    return 0;
}

int rds_is_up(const rds_client_t *c)
{
    return !c->closing && c->cmd.state == CONN_READY && c->sub.state == CONN_READY;
}

const char *rds_last_error(const rds_client_t *c)
{
    return c->last_err;
}
