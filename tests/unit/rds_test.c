/* SPDX-License-Identifier: MIT */
/* Tests of the Redis transport (redis/): URL parsing, and the client against real
 * redis-server processes started by tests/support/redis_server.c: round trips, connect
 * failures, pub/sub, refcounted subscriptions, an outage (SIGKILL) and recovery on the same
 * port, AUTH and SELECT. Exits 77 (skipped) after the server-less tests when
 * /usr/bin/redis-server is not installed. */
#include "rds.h"

#include "brk.h"
#include "log.h"
#include "redis_server.h"
#include "test.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#define TEST_TIMEOUT_S 30

static uv_loop_t loop;
static uv_timer_t tick;
static int in_submit; /* set around every submitting call: callbacks must never see it */
static const char *current_test = "?";

static struct {
    int ups, downs, closed;
    char down_err[256];
    int msgs;
    char msg_chan[128];
    char msg_payload[256];
    size_t msg_len;
} ev;

typedef struct {
    int calls;
    int sync; /* called from inside the submitting call */
    int has_reply;
    int type;
    long long integer;
    char str[256];
    char err[256];
} res_t;

static void on_alarm(int sig)
{
    static const char m[] = "FAIL: test timed out\n";
    (void)sig;
    (void)!write(2, m, sizeof m - 1);
    _exit(1);
}

static void on_tick(uv_timer_t *t)
{
    (void)t;
}

static void on_up(void *ud)
{
    (void)ud;
    ev.ups++;
}

static void on_down(const char *err, void *ud)
{
    (void)ud;
    ev.downs++;
    snprintf(ev.down_err, sizeof ev.down_err, "%s", err);
}

static void on_message(const char *channel, const char *payload, size_t len, void *ud)
{
    (void)ud;
    ev.msgs++;
    snprintf(ev.msg_chan, sizeof ev.msg_chan, "%s", channel);
    snprintf(ev.msg_payload, sizeof ev.msg_payload, "%.*s", (int)len, payload);
    ev.msg_len = len;
}

static void on_closed(void *ud)
{
    (void)ud;
    ev.closed++;
}

static void on_res(const redisReply *r, const char *err, void *ud)
{
    res_t *x = ud;
    x->calls++;
    if (in_submit)
        x->sync = 1;
    x->has_reply = r != NULL;
    if (r) {
        x->type = r->type;
        x->integer = r->integer;
        if (r->str)
            snprintf(x->str, sizeof x->str, "%.*s", (int)r->len, r->str);
    }
    if (err)
        snprintf(x->err, sizeof x->err, "%s", err);
}

static void setup(const char *name)
{
    current_test = name;
    memset(&ev, 0, sizeof ev);
    signal(SIGALRM, on_alarm);
    alarm(TEST_TIMEOUT_S);
    ASSERT_EQ(uv_loop_init(&loop), 0);
    ASSERT_EQ(uv_timer_init(&loop, &tick), 0);
}

/* Runs the loop until cond holds or ms pass; a repeating tick keeps uv_run from blocking. */
#define RUN_UNTIL(cond, ms)                                                                        \
    do {                                                                                           \
        uint64_t dl_ = uv_now(&loop) + (ms);                                                       \
        uv_timer_start(&tick, on_tick, 5, 5);                                                      \
        while (!(cond) && uv_now(&loop) < dl_)                                                     \
            uv_run(&loop, UV_RUN_ONCE);                                                            \
        uv_timer_stop(&tick);                                                                      \
    } while (0)

#define RUN_FOR(ms) RUN_UNTIL(0, ms)

static rds_client_t *client(const char *url)
{
    rds_opts_t o = {.on_up = on_up,
                    .on_down = on_down,
                    .on_message = on_message,
                    .backoff_min_ms = 20,
                    .backoff_max_ms = 200,
                    .connect_timeout_ms = 2000};
    rds_client_t *c = NULL;
    ASSERT_EQ(rds_client_new(&loop, url, &o, &c), 0);
    ASSERT_NOT_NULL(c);
    return c;
}

static void teardown(rds_client_t *c)
{
    if (c)
        ASSERT_EQ(rds_client_close(c, on_closed), 0);
    uv_close((uv_handle_t *)&tick, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    if (c)
        ASSERT_EQ(ev.closed, 1);
    ASSERT_EQ(uv_loop_close(&loop), 0);
    alarm(0);
}

/* Submits a command and runs the loop until its callback ran (once). */
#define CMD(c, res, ...)                                                                           \
    do {                                                                                           \
        memset(&(res), 0, sizeof(res));                                                            \
        in_submit = 1;                                                                             \
        rds_command((c), on_res, &(res), __VA_ARGS__);                                             \
        in_submit = 0;                                                                             \
        ASSERT_EQ((res).calls, 0);                                                                 \
        RUN_UNTIL((res).calls > 0, 3000);                                                          \
        ASSERT_EQ((res).calls, 1);                                                                 \
        ASSERT_EQ((res).sync, 0);                                                                  \
    } while (0)

static void url_for(char *buf, size_t n, const redis_server_t *s, const char *pass, const char *db)
{
    snprintf(buf, n, "redis://%s%s%s127.0.0.1:%d%s", pass ? ":" : "", pass ? pass : "",
             pass ? "@" : "", s->port, db ? db : "");
}

static void start_server(redis_server_t *s, const char *password)
{
    redis_server_opts_t o = {.password = password};
    ASSERT_EQ(redis_server_start(s, &o), 0);
}

/* ---- URL parsing ---- */

static void test_url_forms(void)
{
    rds_url_t u;
    char err[256];

    ASSERT_EQ(rds_url_parse("redis://127.0.0.1:6380", &u, err, sizeof err), 0);
    ASSERT_EQ(u.is_unix, 0);
    ASSERT_STR_EQ(u.host, "127.0.0.1");
    ASSERT_EQ(u.port, 6380);
    ASSERT_EQ(u.db, -1);
    ASSERT_EQ(u.has_password, 0);

    ASSERT_EQ(rds_url_parse("redis://10.1.2.3", &u, err, sizeof err), 0);
    ASSERT_STR_EQ(u.host, "10.1.2.3");
    ASSERT_EQ(u.port, 6379);

    ASSERT_EQ(rds_url_parse("redis://localhost", &u, err, sizeof err), 0);
    ASSERT_STR_EQ(u.host, "127.0.0.1");
    ASSERT_EQ(u.port, 6379);

    ASSERT_EQ(rds_url_parse("REDIS://LocalHost:7000/", &u, err, sizeof err), 0);
    ASSERT_STR_EQ(u.host, "127.0.0.1");
    ASSERT_EQ(u.port, 7000);
    ASSERT_EQ(u.db, -1);

    ASSERT_EQ(rds_url_parse("redis://:s3cret@127.0.0.1:6379/2", &u, err, sizeof err), 0);
    ASSERT_EQ(u.has_password, 1);
    ASSERT_STR_EQ(u.password, "s3cret");
    ASSERT_STR_EQ(u.user, "");
    ASSERT_EQ(u.db, 2);

    ASSERT_EQ(rds_url_parse("redis://bob:p%40ss%3Aw@localhost/15", &u, err, sizeof err), 0);
    ASSERT_STR_EQ(u.user, "bob");
    ASSERT_STR_EQ(u.password, "p@ss:w");
    ASSERT_EQ(u.db, 15);

    ASSERT_EQ(rds_url_parse("redis://[::1]:6390/0", &u, err, sizeof err), 0);
    ASSERT_STR_EQ(u.host, "::1");
    ASSERT_EQ(u.port, 6390);
    ASSERT_EQ(u.db, 0);

    ASSERT_EQ(rds_url_parse("redis://[::1]", &u, err, sizeof err), 0);
    ASSERT_EQ(u.port, 6379);

    ASSERT_EQ(rds_url_parse("unix:///run/redis/redis.sock", &u, err, sizeof err), 0);
    ASSERT_EQ(u.is_unix, 1);
    ASSERT_STR_EQ(u.path, "/run/redis/redis.sock");
    ASSERT_EQ(u.db, -1);
    ASSERT_EQ(u.port, 0);

    ASSERT_EQ(rds_url_parse("unix:///tmp/r.sock?db=3", &u, err, sizeof err), 0);
    ASSERT_STR_EQ(u.path, "/tmp/r.sock");
    ASSERT_EQ(u.db, 3);

    char shown[256];
    ASSERT_EQ(rds_url_parse("redis://:topsecret@127.0.0.1:6379/1", &u, err, sizeof err), 0);
    rds_url_redacted(&u, shown, sizeof shown);
    ASSERT_STR_EQ(shown, "redis://:***@127.0.0.1:6379/1");
    ASSERT(strstr(shown, "topsecret") == NULL);
}

/* Each bad URL fails with BRK_EINVAL and a message that names the problem. */
static void test_url_errors(void)
{
    static const struct {
        const char *url, *needle;
    } cases[] = {
        {"", "empty"},
        {"http://127.0.0.1", "unknown scheme"},
        {"rediss://127.0.0.1", "TLS"},
        {"redis://", "missing host"},
        {"redis://:6379", "missing host"},
        {"redis://redis.example.com:6379", "not an IP address"},
        {"redis://999.1.1.1", "not an IP address"},
        {"redis://127.0.0.1:0", "invalid port"},
        {"redis://127.0.0.1:65536", "invalid port"},
        {"redis://127.0.0.1:", "invalid port"},
        {"redis://127.0.0.1:63a9", "invalid port"},
        {"redis://127.0.0.1/abc", "invalid database"},
        {"redis://127.0.0.1/-1", "invalid database"},
        {"redis://127.0.0.1/99999999999", "invalid database"},
        {"redis://127.0.0.1/1/2", "invalid database"},
        {"redis://127.0.0.1?x=1", "unexpected"},
        {"redis://[::1", "unterminated IPv6"},
        {"redis://[zz::1]:6379", "invalid IPv6"},
        {"redis://[::1]x", "unexpected"},
        {"redis://secret@127.0.0.1", "credentials"},
        {"redis://:@127.0.0.1", "empty password"},
        {"redis://:bad%zzpass@127.0.0.1", "invalid password"},
        {"redis://:nul%00@127.0.0.1", "invalid password"},
        {"unix://", "missing socket path"},
        {"unix://relative.sock", "absolute"},
        {"unix:///tmp/r.sock?db=x", "invalid database"},
        {"unix:///tmp/r.sock?db=", "empty db"},
        {"unix:///tmp/r.sock?password=x", "unknown parameter"},
    };
    for (size_t i = 0; i < BRK_ARRAY_LEN(cases); i++) {
        rds_url_t u;
        char err[256] = "";
        int rc = rds_url_parse(cases[i].url, &u, err, sizeof err);
        if (rc != BRK_EINVAL || !strstr(err, cases[i].needle))
            TEST_FAIL("url \"%s\": rc=%d err=\"%s\", wanted \"%s\"", cases[i].url, rc, err,
                      cases[i].needle);
    }
    char longp[300] = "unix:///";
    memset(longp + 8, 'a', 200);
    longp[208] = '\0';
    rds_url_t u;
    char err[256];
    ASSERT_EQ(rds_url_parse(longp, &u, err, sizeof err), BRK_EINVAL);
    ASSERT(strstr(err, "too long") != NULL);
    /* The password never appears in an error. */
    ASSERT_EQ(rds_url_parse("redis://:hunter2@db.internal", &u, err, sizeof err), BRK_EINVAL);
    ASSERT(strstr(err, "hunter2") == NULL);

    /* rds_client_new refuses a bad URL without creating anything. */
    setup("url_errors");
    rds_client_t *c = (rds_client_t *)1;
    ASSERT_EQ(rds_client_new(&loop, "redis://example.org", NULL, &c), BRK_EINVAL);
    ASSERT_NULL(c);
    teardown(NULL);
}

/* ---- connection failures (no server needed) ---- */

static void test_connect_refused(void)
{
    setup("connect_refused");
    int port = redis_server_free_port();
    ASSERT(port > 0);
    char url[64];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d", port);
    uint64_t t0 = uv_hrtime();
    rds_client_t *c = client(url);
    ASSERT_EQ(rds_is_up(c), 0);

    /* Submitted before the first attempt: the error still comes later, never inline. */
    res_t early;
    CMD(c, early, "GET %s", "k");
    ASSERT_EQ(early.has_reply, 0);
    ASSERT(strstr(early.err, "redis unavailable") != NULL);

    RUN_UNTIL(ev.downs > 0, 2000);
    ASSERT_EQ(ev.downs, 1);
    ASSERT((uv_hrtime() - t0) / 1000000 < 1000); /* promptly, not after a timeout */
    ASSERT(strstr(ev.down_err, "refused") != NULL);
    ASSERT(strstr(rds_last_error(c), "refused") != NULL);
    ASSERT_EQ(rds_is_up(c), 0);

    res_t r;
    CMD(c, r, "SET %s %s", "k", "v");
    ASSERT_EQ(r.has_reply, 0);
    ASSERT(strstr(r.err, "redis unavailable") != NULL);
    ASSERT(strstr(r.err, "refused") != NULL);

    /* Retries keep failing without repeating on_down. */
    RUN_FOR(300);
    ASSERT_EQ(ev.downs, 1);
    ASSERT_EQ(ev.ups, 0);
    teardown(c);
}

static void test_connect_unix_missing(void)
{
    setup("connect_unix_missing");
    rds_client_t *c = client("unix:///nonexistent-dir/redis.sock");
    RUN_UNTIL(ev.downs > 0, 2000);
    ASSERT_EQ(ev.downs, 1);
    ASSERT(strstr(ev.down_err, "No such file") != NULL);
    teardown(c);
}

/* A peer that accepts the TCP connection but never answers (a hung server): the connect
 * timeout covers the handshake too, so this is reported instead of waiting forever. */
static void test_handshake_timeout(void)
{
    setup("handshake_timeout");
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t alen = sizeof a;
    ASSERT_EQ(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    ASSERT_EQ(listen(fd, 16), 0); /* the kernel completes handshakes; nobody reads */
    ASSERT_EQ(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
    char url[64];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d", ntohs(a.sin_port));
    rds_opts_t o = {.on_up = on_up, .on_down = on_down, .connect_timeout_ms = 200};
    rds_client_t *c = NULL;
    ASSERT_EQ(rds_client_new(&loop, url, &o, &c), 0);
    uint64_t t0 = uv_hrtime();
    RUN_UNTIL(ev.downs > 0, 3000);
    ASSERT_EQ(ev.downs, 1);
    ASSERT(strstr(ev.down_err, "timed out") != NULL);
    uint64_t ms = (uv_hrtime() - t0) / 1000000;
    ASSERT(ms >= 150 && ms < 2000);
    res_t r;
    CMD(c, r, "PING");
    ASSERT(strstr(r.err, "timed out") != NULL);
    teardown(c);
    close(fd);
}

/* ---- against a real server ---- */

static void test_set_get(void)
{
    redis_server_t s;
    setup("set_get");
    start_server(&s, NULL);
    char url[96];
    url_for(url, sizeof url, &s, NULL, NULL);
    rds_client_t *c = client(url);
    RUN_UNTIL(ev.ups > 0, 3000);
    ASSERT_EQ(ev.ups, 1);
    ASSERT_EQ(rds_is_up(c), 1);

    res_t r;
    CMD(c, r, "SET %s %s", "greeting", "hello world");
    ASSERT_EQ(r.has_reply, 1);
    ASSERT_EQ(r.type, REDIS_REPLY_STATUS);
    ASSERT_STR_EQ(r.str, "OK");
    ASSERT_EQ(r.err[0], '\0');

    CMD(c, r, "GET %s", "greeting");
    ASSERT_EQ(r.type, REDIS_REPLY_STRING);
    ASSERT_STR_EQ(r.str, "hello world");

    /* Binary-safe argv. */
    const char *argv[3] = {"SET", "bin", "a\0b"};
    size_t lens[3] = {3, 3, 3};
    memset(&r, 0, sizeof r);
    in_submit = 1;
    rds_command_argv(c, on_res, &r, 3, argv, lens);
    in_submit = 0;
    RUN_UNTIL(r.calls > 0, 3000);
    ASSERT_STR_EQ(r.str, "OK");
    CMD(c, r, "STRLEN %s", "bin");
    ASSERT_EQ(r.integer, 3);

    /* An error reply carries both the reply and err. */
    CMD(c, r, "INCR %s", "greeting");
    ASSERT_EQ(r.has_reply, 1);
    ASSERT_EQ(r.type, REDIS_REPLY_ERROR);
    ASSERT(strstr(r.err, "not an integer") != NULL);

    /* Subscription commands would wreck the command connection: refused, asynchronously. */
    CMD(c, r, "SUBSCRIBE %s", "x");
    ASSERT_EQ(r.has_reply, 0);
    ASSERT(strstr(r.err, "rds_subscribe") != NULL);
    CMD(c, r, "PING");
    ASSERT_STR_EQ(r.str, "PONG");

    /* Fire and forget. */
    rds_command(c, NULL, NULL, "SET %s %s", "ff", "1");
    CMD(c, r, "GET %s", "ff");
    ASSERT_STR_EQ(r.str, "1");

    teardown(c);
    redis_server_free(&s);
}

/* PUBLISH until Redis reports one receiver (a SUBSCRIBE sent while up may still be on
 * its way). Returns the number of attempts. */
static int publish_until_heard(rds_client_t *c, const char *chan, const char *payload)
{
    for (int i = 1; i <= 100; i++) {
        res_t r;
        CMD(c, r, "PUBLISH %s %s", chan, payload);
        if (r.integer == 1)
            return i;
        RUN_FOR(10);
    }
    TEST_FAIL("nobody subscribed to %s", chan);
}

static void test_pubsub(void)
{
    redis_server_t s;
    setup("pubsub");
    start_server(&s, NULL);
    char url[96];
    url_for(url, sizeof url, &s, NULL, NULL);
    rds_client_t *c = client(url);
    /* Subscribed before the connection exists: sent with the handshake, and on_up waits
     * for the confirmation, so the very first PUBLISH is heard. */
    ASSERT_EQ(rds_subscribe(c, "class:7"), 0);
    RUN_UNTIL(ev.ups > 0, 3000);
    ASSERT_EQ(rds_is_up(c), 1);
    res_t r;
    CMD(c, r, "PUBLISH %s %s", "class:7", "hello");
    ASSERT_EQ(r.integer, 1);
    RUN_UNTIL(ev.msgs > 0, 2000);
    RUN_FOR(100);
    ASSERT_EQ(ev.msgs, 1);
    ASSERT_STR_EQ(ev.msg_chan, "class:7");
    ASSERT_STR_EQ(ev.msg_payload, "hello");

    /* Subscribed while up. */
    ASSERT_EQ(rds_subscribe(c, "class:8"), 0);
    publish_until_heard(c, "class:8", "second");
    RUN_UNTIL(ev.msgs > 1, 2000);
    RUN_FOR(100);
    ASSERT_EQ(ev.msgs, 2);
    ASSERT_STR_EQ(ev.msg_chan, "class:8");
    ASSERT_STR_EQ(ev.msg_payload, "second");

    /* A channel nobody holds is not delivered. */
    CMD(c, r, "PUBLISH %s %s", "class:9", "nobody");
    ASSERT_EQ(r.integer, 0);
    RUN_FOR(50);
    ASSERT_EQ(ev.msgs, 2);

    teardown(c);
    redis_server_free(&s);
}

static void test_subscribe_refcount(void)
{
    redis_server_t s;
    setup("subscribe_refcount");
    start_server(&s, NULL);
    char url[96];
    url_for(url, sizeof url, &s, NULL, NULL);
    rds_client_t *c = client(url);
    RUN_UNTIL(ev.ups > 0, 3000);

    ASSERT_EQ(rds_subscribe(c, "room"), 0);
    ASSERT_EQ(rds_subscribe(c, "room"), 0);
    ASSERT_EQ(rds_subscription_refs(c, "room"), 2);
    publish_until_heard(c, "room", "a");
    RUN_UNTIL(ev.msgs > 0, 2000);

    /* One reference left: still subscribed, one SUBSCRIBE only (one delivery each). */
    ASSERT_EQ(rds_unsubscribe(c, "room"), 0);
    ASSERT_EQ(rds_subscription_refs(c, "room"), 1);
    res_t r;
    CMD(c, r, "PUBLISH %s %s", "room", "b");
    ASSERT_EQ(r.integer, 1);
    RUN_UNTIL(ev.msgs > 1, 2000);
    RUN_FOR(50);
    ASSERT_EQ(ev.msgs, 2);
    CMD(c, r, "PUBSUB NUMSUB %s", "room");
    ASSERT_EQ(r.type, REDIS_REPLY_ARRAY);

    /* Last reference: delivery stops at once, and Redis drops the subscription. */
    ASSERT_EQ(rds_unsubscribe(c, "room"), 0);
    ASSERT_EQ(rds_subscription_refs(c, "room"), 0);
    ASSERT_EQ(rds_unsubscribe(c, "room"), BRK_ENOTFOUND);
    for (int i = 0; i < 100; i++) {
        CMD(c, r, "PUBLISH %s %s", "room", "c");
        if (r.integer == 0)
            break;
        RUN_FOR(10);
    }
    ASSERT_EQ(r.integer, 0);
    RUN_FOR(50);
    ASSERT_EQ(ev.msgs, 2);

    /* Subscribing again after the last unsubscribe works (hiredis keeps state per name). */
    ASSERT_EQ(rds_subscribe(c, "room"), 0);
    publish_until_heard(c, "room", "d");
    RUN_UNTIL(ev.msgs > 2, 2000);
    ASSERT_STR_EQ(ev.msg_payload, "d");

    /* Subscribe, unsubscribe, subscribe again before Redis answered any of them. */
    ASSERT_EQ(rds_subscribe(c, "flip"), 0);
    ASSERT_EQ(rds_unsubscribe(c, "flip"), 0);
    ASSERT_EQ(rds_subscribe(c, "flip"), 0);
    publish_until_heard(c, "flip", "f");
    RUN_UNTIL(strcmp(ev.msg_payload, "f") == 0, 2000);
    ASSERT_STR_EQ(ev.msg_chan, "flip");

    /* Binary payloads arrive whole. */
    int before = ev.msgs;
    CMD(c, r, "PUBLISH %s %b", "flip", "x\0y", (size_t)3);
    ASSERT_EQ(r.integer, 1);
    RUN_UNTIL(ev.msgs > before, 2000);
    ASSERT_EQ(ev.msg_len, 3);

    /* Dropping every channel at once, then coming back. */
    ASSERT_EQ(rds_unsubscribe(c, "flip"), 0);
    ASSERT_EQ(rds_unsubscribe(c, "room"), 0);
    RUN_FOR(50);
    ASSERT_EQ(rds_is_up(c), 1);
    ASSERT_EQ(rds_subscribe(c, "again"), 0);
    publish_until_heard(c, "again", "back");
    RUN_UNTIL(strcmp(ev.msg_payload, "back") == 0, 2000);

    ASSERT_EQ(rds_subscribe(c, ""), BRK_EINVAL);
    teardown(c);
    redis_server_free(&s);
}

static void test_outage_and_recovery(void)
{
    redis_server_t s;
    setup("outage_and_recovery");
    start_server(&s, NULL);
    char url[96];
    url_for(url, sizeof url, &s, NULL, NULL);
    rds_client_t *c = client(url);
    ASSERT_EQ(rds_subscribe(c, "class:1"), 0);
    RUN_UNTIL(ev.ups > 0, 3000);
    ASSERT_EQ(ev.ups, 1);

    /* A command the server holds on to: in flight when the server dies. */
    res_t blocked;
    memset(&blocked, 0, sizeof blocked);
    rds_command(c, on_res, &blocked, "BLPOP %s %d", "never", 0);
    RUN_FOR(100); /* the BLPOP reaches the server (a PING would queue behind it) */
    ASSERT_EQ(blocked.calls, 0);
    res_t r;

    ASSERT_EQ(redis_server_stop(&s, SIGKILL), 0);
    RUN_UNTIL(ev.downs > 0 && blocked.calls > 0, 3000);
    ASSERT_EQ(ev.downs, 1);
    ASSERT_EQ(rds_is_up(c), 0);
    ASSERT_EQ(blocked.calls, 1);
    ASSERT_EQ(blocked.has_reply, 0);
    ASSERT(strstr(blocked.err, "connection lost") != NULL);

    /* During the outage: clear errors, asynchronously, and retries do not re-fire on_down. */
    CMD(c, r, "GET %s", "k");
    ASSERT_EQ(r.has_reply, 0);
    ASSERT(strstr(r.err, "redis unavailable") != NULL);
    ASSERT_EQ(rds_subscribe(c, "class:2"), 0); /* held while down, subscribed on recovery */
    RUN_FOR(300);
    ASSERT_EQ(ev.downs, 1);
    ASSERT_EQ(ev.ups, 1);

    ASSERT_EQ(redis_server_restart(&s), 0);
    RUN_UNTIL(ev.ups > 1, 5000);
    ASSERT_EQ(ev.ups, 2);
    ASSERT_EQ(rds_is_up(c), 1);

    /* Both channels are back before on_up: the first PUBLISH of each is heard. */
    CMD(c, r, "PUBLISH %s %s", "class:1", "after");
    ASSERT_EQ(r.integer, 1);
    CMD(c, r, "PUBLISH %s %s", "class:2", "new");
    ASSERT_EQ(r.integer, 1);
    RUN_UNTIL(ev.msgs >= 2, 2000);
    RUN_FOR(50);
    ASSERT_EQ(ev.msgs, 2);

    CMD(c, r, "SET %s %s", "k", "v2");
    ASSERT_STR_EQ(r.str, "OK");
    CMD(c, r, "GET %s", "k");
    ASSERT_STR_EQ(r.str, "v2");

    /* A clean shutdown of the server is an outage too. */
    ASSERT_EQ(redis_server_stop(&s, SIGTERM), 0);
    RUN_UNTIL(ev.downs > 1, 3000);
    ASSERT_EQ(ev.downs, 2);
    ASSERT_EQ(redis_server_restart(&s), 0);
    RUN_UNTIL(ev.ups > 2, 5000);
    ASSERT_EQ(ev.ups, 3);

    teardown(c);
    redis_server_free(&s);
}

static void test_auth(void)
{
    redis_server_t s;
    setup("auth");
    start_server(&s, "pw-123");
    char url[128];

    url_for(url, sizeof url, &s, "pw-123", NULL);
    rds_client_t *c = client(url);
    RUN_UNTIL(ev.ups > 0, 3000);
    ASSERT_EQ(rds_is_up(c), 1);
    ASSERT_EQ(rds_subscribe(c, "secure"), 0);
    publish_until_heard(c, "secure", "x");
    res_t r;
    CMD(c, r, "SET %s %s", "a", "1");
    ASSERT_STR_EQ(r.str, "OK");
    teardown(c);

    setup("auth/wrong");
    url_for(url, sizeof url, &s, "wrong", NULL);
    c = client(url);
    RUN_UNTIL(ev.downs > 0, 3000);
    ASSERT_EQ(ev.downs, 1);
    ASSERT_EQ(ev.ups, 0);
    ASSERT(strstr(ev.down_err, "AUTH failed") != NULL);
    ASSERT(strstr(ev.down_err, "WRONGPASS") != NULL);
    CMD(c, r, "GET %s", "a");
    ASSERT_EQ(r.has_reply, 0);
    ASSERT(strstr(r.err, "AUTH failed") != NULL);
    teardown(c);

    setup("auth/missing");
    url_for(url, sizeof url, &s, NULL, NULL);
    c = client(url);
    RUN_UNTIL(ev.downs > 0, 3000);
    ASSERT(strstr(ev.down_err, "NOAUTH") != NULL);
    teardown(c);

    redis_server_free(&s);
}

static void test_select_db(void)
{
    redis_server_t s;
    setup("select_db");
    start_server(&s, NULL);
    char url[256];
    url_for(url, sizeof url, &s, NULL, "/3");
    rds_client_t *c3 = client(url);
    url_for(url, sizeof url, &s, NULL, NULL);
    rds_client_t *c0 = client(url);
    RUN_UNTIL(ev.ups == 2, 3000);
    ASSERT_EQ(ev.ups, 2);

    res_t r;
    CMD(c3, r, "SET %s %s", "only3", "yes");
    ASSERT_STR_EQ(r.str, "OK");
    CMD(c3, r, "GET %s", "only3");
    ASSERT_STR_EQ(r.str, "yes");
    CMD(c0, r, "GET %s", "only3");
    ASSERT_EQ(r.type, REDIS_REPLY_NIL);
    CMD(c0, r, "SELECT %d", 3);
    CMD(c0, r, "GET %s", "only3");
    ASSERT_STR_EQ(r.str, "yes");

    /* The unix socket form with ?db= reaches the same database. */
    snprintf(url, sizeof url, "unix://%s?db=3", s.sock);
    rds_client_t *cu = client(url);
    RUN_UNTIL(ev.ups == 3, 3000);
    ASSERT_EQ(ev.ups, 3);
    CMD(cu, r, "GET %s", "only3");
    ASSERT_STR_EQ(r.str, "yes");

    /* An index the server does not have is reported as down, with the reason. */
    url_for(url, sizeof url, &s, NULL, "/99");
    rds_client_t *bad = client(url);
    RUN_UNTIL(ev.downs > 0, 3000);
    ASSERT_EQ(ev.downs, 1);
    ASSERT(strstr(ev.down_err, "SELECT failed") != NULL);

    ASSERT_EQ(rds_client_close(c3, on_closed), 0);
    ASSERT_EQ(rds_client_close(c0, on_closed), 0);
    ASSERT_EQ(rds_client_close(cu, on_closed), 0);
    ASSERT_EQ(rds_client_close(bad, on_closed), BRK_OK);
    ASSERT_EQ(rds_client_close(bad, on_closed), BRK_ESTATE);
    uv_close((uv_handle_t *)&tick, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    ASSERT_EQ(ev.closed, 4);
    ASSERT_EQ(uv_loop_close(&loop), 0);
    alarm(0);
    redis_server_free(&s);
}

static void on_res_close(const redisReply *r, const char *err, void *ud)
{
    on_res(r, err, ud);
    ASSERT_EQ(ev.closed, 0); /* before on_closed */
}

/* Closing with a command in flight, and from inside a reply callback. */
static rds_client_t *close_me;
static res_t after_close;
static void on_res_then_close(const redisReply *r, const char *err, void *ud)
{
    on_res(r, err, ud);
    ASSERT_EQ(rds_client_close(close_me, on_closed), 0);
    rds_command(close_me, on_res, &after_close, "PING");
}

static void test_close_inflight(void)
{
    redis_server_t s;
    setup("close_inflight");
    start_server(&s, NULL);
    char url[96];
    url_for(url, sizeof url, &s, NULL, NULL);
    rds_client_t *c = client(url);
    RUN_UNTIL(ev.ups > 0, 3000);
    ASSERT_EQ(rds_subscribe(c, "ch"), 0);
    res_t blocked, late;
    memset(&blocked, 0, sizeof blocked);
    memset(&late, 0, sizeof late);
    rds_command(c, on_res_close, &blocked, "BLPOP %s %d", "never", 0);
    ASSERT_EQ(rds_client_close(c, on_closed), 0);
    ASSERT_EQ(blocked.calls, 0); /* not inside the close call */
    rds_command(c, on_res_close, &late, "PING");
    ASSERT_EQ(rds_subscribe(c, "x"), BRK_ESTATE);
    uv_close((uv_handle_t *)&tick, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    ASSERT_EQ(ev.closed, 1);
    ASSERT_EQ(blocked.calls, 1);
    ASSERT(strstr(blocked.err, "closed") != NULL);
    ASSERT_EQ(late.calls, 1);
    ASSERT(strstr(late.err, "closed") != NULL);
    ASSERT_EQ(uv_loop_close(&loop), 0);
    alarm(0);

    setup("close_inflight/from_callback");
    close_me = client(url);
    RUN_UNTIL(ev.ups > 0, 3000);
    res_t r;
    memset(&r, 0, sizeof r);
    memset(&after_close, 0, sizeof after_close);
    rds_command(close_me, on_res_then_close, &r, "PING");
    uv_close((uv_handle_t *)&tick, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    ASSERT_EQ(r.calls, 1);
    ASSERT_STR_EQ(r.str, "PONG");
    ASSERT_EQ(after_close.calls, 1);
    ASSERT(strstr(after_close.err, "closed") != NULL);
    ASSERT_EQ(ev.closed, 1);
    ASSERT_EQ(uv_loop_close(&loop), 0);
    alarm(0);

    /* Closing before the first attempt ever ran. */
    setup("close_inflight/immediately");
    c = client(url);
    teardown(c);
    ASSERT_EQ(ev.ups, 0);
    redis_server_free(&s);
}

static const test_case_t offline_tests[] = {
    {"url_forms", test_url_forms},
    {"url_errors", test_url_errors},
    {"connect_refused", test_connect_refused},
    {"connect_unix_missing", test_connect_unix_missing},
    {"handshake_timeout", test_handshake_timeout},
};

static const test_case_t server_tests[] = {
    {"set_get", test_set_get},
    {"pubsub", test_pubsub},
    {"subscribe_refcount", test_subscribe_refcount},
    {"outage_and_recovery", test_outage_and_recovery},
    {"auth", test_auth},
    {"select_db", test_select_db},
    {"close_inflight", test_close_inflight},
};

int main(void)
{
    log_level = LOG_OFF;
    const char *lvl = getenv("RDS_TEST_LOG");
    if (lvl)
        log_parse_level(lvl, &log_level);
    signal(SIGPIPE, SIG_IGN);
    if (!redis_server_available()) {
        int rc = test_run_all(offline_tests, BRK_ARRAY_LEN(offline_tests));
        printf("skipped: redis-server not installed (%s); only the offline tests ran\n",
               REDIS_SERVER_BIN);
        return rc ? rc : 77;
    }
    static test_case_t all[BRK_ARRAY_LEN(offline_tests) + BRK_ARRAY_LEN(server_tests)];
    size_t n = 0;
    for (size_t i = 0; i < BRK_ARRAY_LEN(offline_tests); i++)
        all[n++] = offline_tests[i];
    for (size_t i = 0; i < BRK_ARRAY_LEN(server_tests); i++)
        all[n++] = server_tests[i];
    return test_run_all(all, n);
}
