/* SPDX-License-Identifier: MIT */
/* Server life cycle: open the journal and state, join libwebsockets to our libuv loop,
 * listen, run, and drain on SIGTERM/SIGINT. Also the connection registry. */
#include "srv.h"

#include "acct_service.h"
#include "brk.h"
#include "cluster.h"
#include "conn.h"
#include "envelope.h"
#include "hdl.h"
#include "log.h"
#include "rlimit.h"
#include "room.h"
#include "roster.h"
#include "ws.h"
#include "wring.h"

#include <errno.h>
#include <fcntl.h>
#include <libwebsockets.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* --- connection registry (hash on id, chained through conn->hnext) -------------------- */

static size_t bucket(const srv_t *s, uint64_t id)
{
    return (size_t)((id * 0x9E3779B97F4A7C15ull) >> 20) & (s->conns_cap - 1);
}

static void regrow(srv_t *s)
{
    size_t ncap = s->conns_cap ? s->conns_cap * 2 : 1024;
    conn_t **old = s->conns;
    size_t ocap = s->conns_cap;
    s->conns = brk_calloc(ncap, sizeof *s->conns);
    s->conns_cap = ncap;
    for (size_t i = 0; i < ocap; i++) {
        conn_t *c = old[i];
        while (c) {
            conn_t *next = c->hnext;
            size_t b = bucket(s, c->p.id);
            c->hnext = s->conns[b];
            s->conns[b] = c;
            c = next;
        }
    }
    free(old);
}

void srv__conn_add(srv_t *s, conn_t *c)
{
    if (s->conns_len + 1 > s->conns_cap)
        regrow(s);
    size_t b = bucket(s, c->p.id);
    c->hnext = s->conns[b];
    s->conns[b] = c;
    s->conns_len++;
}

void srv__conn_remove(srv_t *s, conn_t *c)
{
    for (conn_t **pp = &s->conns[bucket(s, c->p.id)]; *pp; pp = &(*pp)->hnext) {
        if (*pp == c) {
            *pp = c->hnext;
            s->conns_len--;
            return;
        }
    }
    BRK_ASSERT(!"removing an unregistered connection");
}

conn_t *srv_conn_find(srv_t *s, uint64_t id)
{
    if (!s->conns_cap)
        return NULL;
    for (conn_t *c = s->conns[bucket(s, id)]; c; c = c->hnext)
        if (c->p.id == id)
            return c;
    return NULL;
}

/* --- drain and stop ------------------------------------------------------------------- */

static void on_handle_closed(uv_handle_t *h)
{
    (void)h;
}

static void finish(srv_t *s)
{
    if (s->stopped)
        return;
    s->stopped = 1;
    uv_timer_stop(&s->drain_timer);
    uv_close((uv_handle_t *)&s->drain_timer, on_handle_closed);
    uv_close((uv_handle_t *)&s->sig_term, on_handle_closed);
    uv_close((uv_handle_t *)&s->sig_int, on_handle_closed);
    uv_close((uv_handle_t *)&s->sig_hup, on_handle_closed);
    uv_close((uv_handle_t *)&s->flush_prep, on_handle_closed);
    uv_timer_stop(&s->keepalive);
    uv_close((uv_handle_t *)&s->keepalive, on_handle_closed);
    uv_timer_stop(&s->roster_retry);
    uv_close((uv_handle_t *)&s->roster_retry, on_handle_closed);
    /* Frames still waiting are answered (canceled); workers exit on their own. */
    hdl_stop(s->hdl);
    /* Records already queued are still written and fsync'd before the loop ends. */
    ob_shutdown(s->ob);
    mg_shutdown(s->mg);
    jr_shutdown(s->jr);
    acct_svc_shutdown(s->acct);
    clu_stop(s);
    /* First of the two destroys a foreign loop needs: lws closes its handles. */
    lws_context_destroy(s->lws);
    LOG(INFO, 0, "stopping", "open_connections=%zu", s->conns_len);
}

static void on_drain_tick(uv_timer_t *t)
{
    srv_t *s = t->data;
    if (s->conns_len == 0 || brk_mono_ns() >= s->drain_deadline_ns)
        finish(s);
}

void srv_begin_drain(srv_t *s)
{
    if (s->draining)
        return;
    s->draining = 1;
    LOG(INFO, 0, "draining", "connections=%zu timeout_s=%d", s->conns_len,
        s->cfg->drain_timeout);
    for (size_t i = 0; i < s->conns_cap; i++)
        for (conn_t *c = s->conns[i]; c; c = c->hnext)
            conn_close(c, 1001, "server shutting down");
    s->drain_deadline_ns = brk_mono_ns() + (uint64_t)s->cfg->drain_timeout * 1000000000ull;
    uv_timer_start(&s->drain_timer, on_drain_tick, 0, 20);
}

static void on_signal(uv_signal_t *h, int signum)
{
    srv_t *s = h->data;
    LOG(INFO, 0, "signal", "signal=%s", signum == SIGTERM ? "SIGTERM" : "SIGINT");
    if (s->draining) {
        /* A second signal: stop waiting for slow clients. */
        s->drain_deadline_ns = 0;
        return;
    }
    srv_begin_drain(s);
}

/* Makes a message safe inside err="..." of a log line. */
static void unquote(char *s)
{
    for (; *s; s++)
        if (*s == '"' || *s == '\\' || (unsigned char)*s < 0x20)
            *s = '\'';
}

/* SIGHUP: key rotation. The key files are read into a new verifier, which replaces the
 * current one between two callbacks of the loop thread (the only thread that verifies);
 * a file that does not load leaves the current keys in place. Open connections are not
 * touched: a token counts when it is presented (upgrade, AUTH), and one already accepted
 * keeps its expiry. */
static void on_sighup(uv_signal_t *h, int signum)
{
    srv_t *s = h->data;
    char err[512] = "", desc[96];
    auth_verifier_t *next = NULL;
    (void)signum;
    if (auth_verifier_reload(s->auth, &next, err, sizeof err) != 0) {
        s->m.jwt_key_reloads[1]++;
        unquote(err);
        LOG(WARN, 0, "jwt key reload failed; keeping the current keys", "err=\"%s\"", err);
        return;
    }
    auth_verifier_free(s->auth);
    s->auth = next;
    s->m.jwt_key_reloads[0]++;
    auth_verifier_describe(next, desc, sizeof desc);
    LOG(INFO, 0, "jwt keys reloaded", "%s", desc);
}

/* --- start ---------------------------------------------------------------------------- */

static int write_port_file(const char *path, int port)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return BRK_EIO;
    fprintf(f, "%d\n", port);
    if (fclose(f) != 0 || rename(tmp, path) != 0)
        return BRK_EIO;
    return 0;
}

static void lws_log_bridge(int level, const char *line)
{
    size_t n = strlen(line);
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == ' '))
        n--;
    if (level & LLL_ERR)
        LOG(WARN, 0, "lws", "detail=\"%.*s\"", (int)n, line);
    else
        LOG(DEBUG, 0, "lws", "detail=\"%.*s\"", (int)n, line);
}

/* --- the steps of srv_run ------------------------------------------------------------- */

/* The JWT verifier from the configuration (secret, public key or JWKS). */
static int open_auth(srv_t *s, const char *jwt_secret)
{
    const cfg_t *cfg = s->cfg;
    char err[256] = "";
    auth_options_t ao = {
        .alg = cfg->jwt_alg && cfg->jwt_alg[0] ? cfg->jwt_alg : NULL,
        .secret = jwt_secret,
        .public_key_pem_path = cfg->jwt_public_key,
        .jwks_path = cfg->jwt_jwks,
        .issuer = cfg->jwt_issuer,
        .audience = cfg->jwt_audience,
        .leeway_s = cfg->jwt_leeway,
    };
    if (auth_verifier_new(&ao, &s->auth, err, sizeof err) != 0) {
        fprintf(stderr, "rollcall: %s\n", err);
        LOG(ERROR, 0, "invalid JWT configuration", "err=\"%s\"", err);
        return -1;
    }
    char desc[96];
    auth_verifier_describe(s->auth, desc, sizeof desc);
    LOG(INFO, 0, "jwt keys loaded", "%s", desc);
    return 0;
}

/* Where state and records live: the journal (always), the MongoDB sink and its outbox
 * (with ROLLCALL_MONGODB_URI), the memory live-state engine (without Redis; the Redis one
 * starts with the cluster glue, once listening). */
static int open_storage(srv_t *s)
{
    const cfg_t *cfg = s->cfg;
    char err[256] = "";
    if (cfg->redis_url && cfg->redis_url[0] && clu_check_url(cfg->redis_url, err, sizeof err)) {
        fprintf(stderr, "rollcall: ROLLCALL_REDIS_URL: %s\n", err);
        LOG(ERROR, 0, "invalid redis url", "err=\"%s\"", err);
        return -1;
    }
    if (jr_open(s->loop, cfg->data_dir, &s->jr, err, sizeof err) != 0) {
        fprintf(stderr, "rollcall: cannot open the journal in %s: %s\n", cfg->data_dir, err);
        LOG(ERROR, 0, "journal open failed", "dir=%s err=\"%s\"", cfg->data_dir, err);
        return -1;
    }
    if (cfg->mongodb_uri && cfg->mongodb_uri[0]) {
        mg_opts_t mo = {.uri = cfg->mongodb_uri,
                        .database = cfg->mongodb_database,
                        .write_concern = cfg->mongodb_write_concern,
                        .timeout_ms = cfg->mongodb_timeout_ms};
        if (mg_open(s->loop, &mo, &s->mg, NULL, err, sizeof err) != 0) {
            fprintf(stderr, "rollcall: %s\n", err);
            LOG(ERROR, 0, "mongodb configuration refused", "err=\"%s\"", err);
            return -1;
        }
        s->ob = ob_new(s->loop, s->jr, s->mg, NULL);
    }
    if (!cfg->redis_url || !cfg->redis_url[0])
        s->st = st_memory_new(100000);
    return 0;
}

#define LOGIN_WINDOW_MS (15 * 60 * 1000) /* ROLLCALL_LOGIN_LIMIT counts failures over this */

/* Worker thread: an account's token, signed with the broker's key. */
static char *mint_account_token(const acct_t *a, const char *const *classes, size_t n,
                                int64_t *expires_in, void *ud)
{
    srv_t *s = ud;
    auth_claims_t c = {.sub = a->id,
                       .role = a->role == ACCT_ROLE_ADMIN     ? ROLE_ADMIN
                               : a->role == ACCT_ROLE_TEACHER ? ROLE_TEACHER
                                                              : ROLE_STUDENT,
                       .name = a->name,
                       .classes = classes,
                       .n_classes = n};
    *expires_in = s->cfg->token_ttl;
    return auth_sign(s->signer, &c, brk_now_ms() / 1000, s->cfg->token_ttl);
}

static void load_roster(const class_info_t *cls, const class_member_t *m, size_t n, void *ud)
{
    roster_reg_set(ud, cls->id, cls->name, m, n);
}

/* Accounts (the /auth/ endpoints): on when the broker has a key to sign tokens with and one store serves
 * every instance. A signing key that is configured but unusable, or whose tokens the
 * verifier would refuse, stops the start; no key at all only leaves accounts off. */
static int open_accounts(srv_t *s, const char *jwt_secret)
{
    const cfg_t *cfg = s->cfg;
    char err[256] = "";
    int has_key = (cfg->jwt_private_key && cfg->jwt_private_key[0]) || (jwt_secret && jwt_secret[0]);
    int mongo = cfg->mongodb_uri && cfg->mongodb_uri[0];
    if (cfg->redis_url && cfg->redis_url[0] && !mongo) {
        s->accounts_off = "accounts are off: instances sharing ROLLCALL_REDIS_URL need one "
                          "account store, ROLLCALL_MONGODB_URI";
    } else if (!has_key) {
        s->accounts_off = "accounts are off: the broker has no key to sign tokens with "
                          "(ROLLCALL_JWT_SECRET or ROLLCALL_JWT_PRIVATE_KEY)";
    }
    if (s->accounts_off) {
        if (has_key) /* a configuration that wanted accounts, most likely: say so loudly */
            fprintf(stderr, "rollcall: %s\n", s->accounts_off);
        if (has_key)
            LOG(WARN, 0, "accounts off", "why=\"%s\"", s->accounts_off);
        else
            LOG(INFO, 0, "accounts off", "why=\"%s\"", s->accounts_off);
        return 0;
    }
    auth_signer_options_t so = {.alg = cfg->jwt_private_key && cfg->jwt_private_key[0] ? cfg->jwt_alg : NULL,
                                .secret = jwt_secret,
                                .private_key_path = cfg->jwt_private_key,
                                .issuer = cfg->jwt_issuer,
                                .audience = cfg->jwt_audience};
    if (auth_signer_new(&so, &s->signer, err, sizeof err) != 0) {
        fprintf(stderr, "rollcall: %s\n", err);
        LOG(ERROR, 0, "invalid token signing key", "err=\"%s\"", err);
        return -1;
    }
    /* The broker must accept what it signs. */
    auth_claims_t probe = {.sub = "rollcall-self-check", .role = ROLE_STUDENT};
    int64_t now = brk_now_ms() / 1000;
    char *tok = auth_sign(s->signer, &probe, now, 60);
    auth_identity_t id;
    const char *why = "signing failed";
    if (!tok || auth_verify_ex(s->auth, tok, strlen(tok), now, AUTH_ALLOW_NO_CLASS, &id, &why) != 0) {
        free(tok);
        fprintf(stderr, "rollcall: tokens signed with the %s key do not verify with the "
                        "configured verification keys (%s)\n", auth_signer_alg(s->signer), why);
        LOG(ERROR, 0, "signing key does not match the verification keys", "reason=\"%s\"", why);
        return -1;
    }
    free(tok);
    acct_svc_config_t ac = {.data_dir = cfg->data_dir,
                            .mongodb_uri = mongo ? cfg->mongodb_uri : NULL,
                            .mongodb_database = cfg->mongodb_database,
                            .cost = (unsigned)cfg->password_cost,
                            .threads = 2,
                            .max_waiting = 256,
                            .max_wait_ms = 10000,
                            .mint = mint_account_token,
                            .mint_ud = s};
    if (acct_svc_new(s->loop, &ac, &s->acct, err, sizeof err) != 0) {
        fprintf(stderr, "rollcall: %s\n", err);
        LOG(ERROR, 0, "accounts failed to start", "err=\"%s\"", err);
        return -1;
    }
    /* The live rosters, from the class store, before any request can change them. */
    s->rosters = roster_reg_new();
    if (acct_svc_load_rosters(s->acct, load_roster, s->rosters) != 0) {
        if (!mongo) {
            fprintf(stderr, "rollcall: cannot read the class rosters in %s\n", cfg->data_dir);
            LOG(ERROR, 0, "rosters failed to load", "dir=%s", cfg->data_dir);
            return -1;
        }
        /* MongoDB is down: the broker serves what it can and reads the rosters as soon as
         * MongoDB answers. Until then a class's channel admits whom its tokens name. */
        LOG(WARN, 0, "rosters not loaded", "why=\"mongodb unreachable\" retry_s=2");
        s->rosters_pending = 1;
    }
    s->rl_acct = rl_new((unsigned)cfg->login_limit, LOGIN_WINDOW_MS, 65536);
    s->rl_addr = rl_new((unsigned)cfg->login_address_limit, 60 * 1000, 65536);
    LOG(INFO, 0, "accounts on",
        "store=%s alg=%s registration=%s token_ttl_s=%d password_cost=%d classes=%zu",
        mongo ? "mongodb" : "sqlite", auth_signer_alg(s->signer), cfg->registration,
        cfg->token_ttl, cfg->password_cost, roster_reg_size(s->rosters));
    return 0;
}

/* The lws context on the server's libuv loop (a foreign loop: STACK-NOTES.md). */
static int create_lws(srv_t *s)
{
    lws_set_log_level(LLL_ERR | LLL_WARN | (log_level <= LOG_DEBUG ? LLL_NOTICE : 0),
                      lws_log_bridge);
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    void *foreign[1] = {s->loop};
    info.options = LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_EXPLICIT_VHOSTS;
    info.foreign_loops = foreign;
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.user = s;
    info.max_http_header_data = 8192 + 1024;
    info.count_threads = 1;
    s->lws = lws_create_context(&info);
    if (!s->lws) {
        fprintf(stderr, "rollcall: libwebsockets context creation failed\n");
        return -1;
    }
    return 0;
}

/* The listening vhost with the rollcall protocol; s->port is the bound port. */
static int listen_vhost(srv_t *s)
{
    const cfg_t *cfg = s->cfg;
    static const struct lws_protocol_vhost_options pvo_default = {NULL, NULL, "default", "1"};
    static const struct lws_protocol_vhost_options pvo = {NULL, &pvo_default, "rollcall", ""};
    struct lws_context_creation_info vinfo;
    memset(&vinfo, 0, sizeof vinfo);
    vinfo.port = cfg->port;
    vinfo.iface = cfg->host;
    vinfo.protocols = ws_protocols();
    vinfo.pvo = &pvo;
    vinfo.vhost_name = "rollcall";
    /* A policy without validity timers: lws's own (its default pings after 300 s) keeps a
     * timer per connection in one sorted list that each new connection walks, all of them.
     * conn_keepalive pings and hangs up instead, with one timer. */
    static const lws_retry_bo_t no_validity_timers = {.secs_since_valid_ping = 0,
                                                      .secs_since_valid_hangup = 0};
    vinfo.retry_and_idle_policy = &no_validity_timers;
    s->vhost = lws_create_vhost(s->lws, &vinfo);
    if (!s->vhost) {
        fprintf(stderr, "rollcall: cannot listen on %s:%d (address in use or not available)\n",
                cfg->host, cfg->port);
        LOG(ERROR, 0, "listen failed", "host=%s port=%d", cfg->host, cfg->port);
        return -1;
    }
    s->port = lws_get_vhost_listen_port(s->vhost);
    return 0;
}

static void on_flush(uv_prepare_t *h)
{
    conn_flush_all(h->data);
}

static void on_keepalive(uv_timer_t *t)
{
    srv_t *s = t->data;
    conn_keepalive(s, (int64_t)uv_now(s->loop));
}

/* SIGTERM and SIGINT drain, SIGHUP reloads the JWT keys; before each wait for I/O, the
 * messages queued during the loop turn are written (conn_flush_all); once a second, the
 * keepalive pass. */
static void install_signals(srv_t *s)
{
    if (s->cfg->io_uring) {
        char err[160];
        s->wring = wring_new(WRITE_RING_SENDS, err, sizeof err);
        if (!s->wring)
            LOG(WARN, 0, "io_uring unavailable", "err=\"%s\" fallback=send", err);
    }
    s->m.io_uring = s->wring != NULL;
    LOG(INFO, 0, "write path", "io_uring=%d", s->m.io_uring);
    uv_prepare_init(s->loop, &s->flush_prep);
    s->flush_prep.data = s;
    uv_prepare_start(&s->flush_prep, on_flush);
    /* A failed read of the shared rosters is tried again (http_classes.c). */
    uv_timer_init(s->loop, &s->roster_retry);
    s->roster_retry.data = s;
    if (s->rosters_pending)
        srv_rosters_stale(s);
    /* Pings and idle hang-ups to the second: a pass over all connections once a second. */
    uv_timer_init(s->loop, &s->keepalive);
    s->keepalive.data = s;
    uv_timer_start(&s->keepalive, on_keepalive, 1000, 1000);
    uv_signal_init(s->loop, &s->sig_term);
    uv_signal_init(s->loop, &s->sig_int);
    uv_signal_init(s->loop, &s->sig_hup);
    uv_timer_init(s->loop, &s->drain_timer);
    s->sig_term.data = s->sig_int.data = s->sig_hup.data = s->drain_timer.data = s;
    uv_signal_start(&s->sig_term, on_signal, SIGTERM);
    uv_signal_start(&s->sig_int, on_signal, SIGINT);
    uv_signal_start(&s->sig_hup, on_sighup, SIGHUP);
}

/* Builds the handlers over the server's components and starts their pool and timers.
 * After listening succeeded, so a refused start spawns no analyzer thread; before the loop
 * runs, so no frame can arrive first. */
static int start_handlers(srv_t *s)
{
    srv__host_init(s);
    hdl_deps_t d = {.loop = s->loop,
                    .cfg = s->cfg,
                    .st = s->st,
                    .jr = s->jr,
                    .auth = &s->auth,
                    .host = &s->host,
                    .stats = &s->m.hdl,
                    .draining = &s->draining,
                    .clustered = s->clu != NULL,
                    .rosters = s->rosters};
    s->hdl = hdl_new(&d);
    return hdl_start(s->hdl);
}

int srv_run(const cfg_t *cfg, const char *jwt_secret)
{
    srv_t s;
    memset(&s, 0, sizeof s);
    s.cfg = cfg;
    s.exit_code = 1;
    uv_loop_t loop;
    int rc = uv_loop_init(&loop);
    if (rc) {
        LOG(ERROR, 0, "loop init failed", "err=\"%s\"", uv_strerror(rc));
        return 1;
    }
    s.loop = &loop;

    if (env_init() != 0) {
        LOG(ERROR, 0, "schemas failed to load", "hint=%s", "build defect");
        goto out_loop;
    }
    if (open_auth(&s, jwt_secret) != 0)
        goto out_schema;
    if (open_storage(&s) != 0)
        goto out_auth;
    if (open_accounts(&s, jwt_secret) != 0)
        goto out_state;
    if (create_lws(&s) != 0)
        goto out_state;
    if (listen_vhost(&s) != 0)
        goto out_lws;
    if (!s.st) {
        int crc = clu_start(&s); /* the Redis live-state engine and fan-out */
        BRK_ASSERT(crc == 0);    /* the URL was checked above */
        if (s.acct)
            clu_rosters_watch(&s); /* rosters changed by the other instances */
    }
    if (start_handlers(&s) != 0)
        goto out_lws;

    if (cfg->port_file && cfg->port_file[0] && write_port_file(cfg->port_file, s.port) != 0) {
        fprintf(stderr, "rollcall: cannot write ROLLCALL_PORT_FILE %s\n", cfg->port_file);
        goto out_lws;
    }

    install_signals(&s);
    s.ready = 1;
    LOG(INFO, 0, "listening", "host=%s port=%d pid=%d", cfg->host, s.port, (int)getpid());
    uv_run(&loop, UV_RUN_DEFAULT);
    /* Second destroy, now that the loop has stopped. */
    lws_context_destroy(s.lws);
    s.lws = NULL;
    s.exit_code = 0;
    LOG(INFO, 0, "stopped", "exit=%d", s.exit_code);
    goto out_state;

out_lws:
    /* Closing after a failed start: let lws release its loop handles. */
    lws_context_destroy(s.lws);
    if (s.hdl)
        hdl_stop(s.hdl);
    clu_stop(&s);
    ob_shutdown(s.ob);
    mg_shutdown(s.mg);
    jr_shutdown(s.jr);
    acct_svc_shutdown(s.acct);
    uv_run(&loop, UV_RUN_DEFAULT);
    lws_context_destroy(s.lws);
out_state:
    if (!s.stopped && s.exit_code == 0)
        jr_shutdown(s.jr);
    hdl_free(s.hdl);
    st_free(s.st);
    clu_free(&s);
    room_free_all(&s);
    ob_free(s.ob);
    mg_free(s.mg);
    jr_free(s.jr);
    s.jr = NULL;
    acct_svc_free(s.acct);
    auth_signer_free(s.signer);
    rl_free(s.rl_acct);
    roster_reg_free(s.rosters);
    rl_free(s.rl_addr);
    free(s.conns);
    msg_unref(s.ping_msg);
    free(s.wbuf);
    free(s.wslots);
    free(s.upgrade_id);
    wring_free(s.wring);
out_auth:
    auth_verifier_free(s.auth);
out_schema:
    env_shutdown();
out_loop:
    if (s.jr)
        jr_free(s.jr);
    if (uv_loop_close(&loop) != 0) {
        uv_run(&loop, UV_RUN_NOWAIT);
        uv_loop_close(&loop);
    }
    return s.exit_code;
}
