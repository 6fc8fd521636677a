/* SPDX-License-Identifier: MIT */
/* The Redis transport: hiredis async contexts driven by the broker's libuv loop through our
 * own glue (glue.c), which, unlike hiredis' bundled adapter, reports a failed connect.
 *
 * A client owns two connections to one Redis server: a command connection (AUTH, SELECT,
 * then the caller's commands) and a pub/sub connection (AUTH, then SUBSCRIBE for every
 * channel the caller holds). Either connection that fails or drops is reconnected with
 * exponential backoff and jitter; channels are re-subscribed after every reconnect, and
 * on_up/on_down report the transitions so the broker can answer /readyz.
 *
 * Threading: every function here, and every callback, runs on the loop thread only. There
 * are no locks. Nothing here blocks: hosts must be IP literals (or "localhost", which is
 * mapped to 127.0.0.1 without a lookup), because hiredis resolves names with a blocking
 * getaddrinfo(). */
#ifndef RDS_H
#define RDS_H

#include <hiredis/hiredis.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define RDS_HOST_MAX 46  /* INET6_ADDRSTRLEN */
#define RDS_PATH_MAX 108 /* sizeof(((struct sockaddr_un *)0)->sun_path) */
#define RDS_USER_MAX 128
#define RDS_PASS_MAX 256
#define RDS_DEFAULT_PORT 6379

/* A parsed ROLLCALL_REDIS_URL. Accepted forms:
 *   redis://[[user]:password@]host[:port][/db]    host: IPv4, [IPv6] or localhost
 *   unix:///absolute/path[?db=N]
 * The password (and user) may be percent-encoded. */
typedef struct rds_url {
    int is_unix;
    char host[RDS_HOST_MAX]; /* numeric address; "localhost" becomes "127.0.0.1" */
    int port;                /* 1..65535, RDS_DEFAULT_PORT when absent; 0 for unix */
    char path[RDS_PATH_MAX]; /* unix socket path, "" for TCP */
    char user[RDS_USER_MAX]; /* ACL user, "" for none (AUTH password) */
    char password[RDS_PASS_MAX];
    int has_password;
    int db; /* database index, -1 when the URL names none */
} rds_url_t;

/* Parses url into *out. Returns 0, or BRK_EINVAL with a message naming the problem in err
 * (always NUL-terminated when errlen > 0; never contains the password). Pure: no I/O. */
int rds_url_parse(const char *url, rds_url_t *out, char *err, size_t errlen);

/* Writes a loggable form of u (password replaced by "***") into buf. Returns buf. */
const char *rds_url_redacted(const rds_url_t *u, char *buf, size_t buflen);

typedef struct rds_client rds_client_t;

/* Client callbacks; any may be NULL. All get opts.ud.
 *  on_up: both connections are ready (handshake done, channels re-subscribed).
 *  on_down: the client stopped being up, or its first connect attempt failed; err (borrowed)
 *      says why. Fired once per outage, not per failed retry.
 *  on_message: a message on a channel the caller subscribed to; channel and payload are
 *      borrowed for the call. Messages published while the pub/sub connection was down
 *      are lost (Redis pub/sub has no backlog). */
typedef struct rds_opts {
    void (*on_up)(void *ud);
    void (*on_down)(const char *err, void *ud);
    void (*on_message)(const char *channel, const char *payload, size_t len, void *ud);
    void *ud;
    uint32_t backoff_min_ms;     /* first retry delay; 0 means 100 */
    uint32_t backoff_max_ms;     /* cap of the doubling delay; 0 means 5000 */
    uint32_t connect_timeout_ms; /* connect plus handshake; 0 means 3000 */
} rds_opts_t;

/* Creates a client for url on loop and starts connecting on the next loop iteration.
 * opts is copied. Returns 0 and *out, or BRK_EINVAL for a bad URL (the reason is logged;
 * call rds_url_parse() first to get it as a string). */
int rds_client_new(uv_loop_t *loop, const char *url, const rds_opts_t *opts, rds_client_t **out);

/* Starts closing: both connections are dropped, commands still in flight (or queued with
 * an error) get their callback with err set, timers stop, every uv handle is closed, and
 * then on_closed(ud) runs and the client is freed. No on_up/on_down/on_message callback
 * runs after this call. Keep opts.ud and every command's ud alive until on_closed.
 * Returns 0, or BRK_ESTATE when already closing. */
int rds_client_close(rds_client_t *c, void (*on_closed)(void *ud));

/* 1 when both connections are ready, else 0. */
int rds_is_up(const rds_client_t *c);

/* The most recent connection error, "" when none; borrowed, valid until the next callback. */
const char *rds_last_error(const rds_client_t *c);

/* Reply callback. Called exactly once per command, never inside the submitting call:
 *  - Redis answered: reply is the answer (valid only during the call), err is NULL, or
 *    err == reply->str when Redis answered with an error reply (REDIS_REPLY_ERROR).
 *  - no answer: reply is NULL and err says why: the command connection was not ready when
 *    the command was submitted, it dropped with the command in flight, or the client is
 *    closing. Such a command may or may not have been executed by Redis. */
typedef void (*rds_reply_cb)(const redisReply *reply, const char *err, void *ud);

/* Sends a command on the command connection, hiredis format (%s, %b with pointer and size
 * ..., %d and the like). cb may be NULL for fire-and-forget. Subscription commands
 * (SUBSCRIBE, UNSUBSCRIBE, their P/S forms, MONITOR) are refused through cb: use
 * rds_subscribe(). */
void rds_command(rds_client_t *c, rds_reply_cb cb, void *ud, const char *fmt, ...);

/* The same with an argument vector (binary-safe; argvlen may be NULL for C strings).
 * argv is borrowed for the call only. */
void rds_command_argv(rds_client_t *c, rds_reply_cb cb, void *ud, int argc, const char **argv,
                      const size_t *argvlen);

/* Adds a reference to channel (copied). The first reference subscribes on the pub/sub
 * connection (now if it is connected, otherwise when it is); the subscription survives
 * reconnects. Returns 0, BRK_EINVAL for an empty channel, or BRK_ESTATE when closing. */
int rds_subscribe(rds_client_t *c, const char *channel);

/* Drops a reference; the last one unsubscribes and stops delivery at once. Returns 0,
 * BRK_ENOTFOUND when channel holds no reference, or BRK_ESTATE when closing. */
int rds_unsubscribe(rds_client_t *c, const char *channel);

/* Number of references held on channel (0 when not subscribed). */
int rds_subscription_refs(const rds_client_t *c, const char *channel);

#endif
