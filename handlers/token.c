/* SPDX-License-Identifier: MIT */
/* A token is honoured for its lifetime, no longer. Every connection sits in one deadline
 * heap (base/expiry.h), keyed by its next token deadline: first the moment
 * to warn (TOKEN_EXPIRING, ROLLCALL_TOKEN_WARNING seconds ahead), then the end (the token's
 * exp plus ROLLCALL_JWT_LEEWAY), when the connection is closed with 4003. One uv_timer_t
 * armed at the heap's earliest deadline serves every connection, so a connection costs a
 * few words and no timer of its own. AUTH renews the token in place: same user, same role,
 * classes may change. */
#include "hdl_int.h"

#include "brk.h"
#include "log.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The deadlines are wall-clock times (a token's exp is) while libuv timers run on the
 * monotonic clock: never sleep longer than this, so a clock step is noticed soon. */
#define TOK_MAX_SLEEP_MS 60000
/* A token whose end lies past this (year 33658) never ends in practice, and keeps the
 * millisecond arithmetic far from overflow. */
#define TOK_MAX_EXP_S 1000000000000LL
#define TOK_NO_END INT64_MAX
#define TOK_UNARMED INT64_MIN

static peer_t *peer_of(exp_node_t *n)
{
    return (peer_t *)(void *)((char *)n - offsetof(peer_t, token_node));
}

/* When c's token stops being honoured, in ms since the epoch: exp plus the leeway, the
 * same allowance auth_verify gives at the upgrade. TOK_NO_END when it never does. */
static int64_t end_ms(const hdl_t *h, const peer_t *c)
{
    if (c->token_exp > TOK_MAX_EXP_S)
        return TOK_NO_END;
    return (c->token_exp + h->cfg->jwt_leeway) * 1000;
}

static int64_t warning_ms(const hdl_t *h)
{
    return (int64_t)h->cfg->token_warning * 1000;
}

/* c's next deadline: the warning until it was sent (when warnings are on), then the end. */
static int64_t next_deadline(const hdl_t *h, const peer_t *c, int64_t end)
{
    if (end != TOK_NO_END && !c->token_warned && h->cfg->token_warning > 0)
        return end - warning_ms(h);
    return end;
}

static void send_expiring(hdl_t *h, peer_t *c, int64_t end, int64_t now)
{
    int64_t left_s = end > now ? (end - now) / 1000 : 0;
    c->token_warned = 1;
    hx_reply(h, c, OUT_TOKEN_EXPIRING,
               json_pack("{s:o, s:I}", "expires_at", hdl__iso(end), "expires_in",
                         (json_int_t)left_s),
               NULL);
}

static void on_tok_timer(uv_timer_t *t);

/* Points the timer at the heap's earliest deadline, unless it already is. */
static void rearm(hdl_t *h)
{
    if (!h->tok_timer_on)
        return;
    int64_t key;
    if (!exp_heap_top(&h->tok_heap, &key) || key == TOK_NO_END) {
        if (h->tok_armed_ms != TOK_UNARMED) {
            uv_timer_stop(&h->tok_timer);
            h->tok_armed_ms = TOK_UNARMED;
        }
        return;
    }
    if (key == h->tok_armed_ms)
        return;
    int64_t delay = key - brk_now_ms();
    if (delay < 0)
        delay = 0;
    if (delay > TOK_MAX_SLEEP_MS)
        delay = TOK_MAX_SLEEP_MS;
    uv_timer_start(&h->tok_timer, on_tok_timer, (uint64_t)delay, 0);
    h->tok_armed_ms = key;
}

/* Handles every deadline that has passed: a warning is sent and the connection waits for
 * its end; an end closes the connection. */
static void on_tok_timer(uv_timer_t *t)
{
    hdl_t *h = t->data;
    h->tok_armed_ms = TOK_UNARMED;
    int64_t now = brk_now_ms(), key;
    exp_node_t *n;
    while ((n = exp_heap_top(&h->tok_heap, &key)) && key <= now) {
        peer_t *c = peer_of(n);
        int64_t end = end_ms(h, c);
        if (now < end) {
            send_expiring(h, c, end, now);
            exp_heap_set(&h->tok_heap, n, end);
            continue;
        }
        exp_heap_remove(&h->tok_heap, n);
        if (!hx_find(h, c->id))
            continue; /* already on its way out */
        h->stats->token_expired_closes++;
        LOG(INFO, c->id, "token expired", "sub=%s exp=%lld", c->sub, (long long)c->token_exp);
        h->host->close(h->host->ud, c, 4003, "token expired");
    }
    rearm(h);
}

void hdl__token_track(hdl_t *h, peer_t *c)
{
    int64_t now = brk_now_ms(), end = end_ms(h, c);
    c->token_warned = 0;
    if (end == TOK_NO_END) {
        exp_heap_remove(&h->tok_heap, &c->token_node);
        rearm(h);
        return;
    }
    /* Already inside the warning window: warn now rather than never. Past the end, the
     * timer closes the connection at once and a warning would only be dropped. */
    if (h->cfg->token_warning > 0 && now >= end - warning_ms(h) && now < end)
        send_expiring(h, c, end, now);
    exp_heap_set(&h->tok_heap, &c->token_node, next_deadline(h, c, end));
    rearm(h);
}

void hdl__token_untrack(hdl_t *h, peer_t *c)
{
    exp_heap_remove(&h->tok_heap, &c->token_node);
    rearm(h);
}

void hdl__tokens_start(hdl_t *h)
{
    exp_heap_init(&h->tok_heap);
    uv_timer_init(h->loop, &h->tok_timer);
    h->tok_timer.data = h;
    h->tok_timer_on = 1;
    h->tok_armed_ms = TOK_UNARMED;
}

void hdl__tokens_stop(hdl_t *h)
{
    if (!h->tok_timer_on)
        return;
    h->tok_timer_on = 0;
    uv_timer_stop(&h->tok_timer);
    uv_close((uv_handle_t *)&h->tok_timer, NULL);
}

void hdl__tokens_free(hdl_t *h)
{
    exp_heap_free(&h->tok_heap);
}

/* ---- AUTH ----------------------------------------------------------------------------- */

static int has_class(const peer_t *c, int upto, const char *class_id)
{
    for (int k = 0; k < upto; k++)
        if (strcmp(c->classes[k], class_id) == 0)
            return 1;
    return 0;
}

/* Moves c onto the identity of its new token (same sub and role). The classes the token no
 * longer allows are left first, so that nothing of theirs reaches the client after the
 * reply; the new ones are joined after it, as on connect after WELCOME. */
/* 1 when the renewed token lets c stay in (or enter) class_id: the token names it and, for
 * a rostered class, the roster has the student. */
static int renewed_has(const hdl_t *h, const peer_t *c, const auth_identity_t *id,
                       const char *class_id)
{
    return auth_has_class(id, class_id) && hdl__admits(h, c, class_id);
}

static void renew(hdl_t *h, peer_t *c, const auth_identity_t *id, const json_t *req_id)
{
    int left = 0, kept = 0, allowed = 0;
    for (int i = 0; i < id->n_classes; i++)
        allowed += hdl__admits(h, c, id->classes[i]);
    if (allowed == 0) {
        /* Nothing the new token names is open to this student: keep the old token. */
        hx_error(h, c, ERR_TOKEN_INVALID, "not on the roster of any class the token names",
                 req_id);
        h->stats->token_renewals[1]++;
        return;
    }
    for (int k = 0; k < c->n_classes; k++) {
        if (!renewed_has(h, c, id, c->classes[k])) {
            hdl__class_leave(h, c, c->classes[k]);
            left++;
        }
    }
    for (int k = 0; k < c->n_classes; k++) {
        if (!renewed_has(h, c, id, c->classes[k])) {
            free(c->classes[k]);
            continue;
        }
        c->classes[kept] = c->classes[k];
        kept++;
    }
    int total = kept;
    for (int i = 0; i < id->n_classes; i++)
        if (!has_class(c, kept, id->classes[i]) && hdl__admits(h, c, id->classes[i]))
            total++;
    c->classes = brk_realloc(c->classes, (size_t)total * sizeof *c->classes);
    int n = kept;
    for (int i = 0; i < id->n_classes; i++) {
        if (has_class(c, kept, id->classes[i]) || !hdl__admits(h, c, id->classes[i]))
            continue;
        c->classes[n] = brk_strdup(id->classes[i]);
        n++;
    }
    c->n_classes = total;
    c->token_exp = id->exp;

    int64_t end = end_ms(h, c);
    json_t *classes = json_array();
    for (int k = 0; k < c->n_classes; k++)
        json_array_append_new(classes, json_string(c->classes[k]));
    hx_reply(h, c, OUT_AUTHENTICATED,
               json_pack("{s:s, s:s, s:o, s:o}", "user_id", c->sub, "role",
                         auth_role_name(c->role), "classes", classes, "expires_at",
                         end == TOK_NO_END ? json_null() : hdl__iso(end)),
               req_id);
    for (int k = kept; k < total; k++)
        hdl__class_join(h, c, c->classes[k]);
    hdl__token_track(h, c);
    h->stats->token_renewals[0]++;
    LOG(INFO, c->id, "token renewed", "exp=%lld classes=%d left=%d joined=%d",
        (long long)c->token_exp, c->n_classes, left, total - kept);
}

void hdl_auth(hdl_t *h, peer_t *c, const env_t *env, const char *class_id)
{
    json_t *tok = json_object_get(env->data, "token");
    const char *reason = "missing";
    auth_identity_t *id = brk_malloc(sizeof *id);
    int rc = BRK_EAUTH;
    (void)class_id;
    if (json_is_string(tok)) {
        size_t len = json_string_length(tok);
        /* jansson's copy of the token is the only one this handler made: wipe it once
         * checked, as ws.c wipes the upgrade's, so it does not linger in freed memory. */
        char *text = (char *)(uintptr_t)json_string_value(tok);
        rc = auth_verify(*h->auth, text, len, brk_now_ms() / 1000, id, &reason);
        memset(text, 0, len);
    }
    if (rc != 0) {
        char msg[96];
        snprintf(msg, sizeof msg, "the token was refused: %s", reason ? reason : "invalid");
        h->stats->token_renewals[1]++;
        LOG(INFO, c->id, "token renewal refused", "reason=\"%s\"", reason ? reason : "invalid");
        hx_error(h, c, ERR_TOKEN_INVALID, msg, env->id);
    } else if (strcmp(id->sub, c->sub) != 0 || id->role != c->role) {
        int other_sub = strcmp(id->sub, c->sub) != 0;
        h->stats->token_renewals[1]++;
        LOG(INFO, c->id, "token renewal refused", "reason=\"%s\"",
            other_sub ? "another sub" : "another role");
        hx_error(h, c, ERR_TOKEN_MISMATCH,
                   other_sub ? "the token is for another user (sub): open a new connection"
                             : "the token is for another role: open a new connection",
                   env->id);
    } else {
        renew(h, c, id, env->id);
    }
    free(id);
}
