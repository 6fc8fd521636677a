/* SPDX-License-Identifier: MIT */
/* Internals shared by the files of the redis module. */
#ifndef RDS_INT_H
#define RDS_INT_H

#include <hiredis/async.h>
#include <uv.h>

/* Called when the socket reported an error that hiredis itself did not turn into a
 * disconnect. The context is still alive; the callee must free it (redisAsyncFree) from
 * this callback, which runs outside any hiredis callback. */
typedef void (*rds__glue_err_cb)(redisAsyncContext *ac, const char *err);
/* Called once the uv_poll_t of a context is closed (after hiredis' cleanup hook), so the
 * owner can count its open handles. */
typedef void (*rds__glue_closed_cb)(void *arg);

/* Drives ac from loop with one uv_poll_t on its socket. Call right after
 * redisAsyncConnect*() and before redisAsyncSetConnectCallback(), which arms the first write
 * watch. Returns 0, or a UV_E* code (nothing attached, on_closed never runs). */
int rds__glue_attach(redisAsyncContext *ac, uv_loop_t *loop, rds__glue_err_cb on_err,
                     rds__glue_closed_cb on_closed, void *arg);

#endif
