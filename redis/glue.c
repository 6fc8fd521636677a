/* SPDX-License-Identifier: MIT */
/* hiredis <-> libuv glue: one uv_poll_t per redisAsyncContext, driven by hiredis' addRead,
 * delRead, addWrite, delWrite and cleanup hooks.
 *
 * The adapter bundled with hiredis 0.14.1 returns early when libuv reports a poll error.
 * libuv reports POLLERR (which is what a refused or reset connection raises) as status
 * UV_EBADF and stops the watcher itself, so with that adapter a failed connect never reaches
 * the connect callback and the context hangs forever. Here a poll error is handed to
 * hiredis, which reads SO_ERROR (or the failing read) and runs its connect or disconnect
 * callback; if it still did not notice, the owner is told so that it can drop the context. */
#include "rds_int.h"

#include "brk.h"
#include "log.h"

#include <stdlib.h>

typedef struct glue {
    uv_poll_t poll;
    redisAsyncContext *ac; /* NULL once hiredis ran the cleanup hook */
    int events;
    rds__glue_err_cb on_err;
    rds__glue_closed_cb on_closed;
    void *arg;
} glue_t;

static void on_poll(uv_poll_t *h, int status, int events)
{
    glue_t *g = h->data;
    if (!g->ac)
        return;
    if (status < 0) {
        redisAsyncContext *ac = g->ac;
        LOG(DEBUG, 0, "redis poll error", "status=\"%s\" connected=%d", uv_strerror(status),
            (ac->c.flags & REDIS_CONNECTED) != 0);
        /* Let hiredis find the real cause: before the connect completed, the write handler
         * checks SO_ERROR and runs the connect callback with the error; afterwards a read
         * fails with the socket's error and hiredis disconnects. */
        if (!(ac->c.flags & REDIS_CONNECTED))
            redisAsyncHandleWrite(ac);
        else
            redisAsyncHandleRead(ac);
        /* libuv stopped the watcher: a context hiredis still considers healthy would never
         * be polled again, so the owner must drop it. */
        if (g->ac)
            g->on_err(g->ac, uv_strerror(status));
        return;
    }
    if (events & UV_READABLE)
        redisAsyncHandleRead(g->ac);
    if (g->ac && (events & UV_WRITABLE))
        redisAsyncHandleWrite(g->ac);
}

static void update(glue_t *g)
{
    int rc;
    if (!g->ac)
        return;
    if (g->events)
        rc = uv_poll_start(&g->poll, g->events, on_poll);
    else
        rc = uv_poll_stop(&g->poll);
    /* Cannot happen for a live socket; a hook has no way to report it, so say it loudly. */
    if (rc < 0)
        LOG(ERROR, 0, "redis poll update failed", "err=\"%s\"", uv_strerror(rc));
}

static void add_read(void *p)
{
    glue_t *g = p;
    g->events |= UV_READABLE;
    update(g);
}

static void del_read(void *p)
{
    glue_t *g = p;
    g->events &= ~UV_READABLE;
    update(g);
}

static void add_write(void *p)
{
    glue_t *g = p;
    g->events |= UV_WRITABLE;
    update(g);
}

static void del_write(void *p)
{
    glue_t *g = p;
    g->events &= ~UV_WRITABLE;
    update(g);
}

static void on_poll_closed(uv_handle_t *h)
{
    glue_t *g = h->data;
    rds__glue_closed_cb cb = g->on_closed;
    void *arg = g->arg;
    free(g);
    cb(arg);
}

/* hiredis calls this just before it closes the socket and frees the context; the glue
 * outlives the context until libuv has closed the poll handle. */
static void cleanup(void *p)
{
    glue_t *g = p;
    if (!g->ac)
        return;
    /* No hook may reach the glue after this; hiredis skips NULL hooks. */
    g->ac->ev.addRead = g->ac->ev.delRead = NULL;
    g->ac->ev.addWrite = g->ac->ev.delWrite = NULL;
    g->ac->ev.cleanup = NULL;
    g->ac = NULL;
    uv_close((uv_handle_t *)&g->poll, on_poll_closed);
}

int rds__glue_attach(redisAsyncContext *ac, uv_loop_t *loop, rds__glue_err_cb on_err,
                     rds__glue_closed_cb on_closed, void *arg)
{
    if (ac->ev.data != NULL)
        return UV_EBUSY;
    glue_t *g = brk_calloc(1, sizeof *g);
    int rc = uv_poll_init(loop, &g->poll, ac->c.fd);
    if (rc < 0) {
        free(g);
        return rc;
    }
    g->poll.data = g;
    g->ac = ac;
    g->on_err = on_err;
    g->on_closed = on_closed;
    g->arg = arg;
    ac->ev.data = g;
    ac->ev.addRead = add_read;
    ac->ev.delRead = del_read;
    ac->ev.addWrite = add_write;
    ac->ev.delWrite = del_write;
    ac->ev.cleanup = cleanup;
    return 0;
}
